import { sql } from 'drizzle-orm'
import { z } from 'zod'
import { inventoryPolicies, products } from '../../db/schema/index.js'
import { conflict } from '../http/errors.js'
import { type Db, rowsOf } from '../platform/db.js'
import {
  catalogDbError,
  fieldError,
  productKey,
  productNotFound,
  type Viewer,
  variantNotFound,
} from './access.js'
import { findProduct } from './products.js'
import type { InventoryAdjustBody, InventorySetBody } from './schemas.js'
import { isLowStock, itemInStock, type ProductRow, productStock, variantInStock } from './view.js'

// Stock levels. A product without variants holds its own stock; one with variants holds none itself and
// each variant holds its own, so a change to one variant writes that variant's row only. Every change
// writes a ledger row (reason `set` for absolute levels, `adjustment` for relative changes, the actor, and
// the caller's reason in `note`). The database enforces the deny policy (conditional UPDATE plus CHECK):
// no read-modify-write anywhere.

const VariantLevelSchema = z.object({
  id: z.string(),
  sku: z.string(),
  title: z.string(),
  inventory_quantity: z.number().int(),
  inventory_policy: z.enum(inventoryPolicies),
  track_inventory: z.boolean(),
  is_active: z.boolean(),
  in_stock: z.boolean(),
  low_stock: z.boolean().describe('Tracked, active and at or below the product’s low_stock_threshold'),
})

export const InventorySchema = z.object({
  product_id: z.string(),
  sku: z.string(),
  has_variants: z.boolean(),
  track_inventory: z.boolean(),
  inventory_policy: z.enum(inventoryPolicies),
  inventory_quantity: z.number().int().describe('Own stock, or the sum over active variants'),
  low_stock_threshold: z.number().int(),
  in_stock: z.boolean(),
  low_stock: z.boolean().describe('Per product without variants; with variants: any active variant is low'),
  variants: z.array(VariantLevelSchema),
})
export type InventoryView = z.infer<typeof InventorySchema>

export function toInventory(p: ProductRow): InventoryView {
  const stock = productStock(p)
  const variants = p.variants.map((v) => ({
    id: v.id,
    sku: v.sku,
    title: v.title,
    inventory_quantity: v.inventory_quantity,
    inventory_policy: v.inventory_policy,
    track_inventory: v.track_inventory,
    is_active: v.is_active,
    in_stock: variantInStock(v),
    low_stock:
      v.is_active &&
      isLowStock(
        {
          trackInventory: v.track_inventory,
          inventoryPolicy: v.inventory_policy,
          inventoryQuantity: v.inventory_quantity,
        },
        p.lowStockThreshold,
      ),
  }))
  return {
    product_id: p.id,
    sku: p.sku,
    has_variants: p.hasVariants,
    track_inventory: p.trackInventory,
    inventory_policy: p.inventoryPolicy,
    inventory_quantity: stock.quantity,
    low_stock_threshold: p.lowStockThreshold,
    in_stock: p.hasVariants ? stock.inStock : itemInStock(p),
    low_stock: p.hasVariants ? variants.some((v) => v.low_stock) : isLowStock(p, p.lowStockThreshold),
    variants,
  }
}

/** GET /products/{product_id}/inventory: one statement; hidden products are a 404 for non-staff. */
export async function getInventory(db: Db, raw: string, viewer: Viewer): Promise<InventoryView> {
  const p = await findProduct(db, raw, viewer)
  if (!p) throw productNotFound()
  return toInventory(p)
}

/** PUT /products/{product_id}/inventory: absolute levels; unchanged levels write no ledger row. */
export async function setInventory(
  db: Db,
  raw: string,
  body: InventorySetBody,
  actorId: string,
): Promise<InventoryView> {
  const note = body.reason ?? null
  try {
    return await db.transaction(async (tx) => {
      const [p] = await tx
        .select({ id: products.id, hasVariants: products.hasVariants })
        .from(products)
        .where(productKey(raw))
        .limit(1)
      if (!p) throw productNotFound()
      if (body.variants) {
        if (!p.hasVariants) {
          throw fieldError(
            'variants',
            'This product has no variants: set its own inventory_quantity.',
            'product_has_no_variants',
          )
        }
        const ids = body.variants.map((v) => v.id.toLowerCase())
        const qs = body.variants.map((v) => v.inventory_quantity)
        // Old levels are read under the row lock inside the same statement, for the ledger's delta.
        const updated = rowsOf<{ id: string }>(
          await tx.execute(sql`
            with wanted as (select * from unnest(${`{${ids.join(',')}}`}::uuid[], ${`{${qs.join(',')}}`}::int[]) as w(id, q)),
            old as (
              select v.id, v.inventory_quantity from product_variants v join wanted w on w.id = v.id
              where v.product_id = ${p.id} order by v.id for update of v),
            u as (
              update product_variants v set inventory_quantity = w.q, updated_at = now()
              from old, wanted w where v.id = old.id and w.id = v.id
              returning v.id, v.product_id, old.inventory_quantity as before, v.inventory_quantity as after),
            l as (
              insert into inventory_ledger (product_id, variant_id, delta, quantity_after, reason, actor_id, note)
              select product_id, id, after - before, after, 'set', ${actorId}::uuid, ${note}::text from u where after <> before
              returning 1)
            select id from u`),
        )
        if (updated.length !== ids.length) throw variantNotFound()
      } else {
        if (p.hasVariants) {
          throw fieldError(
            'inventory_quantity',
            'This product has variants and holds no stock itself: set `variants: [{ id, inventory_quantity }]`.',
            'variant_required',
          )
        }
        await tx.execute(sql`
          with old as (select id, inventory_quantity from products where id = ${p.id} for update),
          u as (
            update products p set inventory_quantity = ${body.inventory_quantity!}, updated_at = now()
            from old where p.id = old.id
            returning p.id, old.inventory_quantity as before, p.inventory_quantity as after),
          l as (
            insert into inventory_ledger (product_id, delta, quantity_after, reason, actor_id, note)
            select id, after - before, after, 'set', ${actorId}::uuid, ${note}::text from u where after <> before
            returning 1)
          select id from u`)
      }
      return toInventory((await findProduct(tx, p.id, { staff: true, userId: null }))!)
    })
  } catch (err) {
    throw catalogDbError(err)
  }
}

