import { methods } from '../../../../lib/http/methods.js'
import { route } from '../../../../lib/http/route.js'
import { OrderParams } from '../../../../lib/orders/schemas.js'
import { OrderSchema } from '../../../../lib/orders/view.js'
import { cancelRequest, ReasonBody } from '../../../../lib/payments/actions.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // DELETE /api/v1/orders/{order_id} – cancel the order (stock back; unpaid voided, paid refunded)
  DELETE: route(
    {
      path: '/api/v1/orders/[order_id]',
      summary: 'Cancel an order',
      description:
        'The owner while pending; `orders.manage` when unpaid; `orders.refund` when paid (403 otherwise). ' +
        'From pending, confirmed, or processing with nothing shipped (409 illegal_transition otherwise). ' +
        'Unshipped fulfilments are cancelled and the stock returned; an unpaid order releases its discount ' +
        'redemption and ends voided (a pending Stripe order’s PaymentIntent is cancelled first; 409 ' +
        'payment_succeeded if it was paid meanwhile); a paid one is refunded in full. Optional body `{ reason }`.',
      tags: ['orders'],
      auth: 'authenticated',
      params: OrderParams,
      body: ReasonBody,
      response: OrderSchema,
      responses: {
        404: 'No such order',
        409: 'illegal_transition, payment_succeeded',
        502: 'payment_provider_error',
      },
    },
    async ({ db, request, principal, params, body }) =>
      cancelRequest({ db, request, principal, orderId: params.order_id }, body?.reason),
  ),
})
