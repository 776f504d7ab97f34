import { z } from 'zod'
import { unprocessable } from '../../../lib/http/errors.js'
import { methods } from '../../../lib/http/methods.js'
import { periodFields, resolvePeriod } from '../../../lib/http/period.js'
import { json, route } from '../../../lib/http/route.js'
import { now } from '../../../lib/platform/clock.js'
import {
  ANALYTICS_DESCRIPTION,
  ANALYTICS_INTERVALS,
  bucketCount,
  MAX_BUCKETS,
  UserAnalyticsSchema,
  userAnalytics,
} from '../../../lib/users/analytics.js'

const Query = z.object({
  ...periodFields,
  interval: z.enum(ANALYTICS_INTERVALS).default('day').describe('Signup bucket size: day or week (UTC)'),
})

// GET /api/v1/users/analytics – signups per day/week, active users, verified %, MFA adoption %, by role
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/users/analytics',
      summary: 'User analytics',
      description: ANALYTICS_DESCRIPTION,
      tags: ['users'],
      auth: { permission: 'users.view' },
      query: Query,
      response: UserAnalyticsSchema,
    },
    async ({ db, query }) => {
      const { from, to } = resolvePeriod(query, now())
      if (bucketCount(from, to, query.interval) > MAX_BUCKETS) {
        throw unprocessable([
          {
            path: 'query.from',
            message: `the period spans more than ${MAX_BUCKETS} ${query.interval}s; shorten it or use a longer interval`,
            code: 'range_too_large',
          },
        ])
      }
      return json(await userAnalytics(db, from, to, query.interval))
    },
  ),
})
