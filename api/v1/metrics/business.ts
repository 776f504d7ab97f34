import { z } from 'zod'
import { unprocessable } from '../../../lib/http/errors.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import { BusinessMetricsSchema, businessMetrics } from '../../../lib/monitoring/business.js'
import { now } from '../../../lib/platform/clock.js'

const Query = z.object({
  from: z.coerce.date().optional().describe('Start of the period (inclusive); default 30 days before `to`'),
  to: z.coerce.date().optional().describe('End of the period (exclusive); default now'),
})

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
      const to = query.to ?? now()
      const from = query.from ?? new Date(to.getTime() - 30 * 86_400_000)
      if (from >= to) {
        throw unprocessable([{ path: 'query.from', message: 'must be before `to`', code: 'invalid_range' }])
      }
      return json(await businessMetrics(db, from, to))
    },
  ),
})
