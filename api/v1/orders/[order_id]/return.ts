import { methods } from '../../../../lib/http/methods.js'
import { route } from '../../../../lib/http/route.js'
import { returnRequest } from '../../../../lib/orders/fulfilment-requests.js'
import { ReturnBody } from '../../../../lib/orders/returns.js'
import { OrderParams } from '../../../../lib/orders/schemas.js'
import { ReturnSchema } from '../../../../lib/orders/view.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/orders/{order_id}/return – ask to return delivered units (RMA)
  POST: route(
    {
      path: '/api/v1/orders/[order_id]/return',
      summary: 'Request a return',
      description:
        'The buyer within RETURN_WINDOW_DAYS of delivery (409 return_window_closed after), or `orders.manage`. ' +
        'Requires status delivered (409 illegal_transition). `items` name delivered units not already returned ' +
        'or in an open return (422 not_in_order / exceeds_remaining). 201 with the `requested` return and its ' +
        'unique rma_number.',
      tags: ['orders'],
      auth: 'authenticated',
      params: OrderParams,
      body: ReturnBody,
      response: ReturnSchema,
      status: 201,
      creates: 'return_id',
      responses: { 404: 'No such order', 409: 'illegal_transition' },
    },
    async ({ db, request, principal, params, body }) =>
      returnRequest({ db, request, principal, orderId: params.order_id, body }),
  ),
})
