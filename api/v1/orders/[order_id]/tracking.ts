import { methods } from '../../../../lib/http/methods.js'
import { route } from '../../../../lib/http/route.js'
import { trackingRequest } from '../../../../lib/orders/fulfilment-requests.js'
import { OrderParams } from '../../../../lib/orders/schemas.js'
import { TrackingSchema } from '../../../../lib/shipping/tracking.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/orders/{order_id}/tracking – the order's shipments with carrier, tracking and scans
  GET: route(
    {
      path: '/api/v1/orders/[order_id]/tracking',
      summary: 'Track an order',
      description:
        'The buyer, the guest with X-Order-Token, or `orders.view`. Carrier, tracking number and URL of the ' +
        'latest shipment, and every fulfilment with its carrier scans (from Shippo), oldest first.',
      tags: ['orders'],
      auth: 'optional',
      params: OrderParams,
      response: TrackingSchema,
      responses: { 404: 'No such order' },
    },
    async ({ db, request, principal, params }) =>
      trackingRequest({ db, request, principal, orderId: params.order_id, body: undefined }),
  ),
})
