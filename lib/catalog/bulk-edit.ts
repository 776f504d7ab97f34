import { sql } from 'drizzle-orm'
import { z } from 'zod'
import { categories, inventoryLedger, products, skus } from '../../db/schema/index.js'
import type { FieldError } from '../http/errors.js'
import { issuesToFieldErrors, Uuid } from '../http/validation.js'
import { now } from '../platform/clock.js'
import { type Db, rowsOf } from '../platform/db.js'
import { insertRecordset, updateRecordset } from '../platform/recordset.js'
import { catalogDbError } from './access.js'
import { type BulkRowResult, changedFields, rowError, textArray, uuidArray } from './bulk-rows.js'
import { afterCatalogWrite } from './counts.js'
import { assetsOfRows, droppedByPatch } from './media/items.js'
import { transactionReleasingMedia } from './media/release.js'
import { productColumnsOf } from './products.js'
import { ProductUpdate, Sku } from './schemas.js'
import { productColumns } from './view.js'

// POST /products/bulk-update and /products/bulk-delete: up to 1,000 products named by id or SKU, each
// row on its own with a per-row report. Like the import, each is one transaction whose statement count
// does not grow with the rows: the named products are read and locked in one statement, every row is
// checked in memory, then one UPDATE (through jsonb_to_recordset) or one statement per table writes them.
// bulk-delete follows DELETE /products/{product_id}: a product that was ever ordered is archived, one that
// never was is deleted with its variants, ledger and SKUs.

export const BULK_EDIT_MAX = 1000

const Ref = { id: Uuid.optional(), sku: Sku.optional() }
const oneRef = (r: { id?: string | undefined; sku?: string | undefined }) =>
  (r.id === undefined) !== (r.sku === undefined)
const REF_MESSAGE = 'Name the product by `id` or by `sku` (one of them).'

const UpdateRow = ProductUpdate.omit({ sku: true }).extend(Ref).refine(oneRef, REF_MESSAGE)
const DeleteRow = z.strictObject(Ref).refine(oneRef, REF_MESSAGE)

const rows = (what: string) =>
  z.object({ products: z.array(z.unknown()).min(1).max(BULK_EDIT_MAX).describe(what) }).strict()
export const BulkUpdateBody = rows('`{ id | sku, ...fields of PUT /products/{product_id} }` per row')
export const BulkDeleteBody = rows('`{ id }` or `{ sku }` per row')

type Current = Omit<typeof products.$inferSelect, 'searchVector'>
type Parsed<T> = { ok: true; value: T } | { ok: false; errors: FieldError[]; sku?: string }

function parse<T>(schema: z.ZodType<T>, raw: unknown): Parsed<T> {
  const r = schema.safeParse(raw)
  if (r.success) return { ok: true, value: r.data }
  const sku = (raw as { sku?: unknown } | null)?.sku
  return {
    ok: false,
    errors: issuesToFieldErrors(r.error.issues),
    ...(typeof sku === 'string' ? { sku } : {}),
  }
}

/** The named products, locked in id order (one statement). */
async function lockNamed(tx: Db, refs: Array<{ id?: string | undefined; sku?: string | undefined }>) {
  const ids = refs.flatMap((r) => (r.id ? [r.id.toLowerCase()] : []))
  const named = refs.flatMap((r) => (r.sku ? [r.sku] : []))
  const found = await tx
    .select(productColumns)
    .from(products)
    .where(sql`${products.id} = any(${uuidArray(ids)}) or ${products.sku} = any(${textArray(named)})`)
    .orderBy(products.id)
    .for('update')
  const byId = new Map(found.map((p) => [p.id, p]))
  const bySku = new Map(found.map((p) => [p.sku, p]))
  return (r: { id?: string | undefined; sku?: string | undefined }) =>
    r.id ? byId.get(r.id.toLowerCase()) : bySku.get(r.sku!)
}

