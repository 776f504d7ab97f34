import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import type { FieldError } from '../http/errors.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { catalogDbError } from './access.js'
import {
  emptyScratch,
  type Patch,
  Plan,
  type PlannedProduct,
  type Scratch,
  type Snapshot,
  snapshot,
  taken,
  write,
} from './bulk-import-store.js'
import {
  type BulkRowResult,
  changedFields,
  type ParsedRow,
  parseRow,
  rowError,
  type VariantRow,
} from './bulk-rows.js'
import { afterCatalogWrite } from './counts.js'
import { droppedByPatch } from './media/items.js'
import { transactionReleasingMedia } from './media/release.js'
import { productColumnsOf, productSlugBase } from './products.js'
import type { ProductInput, VariantInput } from './schemas.js'
import { defaultTitle, variantColumnsOf } from './variants.js'

// POST /products/bulk-import: up to 5,000 rows, each created or updated by its SKU, each on its own
// (an invalid row is reported and the others still land; the same file twice is `unchanged` the second
// time). It is planned in memory and written set-based, so the statement count is the same for 5 rows
// as for 5,000: inside one transaction, a handful of reads (the products and variants of every SKU named,
// locked; the SKU registry; the categories; the slugs in use; variant positions), then every row is
// checked against them and the rows before it, then one INSERT or UPDATE per table through
// jsonb_to_recordset (one bind parameter each; PostgreSQL takes at most 65,535 per statement). Stock set
// by the import goes to the ledger with reason `import`. A constraint a concurrent writer won in between
// (a SKU or slug taken meanwhile) rolls the attempt back and the import is planned again.

export const BULK_IMPORT_MAX = 5000

export const BulkImportBody = z
  .object({
    products: z
      .array(z.unknown())
      .min(1)
      .max(BULK_IMPORT_MAX)
      .describe(
        'Product rows (POST /products fields, `variants` inline) or variant rows naming `product_sku`',
      ),
  })
  .strict()

