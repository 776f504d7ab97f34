import { createHash } from 'node:crypto'
import { nowMs } from './clock.js'
import { env } from './env.js'
import { warnOnce } from './logger.js'
import { kv, upstashClient } from './redis.js'

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

// The sliding window on Redis: the single-region script of @upstash/ratelimit (same keys, same counting),
// run by us so that it can share one pipeline with the request's other Redis read (the session state of
// an authenticated request): one Redis request before the response instead of two.
const SLIDING_WINDOW = `#!lua flags=allow-key-locking
  local currentKey  = KEYS[1]
  local previousKey = KEYS[2]
  local tokens      = tonumber(ARGV[1])
  local now         = ARGV[2]
  local window      = ARGV[3]
  local incrementBy = tonumber(ARGV[4])

  local requestsInCurrentWindow = redis.call("GET", currentKey)
  if requestsInCurrentWindow == false then
    requestsInCurrentWindow = 0
  end
  local requestsInPreviousWindow = redis.call("GET", previousKey)
  if requestsInPreviousWindow == false then
    requestsInPreviousWindow = 0
  end
  local percentageInCurrent = ( now % window ) / window
  requestsInPreviousWindow = math.floor(( 1 - percentageInCurrent ) * requestsInPreviousWindow)
  if incrementBy > 0 and requestsInPreviousWindow + requestsInCurrentWindow >= tokens then
    return {-1, tokens}
  end
  local newValue = redis.call("INCRBY", currentKey, incrementBy)
  if newValue == incrementBy then
    redis.call("PEXPIRE", currentKey, window * 2 + 1000)
  end
  return {tokens - ( newValue + requestsInPreviousWindow ), tokens}
`
const SLIDING_WINDOW_SHA = createHash('sha1').update(SLIDING_WINDOW).digest('hex')
/** How long a request waits for the limit before failing open (as @upstash/ratelimit's `timeout`). */
const LIMIT_TIMEOUT_MS = 1000

// Identifiers refused until their window resets, so a client hammering past its limit costs no Redis
// request (what @upstash/ratelimit's ephemeral cache does).
const blocked = new Map<string, number>()

interface WindowCall {
  key: string
  limit: number
  windowMs: number
  now: number
  current: number
}

function windowCall(name: PolicyName, identifier: string): WindowCall {
  const { limit, windowSeconds } = policy(name)
  const windowMs = windowSeconds * 1000
  const now = nowMs()
  return {
    key: `${env().REDIS_PREFIX}rl:${name}:${identifier}`,
    limit,
    windowMs,
    now,
    current: Math.floor(now / windowMs),
  }
}

const scriptKeys = (c: WindowCall) => [`${c.key}:${c.current}`, `${c.key}:${c.current - 1}`]
const scriptArgs = (c: WindowCall) => [c.limit, c.now, c.windowMs, 1]

function fromScript(c: WindowCall, reply: unknown): LimitResult {
  const [remaining, limit] = reply as [number, number]
  const reset = (c.current + 1) * c.windowMs
  const allowed = remaining >= 0
  if (!allowed) {
    if (blocked.size > 10_000) for (const [k, until] of blocked) if (until <= c.now) blocked.delete(k)
    blocked.set(c.key, reset)
  }
  return { allowed, limit, remaining: Math.max(0, remaining), reset }
}

function isBlocked(c: WindowCall): LimitResult | undefined {
  const until = blocked.get(c.key)
  if (until === undefined) return undefined
  if (until > c.now) return { allowed: false, limit: c.limit, remaining: 0, reset: until }
  blocked.delete(c.key)
  return undefined
}

const failOpen = (c: WindowCall, err: unknown): LimitResult => {
  warnOnce('ratelimit-fail-open', 'rate limit store unavailable; failing open', { err })
  return { allowed: true, limit: c.limit, remaining: c.limit, reset: c.now + c.windowMs }
}

const isNoScript = (err: unknown) => /noscript/i.test(String(err instanceof Error ? err.message : err))

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

/**
 * Count one hit of `identifier` against a policy (`null`: no limit) and read the store key `read` (if
 * any), in ONE Redis request: a pipeline of the sliding-window script and a GET. On the in-process store
 * the same without Redis. A failing limit fails open with a logged warning (protection, not a reason to
 * refuse service); a failing read comes back as `{ ok: false }` for the caller to fall back.
 */
export async function hitAndRead<T>(
  name: PolicyName | null,
  identifier: string,
  read?: string,
): Promise<{ limit: LimitResult | null; read: ReadResult<T> | null }> {
  const redis = upstashClient()
  if (!redis) {
    const limit = name ? inMemory(name, identifier) : null
    if (read === undefined) return { limit, read: null }
    const value = await kv()
      .get<T>(read)
      .then(
        (v): ReadResult<T> => ({ ok: true, value: v }),
        (error: unknown): ReadResult<T> => ({ ok: false, error }),
      )
    return { limit, read: value }
  }
  const call = name ? windowCall(name, identifier) : undefined
  const refused = call && isBlocked(call)
  const readKey = read === undefined ? undefined : env().REDIS_PREFIX + read
  if (refused) return { limit: refused, read: null } // a 429 needs no session
  if (!call && readKey === undefined) return { limit: null, read: null }

  type Reply = { error?: string; result: unknown }
  const attempt = (script: 'sha' | 'text', withRead: boolean): Promise<Reply[]> => {
    const p = redis.pipeline()
    if (call) {
      if (script === 'sha') p.evalsha(SLIDING_WINDOW_SHA, scriptKeys(call), scriptArgs(call))
      else p.eval(SLIDING_WINDOW, scriptKeys(call), scriptArgs(call))
    }
    if (withRead && readKey !== undefined) p.get(readKey)
    return p.exec({ keepErrors: true }) as unknown as Promise<Reply[]>
  }
  const failed = (error: unknown) => ({
    limit: call ? failOpen(call, error) : null,
    read: readKey === undefined ? null : ({ ok: false, error } as const),
  })
  const run = async (): Promise<{ limit: LimitResult | null; read: ReadResult<T> | null }> => {
    let replies: Reply[]
    try {
      replies = await attempt('sha', true)
      // First use on this Redis: the script is not loaded yet. EVAL loads it (once per Redis).
      if (call && replies[0]?.error && isNoScript(replies[0].error)) {
        replies = [(await attempt('text', false))[0]!, ...replies.slice(1)]
      }
    } catch (error) {
      return failed(error)
    }
    const limitReply = call ? replies[0]! : undefined
    const readReply = readKey === undefined ? undefined : replies[call ? 1 : 0]!
    return {
      limit: !call
        ? null
        : limitReply?.error
          ? failOpen(call, new Error(limitReply.error))
          : fromScript(call, limitReply?.result),
      read: !readReply
        ? null
        : readReply.error
          ? { ok: false, error: new Error(readReply.error) }
          : { ok: true, value: (readReply.result ?? null) as T | null },
    }
  }
  return within(run().catch(failed), LIMIT_TIMEOUT_MS, () => failed(new Error('Redis timed out')))
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
}