/** Rows naming a product an earlier row already named are refused (one change per product per request). */
function claimOnce(seen: Map<string, number>, p: Current, index: number): FieldError | undefined {
  const first = seen.get(p.id)
  if (first !== undefined) {
    return rowError('id', 'duplicate_product', `This product is already in row ${first} of this request.`)
  }
  seen.set(p.id, index)
  return undefined
}

const fail = (index: number, errors: FieldError[], sku?: string): BulkRowResult => ({
  index,
  ...(sku ? { sku } : {}),
  status: 'error',
  errors,
})
const notFound = (index: number, sku?: string) =>
  fail(index, [rowError(sku ? 'sku' : 'id', 'not_found', 'No such product.')], sku)

export async function bulkUpdateProducts(
  db: Db,
  raw: unknown[],
  actorId: string | null,
): Promise<{ results: BulkRowResult[] }> {
  return afterCatalogWrite(updateRows(db, raw, actorId))
}

async function updateRows(
  db: Db,
  raw: unknown[],
  actorId: string | null,
): Promise<{ results: BulkRowResult[] }> {
  const parsed = raw.map((r) => parse(UpdateRow, r))
  try {
    return await transactionReleasingMedia(db, async (tx, releaseMedia) => {
      const ok = parsed.flatMap((p) => (p.ok ? [p.value] : []))
      const categoryIds = [
        ...new Set(ok.flatMap((r) => (r.category_id ? [r.category_id.toLowerCase()] : []))),
      ]
      const slugs = [...new Set(ok.flatMap((r) => (r.slug ? [r.slug] : [])))]
      const [find, cats, owners] = await Promise.all([
        lockNamed(tx, ok),
        categoryIds.length
          ? tx
              .select({ id: categories.id })
              .from(categories)
              .where(sql`${categories.id} = any(${uuidArray(categoryIds)})`)
          : Promise.resolve([]),
        slugs.length
          ? tx
              .select({ id: products.id, slug: products.slug })
              .from(products)
              .where(sql`${products.slug} = any(${textArray(slugs)})`)
          : Promise.resolve([]),
      ])
      const knownCategories = new Set(cats.map((c) => c.id))
      const slugOwner = new Map(owners.map((o) => [o.slug, o.id]))
      const seen = new Map<string, number>()
      const at = now()
      const changed: Array<Current> = []
      const ledger: Array<typeof inventoryLedger.$inferInsert> = []

      const results = parsed.map((p, index): BulkRowResult => {
        if (!p.ok) return fail(index, p.errors, p.sku)
        const { id: _id, sku, inventory_quantity: qty, ...fields } = p.value
        const current = find(p.value)
        if (!current) return notFound(index, sku)
        const errors: FieldError[] = []
        const repeat = claimOnce(seen, current, index)
        if (repeat) errors.push(repeat)
        const categoryId = fields.category_id?.toLowerCase()
        if (categoryId && !knownCategories.has(categoryId)) {
          errors.push(rowError('category_id', 'unknown_category', 'No such category.'))
        }
        if (fields.slug && (slugOwner.get(fields.slug) ?? current.id) !== current.id) {
          errors.push(rowError('slug', 'slug_taken', `The slug ${fields.slug} is already used.`))
        }
        if (qty !== undefined && current.hasVariants) {
          errors.push(
            rowError(
              'inventory_quantity',
              'product_has_variants',
              'This product has variants: set each variant’s stock.',
            ),
          )
        }
        if (errors.length) return fail(index, errors, current.sku)
        const patch = changedFields(
          current as unknown as Record<string, unknown>,
          productColumnsOf(fields, current),
        )
        if (patch.status !== undefined) patch.archivedAt = patch.status === 'archived' ? at : null
        if (qty !== undefined && qty !== current.inventoryQuantity) {
          patch.inventoryQuantity = qty
          ledger.push({
            productId: current.id,
            delta: qty - current.inventoryQuantity,
            quantityAfter: qty,
            reason: 'set',
            actorId,
            note: 'bulk update',
          })
        }
        if (fields.slug) slugOwner.set(fields.slug, current.id)
        if (!Object.keys(patch).length)
          return { index, id: current.id, sku: current.sku, status: 'unchanged' }
        changed.push({ ...current, ...(patch as Partial<Current>), updatedAt: at })
        releaseMedia(droppedByPatch(current, patch))
        return { index, id: current.id, sku: current.sku, status: 'updated' }
      })
      const keys = Object.keys(productColumns).filter((k) => !['id', 'sku', 'createdAt'].includes(k))
      await updateRecordset(tx, products, 'id', keys, changed)
      await insertRecordset(
        tx,
        inventoryLedger,
        ['productId', 'delta', 'quantityAfter', 'reason', 'actorId', 'note'],
        ledger,
      )
      return { results }
    })
  } catch (err) {
    throw catalogDbError(err)
  }
}

