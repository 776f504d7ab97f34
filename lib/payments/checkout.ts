import type { Principal } from '../auth/permissions.js'
import { deliverAfterResponse } from '../email/outbox.js'
import { ProblemError } from '../http/errors.js'
import { withIdempotency } from '../http/idempotency.js'
import { json } from '../http/route.js'
import { orderToken } from '../orders/access.js'
import { type CheckoutContext, checkoutBuyer, createOrderTx } from '../orders/checkout.js'
import { type FullOrder, loadOrder, orderView } from '../orders/view.js'
import type { Db } from '../platform/db.js'
import { isStripeOrder, paymentClientSecret, startPayment } from './start.js'

// POST /orders: the order is written in its own transaction (lib/orders/checkout.ts), then its payment
// starts (a Stripe call never holds the transaction or the stock open). The Idempotency-Key stores only the
// order id; a replay rebuilds the answer from the order and reads the client secret from Stripe again, or
// starts the payment when the first request never recorded one (it died, or Stripe failed, in between).

/** 201 with the order (plus access_token for guests and payment.client_secret). */
export async function checkout(ctx: CheckoutContext): Promise<Response> {
  const { db, principal } = ctx
  const { guest, caller } = checkoutBuyer(ctx)
  return withIdempotency(
    { db, request: ctx.request, caller, body: ctx.body },
    async (saver) => {
      const { id: orderId, emailId, order } = await createOrderTx(ctx, guest, saver)
      deliverAfterResponse([emailId])
      const { clientSecret } = await startPayment(db, order)
      return json(await answer(db, orderId, principal, clientSecret, order), 201)
    },
    async (stored) => {
      const id = String((stored.body as { order_id?: string } | null)?.order_id ?? '')
      const order = await loadOrder(db, id)
      if (!order) throw new ProblemError(409, 'idempotency_key_reused', 'The order of this key is gone.')
      // The first request may have died after the order committed, before its PaymentIntent was made or
      // recorded (or Stripe failed then): a retry starts the payment, as /payment would. The order id is
      // Stripe's idempotency key, so a PaymentIntent Stripe made before the crash is the one returned.
      const clientSecret = awaitsIntent(order)
        ? (await startPayment(db, order)).clientSecret
        : await paymentClientSecret(order)
      return json(await answer(db, id, principal, clientSecret, order), stored.status)
    },
  )
}

/** A Stripe order still pending whose PaymentIntent was never recorded. */
const awaitsIntent = (o: FullOrder) =>
  o.status === 'pending' && o.financialStatus === 'pending' && !o.paymentIntentId && isStripeOrder(o)

async function answer(
  db: Db,
  orderId: string,
  principal: Principal | null,
  clientSecret: string | null,
  loaded: FullOrder,
) {
  // startPayment may have stored the PaymentIntent: read the order once more when it did
  const order = clientSecret ? ((await loadOrder(db, orderId)) ?? loaded) : loaded
  return orderView(order, {
    staff: principal?.permissions.has('orders.view') ?? false,
    clientSecret,
    accessToken: order.userId === null ? orderToken(order.id) : undefined,
  })
}
