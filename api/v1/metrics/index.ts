import { methods } from '../../../lib/http/methods.js'
import { route } from '../../../lib/http/route.js'
import { assertMetricsAccess } from '../../../lib/monitoring/metrics-auth.js'
import { prometheusText } from '../../../lib/monitoring/prometheus.js'

// GET /api/v1/metrics – Prometheus text exposition, aggregated across instances
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/metrics',
      summary: 'Prometheus metrics',
      description:
        'Requires `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set. A deployed ' +
        'environment without METRICS_TOKEN answers 404: metrics are never public there.',
      tags: ['monitoring'],
      auth: 'public',
      rateLimit: 'metrics',
      db: false,
      responseContentType: 'text/plain; version=0.0.4',
      responses: {
        401: 'METRICS_TOKEN is set and the bearer token does not match',
        404: 'deployed without METRICS_TOKEN',
      },
    },
    async ({ request }) => {
      assertMetricsAccess(request)
      const { body, contentType } = await prometheusText()
      return new Response(body, { headers: { 'content-type': contentType } })
    },
  ),
})
