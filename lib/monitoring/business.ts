import { sql } from 'drizzle-orm'
import { z } from 'zod'
import type { Db } from '../platform/db.js'
import { env } from '../platform/env.js'
import { Money, toMajor } from '../platform/money.js'

// Shop KPIs for a period, in one database round trip.

const PAID = sql`('paid', 'partially_paid', 'partially_refunded', 'refunded')`

export const BusinessMetricsSchema = z.object({
  period: z.object({ from: z.string(), to: z.string() }),
  currency: z.string(),
  revenue: z.object({ gross: Money, refunded: Money, net: Money }),
  orders: z.object({ total: z.number().int(), paid: z.number().int(), cancelled: z.number().int() }),
  average_order_value: Money,
  new_users: z.number().int(),
  low_stock: z.object({ products: z.number().int(), variants: z.number().int() }),
})
export type BusinessMetrics = z.infer<typeof BusinessMetricsSchema>

interface Row {
  gross: string | number
  refunded: string | number
  orders_total: string | number
  orders_paid: string | number
  orders_cancelled: string | number
  new_users: string | number
  low_products: string | number
  low_variants: string | number
}

export async function businessMetrics(db: Db, from: Date, to: Date): Promise<BusinessMetrics> {
  const result = (await db.execute(sql`
    select
      (select coalesce(sum(total_amount_cents), 0) from orders
        where created_at >= ${from} and created_at < ${to} and financial_status in ${PAID}) as gross,
      (select coalesce(sum(amount_cents), 0) from refunds
        where created_at >= ${from} and created_at < ${to} and status = 'succeeded') as refunded,
      (select count(*) from orders where created_at >= ${from} and created_at < ${to}) as orders_total,
      (select count(*) from orders
        where created_at >= ${from} and created_at < ${to} and financial_status in ${PAID}) as orders_paid,
      (select count(*) from orders
        where created_at >= ${from} and created_at < ${to} and status = 'cancelled') as orders_cancelled,
      (select count(*) from users
        where created_at >= ${from} and created_at < ${to} and deleted_at is null) as new_users,
      (select count(*) from products
        where status = 'active' and not has_variants and track_inventory
          and inventory_quantity <= low_stock_threshold) as low_products,
      (select count(*) from product_variants v join products p on p.id = v.product_id
        where p.status = 'active' and v.is_active and v.track_inventory
          and v.inventory_quantity <= p.low_stock_threshold) as low_variants
  `)) as unknown as { rows: Row[] }
  const r = result.rows[0]!
  const gross = Number(r.gross)
  const refunded = Number(r.refunded)
  const paid = Number(r.orders_paid)
  return {
    period: { from: from.toISOString(), to: to.toISOString() },
    currency: env().SHOP_CURRENCY,
    revenue: { gross: toMajor(gross), refunded: toMajor(refunded), net: toMajor(gross - refunded) },
    orders: { total: Number(r.orders_total), paid, cancelled: Number(r.orders_cancelled) },
    // Integer division in minor units, rounded half up: no float arithmetic on money.
    average_order_value: paid ? toMajor(Math.floor((gross * 2 + paid) / (2 * paid))) : 0,
    new_users: Number(r.new_users),
    low_stock: { products: Number(r.low_products), variants: Number(r.low_variants) },
  }
}
