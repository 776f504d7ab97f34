import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { sessionCacheKey } from '../../lib/auth/authenticate.js'
import { flushBackground } from '../../lib/platform/background.js'
import { setClock } from '../../lib/platform/clock.js'
import { resetRateLimits } from '../../lib/platform/ratelimit.js'
import { kv, resetKv } from '../../lib/platform/redis.js'
import { breakerState } from '../../lib/platform/redis-breaker.js'
import { restoreEnv, setEnv as setSettings } from '../support/env.js'
import { makeUser } from '../support/factories.js'
import { call } from '../support/http.js'
import { TEST_REDIS_URL } from '../support/services.js'
import { startTcpSwitch, type TcpSwitch } from '../support/tcp-switch.js'
import { startUpstashProxy, type UpstashProxy } from '../support/upstash-proxy.js'

// The Redis circuit breaker against a Redis that is sick for real (docs/monitoring.md, "When Redis is
// sick"): an Upstash endpoint that accepts connections and never answers (a TCP relay gone dark in front
// of the Upstash proxy), and a Redis server that is stopped. While the breaker is open no request reaches
// Redis (counted at the relay and at the proxy, not timed), revocation still takes effect at once, the
// detailed health says degraded and /metrics shows the breaker; after a probe closes it, a session state
// cached before the outage does not bring a revoked session back.

// settings of one test, put back after it; a new Upstash client starts with a closed breaker
function setEnv(vars: Record<string, string | undefined>) {
  setSettings(vars)
  resetKv()
}

let skew = 0
const later = (seconds: number) => {
  skew += seconds * 1000
  setClock(() => Date.now() + skew)
}

afterEach(async () => {
  await flushBackground()
  setClock(undefined)
  skew = 0
  restoreEnv()
  resetKv()
  resetRateLimits()
})

const breakerEnv = (url: string, token: string) => ({
  UPSTASH_REDIS_REST_URL: url,
  UPSTASH_REDIS_REST_TOKEN: token,
  // longer than production's 50 ms: this machine is shared and busy, and an endpoint that never answers
  // times out whatever the deadline
  REDIS_TIMEOUT_MS: '500',
  REDIS_BREAKER_FAILURES: '3',
  REDIS_BREAKER_COOLDOWN_SECONDS: '10',
  RATE_LIMIT_DEFAULT: '100000/60',
})

/** Requests until the breaker opens (each one's rate limit and metrics write fail); how many it took. */
async function untilOpen(path: string): Promise<number> {
  for (let n = 1; n <= 6; n++) {
    const res = await call('GET', path)
    expect(res.status, res.text).toBe(200)
    await flushBackground()
    if (breakerState() === 'open') return n
  }
  throw new Error('the breaker did not open')
}