export async function bulkDeleteProducts(db: Db, raw: unknown[]): Promise<{ results: BulkRowResult[] }> {
  return afterCatalogWrite(deleteRows(db, raw))
}

async function deleteRows(db: Db, raw: unknown[]): Promise<{ results: BulkRowResult[] }> {
  const parsed = raw.map((r) => parse(DeleteRow, r))
  return transactionReleasingMedia(db, async (tx, releaseMedia) => {
    const ok = parsed.flatMap((p) => (p.ok ? [p.value] : []))
    const find = await lockNamed(tx, ok)
    const seen = new Map<string, number>()
    const targets = new Map<number, Current>()
    const results = parsed.map((p, index): BulkRowResult => {
      if (!p.ok) return fail(index, p.errors, p.sku)
      const current = find(p.value)
      if (!current) return notFound(index, p.value.sku)
      const repeat = claimOnce(seen, current, index)
      if (repeat) return fail(index, [repeat], current.sku)
      targets.set(index, current)
      return { index, id: current.id, sku: current.sku, status: 'deleted' }
    })
    const ids = [...targets.values()].map((p) => p.id)
    if (!ids.length) return { results }
    // Ever ordered: a line names the product or one of its variants (the locks keep new orders out).
    const ordered = await tx.execute(sql`
      select p.id from products p where p.id = any(${uuidArray(ids)}) and (
        exists (select 1 from order_items i where i.product_id = p.id)
        or exists (select 1 from order_items i join product_variants v on v.id = i.variant_id
          where v.product_id = p.id))`)
    const keep = new Set((ordered as unknown as { rows: Array<{ id: string }> }).rows.map((r) => r.id))
    const archive = ids.filter((id) => keep.has(id))
    const remove = ids.filter((id) => !keep.has(id))
    const at = now()
    if (archive.length) {
      await tx.execute(sql`update products set status = 'archived', archived_at = coalesce(archived_at, ${at.toISOString()}::timestamptz),
        updated_at = ${at.toISOString()}::timestamptz where id = any(${uuidArray(archive)}) and status <> 'archived'`)
    }
    if (remove.length) {
      // variants, then products (ledger and alerts cascade), then their SKUs, in one statement that also
      // answers with the media of what went (files deleted at their provider after the commit)
      const gone = await tx.execute(sql`
        with gone_variants as (
          delete from product_variants where product_id = any(${uuidArray(remove)}) returning sku, images, videos
        ), gone_products as (
          delete from products where id = any(${uuidArray(remove)}) returning sku, images, videos
        ), gone_skus as (
          delete from ${skus} where sku in (select sku from gone_variants union all select sku from gone_products)
        )
        select images, videos from gone_variants union all select images, videos from gone_products`)
      releaseMedia(assetsOfRows(rowsOf<{ images: unknown; videos: unknown }>(gone)))
    }
    for (const [index, p] of targets) {
      if (keep.has(p.id)) results[index] = { index, id: p.id, sku: p.sku, status: 'archived' }
    }
    return { results }
  })
}
