import { and, asc, eq, gt, inArray, sql } from 'drizzle-orm'
import type { Stripe } from 'stripe'
import { payments, refunds } from '../../db/schema/index.js'
import { addFlag, lockOrder } from '../orders/history.js'
import { reserveRefund, settleRefundTx } from '../orders/refunds.js'
import type { Db } from '../platform/db.js'
import { log, safeError } from '../platform/logger.js'
import { reconcileStripeRefund, refundStatusOf } from './refunds.js'
import { fromStripeAmount, stripe, stripeEnabled } from './stripe.js'

// `npm run payments:reconcile`: once, after deploying the one reconcile step (issue 15), bring the orders
// the old money path got wrong to Stripe's truth. Safe to run again: a second run changes nothing.
//
// - An order paid by a PaymentIntent that a late webhook then refunded as "unexpected" (the old verdict
//   refunded any payment_intent.succeeded of an order no longer pending): the refund is at Stripe, the
//   order shows nothing refunded and may have shipped.
// - A refund whose Stripe answer was lost and that was marked `failed` although Stripe made it.
// - Payments the old webhook sent back (metadata.refunded_at_once) that were not the order's own payment
//   are marked `unexpected`, so their refunds stay outside the order's totals.
//
// For every order with a succeeded Stripe payment, the payment's refunds are listed at Stripe. A refund
// known to a row that holds money is settled as the reconcile cron would; one pointing at a row we marked
// failed, or unknown to us, is recorded as a refund of the order (counted in its totals, capped at what is
// left) and the order is flagged `refund_repaired` for staff.

export interface RepairReport {
  orders: number
  settled: number
  repaired: number
  failed: number
}

const BATCH = 100

export async function repairPayments(db: Db): Promise<RepairReport> {
  const report: RepairReport = { orders: 0, settled: 0, repaired: 0, failed: 0 }
  if (!stripeEnabled()) return report
  await markOldUnexpected(db)
  let after = '00000000-0000-0000-0000-000000000000'
  for (;;) {
    const batch = await db
      .selectDistinct({ id: payments.orderId })
      .from(payments)
      .where(
        and(eq(payments.provider, 'stripe'), eq(payments.status, 'succeeded'), gt(payments.orderId, after)),
      )
      .orderBy(asc(payments.orderId))
      .limit(BATCH)
    if (batch.length === 0) return report
    for (const { id } of batch) {
      report.orders++
      try {
        const r = await repairOrder(db, id)
        report.settled += r.settled
        report.repaired += r.repaired
      } catch (err) {
        report.failed++
        log.warn('order could not be reconciled with Stripe', { order_id: id, err: safeError(err) })
      }
    }
    after = batch.at(-1)!.id
  }
}

/** Payments the old webhook sent back that never paid their order: outside the order's totals. */
async function markOldUnexpected(db: Db): Promise<void> {
  await db.execute(sql`
    update payments p set metadata = p.metadata || '{"unexpected": true}'::jsonb, updated_at = now()
    from orders o
    where o.id = p.order_id and (p.metadata->>'refunded_at_once') = 'true'
      and coalesce((p.metadata->>'unexpected')::boolean, false) = false
      and not (p.provider_payment_id = o.payment_intent_id and o.paid_amount_cents > 0
        and o.financial_status in ('paid', 'partially_refunded', 'refunded'))`)
}

async function repairOrder(db: Db, orderId: string): Promise<{ settled: number; repaired: number }> {
  const client = await stripe()
  const paid = await db
    .select({ intent: payments.providerPaymentId })
    .from(payments)
    .where(
      and(eq(payments.orderId, orderId), eq(payments.provider, 'stripe'), eq(payments.status, 'succeeded')),
    )
  const out = { settled: 0, repaired: 0 }
  for (const { intent } of paid) {
    if (!intent) continue
    for await (const r of client.refunds.list({ payment_intent: intent, limit: 100 })) {
      if (await repairedFailedRow(db, orderId, r)) out.repaired++
      else if ((await reconcileStripeRefund(db, orderId, r)) === 'recorded') {
        out.repaired++
        await db.transaction(async (tx) => {
          await lockOrder(tx, orderId)
          await addFlag(tx, orderId, {
            code: 'refund_repaired',
            message: `Stripe refund ${r.id} was not recorded here; it is now counted. Check whether the goods shipped.`,
            provider_refund_id: r.id,
          })
        })
      } else out.settled++
    }
  }
  return out
}

/**
 * A Stripe refund that did go through although we marked its row failed (a lost answer taken for a
 * refusal): recorded as a refund of the order, the old row's reason says where it went. True when done.
 */
async function repairedFailedRow(db: Db, orderId: string, r: Stripe.Refund): Promise<boolean> {
  const status = refundStatusOf(r.status)
  const ours = r.metadata?.refund_id
  if (!ours || status === 'failed' || status === 'cancelled') return false
  return db.transaction(async (tx) => {
    const order = await lockOrder(tx, orderId)
    const [row] = await tx
      .select()
      .from(refunds)
      .where(
        and(
          eq(refunds.id, ours),
          eq(refunds.orderId, orderId),
          inArray(refunds.status, ['failed', 'cancelled']),
        ),
      )
    if (!row) return false
    const [already] = await tx
      .select({ id: refunds.id })
      .from(refunds)
      .where(eq(refunds.providerRefundId, r.id))
    if (already) return false
    const left = order.paidAmountCents - order.refundedAmountCents
    const amount = Math.min(fromStripeAmount(r.amount, r.currency), left)
    if (amount > 0 && ['paid', 'partially_refunded'].includes(order.financialStatus)) {
      const { refund } = await reserveRefund(
        tx,
        orderId,
        { amountCents: amount, reason: `${row.reason ?? 'refund'} (made at Stripe, marked failed here)` },
        { actorId: null },
      )
      await settleRefundTx(tx, refund.id, { status, providerRefundId: r.id }, null)
    }
    await tx
      .update(refunds)
      .set({
        failureReason: `made at Stripe after all as ${r.id}; recorded as its own refund`,
        updatedAt: new Date(),
      })
      .where(eq(refunds.id, row.id))
    await addFlag(tx, orderId, {
      code: 'refund_repaired',
      message: `Stripe refund ${r.id} was recorded here as failed; it went through and is now counted.`,
      provider_refund_id: r.id,
    })
    return true
  })
}
