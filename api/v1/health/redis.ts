import { isStaff } from '../../../lib/auth/permissions.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import { checkRedis, publicView } from '../../../lib/monitoring/health.js'
import { DependencySchema } from '../../../lib/monitoring/schemas.js'

// GET /api/v1/health/redis – Redis round trip, or not_configured in embedded mode
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/health/redis',
      summary: 'Redis health',
      tags: ['health'],
      auth: 'optional',
      rateLimit: 'health',
      db: false,
      response: DependencySchema,
      responses: { 503: { description: 'Redis unreachable', schema: DependencySchema } },
    },
    async ({ principal }) => {
      const check = await checkRedis()
      return json(isStaff(principal) ? check : publicView(check), check.status === 'unhealthy' ? 503 : 200)
    },
  ),
})
