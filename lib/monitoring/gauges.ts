import { sql } from 'drizzle-orm'
import { getDb } from '../platform/db.js'
import { log } from '../platform/logger.js'
import type { GaugeValue } from '../platform/metrics.js'

// Gauges read from the database at scrape time (one round trip): the truth, whatever instance answers.
export async function databaseGauges(): Promise<GaugeValue[]> {
  try {
    const db = await getDb()
    const result = (await db.execute(sql`
      select
        (select count(*) from user_sessions where revoked_at is null and expires_at > now()) as active_sessions,
        (select count(*) from orders where status = 'pending') as pending_orders,
        (select count(*) from outbox_emails where status = 'pending') as pending_emails
    `)) as unknown as { rows: Array<Record<string, string | number>> }
    const r = result.rows[0] ?? {}
    return [
      {
        name: 'auth_active_sessions',
        help: 'Live sessions (not revoked, not expired)',
        value: Number(r.active_sessions ?? 0),
      },
      { name: 'orders_pending', help: 'Orders in status pending', value: Number(r.pending_orders ?? 0) },
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
