import { Ratelimit } from '@upstash/ratelimit'
import type { Redis } from '@upstash/redis'
import { nowMs } from './clock.js'
import { env } from './env.js'
import { log } from './logger.js'
import { kv, upstashClient } from './redis.js'
import { breakerAllows, breakerFailure, breakerSuccess, RedisUnavailable } from './redis-breaker.js'

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

// In-process sliding window (previous + current fixed window, weighted), the algorithm @upstash/ratelimit's
// slidingWindow runs on Redis; for one process (`npm run dev`, `npm test`).
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

/** How long a request waits for its limit before it is let through (@upstash/ratelimit's `timeout`). */
const limitTimeoutMs = () => env().REDIS_TIMEOUT_MS

// Identifiers refused until their window resets, as @upstash/ratelimit's ephemeral cache keeps them: a
// client hammering past its limit costs no Redis request. One map for every policy (its keys carry the
// policy's prefix), ours so that it stays bounded and tests can clear it.
const blocked = new Map<string, number>()
const BLOCKED_MAX = 10_000

interface Limiter {
  redis: Redis
  prefix: string
  limit: number
  windowMs: number
  ratelimit: Ratelimit
}
const limiters = new Map<PolicyName, Limiter>()

/**
 * The sliding-window limiter of a policy on Redis (@upstash/ratelimit). Its keys are
 * `<REDIS_PREFIX>rl:<policy>:<identifier>:<window number>`; a changed setting or client makes a new one.
 */
function limiterFor(name: PolicyName, redis: Redis): Limiter {
  const { limit, windowSeconds } = policy(name)
  const prefix = `${env().REDIS_PREFIX}rl:${name}`
  const windowMs = windowSeconds * 1000
  const known = limiters.get(name)
  if (
    known?.redis === redis &&
    known.prefix === prefix &&
    known.limit === limit &&
    known.windowMs === windowMs
  )
    return known
  const ratelimit = new Ratelimit({
    redis,
    prefix,
    limiter: Ratelimit.slidingWindow(limit, `${windowSeconds} s`),
    ephemeralCache: blocked,
    timeout: limitTimeoutMs(),
    analytics: false,
    enableTelemetry: false,
  })
  const made = { redis, prefix, limit, windowMs, ratelimit }
  limiters.set(name, made)
  return made
}

let failedOpen = 0
let warnedAt = Number.NEGATIVE_INFINITY
const WARN_EVERY_MS = 60_000
/** Requests this instance let through because their limit could not be counted (a per-instance metric). */
export const rateLimitFailOpenCount = (): number => failedOpen

function failOpen(l: Pick<Limiter, 'limit' | 'windowMs'>, err: unknown): LimitResult {
  failedOpen++
  // throttled: a Redis outage would otherwise write one warning per request
  const t = performance.now()
  if (t - warnedAt >= WARN_EVERY_MS) {
    warnedAt = t
    log.warn('rate limit store unavailable; failing open', { err, failed_open_total: failedOpen })
  }
  return { allowed: true, limit: l.limit, remaining: l.limit, reset: nowMs() + l.windowMs }
}

/** Count one hit on Redis. Redis failing or slower than REDIS_TIMEOUT_MS lets the request through. */
async function countHit(l: Limiter, identifier: string): Promise<LimitResult> {
  try {
    const r = await l.ratelimit.limit(identifier)
    if (r.reason === 'timeout') {
      const err = new Error(`Redis did not answer in ${limitTimeoutMs()} ms`)
      breakerFailure(err)
      return failOpen(l, err)
    }
    breakerSuccess()
    return { allowed: r.success, limit: r.limit, remaining: r.remaining, reset: r.reset }
  } catch (err) {
    breakerFailure(err)
    return failOpen(l, err)
  }
}

/** The refusal of an identifier still in the ephemeral cache, without asking Redis. */
function stillBlocked(l: Limiter, identifier: string): LimitResult | undefined {
  const until = blocked.get(`${l.prefix}:${identifier}`)
  if (until === undefined || until <= Date.now()) return undefined
  return { allowed: false, limit: l.limit, remaining: 0, reset: until }
}

function pruneBlocked(): void {
  if (blocked.size <= BLOCKED_MAX) return
  const t = Date.now()
  for (const [k, until] of blocked) if (until <= t) blocked.delete(k)
}

/** Resolves to `fallback` after `ms` unless `p` settles first (the timer never keeps the process alive). */
function within<T>(p: Promise<T>, ms: number, fallback: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback()), ms)
    timer.unref?.()
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/** What a combined call read besides the limit: the value, or `failed` when Redis could not answer. */
export type ReadResult<T> = { ok: true; value: T | null } | { ok: false; error: unknown }

function readKey<T>(key: string): Promise<ReadResult<T>> {
  const value = kv()
    .get<T>(key)
    .then(
      (v): ReadResult<T> => ({ ok: true, value: v }),
      (error: unknown): ReadResult<T> => ({ ok: false, error }),
    )
  return within(value, limitTimeoutMs() * 2, () => ({ ok: false, error: new Error('Redis timed out') }))
}

/**
 * Count one hit of `identifier` against a policy (`null`: no limit) and read the store key `read` (if
 * any). On Upstash both requests leave at once (Promise.all), so the caller waits for one Redis round
 * trip, not two in a row (ADR 011). A failing or slow limit fails open with a throttled warning
 * (protection, not a reason to refuse service); a failing read comes back as `{ ok: false }` for the caller
 * to fall back. A caller still refused from an earlier hit gets its 429 from memory, with no request at
 * all; while the Redis circuit breaker is open nobody's request makes one.
 */
export async function hitAndRead<T>(
  name: PolicyName | null,
  identifier: string,
  read?: string,
): Promise<{ limit: LimitResult | null; read: ReadResult<T> | null }> {
  const redis = upstashClient()
  if (!redis) {
    const limit = name ? inMemory(name, identifier) : null
    return { limit, read: read === undefined ? null : await readKey<T>(read) }
  }
  const limiter = name ? limiterFor(name, redis) : undefined
  const refused = limiter && stillBlocked(limiter, identifier)
  if (refused) return { limit: refused, read: null } // a 429 needs no session
  pruneBlocked()
  if (!breakerAllows()) {
    const skipped = new RedisUnavailable()
    return {
      limit: limiter ? failOpen(limiter, skipped) : null,
      read: read === undefined ? null : { ok: false, error: skipped },
    }
  }
  const [limit, value] = await Promise.all([
    limiter ? countHit(limiter, identifier) : null,
    read === undefined ? null : readKey<T>(read),
  ])
  return { limit, read: value }
}

function inMemory(name: PolicyName, identifier: string): LimitResult {
  const { limit, windowSeconds } = policy(name)
  return limitInMemory(`${name}:${identifier}`, limit, windowSeconds * 1000)
}

/**
 * Count one hit of `identifier` against a policy. Redis failures fail open with a logged warning:
 * a rate limit is protection, not a reason to refuse service.
 */
export async function hit(name: PolicyName, identifier: string): Promise<LimitResult> {
  return (await hitAndRead(name, identifier)).limit!
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

/** Tests: forget in-process windows and refused identifiers. */
export function resetRateLimits(): void {
  windows.clear()
  blocked.clear()
  limiters.clear()
}
