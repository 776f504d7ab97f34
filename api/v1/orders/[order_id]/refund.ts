import { methods } from '../../../../lib/http/methods.js'
import { route } from '../../../../lib/http/route.js'
import { OrderParams } from '../../../../lib/orders/schemas.js'
import { OrderSchema } from '../../../../lib/orders/view.js'
import { RefundBody, refundRequest } from '../../../../lib/payments/refund-request.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/orders/{order_id}/refund – refund an amount, lines and/or shipping (through Stripe when paid there)
  POST: route(
    {
      path: '/api/v1/orders/[order_id]/refund',
      summary: 'Refund an order',
      description:
        'Needs `orders.refund`. Requires financial status paid or partially_refunded (409 illegal_transition). ' +
        'Either `amount` (major units), or `items` (each line refunded at its unrefunded total x quantity / ' +
        'unrefunded quantity, the last unit taking the remainder) and/or `refund_shipping`; with none of ' +
        'them, everything left is refunded. Never more than paid minus refunded (422 exceeds_refundable). ' +
        'Units not yet fulfilled are cancelled on their line at once; `restock` returns the units to stock ' +
        'once the refund succeeded. Through Stripe when the order was paid through Stripe: 200 when Stripe ' +
        'made the refund; 202 while its answer is unknown or the refund is pending at Stripe (the refund is ' +
        'shown `pending` and settles by itself; its money and units count as refunded meanwhile, and asking ' +
        'for them again is 409 refund_pending); 502 payment_provider_error when Stripe refused it (nothing ' +
        'changed). Honours Idempotency-Key.',
      tags: ['orders'],
      auth: 'authenticated',
      params: OrderParams,
      body: RefundBody,
      response: OrderSchema,
      responses: {
        202: { description: 'The refund is pending at Stripe', schema: OrderSchema },
        404: 'No such order',
        409: 'illegal_transition, refund_pending',
        502: 'payment_provider_error',
      },
    },
    async ({ db, request, principal, params, body }) =>
      refundRequest({ db, request, principal: principal!, orderId: params.order_id, body }),
  ),
})
