import type { Stripe } from 'stripe'
import { conflict, ProblemError } from '../http/errors.js'
import { cancelInTx, checkCancellable, isPaid } from '../orders/cancel.js'
import { lockFullOrder } from '../orders/fulfilment.js'
import { refundableCents } from '../orders/refund-plan.js'
import { reserveRefund, settleRefundTx } from '../orders/refunds.js'
import { type FullOrder, loadOrder } from '../orders/view.js'
import type { Db } from '../platform/db.js'
import { log, safeError } from '../platform/logger.js'
import { voidLabelsAfterCommit } from '../shipping/shippo.js'
import { reconcileIntent } from './intent.js'
import { checkStripeAmount, paidThroughStripe, sendRefund } from './refunds.js'
import { stripe, stripeEnabled } from './stripe.js'

// Cancelling an order (DELETE /orders/{order_id}, the unpaid-order cron): the money side, decided from
// Stripe's truth, around the goods side the order records (lib/orders/cancel.ts). Who may cancel, and
// whether the order is paid, is settled under the order's lock, never from an earlier read:
//
// - unpaid, no PaymentIntent (manual): cancelled in that one transaction;
// - unpaid Stripe order: its PaymentIntent is read and cancelled at Stripe first (outside any transaction),
//   so the buyer can no longer pay a cancelled order; one that succeeded meanwhile is reconciled (paid) and
//   the answer is 409 `payment_succeeded`. Then, under the lock again, the order is cancelled unless it was
//   paid meanwhile (409 `payment_succeeded`);
// - paid: ONE transaction cancels the goods and reserves the refund of everything left (so nothing can be
//   fulfilled, shipped or refunded again from then on, and a crash leaves a pending refund the reconcile
//   cron finishes); Stripe is then called and settles it. A refund Stripe refuses leaves the order
//   cancelled with the refund `failed`, flagged for staff, and answers 502 `payment_provider_error`.

export type CancelOutcome = 'cancelled' | 'skipped' | 'paid'

export interface CancelOptions {
  actorId: string | null
  reason: string
  /** under the order's lock: throws when this caller may not cancel this order as it now is */
  authorize?: (order: FullOrder) => void
  /** the unpaid-order cron: leave the order alone unless it is still pending and unpaid */
  onlyUnpaid?: boolean
}

export interface Cancelled {
  outcome: CancelOutcome
  /** the refund a paid cancellation made, and its status (`pending` while Stripe's answer is unknown) */
  refund?: { id: string; status: string }
}

const unpaidPending = (o: FullOrder) => o.status === 'pending' && o.financialStatus === 'pending'
export const paymentSucceededMeanwhile = () =>
  conflict('payment_succeeded', 'The order was paid meanwhile; it was not cancelled.')

export async function cancelOrder(db: Db, orderId: string, opts: CancelOptions): Promise<Cancelled> {
  const record = { actorId: opts.actorId, reason: opts.reason }
  const first = await db.transaction(async (tx) => {
    const order = await lockFullOrder(tx, orderId)
    if (opts.onlyUnpaid && !unpaidPending(order)) return { step: 'skip' as const }
    opts.authorize?.(order)
    checkCancellable(order)
    if (!isPaid(order)) {
      if (order.paymentIntentId && stripeEnabled()) return { step: 'intent' as const, order }
      return { step: 'done' as const, labels: await cancelInTx(tx, order, record) }
    }
    const viaStripe = paidThroughStripe(order)
    const refund =
      refundableCents(order) > 0
        ? (
            await reserveRefund(
              tx,
              orderId,
              { reason: opts.reason },
              {
                actorId: opts.actorId,
                check: (o, plan) => {
                  if (viaStripe) checkStripeAmount(plan.totalCents, o.currency)
                },
              },
            )
          ).refund
        : null
    const labels = await cancelInTx(tx, await lockFullOrder(tx, orderId), record)
    if (refund && !viaStripe) await settleRefundTx(tx, refund.id, { status: 'succeeded' }, opts.actorId)
    return { step: 'done' as const, labels, refund: viaStripe ? refund : null }
  })
  if (first.step === 'skip') return { outcome: 'skipped' }
  if (first.step === 'done') {
    voidLabelsAfterCommit(first.labels)
    if (!first.refund) return { outcome: 'cancelled' }
    const sent = await sendRefund(db, first.refund)
    if (sent.status === 'failed' || sent.status === 'cancelled') {
      throw new ProblemError(
        502,
        'payment_provider_error',
        'The order was cancelled, but the payment provider refused its refund: the order is flagged for staff.',
        { refund_id: first.refund.id },
      )
    }
    return { outcome: 'cancelled', refund: { id: first.refund.id, status: sent.status } }
  }

  // an unpaid Stripe order: make sure it can no longer be paid, then cancel it
  const intent = await cancelIntent(db, first.order, opts)
  if (intent === 'processing') return { outcome: 'skipped' }
  if (intent === 'paid') {
    if (opts.onlyUnpaid) return { outcome: 'paid' }
    throw paymentSucceededMeanwhile()
  }
  const labels = await db.transaction(async (tx) => {
    const order = await lockFullOrder(tx, orderId)
    if (opts.onlyUnpaid && !unpaidPending(order)) return null
    if (isPaid(order)) throw paymentSucceededMeanwhile()
    opts.authorize?.(order)
    checkCancellable(order)
    return cancelInTx(tx, order, record)
  })
  if (!labels) return { outcome: 'skipped' }
  voidLabelsAfterCommit(labels)
  return { outcome: 'cancelled' }
}

/**
 * Read the order's PaymentIntent and cancel it at Stripe, so the buyer can no longer pay it. `paid`: it
 * had succeeded, and reconcile recorded it (the order is paid now); `processing`: the cron leaves it
 * alone. Stripe failing to answer is a 502: nothing was cancelled.
 */
async function cancelIntent(
  db: Db,
  order: FullOrder,
  opts: CancelOptions,
): Promise<'paid' | 'closed' | 'processing'> {
  const client = await stripe()
  let pi: Stripe.PaymentIntent
  try {
    pi = await client.paymentIntents.retrieve(order.paymentIntentId!)
    if (pi.status === 'processing' && opts.onlyUnpaid) return 'processing'
    if (pi.status !== 'succeeded' && pi.status !== 'canceled') {
      try {
        pi = await client.paymentIntents.cancel(pi.id, { cancellation_reason: 'abandoned' })
      } catch (err) {
        // it may have succeeded between the read and the cancel: read it once more
        pi = await client.paymentIntents.retrieve(pi.id)
        if (pi.status !== 'succeeded' && pi.status !== 'canceled') throw err
      }
    }
  } catch (err) {
    log.warn('PaymentIntent could not be cancelled; the order stays pending', {
      order_id: order.id,
      err: safeError(err),
    })
    throw new ProblemError(
      502,
      'payment_provider_error',
      'The payment provider could not cancel the payment; try again.',
    )
  }
  if (pi.status !== 'succeeded') return 'closed'
  await reconcileIntent(db, pi, { reason: 'payment succeeded at Stripe', actorId: opts.actorId })
  // a payment of another amount was sent back by reconcile: the order is cancelled all the same
  const now = await loadOrder(db, order.id)
  return now !== undefined && isPaid(now) ? 'paid' : 'closed'
}
