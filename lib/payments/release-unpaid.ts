import { and, asc, eq, isNotNull, isNull, lt, or } from 'drizzle-orm'
import { z } from 'zod'
import { orders } from '../../db/schema/index.js'
import { now as clock } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { env } from '../platform/env.js'
import { log, safeError } from '../platform/logger.js'
import { cancelOrder } from './cancel.js'

// GET /api/cron/release-unpaid (every 15 minutes): pending orders older than their TTL give their stock
// back. A Stripe order (UNPAID_ORDER_TTL_MINUTES) asks Stripe first: a succeeded PaymentIntent whose
// webhook was lost is applied, a processing one is left alone, any other is cancelled before the order
// (so the buyer can no longer pay for it). A manual order waits UNPAID_MANUAL_ORDER_TTL_HOURS. Batched
// (oldest first); each order is independent, one failing does not stop the rest.

export const BATCH = 50

export const ReleaseReportSchema = z.object({
  examined: z.number().int(),
  cancelled: z.number().int(),
  paid: z.number().int(),
  skipped: z.number().int(),
  failed: z.number().int(),
})
export type ReleaseReport = z.infer<typeof ReleaseReportSchema>

export async function releaseUnpaidOrders(db: Db, now = clock()): Promise<ReleaseReport> {
  const e = env()
  const stripeCutoff = new Date(now.getTime() - e.UNPAID_ORDER_TTL_MINUTES * 60_000)
  const manualCutoff = new Date(now.getTime() - e.UNPAID_MANUAL_ORDER_TTL_HOURS * 3_600_000)
  const isStripe = or(eq(orders.paymentProvider, 'stripe'), isNotNull(orders.paymentIntentId))
  const due = await db
    .select({ id: orders.id })
    .from(orders)
    .where(
      and(
        eq(orders.status, 'pending'),
        or(
          and(isStripe, lt(orders.createdAt, stripeCutoff)),
          and(
            or(isNull(orders.paymentProvider), eq(orders.paymentProvider, 'manual')),
            isNull(orders.paymentIntentId),
            lt(orders.createdAt, manualCutoff),
          ),
        ),
      ),
    )
    .orderBy(asc(orders.createdAt))
    .limit(BATCH)
  const report: ReleaseReport = { examined: due.length, cancelled: 0, paid: 0, skipped: 0, failed: 0 }
  for (const o of due) {
    try {
      const outcome = await releaseOne(db, o)
      report[outcome]++
    } catch (err) {
      report.failed++
      log.warn('unpaid order could not be released', { order_id: o.id, err: safeError(err) })
    }
  }
  return report
}

async function releaseOne(db: Db, o: { id: string }): Promise<'cancelled' | 'paid' | 'skipped'> {
  // cancelOrder reads the PaymentIntent first: one that succeeded (a lost webhook) is reconciled and the
  // order stays; a processing one is left alone; any other is cancelled at Stripe, then the order. Its
  // onlyUnpaid guard re-checks under the lock, so an order paid since the query above is left alone.
  const { outcome } = await cancelOrder(db, o.id, {
    actorId: null,
    reason: 'unpaid: released after its time limit',
    onlyUnpaid: true,
  })
  return outcome
}
