import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import { BulkOrdersBody, BulkOrdersResponse, bulkProcess } from '../../../lib/orders/bulk.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/orders/bulk-process – start processing many confirmed orders, order by order
  POST: route(
    {
      path: '/api/v1/orders/bulk-process',
      summary: 'Start processing many orders',
      description:
        'Needs `orders.manage`. `{ order_ids }`: each order on its own (one transaction each), as ' +
        'POST /orders/{order_id}/process does it: `processed`, or `error` with its `errors` ' +
        '(`not_found`, `illegal_transition`); the other orders still change. 200 with one result per id, ' +
        'in request order.',
      tags: ['orders'],
      auth: { permission: 'orders.manage' },
      rateLimit: 'bulk',
      body: BulkOrdersBody,
      response: BulkOrdersResponse,
    },
    async ({ db, principal, body }) => json(await bulkProcess(db, body.order_ids, principal!.userId)),
  ),
})
