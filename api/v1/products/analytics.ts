import {
  analyticsPeriod,
  PRODUCT_ANALYTICS_DESCRIPTION,
  ProductAnalyticsQuery,
  ProductAnalyticsSchema,
  productAnalytics,
} from '../../../lib/catalog/analytics.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import { now } from '../../../lib/platform/clock.js'

// GET /api/v1/products/analytics – units sold, revenue, top sellers, slow movers and low stock over a period
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/products/analytics',
      summary: 'Product sales analytics',
      description: PRODUCT_ANALYTICS_DESCRIPTION,
      tags: ['products'],
      auth: { permission: 'analytics.view' },
      query: ProductAnalyticsQuery,
      response: ProductAnalyticsSchema,
    },
    async ({ db, query }) => json(await productAnalytics(db, query, analyticsPeriod(query, now()))),
  ),
})
