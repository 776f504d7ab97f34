import { z } from 'zod'
import { nowMs } from '../platform/clock.js'
import { appVersion } from '../platform/env.js'
import { RECENT_ERRORS_KEY, type RecentError } from '../platform/metrics.js'
import { kv } from '../platform/redis.js'
import { checkAll, type DependencyCheck } from './health.js'

// Status-page data: components in a status page's words, version, uptime, recent server errors.

const startedAt = new Date()

const ComponentStatus = z.enum(['operational', 'degraded', 'outage', 'not_configured'])
type ComponentStatus = z.infer<typeof ComponentStatus>

export const StatusSchema = z.object({
  status: z.enum(['operational', 'degraded', 'outage']),
  version: z.string(),
  started_at: z.string(),
  uptime_seconds: z.number().int(),
  components: z.array(
    z.object({ name: z.string(), status: ComponentStatus, latency_ms: z.number().nullable() }),
  ),
  incidents: z.array(z.object({ component: z.string(), status: ComponentStatus, since: z.string() })),
  recent_errors: z.array(
    z.object({
      at: z.string(),
      method: z.string(),
      route: z.string(),
      status: z.number(),
      request_id: z.string(),
    }),
  ),
})

const toComponent = (c: DependencyCheck): ComponentStatus => {
  switch (c.status) {
    case 'healthy':
    case 'reachable':
      return 'operational'
    case 'not_configured':
      return 'not_configured'
    default:
      return 'outage'
  }
}

export async function shopStatus(): Promise<z.infer<typeof StatusSchema>> {
  const [health, recent] = await Promise.all([
    checkAll(),
    kv()
      .list<RecentError>(RECENT_ERRORS_KEY, 10)
      .catch(() => []),
  ])
  const checks: Array<[string, DependencyCheck]> = [
    ['database', health.database],
    ['cache', health.redis],
    ['payments', health.external.stripe],
    ['shipping', health.external.shippo],
    ['email', health.external.resend],
  ]
  const components = [
    { name: 'api', status: 'operational' as ComponentStatus, latency_ms: null as number | null },
    ...checks.map(([name, c]) => ({ name, status: toComponent(c), latency_ms: c.latency_ms })),
  ]
  const checkedAt = health.external.checked_at
  return {
    status:
      health.status === 'healthy' ? 'operational' : health.status === 'degraded' ? 'degraded' : 'outage',
    version: appVersion(),
    started_at: startedAt.toISOString(),
    uptime_seconds: Math.floor((nowMs() - startedAt.getTime()) / 1000),
    components,
    incidents: components
      .filter((c) => c.status === 'outage' || c.status === 'degraded')
      .map((c) => ({ component: c.name, status: c.status, since: checkedAt })),
    recent_errors: recent,
  }
}
