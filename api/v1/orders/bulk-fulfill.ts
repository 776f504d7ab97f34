import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import { BulkOrdersBody, BulkOrdersResponse, bulkFulfill } from '../../../lib/orders/bulk.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/orders/bulk-fulfill – fulfil every remaining unit of many orders, order by order
  POST: route(
    {
      path: '/api/v1/orders/bulk-fulfill',
      summary: 'Fulfil many orders',
      description:
        'Needs `orders.manage`. `{ order_ids }`: each order on its own (one transaction each) gets one ' +
        'fulfilment of all its remaining units, as POST /orders/{order_id}/fulfill without `items`: ' +
        '`fulfilled`, or `error` with its `errors` (`not_found`, `illegal_transition`, ' +
        '`nothing_to_fulfill`); the other orders still change. 200 with one result per id, in request order.',
      tags: ['orders'],
      auth: { permission: 'orders.manage' },
      rateLimit: 'bulk',
      body: BulkOrdersBody,
      response: BulkOrdersResponse,
    },
    async ({ db, principal, body }) => json(await bulkFulfill(db, body.order_ids, principal!.userId)),
  ),
})
