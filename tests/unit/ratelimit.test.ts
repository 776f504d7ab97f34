import { randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { setClock } from '../../lib/platform/clock.js'
import { resetEnv } from '../../lib/platform/env.js'
import {
  hit,
  hitAndRead,
  type LimitResult,
  POLICIES,
  policy,
  rateLimitHeaders,
  rateLimitsEnabled,
  resetRateLimits,
} from '../../lib/platform/ratelimit.js'
import { kv, redisConfigured, resetKv } from '../../lib/platform/redis.js'
import { servicesMode } from '../support/services.js'

// `hit()` runs against whatever the test mode configures: the in-process window by default, Upstash
// against real Redis under TEST_SERVICES=1. Redis keeps windows across tests, so every test counts
// under its own identifier.

let saved: Record<string, string | undefined>
const someone = () => `test:${randomUUID()}`

beforeEach(() => {
  saved = { ...process.env }
})

afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
  Object.assign(process.env, saved)
  setClock(undefined)
  resetEnv()
  resetKv()
  resetRateLimits()
})

describe('policy', () => {
  it('uses the policy table by default', () => {
    delete process.env.RATE_LIMIT_AUTH_LOGIN
    expect(policy('auth_login')).toEqual(POLICIES.auth_login)
    expect(policy('default')).toEqual({ limit: 300, windowSeconds: 60 })
  })

  it('honours RATE_LIMIT_<NAME>=limit/seconds', () => {
    process.env.RATE_LIMIT_AUTH_LOGIN = '2/60'
    process.env.RATE_LIMIT_EXPORT = '7/5'
    expect(policy('auth_login')).toEqual({ limit: 2, windowSeconds: 60 })
    expect(policy('export')).toEqual({ limit: 7, windowSeconds: 5 })
  })

  it('ignores a malformed override', () => {
    for (const raw of ['lots', '2', '2/', '/60', '2/60s', '-1/60']) {
      process.env.RATE_LIMIT_AUTH_LOGIN = raw
      expect(policy('auth_login'), raw).toEqual(POLICIES.auth_login)
    }
  })

  it('never uses a window shorter than one second', () => {
    process.env.RATE_LIMIT_BULK = '5/0'
    expect(policy('bulk')).toEqual({ limit: 5, windowSeconds: 1 })
  })
})

describe('rateLimitsEnabled', () => {
  it('is on unless RATE_LIMITS=off', () => {
    delete process.env.RATE_LIMITS
    resetEnv()
    expect(rateLimitsEnabled()).toBe(true)
    process.env.RATE_LIMITS = 'off'
    resetEnv()
    expect(rateLimitsEnabled()).toBe(false)
  })
})

describe('hit (configured store)', () => {
  it('allows `limit` hits, counting remaining down, then refuses', async () => {
    process.env.RATE_LIMIT_AUTH_REGISTER = '3/60'
    const id = someone()
    const results: LimitResult[] = []
    for (let i = 0; i < 5; i++) results.push(await hit('auth_register', id))
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false, false])
    expect(results.map((r) => r.remaining)).toEqual([2, 1, 0, 0, 0])
    for (const r of results) {
      expect(r.limit).toBe(3)
      expect(r.reset).toBeGreaterThan(Date.now())
      expect(r.reset).toBeLessThanOrEqual(Date.now() + 60_000)
    }
  })

  it('keeps a separate window per identifier', async () => {
    process.env.RATE_LIMIT_AUTH_RESEND = '1/60'
    const a = someone()
    const b = someone()
    expect((await hit('auth_resend', a)).allowed).toBe(true)
    expect((await hit('auth_resend', a)).allowed).toBe(false)
    expect((await hit('auth_resend', b)).allowed).toBe(true)
  })

  it('keeps a separate window per policy', async () => {
    process.env.RATE_LIMIT_AUTH_MFA = '1/60'
    process.env.RATE_LIMIT_AUTH_REFRESH = '1/60'
    const id = someone()
    expect((await hit('auth_mfa', id)).allowed).toBe(true)
    expect((await hit('auth_mfa', id)).allowed).toBe(false)
    expect((await hit('auth_refresh', id)).allowed).toBe(true)
  })

  it('uses Upstash (real Redis) exactly in the service suite, the in-process store otherwise', () => {
    // Known from how the suite was started, not from the variables the code reads.
    expect(redisConfigured()).toBe(servicesMode)
    expect(kv().kind).toBe(servicesMode ? 'upstash' : 'memory')
  })
})

