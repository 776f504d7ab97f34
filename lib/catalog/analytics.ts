import { sql } from 'drizzle-orm'
import { z } from 'zod'
import { unprocessable } from '../http/errors.js'
import { periodFields, resolvePeriod } from '../http/period.js'
import type { Db } from '../platform/db.js'
import { env } from '../platform/env.js'
import { Money, toMajor } from '../platform/money.js'

// GET /products/analytics: what sold over a period, from order lines, in one database round trip.
// A line counts when its order was placed in [from, to) and was paid (the same financial statuses the
// business metrics count as revenue: paid, partially_paid, partially_refunded, refunded). Revenue is the
// line's net sales, `subtotal - discount` (before tax, which is not the shop's money), in major units.
// Refunded units are reported beside the units sold, not subtracted from them, so the figures reconcile
// with the orders' own lines. Buckets are UTC days, ISO weeks (Monday) or calendar months.

export const SALES_INTERVALS = ['day', 'week', 'month'] as const
export type SalesInterval = (typeof SALES_INTERVALS)[number]
export const RANKINGS = ['units', 'revenue'] as const

/** Most buckets one request may ask for. */
export const MAX_BUCKETS = 1000
const DAY = 86_400_000

export const ProductAnalyticsQuery = z
  .object({
    ...periodFields,
    interval: z.enum(SALES_INTERVALS).default('day').describe('Bucket size of `series` (UTC)'),
    limit: z.coerce.number().int().min(1).max(100).default(10).describe('Length of each list (1..100)'),
    rank_by: z.enum(RANKINGS).default('units').describe('Order of `top_sellers`: units sold or revenue'),
  })
  .strict()
export type ProductAnalyticsQuery = z.output<typeof ProductAnalyticsQuery>

const Seller = z.object({
  product_id: z.string(),
  sku: z.string(),
  name: z.string(),
  units_sold: z.number().int(),
  units_refunded: z.number().int(),
  revenue: Money,
  orders: z.number().int(),
})

export const ProductAnalyticsSchema = z.object({
  period: z.object({ from: z.string(), to: z.string(), interval: z.enum(SALES_INTERVALS) }),
  currency: z.string(),
  totals: z.object({
    units_sold: z.number().int(),
    units_refunded: z.number().int(),
    revenue: Money,
    orders: z.number().int(),
    products_sold: z.number().int().describe('Distinct products with at least one paid line'),
  }),
  series: z.array(
    z.object({
      period_start: z.string().describe('UTC date (YYYY-MM-DD) the bucket starts on'),
      units_sold: z.number().int(),
      revenue: Money,
      orders: z.number().int(),
    }),
  ),
  top_sellers: z.array(Seller),
  slow_movers: z.array(
    Seller.extend({
      inventory_quantity: z
        .number()
        .int()
        .describe('Current stock (sum of active variants when it has variants)'),
    }),
  ),
  low_stock: z.array(
    z.object({
      product_id: z.string(),
      variant_id: z.string().nullable(),
      sku: z.string(),
      name: z.string(),
      variant_title: z.string().nullable(),
      inventory_quantity: z.number().int(),
      low_stock_threshold: z.number().int(),
    }),
  ),
})
export type ProductAnalytics = z.infer<typeof ProductAnalyticsSchema>

export const PRODUCT_ANALYTICS_DESCRIPTION =
  'Sales of the catalog over `[from, to)` (default the last 30 days), from the lines of paid orders placed ' +
  'in the period (financial status paid, partially_paid, partially_refunded or refunded). `units_sold` ' +
  'sums line quantities, `units_refunded` their refunded quantities, `revenue` the lines’ net sales ' +
  '(subtotal minus discount, before tax) in major units. `series` lists every `interval` bucket (UTC ' +
  'days, ISO weeks from Monday, calendar months), zero-filled. `top_sellers`: the best `limit` products ' +
  'by `rank_by`. `slow_movers`: active products created before `to` that sold least in the period (none ' +
  'at all first), most stock first among equals. `low_stock`: tracked stock at or below the product’s ' +
  'threshold, per variant for products with variants, per product otherwise, lowest first (active ' +
  `products and variants only). At most ${MAX_BUCKETS} buckets per request.`

