import { and, eq, isNull, or } from 'drizzle-orm'
import type { Stripe } from 'stripe'
import { orders, type PaymentStatus, payments } from '../../db/schema/index.js'
import type { FullOrder } from '../orders/view.js'
import type { Db } from '../platform/db.js'
import { log, safeError } from '../platform/logger.js'
import { stripe, stripeEnabled, toStripeAmount } from './stripe.js'

// Starting a payment happens after the order committed: a Stripe call never holds a transaction (or the
// stock it took) open. The order id is Stripe's idempotency key, so a retry (/payment, a lost answer, two
// racing tabs) gets the same PaymentIntent back instead of a second charge. A Stripe failure is logged
// and leaves the order pending: /payment retries it, and the unpaid-order cron releases it in the end.

/** Our payment status for a PaymentIntent's status. */
export function paymentStatusOf(pi: Pick<Stripe.PaymentIntent, 'status'>): PaymentStatus {
  switch (pi.status) {
    case 'succeeded':
      return 'succeeded'
    case 'processing':
      return 'processing'
    case 'canceled':
      return 'cancelled'
    case 'requires_action':
    case 'requires_confirmation':
    case 'requires_capture':
      return 'requires_action'
    default:
      return 'pending'
  }
}

/** Whether the order pays through Stripe (rather than a manual payment staff confirm). */
export const isStripeOrder = (order: Pick<FullOrder, 'paymentProvider' | 'paymentIntentId'>): boolean =>
  order.paymentProvider === 'stripe' || order.paymentIntentId !== null

/** Create (or, on a retry, get back) the order's PaymentIntent. Throws Stripe's errors. */
export async function ensurePaymentIntent(order: FullOrder): Promise<Stripe.PaymentIntent> {
  const client = await stripe()
  if (order.paymentIntentId) return client.paymentIntents.retrieve(order.paymentIntentId)
  return client.paymentIntents.create(
    {
      amount: toStripeAmount(order.totalAmountCents, order.currency),
      currency: order.currency.toLowerCase(),
      automatic_payment_methods: { enabled: true },
      receipt_email: order.email,
      description: `Order ${order.orderNumber}`,
      metadata: { order_id: order.id, order_number: String(order.orderNumber) },
    },
    { idempotencyKey: order.id },
  )
}

/** Remember the PaymentIntent on the order and as a pending payments row (both idempotent). */
async function recordIntent(db: Db, order: FullOrder, pi: Stripe.PaymentIntent): Promise<void> {
  await db.transaction(async (tx) => {
    await tx
      .update(orders)
      .set({ paymentIntentId: pi.id, paymentProvider: 'stripe', updatedAt: new Date() })
      .where(
        and(eq(orders.id, order.id), or(isNull(orders.paymentIntentId), eq(orders.paymentIntentId, pi.id))),
      )
    await tx
      .insert(payments)
      .values({
        orderId: order.id,
        provider: 'stripe',
        providerPaymentId: pi.id,
        amountCents: order.totalAmountCents,
        currency: order.currency,
        status: paymentStatusOf(pi),
      })
      .onConflictDoNothing({ target: payments.providerPaymentId })
  })
}

/**
 * After the order committed: with STRIPE_SECRET_KEY create (or retrieve) its PaymentIntent with the order
 * id as Stripe's idempotency key, store payment_intent_id and a payments row; returns the client secret.
 * Without Stripe: null (manual payment). Never throws for a Stripe failure: the order stays pending and
 * /payment retries.
 */
export async function startPayment(
  db: Db,
  order: FullOrder,
): Promise<{ clientSecret: string | null; intent?: Stripe.PaymentIntent }> {
  if (!stripeEnabled()) return { clientSecret: null }
  try {
    const pi = await ensurePaymentIntent(order)
    if (!order.paymentIntentId) await recordIntent(db, order, pi)
    const open = pi.status !== 'canceled' && pi.status !== 'succeeded'
    return { clientSecret: open ? pi.client_secret : null, intent: pi }
  } catch (err) {
    log.warn('payment could not be started; the order stays pending', {
      order_id: order.id,
      err: safeError(err),
    })
    // still a Stripe order: mark-paid refuses it and /payment retries it
    await db
      .update(orders)
      .set({ paymentProvider: 'stripe' })
      .where(and(eq(orders.id, order.id), isNull(orders.paymentProvider)))
      .catch(() => {})
    return { clientSecret: null }
  }
}

/** The client secret of an existing PaymentIntent (for an Idempotency-Key replay), or null. */
export async function paymentClientSecret(order: FullOrder): Promise<string | null> {
  if (!stripeEnabled() || !order.paymentIntentId) return null
  try {
    const pi = await (await stripe()).paymentIntents.retrieve(order.paymentIntentId)
    return pi.status === 'canceled' || pi.status === 'succeeded' ? null : pi.client_secret
  } catch (err) {
    log.warn('PaymentIntent could not be read', { order_id: order.id, err: safeError(err) })
    return null
  }
}
