import { sql } from 'drizzle-orm'
import { ProblemError } from '../http/errors.js'
import { rowsOf } from '../platform/db.js'
import { redeemDiscount, usageLimitReached } from './settings.js'
import type { Runner } from './view.js'

// Stock for orders. The database enforces it: one statement takes every tracked item of a cart (a CTE
// with one conditional UPDATE for products without variants and one for variants, over `unnest` of the
// summed quantities, ids sorted so racing carts lock rows in one order) and writes the ledger rows in the
// same statement. An item is short when it is tracked but its UPDATE matched no row; then the caller's
// transaction rolls back, so nothing is taken. No read-then-write, no application locks.

export interface StockLine {
  productId: string
  variantId: string | null
  quantity: number
}

interface Item {
  productId: string
  variantId: string | null
  quantity: number
  /** index of the first cart line naming this item */
  line: number
}

/** Quantities summed per item (a cart may name one variant on two lines), sorted by the locked row's id. */
export function sumPerItem(
  lines: ReadonlyArray<{ productId: string | null; variantId: string | null; quantity: number }>,
): Item[] {
  const byKey = new Map<string, Item>()
  lines.forEach((l, line) => {
    if (!l.productId && !l.variantId) return
    const productId = (l.productId ?? '').toLowerCase()
    const variantId = l.variantId ? l.variantId.toLowerCase() : null
    const key = variantId ? `v:${variantId}` : `p:${productId}`
    const prior = byKey.get(key)
    if (prior) prior.quantity += l.quantity
    else byKey.set(key, { productId, variantId, quantity: l.quantity, line })
  })
  const rowId = (i: Item) => i.variantId ?? i.productId
  return [...byKey.values()].sort((a, b) => (rowId(a) < rowId(b) ? -1 : rowId(a) > rowId(b) ? 1 : 0))
}

/**
 * Before any write: 409 out_of_stock when the cart's own read already shows an item short (quantities
 * summed per item, as the stock statement sums them). A refusal found here costs no inserts to roll back;
 * a flash sale's late buyers are refused in a few round trips instead of a whole checkout. The stock
 * statement still decides for everything this lets through.
 */
export function assertInStock(
  lines: ReadonlyArray<{
    productId: string
    variantId: string | null
    quantity: number
    sku: string
    available: number | null
  }>,
): void {
  for (const item of sumPerItem(lines)) {
    // item.line is the item's first line; every line of one item read the same row
    const { available, sku } = lines[item.line]!
    if (available !== null && available < item.quantity) throw outOfStock(item.line, sku, available)
  }
}

const uuidArray = (ids: Array<string | null>) => `{${ids.map((id) => id ?? 'NULL').join(',')}}`
const intArray = (qs: number[]) => `{${qs.join(',')}}`

interface TakeRow {
  product_id: string
  variant_id: string | null
  sku: string | null
  tracked: boolean
  taken: boolean
  available: number | null
  /** whether the discount was counted (1 without one) */
  redeemed: number
}

export const outOfStock = (line: number, sku: string | null, available: number | null) =>
  new ProblemError(
    409,
    'out_of_stock',
    `Not enough stock for ${sku ?? 'an item'} (line ${line}${available === null ? '' : `, ${Math.max(available, 0)} available`}). Nothing was ordered.`,
    {
      errors: [
        { path: `items.${line}`, message: `${sku ?? 'This item'} is out of stock`, code: 'out_of_stock' },
      ],
    },
  )

/** A discount redeemed by the order in the same statement as its stock (checkout's last statement). */
export interface Redemption {
  discountId: string
  userId: string | null
  email: string
}

/**
 * One statement: take stock for all tracked items (quantities summed per item, ids sorted, products and
 * variants in one CTE), ledger rows (reason `sale`) included, and, when `redeem` is given, the discount's
 * use counted under its usage limit and the redemption row written (the discount row is locked after the
 * stock rows, the order checkout always took them in). Throws 409 out_of_stock naming the first short
 * item (`errors[0].path` = `items.N`, its first line), else 422 for a discount used up; the caller's
 * transaction then rolls back. Checkout runs it last, right before COMMIT, so the hot rows it locks are
 * held for one round trip and the commit, not for the statements after it (ADR 019).
 */
