import { isStaff } from '../../../lib/auth/permissions.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import { checkDatabase, publicView } from '../../../lib/monitoring/health.js'
import { DatabaseHealthSchema } from '../../../lib/monitoring/schemas.js'

// GET /api/v1/health/database – Postgres round trip and migration state
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/health/database',
      summary: 'Database health',
      tags: ['health'],
      auth: 'optional',
      rateLimit: 'health',
      db: false,
      response: DatabaseHealthSchema,
      responses: { 503: { description: 'Database unreachable', schema: DatabaseHealthSchema } },
    },
    async ({ principal }) => {
      const check = await checkDatabase()
      return json(isStaff(principal) ? check : publicView(check), check.status === 'healthy' ? 200 : 503)
    },
  ),
})
