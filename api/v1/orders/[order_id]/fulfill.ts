import { methods } from '../../../../lib/http/methods.js'
import { route } from '../../../../lib/http/route.js'
import { FulfillBody, fulfillRequest } from '../../../../lib/orders/fulfilment-requests.js'
import { OrderParams } from '../../../../lib/orders/schemas.js'
import { OrderSchema } from '../../../../lib/orders/view.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/orders/{order_id}/fulfill – fulfil some or all remaining units in one fulfilment
  POST: route(
    {
      path: '/api/v1/orders/[order_id]/fulfill',
      summary: 'Fulfil an order',
      description:
        'Needs `orders.manage`. Requires status confirmed or processing (409 illegal_transition). Creates one ' +
        'fulfilment (its shipment `pending`) of `items` (each `order_item_id` a line of this order, else 422 ' +
        'not_in_order; at most its remaining units: quantity - fulfilled - cancelled, else 422 ' +
        'exceeds_remaining), or of every remaining unit when `items` is absent (409 nothing_to_fulfill when ' +
        'none remain). fulfillment_status becomes partial or fulfilled; the order processing. Honours ' +
        'Idempotency-Key.',
      tags: ['orders'],
      auth: 'authenticated',
      params: OrderParams,
      body: FulfillBody,
      response: OrderSchema,
      responses: { 404: 'No such order', 409: 'illegal_transition' },
    },
    async ({ db, request, principal, params, body }) =>
      fulfillRequest({ db, request, principal, orderId: params.order_id, body }),
  ),
})
