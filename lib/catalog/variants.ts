import { and, eq, sql } from 'drizzle-orm'
import {
  inventoryLedger,
  orderItems,
  type ProductVariant,
  products,
  productVariants,
  skus,
} from '../../db/schema/index.js'
import { conflict } from '../http/errors.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { catalogDbError, productKey, productNotFound, type Viewer, variantNotFound } from './access.js'
import { changedFields } from './changes.js'
import { afterCatalogWrite } from './counts.js'
import { assetsOfRows } from './media/items.js'
import { transactionReleasingMedia } from './media/release.js'
import {
  claimSkus,
  findProduct,
  lockProduct,
  recordStockSet,
  renameSku,
  stockDelta,
  type WriteOptions,
} from './products.js'
import { isUuid, type VariantInput, type VariantUpdate } from './schemas.js'
import { toVariant, type VariantView } from './view.js'

// Variants: each holds its own stock once a product has any (the product's own column is then 0 and
// unused). Adding the first variant to a product that still holds stock is refused until that stock is 0;
// deleting a variant that was ever ordered deactivates it instead; deleting the last one leaves the
// product without variants at stock 0.

export const defaultTitle = (v: VariantInput) =>
  [v.option1, v.option2, v.option3].filter((o) => o !== null && o !== undefined && o !== '').join(' / ') ||
  v.sku

export function variantColumnsOf(input: VariantUpdate): Partial<typeof productVariants.$inferInsert> {
  const out: Partial<typeof productVariants.$inferInsert> = {}
  const set = <K extends keyof typeof productVariants.$inferInsert>(
    k: K,
    v: (typeof productVariants.$inferInsert)[K] | undefined,
  ) => {
    if (v !== undefined) out[k] = v
  }
  set('title', input.title)
  set('option1', input.option1)
  set('option2', input.option2)
  set('option3', input.option3)
  set('priceCents', input.price)
  set('compareAtPriceCents', input.compare_at_price)
  set('costPriceCents', input.cost_price)
  set('inventoryPolicy', input.inventory_policy)
  set('trackInventory', input.track_inventory)
  set('weightGrams', input.weight)
  set('barcode', input.barcode)
  set('isActive', input.is_active)
  set('position', input.position)
  return out
}

/** Insert variants of a product whose SKUs are already claimed; initial stock goes to the ledger. */
export async function insertVariants(
  tx: Db,
  productId: string,
  inputs: VariantInput[],
  opts: WriteOptions,
): Promise<ProductVariant[]> {
  const rows = await tx
    .insert(productVariants)
    .values(
      inputs.map((v, i) => ({
        ...variantColumnsOf(v),
        productId,
        sku: v.sku,
        title: v.title ?? defaultTitle(v),
        inventoryQuantity: v.inventory_quantity ?? 0,
        position:
          v.position ??
          sql`coalesce((select max(position) + 1 from product_variants where product_id = ${productId}), 0) + ${i}`,
      })),
    )
    .returning()
  const stocked = rows.filter((r) => r.inventoryQuantity !== 0)
  if (stocked.length) {
    await tx.insert(inventoryLedger).values(
      stocked.map((r) => ({
        productId,
        variantId: r.id,
        delta: r.inventoryQuantity,
        quantityAfter: r.inventoryQuantity,
        reason: opts.stockReason ?? 'set',
        actorId: opts.actorId,
        note: opts.note ?? 'initial stock',
      })),
    )
  }
  return rows
}

/** The variant in the API's shape, read back with its product's prices (one statement). */
async function readVariant(tx: Db, productId: string, variantId: string): Promise<VariantView> {
  const p = (await findProduct(tx, productId, { staff: true, userId: null }))!
  return toVariant(p.variants.find((v) => v.id === variantId)!, p, true)
}

type LockedProduct = Awaited<ReturnType<typeof lockProduct>>

/** Add one variant to a locked product: the first one only once the product's own stock is 0. */
async function addVariant(tx: Db, product: LockedProduct, input: VariantInput, opts: WriteOptions) {
  if (!product.hasVariants && product.inventoryQuantity !== 0) {
    throw conflict(
      'product_has_stock',
      `This product still holds ${product.inventoryQuantity} in stock of its own. Set its stock to 0 ` +
        '(PUT /products/{product_id}/inventory) before adding its first variant; then give each variant its stock.',
    )
  }
  await claimSkus(tx, [{ sku: input.sku, kind: 'variant' }])
  if (!product.hasVariants) {
    await tx.update(products).set({ hasVariants: true, updatedAt: now() }).where(eq(products.id, product.id))
  }
  const [row] = await insertVariants(tx, product.id, [input], opts)
  return row!
}

