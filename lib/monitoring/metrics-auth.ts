import { timingSafeEqual } from 'node:crypto'
import { bearerToken } from '../auth/tokens.js'
import { unauthorized } from '../http/errors.js'
import { env } from '../platform/env.js'

/** When METRICS_TOKEN is set, /metrics needs `Authorization: Bearer <METRICS_TOKEN>` (constant-time check). */
export function assertMetricsAccess(request: Request): void {
  const expected = env().METRICS_TOKEN
  if (!expected) return
  const given = bearerToken(request) ?? ''
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw unauthorized('A valid metrics token is required.', 'invalid_metrics_token')
  }
}
