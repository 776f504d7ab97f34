import { sql } from 'drizzle-orm'
import { z } from 'zod'
import { unprocessable } from '../http/errors.js'
import { Instant } from '../http/period.js'
import { now } from '../platform/clock.js'
import { type Db, rowsOf } from '../platform/db.js'
import { env } from '../platform/env.js'
import { Money, toMajor } from '../platform/money.js'

// GET /orders/analytics and /orders/metrics: figures for staff, each answer in one or two statements.
//
// Definitions (docs/orders.md, "Reporting"):
// - an order counts toward revenue when it was paid (paid_amount > 0) and is not cancelled; a payment that
//   arrived late on a cancelled order is refunded at once and is never revenue, nor are its refunds;
//   pending and voided orders have paid nothing;
// - gross = what those orders captured (paid_amount), refunds = what was refunded of them
//   (refunded_amount), net = gross - refunds; all by the day the order was placed (UTC);
// - average order value = gross / revenue orders, half-up in minor units;
// - counts by status and by source are of every order placed in the period.

export const INTERVALS = ['day', 'week', 'month'] as const

export const AnalyticsQuery = z.object({
  from: Instant.optional().describe('start (inclusive); default 30 days before `to`'),
  to: Instant.optional().describe('end (exclusive); default now'),
  interval: z
    .enum(INTERVALS)
    .default('day')
    .describe('buckets of the revenue series (UTC; weeks start Monday)'),
})

export const AnalyticsSchema = z.object({
  period: z.object({ from: z.string(), to: z.string() }),
  interval: z.enum(INTERVALS),
  currency: z.string(),
  revenue: z.object({ gross: Money, refunds: Money, net: Money }),
  orders: z.object({ total: z.number().int(), revenue: z.number().int() }),
  average_order_value: Money,
  series: z.array(
    z.object({
      period_start: z.string(),
      orders: z.number().int(),
      gross: Money,
      refunds: Money,
      net: Money,
    }),
  ),
  by_status: z.record(z.string(), z.number().int()),
  by_source: z.record(z.string(), z.number().int()),
})
export type Analytics = z.infer<typeof AnalyticsSchema>

export function periodOf(q: { from?: Date | undefined; to?: Date | undefined }, days = 30) {
  const to = q.to ?? now()
  const from = q.from ?? new Date(to.getTime() - days * 86_400_000)
  if (from >= to) {
    throw unprocessable([{ path: 'query.from', message: 'must be before `to`', code: 'invalid_range' }])
  }
  if (to.getTime() - from.getTime() > 3 * 366 * 86_400_000) {
    throw unprocessable([{ path: 'query.from', message: 'at most 3 years', code: 'invalid_range' }])
  }
  return { from, to }
}

const REVENUE = sql`o.paid_amount_cents > 0 and o.status <> 'cancelled'`
const halfUpDiv = (a: number, b: number) => (b ? Math.floor((2 * a + b) / (2 * b)) : 0)

export async function orderAnalytics(db: Db, q: z.output<typeof AnalyticsQuery>): Promise<Analytics> {
  const { from, to } = periodOf(q)
  const interval = q.interval
  const inPeriod = sql`o.created_at >= ${from} and o.created_at < ${to}`
  const [series, mix] = await Promise.all([
    db.execute(sql`
      select to_char(date_trunc(${interval}, o.created_at at time zone 'UTC'), 'YYYY-MM-DD') as bucket,
        count(*)::int as orders,
        coalesce(sum(o.paid_amount_cents), 0)::bigint as gross,
        coalesce(sum(o.refunded_amount_cents), 0)::bigint as refunds
      from orders o where ${inPeriod} and ${REVENUE}
      group by 1 order by 1`),
    db.execute(sql`
      select 'status' as kind, o.status as key, count(*)::int as n from orders o where ${inPeriod}
        group by o.status
      union all
      select 'source', o.source, count(*)::int from orders o where ${inPeriod} group by o.source`),
  ])
  const buckets = rowsOf<{
    bucket: string
    orders: number
    gross: string | number
    refunds: string | number
  }>(series).map((r) => ({
    bucket: r.bucket,
    orders: Number(r.orders),
    gross: Number(r.gross),
    refunds: Number(r.refunds),
  }))
  const gross = buckets.reduce((s, b) => s + b.gross, 0)
  const refunds = buckets.reduce((s, b) => s + b.refunds, 0)
  const revenueOrders = buckets.reduce((s, b) => s + b.orders, 0)
  const byStatus: Record<string, number> = {}
  const bySource: Record<string, number> = {}
  for (const r of rowsOf<{ kind: string; key: string; n: number }>(mix)) {
    ;(r.kind === 'status' ? byStatus : bySource)[r.key] = Number(r.n)
  }
  const currency = env().SHOP_CURRENCY
  const m = (c: number) => toMajor(c, currency)
  return {
    period: { from: from.toISOString(), to: to.toISOString() },
    interval,
    currency,
    revenue: { gross: m(gross), refunds: m(refunds), net: m(gross - refunds) },
    orders: { total: Object.values(byStatus).reduce((s, n) => s + n, 0), revenue: revenueOrders },
    average_order_value: m(halfUpDiv(gross, revenueOrders)),
    series: buckets.map((b) => ({
      period_start: b.bucket,
      orders: b.orders,
      gross: m(b.gross),
      refunds: m(b.refunds),
      net: m(b.gross - b.refunds),
    })),
    by_status: byStatus,
    by_source: bySource,
  }
}