export async function takeStock(
  tx: Runner,
  lines: StockLine[],
  opts: { orderId: string; actorId: string | null; redeem?: Redemption },
): Promise<void> {
  const items = sumPerItem(lines)
  const { redeem } = opts
  if (items.length === 0) {
    if (redeem) await redeemDiscount(tx, { id: redeem.discountId }, { orderId: opts.orderId, ...redeem })
    return
  }
  const pids = uuidArray(items.map((i) => i.productId))
  const vids = uuidArray(items.map((i) => i.variantId))
  const qs = intArray(items.map((i) => i.quantity))
  // Every sub-statement sees the same snapshot: `tracked` and `available` come from it, while each UPDATE
  // re-checks its condition on the newest row version it waited for (READ COMMITTED), so a racing sale
  // that committed first is counted.
  const rows = rowsOf<TakeRow>(
    await tx.execute(sql`
      with wanted as (
        select * from unnest(${pids}::uuid[], ${vids}::uuid[], ${qs}::int[]) with ordinality
          as w(product_id, variant_id, q, ord)),
      pu as (
        update products p set inventory_quantity = p.inventory_quantity - w.q, updated_at = now()
        from wanted w
        where w.variant_id is null and p.id = w.product_id and not p.has_variants and p.track_inventory
          and (p.inventory_quantity >= w.q or p.inventory_policy = 'continue')
        returning p.id as product_id, null::uuid as variant_id, w.q, p.inventory_quantity as after),
      vu as (
        update product_variants v set inventory_quantity = v.inventory_quantity - w.q, updated_at = now()
        from wanted w
        where w.variant_id is not null and v.id = w.variant_id and v.product_id = w.product_id
          and v.track_inventory
          and (v.inventory_quantity >= w.q or v.inventory_policy = 'continue')
        returning v.product_id, v.id as variant_id, w.q, v.inventory_quantity as after),
      taken as (select * from pu union all select * from vu),
      ledger as (
        insert into inventory_ledger (product_id, variant_id, delta, quantity_after, reason, order_id, actor_id)
        select product_id, variant_id, -q, after, 'sale', ${opts.orderId}::uuid, ${opts.actorId}::uuid from taken
        returning 1)${
          redeem
            ? sql`,
      used as (
        update discounts set times_used = times_used + 1, updated_at = now()
        where id = ${redeem.discountId} and is_active
          and (usage_limit is null or times_used < usage_limit)
          and (select count(*) from taken) >= 0
        returning id),
      redeemed as (
        insert into discount_redemptions (discount_id, order_id, user_id, email)
        select id, ${opts.orderId}::uuid, ${redeem.userId}::uuid, ${redeem.email.toLowerCase()} from used
        returning 1)`
            : sql``
        }
      select w.product_id, w.variant_id, coalesce(v.sku, p.sku) as sku,
        coalesce(v.track_inventory, p.track_inventory and not p.has_variants, false) as tracked,
        t.product_id is not null as taken,
        coalesce(v.inventory_quantity, p.inventory_quantity) as available,
        ${redeem ? sql`(select count(*) from used)::int` : sql`1`} as redeemed
      from wanted w
      left join products p on p.id = w.product_id
      left join product_variants v on v.id = w.variant_id and v.product_id = w.product_id
      left join taken t on t.product_id = w.product_id and t.variant_id is not distinct from w.variant_id
      order by w.ord`),
  )
  // the rows taken must equal the distinct tracked items; the first tracked item not taken is short
  const short = rows.find((r) => r.tracked && !r.taken)
  if (!short) {
    if (Number(rows[0]?.redeemed ?? 1) === 0) throw usageLimitReached()
    return
  }
  const item = items.find(
    (i) => i.productId === String(short.product_id) && i.variantId === (short.variant_id ?? null),
  )
  throw outOfStock(item?.line ?? 0, short.sku, short.available === null ? null : Number(short.available))
}

/**
 * One statement: give units back (untracked items and lines whose product is gone are skipped), ledger
 * rows included, with the reason of the change (cancel, refund_restock, return_restock).
 */
export async function returnStock(
  tx: Runner,
  lines: Array<{ productId: string | null; variantId: string | null; quantity: number }>,
  opts: { orderId: string; actorId: string | null; reason: 'cancel' | 'refund_restock' | 'return_restock' },
): Promise<void> {
  const items = sumPerItem(lines.filter((l) => l.quantity > 0))
  if (items.length === 0) return
  const pids = uuidArray(items.map((i) => (i.productId === '' ? null : i.productId)))
  const vids = uuidArray(items.map((i) => i.variantId))
  const qs = intArray(items.map((i) => i.quantity))
  await tx.execute(sql`
    with wanted as (
      select * from unnest(${pids}::uuid[], ${vids}::uuid[], ${qs}::int[]) as w(product_id, variant_id, q)),
    pu as (
      update products p set inventory_quantity = p.inventory_quantity + w.q, updated_at = now()
      from wanted w
      where w.variant_id is null and p.id = w.product_id and not p.has_variants and p.track_inventory
      returning p.id as product_id, null::uuid as variant_id, w.q, p.inventory_quantity as after),
    vu as (
      update product_variants v set inventory_quantity = v.inventory_quantity + w.q, updated_at = now()
      from wanted w
      where w.variant_id is not null and v.id = w.variant_id and v.track_inventory
      returning v.product_id, v.id as variant_id, w.q, v.inventory_quantity as after)
    insert into inventory_ledger (product_id, variant_id, delta, quantity_after, reason, order_id, actor_id)
    select product_id, variant_id, q, after, ${opts.reason}, ${opts.orderId}::uuid, ${opts.actorId}::uuid
    from (select * from pu union all select * from vu) t`)
}
