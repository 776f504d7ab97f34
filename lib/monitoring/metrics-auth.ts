import { timingSafeEqual } from 'node:crypto'
import { bearerToken } from '../auth/tokens.js'
import { notFound, unauthorized } from '../http/errors.js'
import { env, isDeployed } from '../platform/env.js'

/**
 * When METRICS_TOKEN is set, /metrics needs `Authorization: Bearer <METRICS_TOKEN>` (constant-time check).
 * A deployed environment without a token does not expose metrics at all: 404, as if there were none.
 */
export function assertMetricsAccess(request: Request): void {
  const expected = env().METRICS_TOKEN
  if (!expected) {
    if (isDeployed()) throw notFound('metrics endpoint')
    return
  }
  const given = bearerToken(request) ?? ''
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw unauthorized('A valid metrics token is required.', 'invalid_metrics_token')
  }
}
