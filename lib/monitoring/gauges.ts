import { sql } from 'drizzle-orm'
import { getDb } from '../platform/db.js'
import { env } from '../platform/env.js'
import { log } from '../platform/logger.js'
import type { GaugeValue } from '../platform/metrics.js'
import { toMajor } from '../platform/money.js'

// Gauges read from the database at scrape time (one round trip): the truth, whatever instance answers.
export async function databaseGauges(): Promise<GaugeValue[]> {
  try {
    const db = await getDb()
    const result = (await db.execute(sql`
      select
        (select count(*) from user_sessions where revoked_at is null and expires_at > now()) as active_sessions,
        (select count(*) from orders where status = 'pending') as pending_orders,
        (select count(*) from outbox_emails where status = 'pending') as pending_emails,
        (select count(*) from orders where status in ('confirmed', 'processing')) as awaiting_orders,
        (select coalesce(json_object_agg(source, n), '{}') from
          (select source, count(*) as n from orders group by source) s) as orders_by_source,
        (select coalesce(sum(total_amount_cents), 0) from orders) as orders_value_cents,
        (select extract(epoch from avg(fs.shipped_at - o.created_at)) from
          (select order_id, min(shipped_at) as shipped_at from fulfillments
            where shipped_at is not null group by order_id) fs
          join orders o on o.id = fs.order_id
          where fs.shipped_at > now() - interval '30 days') as fulfillment_seconds
    `)) as unknown as { rows: Array<Record<string, unknown>> }
    const r = result.rows[0] ?? {}
    const rawBySource = r.orders_by_source ?? {}
    const bySource = (typeof rawBySource === 'string' ? JSON.parse(rawBySource) : rawBySource) as Record<
      string,
      number
    >
    return [
      {
        name: 'auth_active_sessions',
        help: 'Live sessions (not revoked, not expired)',
        value: Number(r.active_sessions ?? 0),
      },
      { name: 'orders_pending', help: 'Orders in status pending', value: Number(r.pending_orders ?? 0) },
      {
        name: 'orders_awaiting_fulfillment',
        help: 'Orders confirmed or processing (paid, not every unit shipped)',
        value: Number(r.awaiting_orders ?? 0),
      },
      {
        name: 'orders_created_total',
        help: 'Orders placed, by source (counted in the database)',
        type: 'counter',
        value: 0,
        series: Object.entries(bySource).map(([source, n]) => ({ labels: { source }, value: Number(n) })),
      },
      {
        name: 'orders_value_total',
        help: `Total amount of every order placed, in ${env().SHOP_CURRENCY} major units`,
        type: 'counter',
        value: toMajor(Number(r.orders_value_cents ?? 0)),
      },
      {
        name: 'orders_fulfillment_seconds_average',
        help: 'Average time from an order placed to its first shipment shipped, over the last 30 days',
        value:
          r.fulfillment_seconds === null || r.fulfillment_seconds === undefined
            ? 0
            : Number(r.fulfillment_seconds),
      },
      {
        name: 'email_outbox_pending',
        help: 'Emails waiting in the outbox',
        value: Number(r.pending_emails ?? 0),
      },
    ]
  } catch (err) {
    log.warn('metrics gauges unavailable', { err })
    return []
  }
}
