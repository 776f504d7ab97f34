import { isStaff } from '../../../lib/auth/permissions.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import { checkAll, publicView } from '../../../lib/monitoring/health.js'
import { DetailedHealthSchema } from '../../../lib/monitoring/schemas.js'
import { now } from '../../../lib/platform/clock.js'
import { appVersion } from '../../../lib/platform/env.js'

// GET /api/v1/health/detailed – every dependency with status and latency; overall healthy/degraded/unhealthy
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/health/detailed',
      summary: 'All dependencies',
      tags: ['health'],
      auth: 'optional',
      rateLimit: 'health',
      db: false,
      response: DetailedHealthSchema,
      responses: {
        503: { description: 'Unhealthy: the database is unreachable', schema: DetailedHealthSchema },
      },
    },
    async ({ principal }) => {
      const { status, ...checks } = await checkAll()
      const body = { status, timestamp: now().toISOString(), version: appVersion(), checks }
      return json(isStaff(principal) ? body : publicView(body), status === 'unhealthy' ? 503 : 200)
    },
  ),
})
