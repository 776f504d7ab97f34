import { sql } from 'drizzle-orm'
import { z } from 'zod'
import { categoryShown } from '../catalog/view.js'
import { type FieldError, ProblemError } from '../http/errors.js'
import { Uuid } from '../http/validation.js'
import { rowsOf } from '../platform/db.js'
import { env } from '../platform/env.js'
import type { Runner } from './view.js'

// A cart's lines resolved against the catalog in one statement, whatever their number. Every price,
// name, SKU and weight comes from the catalog (a client's price field is never read): the order keeps a
// snapshot of them. Lines a customer could not buy are a 422 naming the line.

/** One line of a cart as the client sends it; unknown fields (a `price`, say) are dropped unread. */
export const CartLine = z.object({
  product_id: Uuid,
  variant_id: Uuid.nullish(),
  quantity: z.number().int().min(1).max(10_000),
})
export const CartItems = z.array(CartLine).min(1).max(100)
export type CartLineInput = z.output<typeof CartLine>

/** A resolved line: the catalog's snapshot of what is bought. */
export interface ResolvedLine {
  productId: string
  variantId: string | null
  productName: string
  variantTitle: string | null
  sku: string
  unitPriceCents: number
  quantity: number
  /** grams (the variant's, else the product's); null when unknown */
  weightGrams: number | null
  tracked: boolean
  /**
   * Units on hand when the cart was read, for a tracked item that may not be oversold; null when the
   * item is untracked or sells below zero (`continue`). A snapshot for an early refusal only: the stock
   * statement (lib/orders/stock.ts) decides.
   */
  available: number | null
}

interface Row {
  ord: number
  p_id: string | null
  p_name: string | null
  p_sku: string | null
  p_status: string | null
  p_visible: boolean | null
  p_shown: boolean | null
  p_has_variants: boolean | null
  p_price: number | null
  p_weight: number | null
  p_track: boolean | null
  v_id: string | null
  v_product_id: string | null
  v_title: string | null
  v_sku: string | null
  v_price: number | null
  v_weight: number | null
  v_track: boolean | null
  v_active: boolean | null
  p_qty: number | null
  p_policy: string | null
  v_qty: number | null
  v_policy: string | null
}

/**
 * MAX_QUANTITY_PER_ITEM caps the units of one item (a product without variants, or a variant) in one
 * order, summed over the lines that name it, so a single unpaid order cannot hold a product's whole
 * stock. 422 `quantity_limit`, one error per item naming the line where its running total passes the cap.
 */
export function assertQuantityLimits(items: readonly CartLineInput[]): void {
  const max = env().MAX_QUANTITY_PER_ITEM
  const units = new Map<string, number>()
  const errors: FieldError[] = []
  items.forEach((item, n) => {
    const key = item.variant_id ?? item.product_id
    const before = units.get(key) ?? 0
    const total = before + item.quantity
    units.set(key, total)
    // one error per item: the line where its running total first passes the cap
    if (total > max && before <= max) {
      errors.push({
        path: `items.${n}.quantity`,
        message: `At most ${max} units of one item per order (this cart names ${total} so far).`,
        code: 'quantity_limit',
      })
    }
  })
  if (errors.length > 0) {
    throw new ProblemError(422, 'quantity_limit', errors[0]!.message, { errors })
  }
}

const uuidArray = (ids: Array<string | null>) => `{${ids.map((id) => id ?? 'NULL').join(',')}}`

/**
 * Resolve the lines in one statement. 422 (every bad line listed, the first one's code as the problem's):
 * `items.N.product_id` unknown, not active or hidden (`product_unavailable`); `items.N.variant_id` missing
 * for a product with variants (`variant_required`), given for one without (`variant_not_allowed`), or of
 * another product / inactive (`variant_unavailable`).
 */
export async function resolveCart(db: Runner, items: CartLineInput[]): Promise<ResolvedLine[]> {
  const pids = uuidArray(items.map((i) => i.product_id))
  const vids = uuidArray(items.map((i) => i.variant_id ?? null))
  const result = await db.execute(sql`
    select w.ord::int as ord,
      p.id as p_id, p.name as p_name, p.sku as p_sku, p.status as p_status, p.is_visible as p_visible,
      (c.id is null or ${categoryShown('c')}) as p_shown,
      p.has_variants as p_has_variants, p.price_cents as p_price, p.weight_grams as p_weight,
      p.track_inventory as p_track,
      v.id as v_id, v.product_id as v_product_id, v.title as v_title, v.sku as v_sku,
      v.price_cents as v_price, v.weight_grams as v_weight, v.track_inventory as v_track,
      v.is_active as v_active,
      p.inventory_quantity as p_qty, p.inventory_policy as p_policy,
      v.inventory_quantity as v_qty, v.inventory_policy as v_policy
    from unnest(${pids}::uuid[], ${vids}::uuid[]) with ordinality as w(product_id, variant_id, ord)
    left join products p on p.id = w.product_id
    left join categories c on c.id = p.category_id
    left join product_variants v on v.id = w.variant_id
    order by w.ord`)
  const rows = rowsOf<Row>(result)
  const errors: FieldError[] = []
  const lines: ResolvedLine[] = []
  rows.forEach((r, n) => {
    const item = items[n]!
    const at = `items.${n}`
    if (!r.p_id || r.p_status !== 'active' || !r.p_visible || !r.p_shown) {
      errors.push({
        path: `${at}.product_id`,
        message: 'This product does not exist or is not for sale.',
        code: 'product_unavailable',
      })
      return
    }
    if (r.p_has_variants && !item.variant_id) {
      errors.push({
        path: `${at}.variant_id`,
        message: 'This product has variants: name one (variant_id).',
        code: 'variant_required',
      })
      return
    }
    if (!r.p_has_variants && item.variant_id) {
      errors.push({
        path: `${at}.variant_id`,
        message: 'This product has no variants.',
        code: 'variant_not_allowed',
      })
      return
    }
    if (item.variant_id && (!r.v_id || r.v_product_id !== r.p_id || !r.v_active)) {
      errors.push({
        path: `${at}.variant_id`,
        message: 'This variant does not exist for this product or is not for sale.',
        code: 'variant_unavailable',
      })
      return
    }
    const variant = Boolean(item.variant_id)
    const tracked = variant ? r.v_track === true : r.p_track === true
    const mayOversell = !tracked || (variant ? r.v_policy : r.p_policy) === 'continue'
    lines.push({
      productId: r.p_id,
      variantId: variant ? r.v_id : null,
      productName: r.p_name!,
      variantTitle: variant ? r.v_title : null,
      sku: (variant ? r.v_sku : r.p_sku)!,
      unitPriceCents: Number(variant && r.v_price !== null ? r.v_price : r.p_price),
      quantity: item.quantity,
      weightGrams: (variant ? (r.v_weight ?? r.p_weight) : r.p_weight) ?? null,
      tracked,
      available: mayOversell ? null : Number(variant ? r.v_qty : r.p_qty),
    })
  })
  if (errors.length > 0) {
    throw new ProblemError(422, errors[0]!.code, errors[0]!.message, { errors })
  }
  return lines
}
