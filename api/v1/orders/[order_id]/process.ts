import { methods } from '../../../../lib/http/methods.js'
import { route } from '../../../../lib/http/route.js'
import { processRequest } from '../../../../lib/orders/fulfilment-requests.js'
import { OrderParams } from '../../../../lib/orders/schemas.js'
import { OrderSchema } from '../../../../lib/orders/view.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/orders/{order_id}/process – start processing a confirmed order
  POST: route(
    {
      path: '/api/v1/orders/[order_id]/process',
      summary: 'Start processing an order',
      description:
        'Needs `orders.manage`. confirmed -> processing (processed_at set, history written); any other status is a ' +
        '409 illegal_transition.',
      tags: ['orders'],
      auth: 'authenticated',
      params: OrderParams,
      response: OrderSchema,
      responses: { 404: 'No such order', 409: 'illegal_transition' },
    },
    async ({ db, request, principal, params }) =>
      processRequest({ db, request, principal, orderId: params.order_id, body: undefined }),
  ),
})
