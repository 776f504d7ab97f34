import { authEvents, failedLogins, mfaEvents } from '../auth/metrics.js'
import { httpDuration, httpRequests, renderMetrics } from '../platform/metrics.js'
import { databaseGauges } from './gauges.js'

// Every counter and histogram GET /metrics exports, named here. On Vercel the metrics function is a
// bundle of its own: a definition registered only by the code that counts it (sign-in's, for one) would
// be missing from its answer although other functions write its counts to Redis.
export const EXPORTED_METRICS = [httpRequests, httpDuration, authEvents, failedLogins, mfaEvents] as const

/** The Prometheus text of the whole deployment: counters from Redis, gauges from the database. */
export async function prometheusText(): Promise<{ body: string; contentType: string }> {
  return renderMetrics(EXPORTED_METRICS, await databaseGauges())
}
