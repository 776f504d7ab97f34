import { authEvents, failedLogins, mfaEvents } from '../auth/metrics.js'
import { type GaugeValue, httpDuration, httpRequests, renderMetrics } from '../platform/metrics.js'
import { rateLimitFailOpenCount } from '../platform/ratelimit.js'
import { breakerOpenedCount, breakerState } from '../platform/redis-breaker.js'
import { databaseGauges } from './gauges.js'

// Every counter and histogram GET /metrics exports, named here. On Vercel the metrics function is a
// bundle of its own: a definition registered only by the code that counts it (sign-in's, for one) would
// be missing from its answer although other functions write its counts to Redis.
export const EXPORTED_METRICS = [httpRequests, httpDuration, authEvents, failedLogins, mfaEvents] as const

const BREAKER_VALUE = { closed: 0, half_open: 1, open: 2 } as const

/**
 * Values of the instance that answers the scrape (each function instance has its own Redis breaker):
 * on Vercel a scrape samples one instance, so read them as "some instance saw this".
 */
export function instanceGauges(): GaugeValue[] {
  return [
    {
      name: 'redis_breaker_state',
      help: "This instance's Redis circuit breaker: 0 closed, 1 half-open (probing), 2 open (Redis skipped)",
      value: BREAKER_VALUE[breakerState()],
    },
    {
      name: 'redis_breaker_opened_total',
      help: "Times this instance's Redis circuit breaker opened since the instance started",
      value: breakerOpenedCount(),
      type: 'counter',
    },
    {
      name: 'ratelimit_fail_open_total',
      help: 'Requests this instance let through uncounted because Redis failed, was slow or was skipped',
      value: rateLimitFailOpenCount(),
      type: 'counter',
    },
  ]
}

/**
 * The Prometheus text of the whole deployment: counters from Redis, gauges from the database, and the
 * answering instance's own Redis breaker and fail-open counts.
 */
export async function prometheusText(): Promise<{ body: string; contentType: string }> {
  return renderMetrics(EXPORTED_METRICS, [...(await databaseGauges()), ...instanceGauges()])
}
