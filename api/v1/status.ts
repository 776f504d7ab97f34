import { methods } from '../../lib/http/methods.js'
import { json, route } from '../../lib/http/route.js'
import { StatusSchema, shopStatus } from '../../lib/monitoring/status.js'

// GET /api/v1/status – status-page data: components, version, uptime, recent incidents and errors
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/status',
      summary: 'Status page data',
      tags: ['health'],
      auth: 'public',
      rateLimit: 'health',
      db: false,
      response: StatusSchema,
    },
    async () => json(await shopStatus()),
  ),
})
