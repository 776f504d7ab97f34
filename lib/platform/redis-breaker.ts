import { nowMs } from './clock.js'
import { env } from './env.js'
import { log } from './logger.js'

// A circuit breaker around Redis (docs/monitoring.md, "When Redis is sick"). Redis here only caches and
// counts: when it stops answering, every request would otherwise wait for the client's deadline, request
// after request. After REDIS_BREAKER_FAILURES consecutive failures or timeouts the breaker opens: for
// REDIS_BREAKER_COOLDOWN_SECONDS no Redis request is made at all (callers get RedisUnavailable at once
// and fall back: rate limits fail open, session state comes from PostgreSQL). Then one probe (a PING,
// started by the first request after the cool-down, never awaited by it) closes it or opens it again.
//
// Per instance: each function instance keeps its own breaker, as each has its own connections.

export type BreakerState = 'closed' | 'open' | 'half_open'

/** Thrown instead of a Redis request while the breaker is open; callers fall back as for any failure. */
export class RedisUnavailable extends Error {
  constructor() {
    super('Redis is skipped: the circuit breaker is open')
    this.name = 'RedisUnavailable'
  }
}

interface Breaker {
  state: BreakerState
  failures: number
  openedAt: number
  /** when the breaker last closed after being open (0: never): older cache entries are not trusted */
  closedAt: number
  opened: number
}

const fresh = (): Breaker => ({ state: 'closed', failures: 0, openedAt: 0, closedAt: 0, opened: 0 })
let b = fresh()
let probe: (() => Promise<unknown>) | undefined
const onClose: Array<() => Promise<unknown>> = []
/** Runs the probe without holding up the request that started it (afterResponse, set by redis.ts). */
let runLater: (task: () => Promise<unknown>) => void = (task) => void task()

/** Set by lib/platform/redis.ts: how to probe (a PING under the deadline) and how to run it later. */
export function configureBreaker(options: {
  probe: () => Promise<unknown>
  later?: (task: () => Promise<unknown>) => void
}): void {
  probe = options.probe
  if (options.later) runLater = options.later
}

/** Work to do once the breaker closes (replaying invalidations that could not be written). */
export function whenBreakerCloses(task: () => Promise<unknown>): void {
  onClose.push(task)
}

export const breakerState = (): BreakerState => b.state
export const breakerOpenedCount = (): number => b.opened

/**
 * Cache entries written before this instant (ms) are not trusted: invalidations may have been lost while
 * the breaker was open. 0 until the breaker has closed after an outage.
 */
export const untrustedBefore = (): number => b.closedAt

function open(err: unknown): void {
  const wasClosed = b.state === 'closed'
  b.state = 'open'
  b.openedAt = nowMs()
  if (wasClosed) {
    b.opened++
    log.warn('redis circuit breaker opened: Redis is skipped until a probe succeeds', {
      err,
      failures: b.failures,
      cooldown_seconds: env().REDIS_BREAKER_COOLDOWN_SECONDS,
    })
  }
}

function close(): void {
  const outage = Math.round(nowMs() - b.openedAt)
  b.state = 'closed'
  b.failures = 0
  b.closedAt = nowMs()
  log.info('redis circuit breaker closed: Redis answers again', { outage_ms: outage })
  for (const task of onClose) runLater(task)
}

function startProbe(): void {
  b.state = 'half_open'
  const p = probe
  runLater(async () => {
    try {
      if (!p) throw new Error('no probe configured')
      await p()
      if (b.state === 'half_open') close()
    } catch (err) {
      if (b.state === 'half_open') open(err)
    }
  })
}

/**
 * Whether a Redis request may be made now. Closed: yes. Open: no; once the cool-down has passed, the
 * first caller starts the probe in the background (and still gets no). Half-open (probe in flight): no.
 */
export function breakerAllows(): boolean {
  if (b.state === 'closed') return true
  if (b.state === 'open' && nowMs() - b.openedAt >= env().REDIS_BREAKER_COOLDOWN_SECONDS * 1000) startProbe()
  return false
}

/** A Redis request answered. */
export function breakerSuccess(): void {
  if (b.state === 'closed') b.failures = 0
}

/** A Redis request failed or timed out. */
export function breakerFailure(err: unknown): void {
  if (b.state !== 'closed' || err instanceof RedisUnavailable) return
  b.failures++
  if (b.failures >= env().REDIS_BREAKER_FAILURES) open(err)
}

/** `op` under the breaker: refused at once while it is open; its outcome counted. */
export async function guarded<T>(op: () => Promise<T>): Promise<T> {
  if (!breakerAllows()) throw new RedisUnavailable()
  try {
    const result = await op()
    breakerSuccess()
    return result
  } catch (err) {
    breakerFailure(err)
    throw err
  }
}

/** Tests: a closed breaker with no history (the probe and close hooks stay configured). */
export function resetBreaker(): void {
  b = fresh()
}
