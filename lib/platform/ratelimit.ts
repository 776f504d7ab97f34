import { Ratelimit } from '@upstash/ratelimit'
import { nowMs } from './clock.js'
import { env } from './env.js'
import { warnOnce } from './logger.js'
import { upstashClient } from './redis.js'

// One named policy table. Each policy can be tuned with RATE_LIMIT_<NAME>=<limit>/<window seconds>,
// e.g. RATE_LIMIT_AUTH_LOGIN=20/60. RATE_LIMITS=off disables request limits (never account lockout).
export const POLICIES = {
  default: { limit: 300, windowSeconds: 60 },
  health: { limit: 120, windowSeconds: 60 },
  metrics: { limit: 60, windowSeconds: 60 },
  auth_login: { limit: 10, windowSeconds: 60 },
  auth_login_account: { limit: 10, windowSeconds: 300 },
  auth_register: { limit: 5, windowSeconds: 3600 },
  auth_password_reset: { limit: 5, windowSeconds: 3600 },
  auth_resend: { limit: 3, windowSeconds: 3600 },
  auth_mfa: { limit: 10, windowSeconds: 300 },
  auth_refresh: { limit: 60, windowSeconds: 60 },
  bulk: { limit: 20, windowSeconds: 60 },
  export: { limit: 10, windowSeconds: 60 },
} as const satisfies Record<string, { limit: number; windowSeconds: number }>

export type PolicyName = keyof typeof POLICIES

export interface LimitResult {
  allowed: boolean
  limit: number
  remaining: number
  /** Unix time in ms when the window resets. */
  reset: number
}

export function policy(name: PolicyName): { limit: number; windowSeconds: number } {
  const raw = process.env[`RATE_LIMIT_${name.toUpperCase()}`]
  const m = raw?.match(/^(\d+)\/(\d+)$/)
  if (m) return { limit: Number(m[1]), windowSeconds: Math.max(1, Number(m[2])) }
  return POLICIES[name]
}

export function rateLimitsEnabled(): boolean {
  return env().RATE_LIMITS !== 'off'
}

// In-process sliding window (previous + current fixed window, weighted), the same algorithm Upstash uses.
const windows = new Map<string, { start: number; count: number; previous: number; windowMs: number }>()

function limitInMemory(key: string, limit: number, windowMs: number): LimitResult {
  const t = nowMs()
  const start = Math.floor(t / windowMs) * windowMs
  if (windows.size > 50_000) pruneWindows(t)
  let w = windows.get(key)
  if (!w || w.start !== start) {
    const previous = w && w.start === start - windowMs ? w.count : 0
    w = { start, count: 0, previous, windowMs }
    windows.set(key, w)
  }
  const weight = 1 - (t - start) / windowMs
  const used = Math.floor(w.previous * weight) + w.count
  if (used >= limit) return { allowed: false, limit, remaining: 0, reset: start + windowMs }
  w.count++
  return { allowed: true, limit, remaining: Math.max(0, limit - used - 1), reset: start + windowMs }
}

/** Drop windows that can no longer affect a decision (their next window is over too). */
function pruneWindows(t: number): void {
  for (const [key, w] of windows) if (t - w.start >= 2 * w.windowMs) windows.delete(key)
}

const limiters = new Map<string, Ratelimit>()

function upstashLimiter(name: PolicyName, limit: number, windowSeconds: number): Ratelimit | undefined {
  const redis = upstashClient()
  if (!redis) return undefined
  const id = `${name}:${limit}:${windowSeconds}`
  let rl = limiters.get(id)
  if (!rl) {
    rl = new Ratelimit({
      redis,
      limiter: Ratelimit.slidingWindow(limit, `${windowSeconds} s`),
      prefix: `${env().REDIS_PREFIX}rl:${name}`,
      timeout: 1000,
      analytics: false,
    })
    limiters.set(id, rl)
  }
  return rl
}

/**
 * Count one hit of `identifier` against a policy. Redis failures fail open with a logged warning:
 * a rate limit is protection, not a reason to refuse service.
 */
export async function hit(name: PolicyName, identifier: string): Promise<LimitResult> {
  const { limit, windowSeconds } = policy(name)
  const rl = upstashLimiter(name, limit, windowSeconds)
  if (!rl) return limitInMemory(`${name}:${identifier}`, limit, windowSeconds * 1000)
  try {
    const r = await rl.limit(identifier)
    return { allowed: r.success, limit: r.limit, remaining: r.remaining, reset: r.reset }
  } catch (err) {
    warnOnce('ratelimit-fail-open', 'rate limit store unavailable; failing open', { err })
    return { allowed: true, limit, remaining: limit, reset: nowMs() + windowSeconds * 1000 }
  }
}

export function rateLimitHeaders(r: LimitResult): Record<string, string> {
  const resetSeconds = Math.max(0, Math.ceil((r.reset - nowMs()) / 1000))
  const h: Record<string, string> = {
    'ratelimit-limit': String(r.limit),
    'ratelimit-remaining': String(r.remaining),
    'ratelimit-reset': String(resetSeconds),
  }
  if (!r.allowed) h['retry-after'] = String(Math.max(1, resetSeconds))
  return h
}

/** Tests: forget in-process windows and cached limiters. */
export function resetRateLimits(): void {
  windows.clear()
  limiters.clear()
}
