import { isStaff } from '../../../lib/auth/permissions.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import { checkExternal, publicView } from '../../../lib/monitoring/health.js'
import { ExternalHealthSchema } from '../../../lib/monitoring/schemas.js'

// GET /api/v1/health/external – Stripe, Shippo, Resend: configured? reachable? (cached 60 s)
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/health/external',
      summary: 'Outside services',
      tags: ['health'],
      auth: 'optional',
      rateLimit: 'health',
      db: false,
      response: ExternalHealthSchema,
    },
    async ({ principal }) => {
      const checks = await checkExternal()
      return json(isStaff(principal) ? checks : publicView(checks))
    },
  ),
})