export const AdjustResultSchema = z.object({
  product_id: z.string(),
  variant_id: z.string().nullable(),
  delta: z.number().int(),
  inventory_quantity: z.number().int().describe('The level after the change'),
  ledger_id: z.string(),
  reason: z.literal('adjustment'),
  note: z.string(),
  created_at: z.string(),
})
export type AdjustResult = z.infer<typeof AdjustResultSchema>

interface LedgerRow {
  id: string
  product_id: string
  variant_id: string | null
  delta: number
  quantity_after: number
  note: string
  created_at: string | Date
}

/**
 * POST /products/{product_id}/inventory/adjust: one statement (a conditional UPDATE and its ledger row in
 * one CTE, atomic on its own). It succeeds only while the result stays at or above 0 under the deny
 * policy; otherwise nothing changes and a read-only query says why (404, 422 or 409).
 */
export async function adjustInventory(
  db: Db,
  raw: string,
  body: InventoryAdjustBody,
  actorId: string,
): Promise<AdjustResult> {
  const key = productKey(raw)
  const d = body.delta
  const vid = body.variant_id?.toLowerCase()
  const result = vid
    ? sql`
      with u as (
        update product_variants v set inventory_quantity = v.inventory_quantity + ${d}, updated_at = now()
        where v.id = ${vid}::uuid and v.product_id = (select id from products where ${key})
          and (v.inventory_quantity + ${d} >= 0 or v.inventory_policy = 'continue')
        returning v.id, v.product_id, v.inventory_quantity)
      insert into inventory_ledger (product_id, variant_id, delta, quantity_after, reason, actor_id, note)
      select product_id, id, ${d}, inventory_quantity, 'adjustment', ${actorId}::uuid, ${body.reason}::text from u
      returning id, product_id, variant_id, delta, quantity_after, note, created_at`
    : sql`
      with u as (
        update products set inventory_quantity = inventory_quantity + ${d}, updated_at = now()
        where ${key} and not has_variants
          and (inventory_quantity + ${d} >= 0 or inventory_policy = 'continue')
        returning id, inventory_quantity)
      insert into inventory_ledger (product_id, variant_id, delta, quantity_after, reason, actor_id, note)
      select id, null, ${d}, inventory_quantity, 'adjustment', ${actorId}::uuid, ${body.reason}::text from u
      returning id, product_id, variant_id, delta, quantity_after, note, created_at`
  let row: LedgerRow | undefined
  try {
    row = rowsOf<LedgerRow>(await db.execute(result))[0]
  } catch (err) {
    throw catalogDbError(err)
  }
  if (row) {
    return {
      product_id: row.product_id,
      variant_id: row.variant_id,
      delta: Number(row.delta),
      inventory_quantity: Number(row.quantity_after),
      ledger_id: row.id,
      reason: 'adjustment',
      note: row.note,
      created_at: new Date(row.created_at).toISOString(),
    }
  }
  throw await whyNotAdjusted(db, raw, vid, d)
}

async function whyNotAdjusted(db: Db, raw: string, vid: string | undefined, delta: number) {
  const [p] = rowsOf<{ has_variants: boolean; quantity: number | null; variant_found: boolean }>(
    await db.execute(sql`
      select products.has_variants,
        ${vid ? sql`v.inventory_quantity` : sql`products.inventory_quantity`} as quantity,
        ${vid ? sql`v.id is not null` : sql`false`} as variant_found
      from products
      ${vid ? sql`left join product_variants v on v.id = ${vid}::uuid and v.product_id = products.id` : sql``}
      where ${productKey(raw)}`),
  )
  if (!p) return productNotFound()
  if (!vid && p.has_variants) {
    return fieldError(
      'variant_id',
      'This product has variants and holds no stock itself: name the variant (variant_id).',
      'variant_required',
    )
  }
  if (vid && !p.variant_found) return variantNotFound()
  return conflict(
    'insufficient_stock',
    `The stock is ${p.quantity}: a change of ${delta} would go below zero under the deny policy. Nothing changed.`,
  )
}
