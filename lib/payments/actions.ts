import { z } from 'zod'
import type { Principal } from '../auth/permissions.js'
import { conflict, ProblemError } from '../http/errors.js'
import { guestCaller, withIdempotency } from '../http/idempotency.js'
import { json } from '../http/route.js'
import { orderFor } from '../orders/access.js'
import { checkMayCancel, isPaid } from '../orders/cancel.js'
import { illegalTransition, lockOrder } from '../orders/history.js'
import { recordPayment } from '../orders/payments.js'
import { loadOrderOr404, orderView } from '../orders/view.js'
import type { Db } from '../platform/db.js'
import { cancelOrder, paymentSucceededMeanwhile } from './cancel.js'
import { reconcileIntent } from './intent.js'
import { isStripeOrder, paymentClientSecret, startPayment } from './start.js'
import { stripeEnabled } from './stripe.js'

// The payment actions behind their routes: /payment (start or retry a Stripe payment), /mark-paid
// (staff confirm a manual payment) and DELETE /orders/{order_id} (cancel).

export const ReasonBody = z
  .object({ reason: z.string().trim().min(1).max(500).optional() })
  .strict()
  .optional()

interface Call {
  db: Db
  request: Request
  principal: Principal | null
  orderId: string
}

/** POST /orders/{order_id}/payment: the PaymentIntent's client secret, created once (order id as key). */
export async function retryPayment({ db, request, principal, orderId }: Call): Promise<Response> {
  const { order, staff } = await orderFor(db, orderId, principal, request, {
    owner: true,
    guest: true,
    permission: 'orders.manage',
  })
  if (order.status !== 'pending' || order.financialStatus !== 'pending') throw illegalTransition('pay', order)
  if (!stripeEnabled() || order.paymentProvider === 'manual') {
    throw conflict(
      'payment_not_available',
      'This order is paid manually: staff confirm the payment with /mark-paid.',
    )
  }
  const caller = principal ? `user:${principal.userId}` : guestCaller(order.email)
  return withIdempotency(
    { db, request, caller, body: {} },
    async (saver) => {
      const { clientSecret, intent } = await startPayment(db, order)
      if (intent?.status === 'succeeded') {
        // paid already (its webhook not here yet): record it, and answer with the paid order
        await reconcileIntent(db, intent, { reason: 'payment found by /payment', actorId: principal?.userId })
        await db.transaction((tx) => saver.save(tx, { status: 200, body: { order_id: orderId } }))
        return json(orderView(await loadOrderOr404(db, orderId), { staff }))
      }
      if (!clientSecret) {
        throw new ProblemError(
          502,
          'payment_provider_error',
          'The payment could not be started; try again shortly.',
        )
      }
      await db.transaction((tx) => saver.save(tx, { status: 200, body: { order_id: orderId } }))
      return json(orderView(await loadOrderOr404(db, orderId), { staff, clientSecret }))
    },
    async () => {
      const now = await loadOrderOr404(db, orderId)
      return json(orderView(now, { staff, clientSecret: await paymentClientSecret(now) }))
    },
  )
}

/** POST /orders/{order_id}/mark-paid: a manual order's payment confirmed by staff. */
export async function markPaid(
  { db, request, principal, orderId }: Call,
  reason?: string,
): Promise<Response> {
  await orderFor(db, orderId, principal, request, { permission: 'orders.manage' })
  await db.transaction(async (tx) => {
    const order = await lockOrder(tx, orderId)
    if (order.status !== 'pending' || order.financialStatus !== 'pending')
      throw illegalTransition('mark paid', order)
    if (isStripeOrder(order)) {
      throw conflict('stripe_payment', 'This order is paid through Stripe; Stripe confirms its payment.')
    }
    await recordPayment(tx, orderId, {
      provider: 'manual',
      amountCents: order.totalAmountCents,
      currency: order.currency,
      providerPaymentId: null,
      actorId: principal!.userId,
      reason: reason ?? 'payment confirmed by staff',
    })
  })
  return json(orderView(await loadOrderOr404(db, orderId), { staff: true }))
}

/**
 * DELETE /orders/{order_id}: cancel. The buyer (or the guest with the order token) while pending;
 * orders.manage while unpaid; orders.refund once paid. Checked here on what the caller can see, and again
 * under the order's lock, so a payment landing in between never turns a buyer's cancel into a refund.
 * 200 with the order; 202 while the refund of a paid order is still pending at Stripe.
 */
export async function cancelRequest(
  { db, request, principal, orderId }: Call,
  reason?: string,
): Promise<Response> {
  const { order, staff, relation } = await orderFor(db, orderId, principal, request, {
    owner: true,
    guest: true,
    permission: 'orders.view',
  })
  const guest = relation === 'guest'
  checkMayCancel(order, principal, guest)
  const byBuyer = !staff && (guest || (principal !== null && order.userId === principal.userId))
  const { refund } = await cancelOrder(db, orderId, {
    actorId: principal?.userId ?? null,
    reason: reason ?? (byBuyer ? 'cancelled by the buyer' : 'cancelled by staff'),
    authorize: (locked) => {
      // paid since the caller looked: cancelling would now refund it, which is not what was asked
      if (!isPaid(order) && isPaid(locked)) throw paymentSucceededMeanwhile()
      checkMayCancel(locked, principal, guest)
    },
  })
  return json(
    orderView(await loadOrderOr404(db, orderId), { staff }),
    refund?.status === 'pending' ? 202 : 200,
  )
}
