import { methods } from '../../../../lib/http/methods.js'
import { route } from '../../../../lib/http/route.js'
import { historyRequest } from '../../../../lib/orders/fulfilment-requests.js'
import { HistorySchema } from '../../../../lib/orders/notes.js'
import { OrderParams } from '../../../../lib/orders/schemas.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/orders/{order_id}/history – status history of the order
  GET: route(
    {
      path: '/api/v1/orders/[order_id]/history',
      summary: 'Order status history',
      description:
        'Needs `orders.view`. Every status change (type order, financial or fulfillment; from, to, actor, ' +
        'reason), oldest first.',
      tags: ['orders'],
      auth: 'authenticated',
      params: OrderParams,
      response: HistorySchema,
      responses: { 404: 'No such order' },
    },
    async ({ db, request, principal, params }) =>
      historyRequest({ db, request, principal, orderId: params.order_id, body: undefined }),
  ),
})
