import { methods } from '../../../../lib/http/methods.js'
import { route } from '../../../../lib/http/route.js'
import { DeliverBody, deliverRequest } from '../../../../lib/orders/fulfilment-requests.js'
import { OrderParams } from '../../../../lib/orders/schemas.js'
import { OrderSchema } from '../../../../lib/orders/view.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/orders/{order_id}/deliver – mark a shipment (or every shipment) delivered
  POST: route(
    {
      path: '/api/v1/orders/[order_id]/deliver',
      summary: 'Mark an order delivered',
      description:
        'Needs `orders.manage`. Requires status shipped (409 illegal_transition). The named fulfilment (or every ' +
        'shipment on its way) is delivered; the order is delivered (delivered_at) once every shipped unit is ' +
        'delivered and none remain.',
      tags: ['orders'],
      auth: 'authenticated',
      params: OrderParams,
      body: DeliverBody,
      response: OrderSchema,
      responses: { 404: 'No such order', 409: 'illegal_transition' },
    },
    async ({ db, request, principal, params, body }) =>
      deliverRequest({ db, request, principal, orderId: params.order_id, body }),
  ),
})
