import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import { LivenessSchema } from '../../../lib/monitoring/schemas.js'
import { now } from '../../../lib/platform/clock.js'
import { appVersion } from '../../../lib/platform/env.js'

// GET /api/v1/health – liveness for load balancers; touches no dependency
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/health',
      summary: 'Liveness',
      tags: ['health'],
      auth: 'public',
      rateLimit: false,
      db: false,
      response: LivenessSchema,
    },
    async () => json({ status: 'healthy', timestamp: now().toISOString(), version: appVersion() }),
  ),
})
