import { and, eq, inArray } from 'drizzle-orm'
import {
  orders,
  type Payment,
  type PaymentProvider,
  type PaymentStatus,
  payments,
  type Refund,
  refunds,
} from '../../db/schema/index.js'
import { now } from '../platform/clock.js'
import { addFlag, recordTransitions } from './history.js'
import type { FullOrder, Runner } from './view.js'

// Payments as the order records them. Whether a payment is the order's, and what to do with one it cannot
// keep, is decided in lib/payments from the provider's truth (or by staff, for a manual payment); these
// functions only write the outcome. The caller holds the order row's lock.

export interface ArrivedPayment {
  provider: PaymentProvider
  amountCents: number
  currency: string
  /** Stripe's PaymentIntent id; null for a manual payment */
  providerPaymentId: string | null
  actorId: string | null
  reason: string
}

/** The payment that paid the order: the latest that succeeded and was not sent back as unexpected. */
export function payingPayment(order: Pick<FullOrder, 'payments'>): Payment | null {
  return (
    [...order.payments].reverse().find((p) => p.status === 'succeeded' && p.metadata?.unexpected !== true) ??
    null
  )
}

/**
 * A payment that pays a pending order: financial paid, status confirmed, the amount captured, the payments
 * row succeeded (the PaymentIntent's own row when there is one), both changes in the history.
 */
export async function recordPayment(tx: Runner, orderId: string, p: ArrivedPayment): Promise<void> {
  const at = now()
  await tx
    .update(orders)
    .set({
      status: 'confirmed',
      financialStatus: 'paid',
      paidAmountCents: p.amountCents,
      paymentProvider: p.provider,
      ...(p.providerPaymentId ? { paymentIntentId: p.providerPaymentId } : {}),
      updatedAt: at,
    })
    .where(eq(orders.id, orderId))
  const updated = p.providerPaymentId
    ? await tx
        .update(payments)
        .set({ status: 'succeeded', amountCents: p.amountCents, paidAt: at, updatedAt: at })
        .where(and(eq(payments.orderId, orderId), eq(payments.providerPaymentId, p.providerPaymentId)))
        .returning({ id: payments.id })
    : []
  if (updated.length === 0) {
    await tx.insert(payments).values({
      orderId,
      provider: p.provider,
      providerPaymentId: p.providerPaymentId,
      amountCents: p.amountCents,
      currency: p.currency,
      status: 'succeeded',
      paidAt: at,
    })
  }
  await recordTransitions(tx, orderId, p.actorId, [
    { type: 'financial', from: 'pending', to: 'paid', reason: p.reason },
    { type: 'order', from: 'pending', to: 'confirmed', reason: p.reason },
  ])
}

/**
 * A payment the order cannot keep: recorded as a succeeded payment marked unexpected, with a `pending`
 * refund of all of it (kind `unexpected_payment`, never part of the order's paid or refunded totals) and a
 * flag for staff. The caller then sends the refund. Returns the refund row.
 */
export async function recordUnexpectedPayment(
  tx: Runner,
  orderId: string,
  p: { providerPaymentId: string; amountCents: number; currency: string; why: string },
): Promise<Refund> {
  const at = now()
  const values = {
    orderId,
    provider: 'stripe' as const,
    providerPaymentId: p.providerPaymentId,
    amountCents: p.amountCents,
    refundedAmountCents: p.amountCents,
    currency: p.currency,
    status: 'succeeded' as const,
    paidAt: at,
    metadata: { unexpected: true },
  }
  const [payment] = await tx
    .insert(payments)
    .values(values)
    .onConflictDoUpdate({ target: payments.providerPaymentId, set: { ...values, updatedAt: at } })
    .returning({ id: payments.id })
  const [refund] = await tx
    .insert(refunds)
    .values({
      orderId,
      paymentId: payment!.id,
      kind: 'unexpected_payment',
      amountCents: p.amountCents,
      currency: p.currency,
      reason: p.why,
      status: 'pending',
      attemptedAt: at,
    })
    .returning()
  await addFlag(tx, orderId, {
    code: 'unexpected_payment',
    message: `${p.why}; it is refunded in full.`,
    payment_intent_id: p.providerPaymentId,
    refund_id: refund!.id,
  })
  return refund!
}

/** A PaymentIntent that did not (or not yet) succeed: its payments row follows, never over a success. */
export async function recordIntentStatus(
  tx: Runner,
  providerPaymentId: string,
  p: { status: PaymentStatus; failureCode?: string | null; failureMessage?: string | null },
): Promise<void> {
  await tx
    .update(payments)
    .set({
      status: p.status,
      ...(p.status === 'failed'
        ? { failureCode: p.failureCode ?? null, failureMessage: p.failureMessage ?? null }
        : {}),
      updatedAt: now(),
    })
    .where(
      and(
        eq(payments.providerPaymentId, providerPaymentId),
        inArray(payments.status, ['pending', 'requires_action', 'processing']),
      ),
    )
}