/** Start (UTC ms) of the bucket holding `ms`. */
function bucketStart(ms: number, interval: SalesInterval): number {
  if (interval === 'day') return Math.floor(ms / DAY) * DAY
  if (interval === 'week') return Math.floor((ms + 3 * DAY) / (7 * DAY)) * 7 * DAY - 3 * DAY
  const d = new Date(ms)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
}

export function bucketCount(from: Date, to: Date, interval: SalesInterval): number {
  const first = bucketStart(from.getTime(), interval)
  const last = bucketStart(to.getTime() - 1, interval)
  if (interval === 'month') {
    const a = new Date(first)
    const b = new Date(last)
    return (b.getUTCFullYear() - a.getUTCFullYear()) * 12 + b.getUTCMonth() - a.getUTCMonth() + 1
  }
  return Math.round((last - first) / (interval === 'day' ? DAY : 7 * DAY)) + 1
}

/** The period asked for, with its defaults, or a 422 naming what is wrong with it. */
export function analyticsPeriod(q: ProductAnalyticsQuery, now: Date): { from: Date; to: Date } {
  const { from, to } = resolvePeriod(q, now)
  if (bucketCount(from, to, q.interval) > MAX_BUCKETS) {
    throw unprocessable([
      {
        path: 'query.from',
        message: `the period spans more than ${MAX_BUCKETS} ${q.interval}s; shorten it or use a longer interval`,
        code: 'range_too_large',
      },
    ])
  }
  return { from, to }
}

type Num = string | number
type Json<T> = T[] | string | null
interface SellerRow {
  product_id: string
  sku: string
  name: string
  units_sold: Num
  units_refunded: Num
  revenue: Num
  orders: Num
  inventory_quantity?: Num
}
interface Row {
  units_sold: Num
  units_refunded: Num
  revenue: Num
  orders: Num
  products_sold: Num
  series: Json<{ period_start: string; units_sold: Num; revenue: Num; orders: Num }>
  top_sellers: Json<SellerRow>
  slow_movers: Json<SellerRow>
  low_stock: Json<{
    product_id: string
    variant_id: string | null
    sku: string
    name: string
    variant_title: string | null
    inventory_quantity: Num
    low_stock_threshold: Num
  }>
}

const list = <T>(v: Json<T>): T[] => (typeof v === 'string' ? (JSON.parse(v) as T[]) : (v ?? []))

const seller = (r: SellerRow) => ({
  product_id: r.product_id,
  sku: r.sku,
  name: r.name,
  units_sold: Number(r.units_sold),
  units_refunded: Number(r.units_refunded),
  revenue: toMajor(Number(r.revenue)),
  orders: Number(r.orders),
})