describe('hit on an Upstash that never answers', () => {
  let server: Server
  const held: Array<() => void> = []

  beforeEach(async () => {
    // Accepts every request and answers none, like a Redis stuck behind a slow network.
    server = createServer((_req, res) => void held.push(() => res.destroy()))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    process.env.UPSTASH_REDIS_REST_URL = `http://127.0.0.1:${port}`
    process.env.UPSTASH_REDIS_REST_TOKEN = 'slow'
    // long enough for both requests to reach this server on a busy machine (production's 50 ms may abort
    // them before they leave): the point is what happens once the deadline has passed
    process.env.REDIS_TIMEOUT_MS = '500'
    resetEnv()
    resetKv()
    resetRateLimits()
  })

  afterEach(async () => {
    delete process.env.REDIS_TIMEOUT_MS
    resetEnv()
    for (const end of held.splice(0)) end()
    await new Promise((resolve) => server.close(resolve))
  })

  it("lets the request through once @upstash/ratelimit's timeout passes, and the session read falls back", async () => {
    process.env.RATE_LIMIT_BULK = '4/60'
    const r = await hitAndRead('bulk', someone(), 'session:slow')
    expect(r.limit).toMatchObject({ allowed: true, limit: 4, remaining: 4 })
    expect(r.read).toMatchObject({ ok: false })
    expect(held.length).toBeGreaterThanOrEqual(2) // both requests had left, neither was answered
  })
})

describe('hit (in-process sliding window)', () => {
  const WINDOW = 10_000
  let t: number

  beforeEach(() => {
    delete process.env.UPSTASH_REDIS_REST_URL
    delete process.env.UPSTASH_REDIS_REST_TOKEN
    resetEnv()
    resetKv()
    resetRateLimits()
    process.env.RATE_LIMIT_BULK = `4/${WINDOW / 1000}`
    // The start of a window, so the whole window is ahead of us.
    t = Math.floor(Date.now() / WINDOW) * WINDOW + WINDOW
    setClock(() => t)
  })

  it('does not touch Redis in this block', () => {
    expect(redisConfigured()).toBe(false)
  })

  it('allows the limit, then refuses until the window resets', async () => {
    const id = someone()
    const got: LimitResult[] = []
    for (let i = 0; i < 5; i++) got.push(await hit('bulk', id))
    expect(got.map((r) => r.allowed)).toEqual([true, true, true, true, false])
    expect(got.map((r) => r.remaining)).toEqual([3, 2, 1, 0, 0])
    expect(got.every((r) => r.reset === t + WINDOW)).toBe(true)
  })

  it('weighs the previous window by how much of it still overlaps', async () => {
    const id = someone()
    for (let i = 0; i < 4; i++) await hit('bulk', id)
    // Halfway through the next window half of the previous 4 hits still count.
    t += WINDOW + WINDOW / 2
    const got: boolean[] = []
    for (let i = 0; i < 3; i++) got.push((await hit('bulk', id)).allowed)
    expect(got).toEqual([true, true, false])
  })

  it('forgets hits two windows back', async () => {
    const id = someone()
    for (let i = 0; i < 5; i++) await hit('bulk', id)
    t += 2 * WINDOW
    const r = await hit('bulk', id)
    expect(r).toMatchObject({ allowed: true, remaining: 3, reset: t + WINDOW })
  })

  it('keeps identifiers apart', async () => {
    const a = someone()
    for (let i = 0; i < 4; i++) await hit('bulk', a)
    expect((await hit('bulk', a)).allowed).toBe(false)
    expect((await hit('bulk', someone())).allowed).toBe(true)
  })
})

describe('rateLimitHeaders', () => {
  beforeEach(() => {
    const t = 1_700_000_000_000
    setClock(() => t)
  })

  it('sends RateLimit-Limit/Remaining/Reset (seconds) and no Retry-After when allowed', () => {
    const h = rateLimitHeaders({ allowed: true, limit: 10, remaining: 7, reset: 1_700_000_000_000 + 42_500 })
    expect(h).toEqual({ 'ratelimit-limit': '10', 'ratelimit-remaining': '7', 'ratelimit-reset': '43' })
  })

  it('adds Retry-After in whole seconds when refused', () => {
    const h = rateLimitHeaders({ allowed: false, limit: 10, remaining: 0, reset: 1_700_000_000_000 + 42_500 })
    expect(h['retry-after']).toBe('43')
    expect(h['ratelimit-remaining']).toBe('0')
  })

  it('never tells a refused client to retry after 0 seconds', () => {
    const h = rateLimitHeaders({ allowed: false, limit: 10, remaining: 0, reset: 1_700_000_000_000 - 5 })
    expect(h['retry-after']).toBe('1')
    expect(h['ratelimit-reset']).toBe('0')
  })
})
