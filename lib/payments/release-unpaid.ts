import { and, asc, eq, isNotNull, isNull, lt, or } from 'drizzle-orm'
import { z } from 'zod'
import { orders } from '../../db/schema/index.js'
import { cancelOrder, paysInFull } from '../orders/cancel.js'
import { lockOrder } from '../orders/history.js'
import type { Db } from '../platform/db.js'
import { env } from '../platform/env.js'
import { log, safeError } from '../platform/logger.js'
import { applyPayment } from './apply.js'
import { fromStripeAmount, stripe, stripeEnabled } from './stripe.js'

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

export async function releaseUnpaidOrders(db: Db, now = new Date()): Promise<ReleaseReport> {
  const e = env()
  const stripeCutoff = new Date(now.getTime() - e.UNPAID_ORDER_TTL_MINUTES * 60_000)
  const manualCutoff = new Date(now.getTime() - e.UNPAID_MANUAL_ORDER_TTL_HOURS * 3_600_000)
  const isStripe = or(eq(orders.paymentProvider, 'stripe'), isNotNull(orders.paymentIntentId))
  const due = await db
    .select({ id: orders.id, paymentIntentId: orders.paymentIntentId, provider: orders.paymentProvider })
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

async function releaseOne(
  db: Db,
  o: { id: string; paymentIntentId: string | null },
): Promise<'cancelled' | 'paid' | 'skipped'> {
  if (o.paymentIntentId && stripeEnabled()) {
    const client = await stripe()
    const pi = await client.paymentIntents.retrieve(o.paymentIntentId)
    if (pi.status === 'processing') return 'skipped'
    if (pi.status === 'succeeded') {
      const applied = await db.transaction(async (tx) => {
        const order = await lockOrder(tx, o.id)
        if (order.status !== 'pending' || order.financialStatus !== 'pending') return 'moved' as const
        if (!paysInFull(order, pi)) return 'mismatch' as const
        await applyPayment(tx, o.id, {
          provider: 'stripe',
          amountCents: fromStripeAmount(pi.amount_received, pi.currency),
          currency: order.currency,
          providerPaymentId: pi.id,
          actorId: null,
          reason: 'payment found by the unpaid-order cron',
        })
        return 'paid' as const
      })
      if (applied === 'paid') return 'paid'
      // paid or cancelled meanwhile (its webhook won the race): nothing to release
      if (applied === 'moved') return 'skipped'
      // a payment of another amount is refunded by its webhook: the order is released like an unpaid one
    }
    // cancelOrder cancels the PaymentIntent first, then the order
  }
  const cancelled = await cancelOrder(db, o.id, {
    actorId: null,
    reason: 'unpaid: released after its time limit',
    onlyUnpaid: true,
  })
  return cancelled ? 'cancelled' : 'skipped'
}