export async function productAnalytics(
  db: Db,
  q: ProductAnalyticsQuery,
  period: { from: Date; to: Date },
): Promise<ProductAnalytics> {
  const f = sql`${period.from.toISOString()}::timestamptz`
  const t = sql`${period.to.toISOString()}::timestamptz`
  const step = sql.raw(`'1 ${q.interval}'::interval`)
  const unit = sql.raw(`'${q.interval}'`)
  const rank =
    q.rank_by === 'revenue'
      ? sql`s.revenue desc, s.units_sold desc, p.name, p.id`
      : sql`s.units_sold desc, s.revenue desc, p.name, p.id`
  const result = (await db.execute(sql`
    with lines as (
      select i.product_id, i.quantity, i.refunded_quantity,
        (i.subtotal_cents - i.discount_amount_cents) as net, o.id as order_id,
        date_trunc(${unit}, o.created_at at time zone 'UTC') as bucket
      from order_items i join orders o on o.id = i.order_id
      where o.created_at >= ${f} and o.created_at < ${t}
        and o.financial_status in ('paid', 'partially_paid', 'partially_refunded', 'refunded')
    ),
    per_product as (
      select product_id, sum(quantity)::bigint as units_sold, sum(refunded_quantity)::bigint as units_refunded,
        sum(net)::bigint as revenue, count(distinct order_id)::int as orders
      from lines where product_id is not null group by product_id
    ),
    series as (
      select generate_series(
        date_trunc(${unit}, ${f} at time zone 'UTC'),
        date_trunc(${unit}, (${t} - interval '1 microsecond') at time zone 'UTC'),
        ${step}
      ) as bucket
    ),
    per_bucket as (
      select bucket, sum(quantity)::bigint as units_sold, sum(net)::bigint as revenue,
        count(distinct order_id)::int as orders
      from lines group by bucket
    ),
    stock as (
      select p.id, case when p.has_variants
        then coalesce((select sum(v.inventory_quantity) from product_variants v
          where v.product_id = p.id and v.is_active), 0)
        else p.inventory_quantity end::bigint as quantity
      from products p
      where p.status = 'active' and p.created_at < ${t}
    ),
    top as (
      select p.id as product_id, p.sku, p.name, s.units_sold, s.units_refunded, s.revenue, s.orders,
        row_number() over (order by ${rank}) as rn
      from per_product s join products p on p.id = s.product_id
      order by rn
      limit ${q.limit}
    ),
    slow as (
      select p.id as product_id, p.sku, p.name, coalesce(s.units_sold, 0) as units_sold,
        coalesce(s.units_refunded, 0) as units_refunded, coalesce(s.revenue, 0) as revenue,
        coalesce(s.orders, 0) as orders, st.quantity as inventory_quantity,
        row_number() over (order by coalesce(s.units_sold, 0), st.quantity desc, p.created_at, p.id) as rn
      from stock st join products p on p.id = st.id
      left join per_product s on s.product_id = p.id
      order by rn
      limit ${q.limit}
    ),
    low as (
      select l.*, row_number() over (order by l.inventory_quantity, l.name, l.sku) as rn from (
        select p.id as product_id, null::uuid as variant_id, p.sku, p.name, null::text as variant_title,
          p.inventory_quantity, p.low_stock_threshold
        from products p
        where p.status = 'active' and not p.has_variants and p.track_inventory
          and p.inventory_quantity <= p.low_stock_threshold
        union all
        select p.id, v.id, v.sku, p.name, v.title, v.inventory_quantity, p.low_stock_threshold
        from product_variants v join products p on p.id = v.product_id
        where p.status = 'active' and p.has_variants and v.is_active and v.track_inventory
          and v.inventory_quantity <= p.low_stock_threshold
      ) l
      order by rn
      limit ${q.limit}
    )
    select
      (select coalesce(sum(quantity), 0) from lines) as units_sold,
      (select coalesce(sum(refunded_quantity), 0) from lines) as units_refunded,
      (select coalesce(sum(net), 0) from lines) as revenue,
      (select count(distinct order_id) from lines) as orders,
      (select count(*) from per_product) as products_sold,
      (select json_agg(json_build_object(
          'period_start', to_char(s.bucket, 'YYYY-MM-DD'),
          'units_sold', coalesce(b.units_sold, 0),
          'revenue', coalesce(b.revenue, 0),
          'orders', coalesce(b.orders, 0)
        ) order by s.bucket)
        from series s left join per_bucket b on b.bucket = s.bucket) as series,
      (select json_agg(to_jsonb(top) - 'rn' order by rn) from top) as top_sellers,
      (select json_agg(to_jsonb(slow) - 'rn' order by rn) from slow) as slow_movers,
      (select json_agg(to_jsonb(low) - 'rn' order by rn) from low) as low_stock
  `)) as unknown as { rows: Row[] }
  const r = result.rows[0]!
  return {
    period: { from: period.from.toISOString(), to: period.to.toISOString(), interval: q.interval },
    currency: env().SHOP_CURRENCY,
    totals: {
      units_sold: Number(r.units_sold),
      units_refunded: Number(r.units_refunded),
      revenue: toMajor(Number(r.revenue)),
      orders: Number(r.orders),
      products_sold: Number(r.products_sold),
    },
    series: list(r.series).map((b) => ({
      period_start: b.period_start,
      units_sold: Number(b.units_sold),
      revenue: toMajor(Number(b.revenue)),
      orders: Number(b.orders),
    })),
    top_sellers: list(r.top_sellers).map(seller),
    slow_movers: list(r.slow_movers).map((s) => ({
      ...seller(s),
      inventory_quantity: Number(s.inventory_quantity),
    })),
    low_stock: list(r.low_stock).map((l) => ({
      product_id: l.product_id,
      variant_id: l.variant_id,
      sku: l.sku,
      name: l.name,
      variant_title: l.variant_title,
      inventory_quantity: Number(l.inventory_quantity),
      low_stock_threshold: Number(l.low_stock_threshold),
    })),
  }
}