describe('Redis that accepts connections and never answers', () => {
  let proxy: UpstashProxy
  let relay: TcpSwitch

  beforeAll(async () => {
    proxy = await startUpstashProxy({ redisUrl: TEST_REDIS_URL })
    const { port } = new URL(proxy.url)
    relay = await startTcpSwitch({ host: '127.0.0.1', port: Number(port) })
  })

  afterAll(async () => {
    await relay.close()
    await proxy.close()
  })

  it('opens after a few timeouts, then sends nothing; revocation, health and metrics still work', async () => {
    relay.setMode('pass')
    setEnv(breakerEnv(relay.url, proxy.token))
    const customer = await makeUser()
    const leaving = await makeUser()
    const admin = await makeUser({ role: 'admin' })
    // the sessions are cached in Redis before the outage
    for (const u of [customer, leaving, admin]) {
      expect((await call('GET', '/api/v1/auth/me', { token: u.token })).status).toBe(200)
    }
    await flushBackground()
    const cachedBefore = await kv().get<{ active: boolean }>(sessionCacheKey(leaving.sessionId))
    expect(cachedBefore?.active).toBe(true)

    relay.setMode('blackhole')
    const tries = await untilOpen('/api/v1/products')
    expect(tries).toBeLessThanOrEqual(3)
    const sent = relay.requests

    // open: requests are served from PostgreSQL alone, and not one reaches the dark endpoint
    for (let i = 0; i < 5; i++) {
      expect((await call('GET', '/api/v1/products')).status).toBe(200)
      expect((await call('GET', '/api/v1/auth/me', { token: customer.token })).status).toBe(200)
    }
    // revocation takes effect at once: a logout, and a suspension by an admin
    expect((await call('POST', '/api/v1/auth/logout', { token: leaving.token })).status).toBe(204)
    expect((await call('GET', '/api/v1/auth/me', { token: leaving.token })).status).toBe(401)
    const suspended = await call('POST', `/api/v1/users/${customer.user.id}/suspend`, {
      token: admin.token,
      body: { reason: 'breaker test' },
    })
    expect(suspended.status, suspended.text).toBe(200)
    expect((await call('GET', '/api/v1/auth/me', { token: customer.token })).status).toBe(401)

    const health = await call('GET', '/api/v1/health/detailed', { token: admin.token })
    expect(health.body.status).toBe('degraded')
    expect(health.body.checks.redis).toMatchObject({ status: 'unhealthy', breaker: 'open' })
    const metrics = await call('GET', '/api/v1/metrics')
    expect(metrics.status).toBe(200)
    expect(metrics.text).toMatch(/^redis_breaker_state 2$/m)
    expect(metrics.text).toMatch(/^redis_breaker_opened_total 1$/m)
    expect(Number(/^ratelimit_fail_open_total (\d+)$/m.exec(metrics.text)?.[1])).toBeGreaterThanOrEqual(10)
    await flushBackground()
    expect(relay.requests, 'Redis requests made while the breaker was open').toBe(sent)

    // Redis answers again; after the cool-down one probe closes the breaker
    relay.setMode('pass')
    later(10)
    expect((await call('GET', '/api/v1/products')).status).toBe(200)
    await flushBackground()
    expect(breakerState()).toBe('closed')
    expect(relay.requests).toBeGreaterThan(sent) // the probe's PING, then the lost invalidations
    // the state cached before the outage still says "active" for neither session: the invalidations
    // made while Redis was skipped were written once it answered ...
    for (const u of [leaving, customer])
      expect(await kv().get(sessionCacheKey(u.sessionId))).toEqual({ forgotten: true })
    // ... and the revoked sessions stay revoked
    expect((await call('GET', '/api/v1/auth/me', { token: leaving.token })).status).toBe(401)
    expect((await call('GET', '/api/v1/auth/me', { token: customer.token })).status).toBe(401)
    expect((await call('GET', '/api/v1/auth/me', { token: admin.token })).status).toBe(200)
  }, 60_000)

  it('does not trust a session state cached before the outage, even with its invalidation lost', async () => {
    relay.setMode('pass')
    setEnv(breakerEnv(relay.url, proxy.token))
    const u = await makeUser()
    expect((await call('GET', '/api/v1/auth/me', { token: u.token })).status).toBe(200)
    await flushBackground()
    expect(await kv().get(sessionCacheKey(u.sessionId))).toMatchObject({ active: true })

    relay.setMode('blackhole')
    await untilOpen('/api/v1/products')
    // revoked in PostgreSQL by another instance whose invalidation never reached Redis either (here: the
    // session row directly, so that no instance remembers to write it again)
    const { getDb } = await import('../../lib/platform/db.js')
    const { userSessions } = await import('../../db/schema/index.js')
    const { eq } = await import('drizzle-orm')
    await (await getDb())
      .update(userSessions)
      .set({ revokedAt: new Date() })
      .where(eq(userSessions.id, u.sessionId))

    relay.setMode('pass')
    later(10)
    await call('GET', '/api/v1/products')
    await flushBackground()
    expect(breakerState()).toBe('closed')
    // the stale entry is still in Redis, and says active ...
    expect(await kv().get(sessionCacheKey(u.sessionId))).toMatchObject({ active: true })
    // ... but it was written before the breaker closed: the database decides
    expect((await call('GET', '/api/v1/auth/me', { token: u.token })).status).toBe(401)
  }, 60_000)
})

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  )
  const { Redis } = await import('ioredis')
  for (let i = 0; i < 50; i++) {
    const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 })
    c.on('error', () => {})
    const up = await c
      .connect()
      .then(() => c.ping())
      .then(() => true)
      .catch(() => false)
    c.disconnect()
    if (up) return child
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill('SIGKILL')
  throw new Error(`redis-server did not start on ${port}`)
}

describe('Redis stopped', () => {
  it('opens, sends nothing while open, and closes once Redis is back', async () => {
    const port = await freePort()
    let redis = await startRedis(port)
    const proxy = await startUpstashProxy({ redisUrl: `redis://127.0.0.1:${port}`, record: true })
    try {
      setEnv(breakerEnv(proxy.url, proxy.token))
      const u = await makeUser()
      expect((await call('GET', '/api/v1/auth/me', { token: u.token })).status).toBe(200)
      await flushBackground()

      const exited = new Promise((r) => redis.once('exit', r))
      redis.kill('SIGKILL')
      await exited
      await untilOpen('/api/v1/products')
      const sent = proxy.requests.length
      for (let i = 0; i < 5; i++) {
        expect((await call('GET', '/api/v1/products')).status).toBe(200)
        expect((await call('GET', '/api/v1/auth/me', { token: u.token })).status).toBe(200)
      }
      expect((await call('POST', '/api/v1/auth/logout', { token: u.token })).status).toBe(204)
      expect((await call('GET', '/api/v1/auth/me', { token: u.token })).status).toBe(401)
      expect((await call('GET', '/api/v1/health/detailed')).body.status).toBe('degraded')
      await flushBackground()
      expect(proxy.requests.length, 'Redis requests made while the breaker was open').toBe(sent)

      redis = await startRedis(port)
      // the proxy's own connection to Redis comes back on its reconnect schedule: wait for it
      for (let i = 0; i < 50; i++) {
        const res = await fetch(proxy.url, {
          method: 'POST',
          headers: { authorization: `Bearer ${proxy.token}` },
          body: JSON.stringify(['PING']),
        })
        if (res.ok) break
        await new Promise((r) => setTimeout(r, 100))
      }
      proxy.requests.length = sent
      later(10)
      await call('GET', '/api/v1/products')
      await flushBackground()
      expect(breakerState()).toBe('closed')
      expect(proxy.requests.slice(sent, sent + 1)).toEqual([['PING']])
      // counted again: the next request's rate limit reaches Redis
      const before = proxy.requests.length
      expect((await call('GET', '/api/v1/products')).status).toBe(200)
      expect(proxy.requests.length).toBeGreaterThan(before)
      expect((await call('GET', '/api/v1/auth/me', { token: u.token })).status).toBe(401)
    } finally {
      await proxy.close()
      redis.kill('SIGKILL')
    }
  }, 60_000)
})
