import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import { listReturns, ReturnListSchema, ReturnsQuery } from '../../../lib/orders/returns.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/returns – returns (RMAs), filtered by status and order, newest first
  GET: route(
    {
      path: '/api/v1/returns',
      summary: 'List returns',
      description: 'Needs `orders.view`. Filters `status`, `order_id`; paged (`page`, `limit` up to 100).',
      tags: ['returns'],
      auth: { permission: 'orders.view' },
      query: ReturnsQuery,
      response: ReturnListSchema,
    },
    async ({ db, query }) => json(await listReturns(db, query)),
  ),
})
