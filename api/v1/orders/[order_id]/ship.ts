import { methods } from '../../../../lib/http/methods.js'
import { route } from '../../../../lib/http/route.js'
import { ShipBody, shipRequest } from '../../../../lib/orders/fulfilment-requests.js'
import { OrderParams } from '../../../../lib/orders/schemas.js'
import { OrderSchema } from '../../../../lib/orders/view.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/orders/{order_id}/ship – ship one fulfilment, or everything not yet shipped
  POST: route(
    {
      path: '/api/v1/orders/[order_id]/ship',
      summary: 'Ship an order',
      description:
        'Needs `orders.manage`. Requires status confirmed, processing or shipped and, with `fulfillment_id`, ' +
        'that fulfilment unshipped (409 illegal_transition; 422 not_in_order for a fulfilment of another ' +
        'order). Without `fulfillment_id` the remaining units are fulfilled first, then every unshipped ' +
        'fulfilment ships. With SHIPPO_API_KEY and no `tracking_number` a label is bought first through ' +
        "Shippo (from SHIP_FROM_ADDRESS, parcel DEFAULT_PARCEL with the items' weight, the cheapest rate " +
        'unless `service_level` names one; 409 label_not_configured, 422 on service_level, 502 when Shippo ' +
        'fails). The order is shipped once every unit has shipped; the buyer gets the shipped email with ' +
        'tracking. Honours Idempotency-Key.',
      tags: ['orders'],
      auth: 'authenticated',
      params: OrderParams,
      body: ShipBody,
      response: OrderSchema,
      responses: { 404: 'No such order', 409: 'illegal_transition', 502: 'shipping_provider_error' },
    },
    async ({ db, request, principal, params, body }) =>
      shipRequest({ db, request, principal, orderId: params.order_id, body }),
  ),
})
