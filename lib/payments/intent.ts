import { eq } from 'drizzle-orm'
import type { Stripe } from 'stripe'
import { orders, type Refund } from '../../db/schema/index.js'
import { lockOrder } from '../orders/history.js'
import { recordIntentStatus, recordPayment, recordUnexpectedPayment } from '../orders/payments.js'
import { type FullOrder, loadOrder, type Runner } from '../orders/view.js'
import type { Db } from '../platform/db.js'
import { sendRefund } from './refunds.js'
import { paymentStatusOf } from './start.js'
import { fromStripeAmount, toStripeAmount } from './stripe.js'

// The one reconcile step for a PaymentIntent. Every path that learns about one (the webhook, the
// unpaid-order cron, a cancel, /payment) hands Stripe's PaymentIntent to reconcileIntent, which brings the
// order to Stripe's truth for it under the order's lock and records it once. Whether money moves back is
// a separate decision, made by verdictFor from this table (also in docs/orders.md):
//
//   PaymentIntent                        order                                         verdict
//   not succeeded                        any                                           record its status
//   succeeded, already recorded as       any (it paid this order, or was sent back)    nothing: recorded
//     succeeded for this order
//   succeeded, the order's own (or the   pending and unpaid, amount and currency       apply: paid, confirmed
//     order has none yet)                  equal to the total
//   succeeded                            cancelled                                     refund in full, flag
//   succeeded                            paid by another payment                       refund in full, flag
//   succeeded                            pending, another amount or currency           refund in full, flag
//   succeeded                            pending, but another PaymentIntent is its own refund in full, flag

export type IntentVerdict =
  | { kind: 'apply' }
  | { kind: 'record' }
  | { kind: 'none' }
  | { kind: 'refund'; why: string }

/** Whether a succeeded PaymentIntent pays exactly this order (Stripe's units, same currency). */
export function paysInFull(
  order: Pick<FullOrder, 'totalAmountCents' | 'currency'>,
  pi: Stripe.PaymentIntent,
) {
  if (pi.currency.toUpperCase() !== order.currency) return false
  try {
    return pi.amount_received === toStripeAmount(order.totalAmountCents, order.currency)
  } catch {
    return false
  }
}

/** The decision table above. Pure. */
export function verdictFor(order: FullOrder, pi: Stripe.PaymentIntent): IntentVerdict {
  if (pi.status !== 'succeeded') return { kind: 'record' }
  const known = order.payments.find((p) => p.providerPaymentId === pi.id)
  if (known?.status === 'succeeded') return { kind: 'none' }
  const unpaid = order.status === 'pending' && order.financialStatus === 'pending'
  const own = order.paymentIntentId === null || order.paymentIntentId === pi.id
  if (unpaid && own && paysInFull(order, pi)) return { kind: 'apply' }
  const why =
    order.status === 'cancelled'
      ? 'a payment arrived for a cancelled order'
      : !unpaid
        ? 'a second payment arrived for a paid order'
        : !own
          ? 'a payment arrived through another PaymentIntent than the order’s'
          : 'the payment did not match the order total or currency'
  return { kind: 'refund', why }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The order a PaymentIntent belongs to: its metadata's order id, else the order that stored it. */
export async function orderIdFor(db: Runner, pi: { id: string; metadata?: Record<string, string> | null }) {
  const meta = pi.metadata?.order_id
  if (meta && UUID.test(meta)) {
    const [row] = await db.select({ id: orders.id }).from(orders).where(eq(orders.id, meta.toLowerCase()))
    if (row) return row.id
  }
  const [row] = await db.select({ id: orders.id }).from(orders).where(eq(orders.paymentIntentId, pi.id))
  return row?.id ?? null
}

export type IntentOutcome = 'paid' | 'recorded' | 'refunded' | 'duplicate' | 'unknown_order'

export interface ReconcileOptions {
  reason: string
  actorId?: string | null
  /** in the same transaction, first: a webhook event's once-only row (false: processed before) */
  first?: (tx: Runner) => Promise<boolean>
}

/**
 * Bring the order to Stripe's truth for this PaymentIntent (see the table above). A payment it cannot
 * keep is recorded with a pending refund in the same transaction, then sent back through Stripe; a lost
 * answer leaves that refund pending for the reconcile cron.
 */
export async function reconcileIntent(
  db: Db,
  pi: Stripe.PaymentIntent,
  opts: ReconcileOptions,
): Promise<{ outcome: IntentOutcome; orderId: string | null }> {
  const orderId = await orderIdFor(db, pi)
  if (!orderId) {
    if (opts.first && !(await db.transaction(opts.first))) return { outcome: 'duplicate', orderId }
    return { outcome: 'unknown_order', orderId }
  }
  const done = await db.transaction(async (tx) => {
    if (opts.first && !(await opts.first(tx))) return { outcome: 'duplicate' as const }
    await lockOrder(tx, orderId)
    const order = (await loadOrder(tx, orderId))!
    const verdict = verdictFor(order, pi)
    switch (verdict.kind) {
      case 'record':
        await recordIntentStatus(tx, pi.id, {
          // a declined attempt sends the PaymentIntent back to requires_payment_method, with its error
          status:
            pi.status === 'requires_payment_method' && pi.last_payment_error ? 'failed' : paymentStatusOf(pi),
          failureCode: pi.last_payment_error?.code ?? pi.last_payment_error?.decline_code ?? null,
          failureMessage: pi.last_payment_error?.message ?? null,
        })
        return { outcome: 'recorded' as const }
      case 'none':
        return { outcome: 'recorded' as const }
      case 'apply':
        await recordPayment(tx, orderId, {
          provider: 'stripe',
          amountCents: order.totalAmountCents,
          currency: order.currency,
          providerPaymentId: pi.id,
          actorId: opts.actorId ?? null,
          reason: opts.reason,
        })
        return { outcome: 'paid' as const }
      case 'refund': {
        const refund: Refund = await recordUnexpectedPayment(tx, orderId, {
          providerPaymentId: pi.id,
          amountCents: fromStripeAmount(pi.amount_received || pi.amount, pi.currency),
          currency: pi.currency.toUpperCase(),
          why: verdict.why,
        })
        return { outcome: 'refunded' as const, refund }
      }
    }
  })
  if ('refund' in done && done.refund) await sendRefund(db, done.refund)
  return { outcome: done.outcome, orderId }
}
