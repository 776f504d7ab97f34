import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import { MetricsQuery, OrderMetricsSchema, orderMetrics } from '../../../lib/orders/analytics.js'

// GET /api/v1/orders/metrics – dashboard: pending orders, awaiting fulfilment, average time to fulfil
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/orders/metrics',
      summary: 'Order dashboard metrics',
      description:
        'pending_orders: status pending; awaiting_fulfillment: status confirmed or processing. Time to ' +
        'fulfil: from the order placed (and from its confirmation) to its first shipment shipped, averaged ' +
        'in hours over orders whose first shipment shipped in [from, to) (default the last 30 days).',
      tags: ['orders'],
      auth: { permission: 'orders.view' },
      query: MetricsQuery,
      response: OrderMetricsSchema,
    },
    async ({ db, query }) => json(await orderMetrics(db, query)),
  ),
})
