import { z } from 'zod'
import { methods } from '../../../lib/http/methods.js'
import { periodFields, resolvePeriod } from '../../../lib/http/period.js'
import { json, route } from '../../../lib/http/route.js'
import { BusinessMetricsSchema, businessMetrics } from '../../../lib/monitoring/business.js'
import { now } from '../../../lib/platform/clock.js'

const Query = z.object(periodFields)

// GET /api/v1/metrics/business – KPIs: revenue, orders, average order value, new users, low stock
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/metrics/business',
      summary: 'Business KPIs',
      tags: ['monitoring'],
      auth: { permission: 'analytics.view' },
      query: Query,
      response: BusinessMetricsSchema,
    },
    async ({ db, query }) => {
      const { from, to } = resolvePeriod(query, now())
      return json(await businessMetrics(db, from, to))
    },
  ),
})