/** Plans every row; returns the report. Rows are checked in order, each against the rows before it. */
function planRows(rows: ParsedRow[], snap: Snapshot, plan: Plan, actorId: string | null): BulkRowResult[] {
  const planned = new Map<string, PlannedProduct>()
  const seen = new Map<string, number>()
  const at = now()

  const fail = (index: number, errors: FieldError[], sku?: string): BulkRowResult => ({
    index,
    ...(sku ? { sku } : {}),
    status: 'error',
    errors,
  })

  const productOf = (sku: string): PlannedProduct | undefined => {
    const p = planned.get(sku)
    if (p) return p
    const e = snap.productsBySku.get(sku)
    if (!e) return undefined
    const fresh = {
      id: e.id,
      hasVariants: e.hasVariants,
      inventoryQuantity: e.inventoryQuantity,
      nextPosition: (snap.maxPosition.get(e.id) ?? -1) + 1,
    }
    planned.set(sku, fresh)
    return fresh
  }

  /** Plans one variant under a product (a scratch copy when inline, so a failed row leaves no trace). */
  const planVariant = (
    v: VariantInput,
    parentSku: string,
    parent: PlannedProduct,
    path: string,
    out: Scratch,
  ): { id: string; changed: boolean } | FieldError => {
    const kind = snap.registered.get(v.sku)
    const existing = snap.variantsBySku.get(v.sku)
    if (kind === 'product' || (kind === 'variant' && (!existing || existing.productId !== parent.id))) {
      return taken(`${path}sku`, v.sku)
    }
    if (existing) {
      const { sku: _sku, inventory_quantity, ...fields } = v
      const patch = changedFields(existing as unknown as Record<string, unknown>, variantColumnsOf(fields))
      if (inventory_quantity !== undefined && inventory_quantity !== existing.inventoryQuantity) {
        patch.inventoryQuantity = inventory_quantity
        out.ledger.push({
          productId: parent.id,
          variantId: existing.id,
          delta: inventory_quantity - existing.inventoryQuantity,
          quantityAfter: inventory_quantity,
        })
      }
      if (!Object.keys(patch).length) return { id: existing.id, changed: false }
      out.changed.push({ ...existing, ...patch, updatedAt: at })
      return { id: existing.id, changed: true }
    }
    if (!parent.hasVariants && parent.inventoryQuantity !== 0) {
      return rowError(
        path ? `${path}sku` : 'product_sku',
        'product_has_stock',
        `Product ${parentSku} still holds ${parent.inventoryQuantity} in stock of its own; set it to 0 before ` +
          'adding its first variant, then give each variant its stock.',
      )
    }
    const id = randomUUID()
    const qty = v.inventory_quantity ?? 0
    out.skus.push({ sku: v.sku, kind: 'variant' })
    out.variants.push({
      ...variantColumnsOf(v),
      id,
      productId: parent.id,
      sku: v.sku,
      title: v.title ?? defaultTitle(v),
      inventoryQuantity: qty,
      position: v.position ?? parent.nextPosition,
    })
    parent.nextPosition = Math.max(parent.nextPosition, (v.position ?? parent.nextPosition) + 1)
    if (qty !== 0) out.ledger.push({ productId: parent.id, variantId: id, delta: qty, quantityAfter: qty })
    return { id, changed: true }
  }

  // SKUs repeated within the import are refused in row order; then product rows are planned before
  // variant rows, so a variant row may come before its product's row.
  const results: BulkRowResult[] = new Array(rows.length)
  const valid: number[] = []
  for (const [index, row] of rows.entries()) {
    if (row.kind === 'invalid') {
      results[index] = fail(index, row.errors, row.sku)
      continue
    }
    const rowSkus =
      row.kind === 'product'
        ? [row.input.sku, ...(row.input.variants ?? []).map((v) => v.sku)]
        : [row.input.sku]
    const repeat = rowSkus.find((s) => seen.has(s))
    if (repeat !== undefined) {
      const message = `The SKU ${repeat} is already in row ${seen.get(repeat)} of this import.`
      results[index] = fail(index, [rowError('sku', 'duplicate_sku', message)], row.input.sku)
      continue
    }
    for (const s of rowSkus) seen.set(s, index)
    valid.push(index)
  }
  for (const index of valid) {
    const row = rows[index]!
    if (row.kind === 'product') results[index] = planProduct(index, row.input)
  }
  for (const index of valid) {
    const row = rows[index]!
    if (row.kind === 'variant') results[index] = planVariantRow(index, row.input)
  }
  return results

  function commit(s: Scratch) {
    plan.newVariants.push(...s.variants)
    plan.changedVariants.push(...s.changed)
    plan.ledger.push(...s.ledger)
    plan.newSkus.push(...s.skus)
  }

  function planVariantRow(index: number, input: VariantRow): BulkRowResult {
    const { product_sku, ...variant } = input
    const parent = productOf(product_sku)
    if (!parent) {
      const message = `No product has the SKU ${product_sku} (or its row in this import failed).`
      return fail(index, [rowError('product_sku', 'unknown_product', message)], input.sku)
    }
    const draft = { ...parent }
    const scratch = emptyScratch()
    const r = planVariant(variant, product_sku, draft, '', scratch)
    if ('code' in r) return fail(index, [r], input.sku)
    commit(scratch)
    const gainsVariants = !parent.hasVariants && scratch.variants.length > 0
    Object.assign(parent, draft, { hasVariants: parent.hasVariants || scratch.variants.length > 0 })
    if (gainsVariants) {
      // its first variant: a product of this import is inserted with has_variants, another one updated
      const fresh = plan.newProducts.find((p) => p.id === parent.id)
      if (fresh) fresh.hasVariants = true
      else {
        const current = plan.changedProducts.get(parent.id) ?? snap.productsBySku.get(product_sku)!
        plan.changedProducts.set(parent.id, { ...current, hasVariants: true, updatedAt: at })
      }
    }
    const status = scratch.variants.length ? 'created' : r.changed ? 'updated' : 'unchanged'
    return { index, id: r.id, sku: input.sku, status }
  }

  function planProduct(index: number, input: ProductInput): BulkRowResult {
    const errors: FieldError[] = []
    const kind = snap.registered.get(input.sku)
    const existing = snap.productsBySku.get(input.sku)
    if (kind === 'variant' || (kind === 'product' && !existing)) errors.push(taken('sku', input.sku))
    const categoryId = input.category_id?.toLowerCase()
    if (categoryId && !snap.categoryIds.has(categoryId)) {
      errors.push(rowError('category_id', 'unknown_category', 'No such category.'))
    }
    if (input.slug) {
      const owner = snap.slugOwner.get(input.slug)
      if (owner !== undefined && owner !== existing?.id) {
        errors.push(rowError('slug', 'slug_taken', `The slug ${input.slug} is already used.`))
      }
    }
    if (existing?.hasVariants && input.inventory_quantity) {
      errors.push(
        rowError(
          'inventory_quantity',
          'product_has_variants',
          'This product has variants: give each variant its stock (rows with product_sku).',
        ),
      )
    }
    if (errors.length) return fail(index, errors, input.sku)

    const { variants = [], ...fields } = input
    const id = existing?.id ?? randomUUID()
    const parent: PlannedProduct = existing
      ? { ...productOf(input.sku)! }
      : { id, hasVariants: false, inventoryQuantity: 0, nextPosition: 0 }
    const scratch = emptyScratch()
    let patch: Patch = {}
    let slug: string | undefined
    if (existing) {
      patch = changedFields(
        existing as unknown as Record<string, unknown>,
        productColumnsOf(fields, existing),
      ) as Patch
      if (patch.status !== undefined) patch.archivedAt = patch.status === 'archived' ? at : null
      const qty = fields.inventory_quantity
      if (!existing.hasVariants && qty !== undefined && qty !== existing.inventoryQuantity) {
        patch.inventoryQuantity = qty
        scratch.ledger.push({
          productId: id,
          variantId: null,
          delta: qty - existing.inventoryQuantity,
          quantityAfter: qty,
        })
      }
      parent.inventoryQuantity = patch.inventoryQuantity ?? parent.inventoryQuantity
    } else {
      slug = input.slug ?? freeSlug(productSlugBase(input.name))
      const qty = variants.length ? 0 : (input.inventory_quantity ?? 0)
      parent.inventoryQuantity = qty
      if (qty !== 0) scratch.ledger.push({ productId: id, variantId: null, delta: qty, quantityAfter: qty })
    }
    let variantsChanged = false
    for (const [i, v] of variants.entries()) {
      const r = planVariant(v, input.sku, parent, `variants.${i}.`, scratch)
      if ('code' in r) return fail(index, [r], input.sku)
      variantsChanged ||= r.changed
      if (!parent.hasVariants && scratch.variants.length) parent.hasVariants = true
    }
    // the row is valid as a whole: it enters the plan
    if (input.slug) snap.slugOwner.set(input.slug, id)
    if (slug) snap.slugOwner.set(slug, id)
    planned.set(input.sku, parent)
    commit(scratch)
    if (!existing) {
      plan.newSkus.push({ sku: input.sku, kind: 'product' })
      plan.newProducts.push({
        ...productColumnsOf(fields),
        id,
        sku: input.sku,
        name: input.name,
        slug,
        priceCents: input.price,
        categoryId,
        hasVariants: parent.hasVariants,
        inventoryQuantity: parent.inventoryQuantity,
        createdBy: actorId,
        archivedAt: input.status === 'archived' ? at : null,
      })
      return { index, id, sku: input.sku, status: 'created' }
    }
    if (!existing.hasVariants && parent.hasVariants) patch.hasVariants = true
    if (Object.keys(patch).length) {
      plan.changedProducts.set(id, { ...existing, ...patch, updatedAt: at })
      plan.releasedMedia.push(...droppedByPatch(existing, patch))
    }
    const changed = Object.keys(patch).length > 0 || variantsChanged
    return { index, id, sku: input.sku, status: changed ? 'updated' : 'unchanged' }
  }

  /** The name's slug, or with -2, -3, ... when that is used (in the database or by an earlier row). */
  function freeSlug(base: string): string {
    if (!snap.slugOwner.has(base)) return base
    for (let n = 2; ; n++) if (!snap.slugOwner.has(`${base}-${n}`)) return `${base}-${n}`
  }
}

const RETRYABLE = new Set(['23505', '23503', '40001', '40P01'])
const sqlState = (err: unknown): string | undefined => {
  const e = err as { code?: unknown; cause?: { code?: unknown } }
  const c = e?.cause?.code ?? e?.code
  return typeof c === 'string' ? c : undefined
}

export async function importProducts(
  db: Db,
  rawRows: unknown[],
  actorId: string | null,
): Promise<{ results: BulkRowResult[] }> {
  const rows = rawRows.map(parseRow)
  for (let attempt = 1; ; attempt++) {
    try {
      return await afterCatalogWrite(
        transactionReleasingMedia(db, async (tx, releaseMedia) => {
          const plan = new Plan()
          const results = planRows(rows, await snapshot(tx, rows), plan, actorId)
          await write(tx, plan, actorId)
          releaseMedia(plan.releasedMedia)
          return { results }
        }),
      )
    } catch (err) {
      if (attempt < 3 && RETRYABLE.has(sqlState(err) ?? '')) continue
      throw catalogDbError(err)
    }
  }
}
