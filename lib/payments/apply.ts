import { and, eq } from 'drizzle-orm'
import { orders, type PaymentProvider, payments } from '../../db/schema/index.js'
import { recordTransitions } from '../orders/history.js'
import type { Runner } from '../orders/view.js'

// A payment that arrived for a pending order: financial paid, status confirmed, the amount captured, the
// payments row succeeded, both changes in the history. Shared by mark-paid, Stripe's
// payment_intent.succeeded and the unpaid-order cron. The caller holds the order row's lock.

export interface ArrivedPayment {
  provider: PaymentProvider
  amountCents: number
  currency: string
  /** Stripe's PaymentIntent id; null for a manual payment */
  providerPaymentId: string | null
  actorId: string | null
  reason: string
}

export async function applyPayment(tx: Runner, orderId: string, p: ArrivedPayment): Promise<void> {
  const now = new Date()
  await tx
    .update(orders)
    .set({
      status: 'confirmed',
      financialStatus: 'paid',
      paidAmountCents: p.amountCents,
      paymentProvider: p.provider,
      updatedAt: now,
    })
    .where(eq(orders.id, orderId))
  const updated = p.providerPaymentId
    ? await tx
        .update(payments)
        .set({ status: 'succeeded', amountCents: p.amountCents, paidAt: now, updatedAt: now })
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
      paidAt: now,
    })
  }
  await recordTransitions(tx, orderId, p.actorId, [
    { type: 'financial', from: 'pending', to: 'paid', reason: p.reason },
    { type: 'order', from: 'pending', to: 'confirmed', reason: p.reason },
  ])
}
