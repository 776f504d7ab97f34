import { methods } from '../../../../lib/http/methods.js'
import { route } from '../../../../lib/http/route.js'
import { ReceiveBody } from '../../../../lib/orders/returns.js'
import { ReturnParams } from '../../../../lib/orders/schemas.js'
import { OrderSchema } from '../../../../lib/orders/view.js'
import { receiveReturnRequest } from '../../../../lib/payments/returns.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/returns/{return_id}/receive – the goods are back: count them, restock and refund when asked
  POST: route(
    {
      path: '/api/v1/returns/[return_id]/receive',
      summary: 'Receive a return',
      description:
        'Needs `orders.manage` (and `orders.refund` with `refund`, else 403). From requested or approved: the ' +
        "lines' returned quantities rise, `restock` puts the units back into stock, `refund` refunds them " +
        '(and the shipping with `refund_shipping`) through the payment provider; the return ends `received` or ' +
        '`refunded`. When every delivered unit is back the order is `returned`. A received return whose refund ' +
        'failed may be received again with `refund` to refund only. 409 illegal_transition otherwise; ' +
        '409 refund_in_progress while its refund is pending. 200 with the order; 202 while Stripe’s answer ' +
        'on the refund is unknown (the return becomes `refunded` when it settles).',
      tags: ['returns'],
      auth: { permission: 'orders.manage' },
      params: ReturnParams,
      body: ReceiveBody,
      response: OrderSchema,
      responses: {
        202: { description: 'Received; the refund is pending at Stripe', schema: OrderSchema },
        404: 'No such return',
        409: 'illegal_transition, refund_in_progress',
        502: 'payment_provider_error',
      },
    },
    async ({ db, principal, params, body }) => receiveReturnRequest(db, principal!, params.return_id, body),
  ),
})