/** Apply fields to a locked variant; equal fields are no change. Returns whether anything changed. */
async function applyVariantUpdate(
  tx: Db,
  current: ProductVariant,
  input: VariantUpdate,
  opts: WriteOptions,
): Promise<boolean> {
  const patch: Record<string, unknown> = changedFields(current, variantColumnsOf(input))
  if (input.sku !== undefined && input.sku !== current.sku)
    await renameSku(tx, current.sku, input.sku, 'variant')
  const qty = input.inventory_quantity
  const stockChange = stockDelta(qty, current.inventoryQuantity)
  if (stockChange) patch.inventoryQuantity = qty
  const renamed = input.sku !== undefined && input.sku !== current.sku
  if (!Object.keys(patch).length) return renamed
  await tx
    .update(productVariants)
    .set({ ...patch, updatedAt: now() })
    .where(eq(productVariants.id, current.id))
  if (stockChange) {
    const row = {
      productId: current.productId,
      variantId: current.id,
      delta: stockChange,
      quantityAfter: qty!,
    }
    await recordStockSet(tx, row, opts)
  }
  return true
}

async function lockVariant(tx: Db, productId: string, rawVariant: string): Promise<ProductVariant> {
  if (!isUuid(rawVariant)) throw variantNotFound()
  const [row] = await tx
    .select()
    .from(productVariants)
    .where(and(eq(productVariants.id, rawVariant.toLowerCase()), eq(productVariants.productId, productId)))
    .limit(1)
    .for('update')
  if (!row) throw variantNotFound()
  return row
}

async function productIdOf(tx: Db, raw: string): Promise<string> {
  const [p] = await tx.select({ id: products.id }).from(products).where(productKey(raw)).limit(1)
  if (!p) throw productNotFound()
  return p.id
}

// --- Endpoints ---------------------------------------------------------------------------------------------

/** GET /products/{product_id}/variants (customers see active variants of visible products only). */
export async function listVariants(
  db: Db,
  raw: string,
  viewer: Viewer,
): Promise<{ variants: VariantView[] }> {
  const p = await findProduct(db, raw, viewer)
  if (!p) throw productNotFound()
  return { variants: p.variants.map((v) => toVariant(v, p, viewer.staff)) }
}

/** POST /products/{product_id}/variants -> 201. */
export async function createVariant(
  db: Db,
  raw: string,
  input: VariantInput,
  opts: WriteOptions,
): Promise<VariantView> {
  try {
    return await afterCatalogWrite(
      db.transaction(async (tx) => {
        const product = await lockProduct(tx, productKey(raw))
        const row = await addVariant(tx, product, input, opts)
        return readVariant(tx, product.id, row.id)
      }),
    )
  } catch (err) {
    throw catalogDbError(err)
  }
}

/** PUT /products/{product_id}/variants/{variant_id}: partial; `price: null` inherits the product's. */
export async function updateVariant(
  db: Db,
  raw: string,
  rawVariant: string,
  input: VariantUpdate,
  opts: WriteOptions,
): Promise<VariantView> {
  try {
    return await afterCatalogWrite(
      db.transaction(async (tx) => {
        const productId = await productIdOf(tx, raw)
        const current = await lockVariant(tx, productId, rawVariant)
        await applyVariantUpdate(tx, current, input, opts)
        return readVariant(tx, productId, current.id)
      }),
    )
  } catch (err) {
    throw catalogDbError(err)
  }
}

/**
 * DELETE /products/{product_id}/variants/{variant_id}: gone (null, its uploaded files deleted after the
 * commit) when never ordered; deactivated and returned when it was (its ledger, order lines and media stay
 * intact). Deleting the last variant returns the product to holding its own stock, at 0.
 */
export async function deleteVariant(db: Db, raw: string, rawVariant: string): Promise<VariantView | null> {
  return afterCatalogWrite(deleteVariantRow(db, raw, rawVariant))
}

async function deleteVariantRow(db: Db, raw: string, rawVariant: string): Promise<VariantView | null> {
  return transactionReleasingMedia(db, async (tx, releaseMedia) => {
    const product = await lockProduct(tx, productKey(raw))
    const current = await lockVariant(tx, product.id, rawVariant)
    const [ordered] = await tx
      .select({ one: sql`1` })
      .from(orderItems)
      .where(eq(orderItems.variantId, current.id))
      .limit(1)
    if (ordered) {
      if (current.isActive) {
        await tx
          .update(productVariants)
          .set({ isActive: false, updatedAt: now() })
          .where(eq(productVariants.id, current.id))
      }
      return readVariant(tx, product.id, current.id)
    }
    await tx.delete(productVariants).where(eq(productVariants.id, current.id))
    await tx.delete(skus).where(eq(skus.sku, current.sku))
    releaseMedia(assetsOfRows([current]))
    await tx
      .update(products)
      .set({ hasVariants: false, inventoryQuantity: 0, updatedAt: now() })
      .where(
        and(
          eq(products.id, product.id),
          sql`not exists (select 1 from product_variants v where v.product_id = ${product.id})`,
        ),
      )
    return null
  })
}
