import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import { AnalyticsQuery, AnalyticsSchema, orderAnalytics } from '../../../lib/orders/analytics.js'

// GET /api/v1/orders/analytics – revenue by day/week/month, AOV, orders by status and source, refunds
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/orders/analytics',
      summary: 'Order analytics',
      description:
        'Over orders placed in [from, to) (default the last 30 days). Revenue counts orders that were paid ' +
        'and are not cancelled (a late payment on a cancelled order is refunded at once and never counts): ' +
        'gross = captured, refunds = refunded of those orders, net = gross - refunds; average order value = ' +
        'gross / those orders. by_status and by_source count every order placed in the period.',
      tags: ['orders'],
      auth: { permission: 'orders.view' },
      query: AnalyticsQuery,
      response: AnalyticsSchema,
    },
    async ({ db, query }) => json(await orderAnalytics(db, query)),
  ),
})