// --- metrics ---------------------------------------------------------------------------------------------

export const MetricsQuery = z.object({
  from: Instant.optional().describe(
    'fulfilment time: shipments shipped at or after; default 30 days before `to`',
  ),
  to: Instant.optional().describe('fulfilment time: shipped before; default now'),
})

export const OrderMetricsSchema = z.object({
  pending_orders: z.number().int().describe('status pending (unpaid)'),
  awaiting_fulfillment: z
    .number()
    .int()
    .describe('status confirmed or processing: paid, not every unit shipped'),
  fulfillment_time: z.object({
    period: z.object({ from: z.string(), to: z.string() }),
    orders: z.number().int().describe('orders whose first shipment shipped in the period'),
    average_hours: z.number().nullable().describe('order placed -> its first shipment shipped'),
    average_hours_from_payment: z
      .number()
      .nullable()
      .describe('order confirmed (paid) -> its first shipment shipped'),
  }),
})
export type OrderMetrics = z.infer<typeof OrderMetricsSchema>

/**
 * Dashboard figures in one statement. Time to fulfil: per order, from its creation (and from its
 * confirmation, the first `confirmed` in its history) to the shipped_at of its first shipment; averaged
 * over the orders whose first shipment shipped in the period.
 */
export async function orderMetrics(db: Db, q: z.output<typeof MetricsQuery>): Promise<OrderMetrics> {
  const { from, to } = periodOf(q)
  const [r] = rowsOf<{
    pending: number
    awaiting: number
    shipped: number
    avg_created: string | number | null
    avg_confirmed: string | number | null
  }>(
    await db.execute(sql`
      with first_ship as (
        select f.order_id, min(f.shipped_at) as shipped_at from fulfillments f
        where f.shipped_at is not null group by f.order_id
      ), timed as (
        select fs.shipped_at - o.created_at as from_created,
          fs.shipped_at - (select min(h.created_at) from order_status_history h
            where h.order_id = o.id and h.type = 'order' and h.to_status = 'confirmed') as from_confirmed
        from first_ship fs join orders o on o.id = fs.order_id
        where fs.shipped_at >= ${from} and fs.shipped_at < ${to}
      )
      select
        (select count(*)::int from orders where status = 'pending') as pending,
        (select count(*)::int from orders where status in ('confirmed', 'processing')) as awaiting,
        (select count(*)::int from timed) as shipped,
        (select extract(epoch from avg(from_created)) from timed) as avg_created,
        (select extract(epoch from avg(from_confirmed)) from timed) as avg_confirmed`),
  )
  const hours = (s: string | number | null | undefined) =>
    s === null || s === undefined ? null : Math.round((Number(s) / 3600) * 100) / 100
  return {
    pending_orders: Number(r?.pending ?? 0),
    awaiting_fulfillment: Number(r?.awaiting ?? 0),
    fulfillment_time: {
      period: { from: from.toISOString(), to: to.toISOString() },
      orders: Number(r?.shipped ?? 0),
      average_hours: hours(r?.avg_created),
      average_hours_from_payment: hours(r?.avg_confirmed),
    },
  }
}
