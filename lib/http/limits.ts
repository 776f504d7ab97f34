import { hit, type PolicyName, rateLimitHeaders, rateLimitsEnabled } from '../platform/ratelimit.js'
import { ProblemError } from './errors.js'

/**
 * A second limit inside a handler (per account, per email), on top of route()'s per-IP policy.
 * Throws 429 with Retry-After and RateLimit headers once exceeded. RATE_LIMITS=off turns it off too.
 */
export async function enforceLimit(policy: PolicyName, identifier: string): Promise<void> {
  if (!rateLimitsEnabled()) return
  const r = await hit(policy, identifier)
  if (!r.allowed) {
    throw new ProblemError(429, 'rate_limited', 'Too many attempts; try again later.', {
      headers: rateLimitHeaders(r),
    })
  }
}
