import { methods } from '../../../../lib/http/methods.js'
import { route } from '../../../../lib/http/route.js'
import { OrderParams } from '../../../../lib/orders/schemas.js'
import { OrderSchema } from '../../../../lib/orders/view.js'
import { retryPayment } from '../../../../lib/payments/actions.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/orders/{order_id}/payment – start or retry the Stripe payment of a pending order
  POST: route(
    {
      path: '/api/v1/orders/[order_id]/payment',
      summary: 'Start or retry payment',
      description:
        'The owner, the guest (X-Order-Token) or `orders.manage`. A pending order only (409 illegal_transition). ' +
        'Creates the PaymentIntent once (the order id is Stripe’s idempotency key), so retries reuse it, and ' +
        'answers the order with `payment.client_secret`. Without Stripe (manual payment): 409 ' +
        'payment_not_available. Stripe unreachable: 502 payment_provider_error, the order stays pending. ' +
        'Honours Idempotency-Key.',
      tags: ['orders'],
      auth: 'optional',
      params: OrderParams,
      response: OrderSchema,
      responses: {
        404: 'No such order',
        409: 'illegal_transition, payment_not_available',
        502: 'payment_provider_error',
      },
    },
    async ({ db, request, principal, params }) =>
      retryPayment({ db, request, principal, orderId: params.order_id }),
  ),
})
