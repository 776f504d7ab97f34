import { sql } from 'drizzle-orm'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import journal from '../../db/migrations/meta/_journal.json' with { type: 'json' }
import * as schema from '../../db/schema/index.js'
import { resetExternalCache } from '../../lib/monitoring/health.js'
import { setClock } from '../../lib/platform/clock.js'
import { type Db, driverKind, getDb, pgliteExtensions, setDatabase } from '../../lib/platform/db.js'
import { appVersion, env, resetEnv } from '../../lib/platform/env.js'
import { kv, resetKv, upstashClient } from '../../lib/platform/redis.js'
import { resetBreaker } from '../../lib/platform/redis-breaker.js'
import { makeUser } from '../support/factories.js'
import { call } from '../support/http.js'
import { hangs, KEYS, networkError, outbound, serverError, useMsw } from '../support/msw.js'
import { servicesMode } from '../support/services.js'

// docs/monitoring.md / issue 2 item 7: the health endpoints. Outside services are answered by MSW; our own
// database and Redis are real (PGlite / in-process store, or PostgreSQL / Redis under TEST_SERVICES=1).

const server = useMsw()

const EXTERNAL_CACHE_KEY = 'health:external'
const entries = journal.entries as Array<{ tag: string }>

// --- environment ------------------------------------------------------------------------------------

const savedEnv = new Map<string, string | undefined>()

function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (!savedEnv.has(k)) savedEnv.set(k, process.env[k])
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  resetEnv()
  resetKv()
}

function restoreEnv(): void {
  for (const [k, v] of savedEnv) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  savedEnv.clear()
  resetEnv()
  resetKv()
}

const allKeys = () =>
  setEnv({ STRIPE_SECRET_KEY: KEYS.stripe, SHIPPO_API_KEY: KEYS.shippo, RESEND_API_KEY: KEYS.resend })

/** Upstash settings pointing at a port nothing listens on. */
const redisUnreachable = () =>
  setEnv({ UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9/', UPSTASH_REDIS_REST_TOKEN: 'unreachable-token' })

// --- an unreachable database (a real driver that cannot reach its database) --------------------------

let restoreDatabase: (() => Promise<void>) | undefined
let deadPglite: Promise<Db> | undefined

async function takeDatabaseDown(): Promise<void> {
  const real = await getDb()
  const kind = await driverKind()
  const client = (real as unknown as { $client: { end(): Promise<void>; close(): Promise<void> } }).$client
  let down: { db: Db; close: () => Promise<void> }
  if (kind === 'pglite') {
    // A PGlite instance that has been shut down: every query fails as a dead connection would. Booting
    // one takes a second or more, and a closed instance keeps no state, so the file shares one.
    deadPglite ??= (async () => {
      const [{ PGlite }, { drizzle }] = await Promise.all([
        import('@electric-sql/pglite'),
        import('drizzle-orm/pglite'),
      ])
      const dead = new PGlite({ extensions: await pgliteExtensions() })
      await dead.close()
      return drizzle({ client: dead, schema }) as unknown as Db
    })()
    down = { db: await deadPglite, close: async () => {} }
  } else {
    // The Neon driver pointed at a database that does not exist on the server.
    const [{ Pool }, { drizzle }] = await Promise.all([
      import('@neondatabase/serverless'),
      import('drizzle-orm/neon-serverless'),
    ])
    const url = new URL(process.env.DATABASE_URL!)
    url.pathname = '/commerce_health_no_such_database'
    const pool = new Pool({ connectionString: url.toString(), max: 1 })
    pool.on('error', () => undefined)
    down = { db: drizzle({ client: pool, schema }) as unknown as Db, close: () => pool.end() }
  }
  setDatabase(down.db, kind)
  restoreDatabase = async () => {
    await down.close().catch(() => undefined)
    setDatabase(real, kind, () => (kind === 'neon' ? client.end() : client.close()))
  }
}

let staff: string
let customer: string

beforeAll(async () => {
  staff = (await makeUser({ role: 'staff' })).token
  customer = (await makeUser({ role: 'customer' })).token
})

beforeEach(async () => {
  await kv().del(EXTERNAL_CACHE_KEY)
  resetExternalCache()
})

afterEach(async () => {
  setClock(undefined)
  await restoreDatabase?.()
  restoreDatabase = undefined
  restoreEnv()
  // a test that took Redis away may have opened the breaker: the clean-up needs Redis
  resetBreaker()
  await kv().del(EXTERNAL_CACHE_KEY)
  resetExternalCache()
})

const isIsoTimestamp = (s: unknown) => typeof s === 'string' && new Date(s).toISOString() === s

/** No `error` key anywhere in a JSON body. */
const hasNoErrorDetail = (body: unknown) => !JSON.stringify(body).includes('"error"')

// --- /health ------------------------------------------------------------------------------------------

describe('GET /api/v1/health', () => {
  it('answers 200 with status, an ISO timestamp and the version', async () => {
    const before = Date.now()
    const res = await call('GET', '/api/v1/health')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(Object.keys(res.body).sort()).toEqual(['status', 'timestamp', 'version'])
    expect(res.body.status).toBe('healthy')
    expect(res.body.version).toBe(appVersion())
    expect(isIsoTimestamp(res.body.timestamp)).toBe(true)
    expect(Date.parse(res.body.timestamp)).toBeGreaterThanOrEqual(before)
    expect(Date.parse(res.body.timestamp)).toBeLessThanOrEqual(Date.now())
    expect(res.headers.get('x-request-id')).toBeTruthy()
  })

  it('touches no dependency: answers 200 with the database and Redis both unreachable', async () => {
    await takeDatabaseDown()
    redisUnreachable()
    // The dependencies really are down (the detailed check says so)...
    const detailed = await call('GET', '/api/v1/health/detailed')
    expect(detailed.status).toBe(503)
    expect(detailed.body.checks.database.status).toBe('unhealthy')
    expect(detailed.body.checks.redis.status).toBe('unhealthy')
    // ...and liveness does not care.
    const res = await call('GET', '/api/v1/health')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ status: 'healthy', timestamp: expect.any(String), version: appVersion() })
  })

  it('answers HEAD with 200 and no body, and other methods with 405', async () => {
    const head = await call('HEAD', '/api/v1/health')
    expect(head.status).toBe(200)
    expect(head.text).toBe('')
    const post = await call('POST', '/api/v1/health')
    expect(post.status).toBe(405)
    expect(post.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(post.headers.get('allow')).toMatch(/\bGET\b/)
  })

  it('is never rate-limited, while the dependency checks are (policy `health`)', async () => {
    setEnv({ RATE_LIMIT_HEALTH: '2/60' })
    const statuses: number[] = []
    let last: Awaited<ReturnType<typeof call>> | undefined
    for (let i = 0; i < 3; i++) {
      last = await call('GET', '/api/v1/health/database')
      statuses.push(last.status)
    }
    // Under TEST_SERVICES the window in Redis also holds this file's earlier calls.
    if (kv().kind === 'memory') expect(statuses).toEqual([200, 200, 429])
    expect(last!.status).toBe(429)
    expect(last!.body.code).toBe('rate_limited')
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0)
    for (let i = 0; i < 5; i++) expect((await call('GET', '/api/v1/health')).status).toBe(200)
  })

  it('reports APP_VERSION when it is set', async () => {
    setEnv({ APP_VERSION: '9.9.9-health' })
    const res = await call('GET', '/api/v1/health')
    expect(res.body.version).toBe('9.9.9-health')
  })
})

// --- /health/database -----------------------------------------------------------------------------------

describe('GET /api/v1/health/database', () => {
  it('does a round trip and reports latency and an up-to-date migration state', async () => {
    const res = await call('GET', '/api/v1/health/database')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({
      status: 'healthy',
      latency_ms: expect.any(Number),
      migrations: {
        applied: entries.length,
        expected: entries.length,
        pending: 0,
        latest_applied: entries.at(-1)!.tag,
        up_to_date: true,
      },
    })
    expect(res.body.latency_ms).toBeGreaterThanOrEqual(0)
  })

  it('reports pending migrations when the database is behind the journal (and /detailed degrades)', async () => {
    const db = await getDb()
    const saved = (await db.execute(
      sql`select id, hash, created_at from drizzle.__drizzle_migrations`,
    )) as unknown as {
      rows: Array<{ id: number; hash: string; created_at: string | number }>
    }
    expect(saved.rows.length).toBe(entries.length)
    await db.execute(sql`delete from drizzle.__drizzle_migrations`)
    try {
      const res = await call('GET', '/api/v1/health/database')
      expect(res.status).toBe(200)
      expect(res.body.status).toBe('healthy')
      expect(res.body.migrations).toEqual({
        applied: 0,
        expected: entries.length,
        pending: entries.length,
        latest_applied: null,
        up_to_date: false,
      })
      const detailed = await call('GET', '/api/v1/health/detailed')
      expect(detailed.status).toBe(200)
      expect(detailed.body.status).toBe('degraded')
    } finally {
      for (const r of saved.rows) {
        await db.execute(
          sql`insert into drizzle.__drizzle_migrations (id, hash, created_at) values (${r.id}, ${r.hash}, ${r.created_at})`,
        )
      }
    }
    const after = await call('GET', '/api/v1/health/database')
    expect(after.body.migrations.up_to_date).toBe(true)
  })

  it('answers 503 unhealthy with no error detail when the database is unreachable', async () => {
    await takeDatabaseDown()
    const res = await call('GET', '/api/v1/health/database')
    expect(res.status).toBe(503)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(res.body).toEqual({ status: 'unhealthy', latency_ms: expect.any(Number) })
    expect('error' in res.body).toBe(false)
  })

  it('still answers 503 (never 500) when a token is sent while the database is unreachable', async () => {
    await takeDatabaseDown()
    for (const token of [staff, customer, 'not-a-jwt']) {
      const res = await call('GET', '/api/v1/health/database', { token })
      expect(res.status).toBe(503)
      expect(res.body.status).toBe('unhealthy')
    }
  })
})

// --- /health/redis ------------------------------------------------------------------------------------

describe('GET /api/v1/health/redis', () => {
  it('reports not_configured in embedded mode, or a healthy round trip with Upstash', async () => {
    const res = await call('GET', '/api/v1/health/redis')
    expect(res.status).toBe(200)
    if (servicesMode) {
      expect(res.body).toEqual({ status: 'healthy', latency_ms: expect.any(Number) })
      expect(res.body.latency_ms).toBeGreaterThanOrEqual(0)
    } else {
      expect(res.body).toEqual({ status: 'not_configured', latency_ms: null })
    }
  })

  it('answers 503 unhealthy quickly (no 500) when Upstash is unreachable; the reason is for staff only', async () => {
    redisUnreachable()
    const anon = await call('GET', '/api/v1/health/redis')
    expect(anon.status).toBe(503)
    expect(anon.body).toEqual({ status: 'unhealthy', latency_ms: expect.any(Number) })
    // Refused at once, well before the client's own 2 s abort.
    expect(anon.body.latency_ms).toBeLessThan(2000)

    const asCustomer = await call('GET', '/api/v1/health/redis', { token: customer })
    expect(asCustomer.status).toBe(503)
    expect('error' in asCustomer.body).toBe(false)

    // Sessions are verified against Postgres when the cache is down, so staff still get the details.
    const asStaff = await call('GET', '/api/v1/health/redis', { token: staff })
    expect(asStaff.status).toBe(503)
    expect(asStaff.body.status).toBe('unhealthy')
    expect(asStaff.body.error).toEqual(expect.any(String))
    expect(asStaff.body.error.length).toBeGreaterThan(0)
  })
})

// --- /health/external -----------------------------------------------------------------------------------

describe('GET /api/v1/health/external', () => {
  it('reports all three as not_configured without keys, and calls nobody', async () => {
    const res = await call('GET', '/api/v1/health/external')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({
      stripe: { status: 'not_configured', latency_ms: null },
      shippo: { status: 'not_configured', latency_ms: null },
      resend: { status: 'not_configured', latency_ms: null },
      checked_at: expect.any(String),
    })
    expect(isIsoTimestamp(res.body.checked_at)).toBe(true)
    expect(outbound()).toEqual([])
  })

  it('reports each service reachable with a latency when its key is accepted', async () => {
    allKeys()
    const res = await call('GET', '/api/v1/health/external')
    expect(res.status).toBe(200)
    for (const name of ['stripe', 'shippo', 'resend'] as const) {
      expect(res.body[name]).toEqual({ status: 'reachable', latency_ms: expect.any(Number) })
      expect(res.body[name].latency_ms).toBeGreaterThanOrEqual(0)
    }
    // One request each, authenticated the way each provider expects.
    expect(outbound().map((r) => [r.service, r.method, r.authorization])).toEqual(
      expect.arrayContaining([
        ['stripe', 'GET', `Bearer ${KEYS.stripe}`],
        ['shippo', 'GET', `ShippoToken ${KEYS.shippo}`],
        ['resend', 'GET', `Bearer ${KEYS.resend}`],
      ]),
    )
    expect(outbound()).toHaveLength(3)
  })

  it('only checks the services that are configured', async () => {
    setEnv({ STRIPE_SECRET_KEY: KEYS.stripe })
    const res = await call('GET', '/api/v1/health/external')
    expect(res.body.stripe.status).toBe('reachable')
    expect(res.body.shippo).toEqual({ status: 'not_configured', latency_ms: null })
    expect(res.body.resend).toEqual({ status: 'not_configured', latency_ms: null })
    expect(outbound().map((r) => r.service)).toEqual(['stripe'])
  })

  it('reports Stripe answering 401 as unreachable; the HTTP status is shown to staff only', async () => {
    allKeys()
    setEnv({ STRIPE_SECRET_KEY: 'sk_test_revoked0000000000000000000' })

    const anon = await call('GET', '/api/v1/health/external')
    expect(anon.status).toBe(200)
    expect(anon.body.stripe).toEqual({ status: 'unreachable', latency_ms: expect.any(Number) })
    expect(anon.body.shippo.status).toBe('reachable')
    expect(anon.body.resend.status).toBe('reachable')
    expect(hasNoErrorDetail(anon.body)).toBe(true)

    const asCustomer = await call('GET', '/api/v1/health/external', { token: customer })
    expect(asCustomer.status).toBe(200)
    expect(asCustomer.body.stripe.status).toBe('unreachable')
    expect(hasNoErrorDetail(asCustomer.body)).toBe(true)

    // A bad token on an optional-auth route is ignored, not rewarded.
    const badToken = await call('GET', '/api/v1/health/external', { token: 'forged.token.value' })
    expect(badToken.status).toBe(200)
    expect(hasNoErrorDetail(badToken.body)).toBe(true)

    const asStaff = await call('GET', '/api/v1/health/external', { token: staff })
    expect(asStaff.status).toBe(200)
    expect(asStaff.body.stripe).toEqual({
      status: 'unreachable',
      latency_ms: expect.any(Number),
      error: 'HTTP 401',
    })
    expect(asStaff.body.shippo).toEqual({ status: 'reachable', latency_ms: expect.any(Number) })
  })

  it('counts a sending-only Resend key (401 restricted_api_key) as reachable', async () => {
    setEnv({ RESEND_API_KEY: KEYS.resendSendingOnly })
    const res = await call('GET', '/api/v1/health/external', { token: staff })
    expect(res.body.resend).toEqual({ status: 'reachable', latency_ms: expect.any(Number) })
    expect(outbound('resend')).toHaveLength(1)
  })

  it('reports an invalid Resend key (401 validation_error) as unreachable', async () => {
    setEnv({ RESEND_API_KEY: 're_Health00_Deleted00000000000000' })
    const res = await call('GET', '/api/v1/health/external', { token: staff })
    expect(res.body.resend).toEqual({
      status: 'unreachable',
      latency_ms: expect.any(Number),
      error: 'HTTP 401',
    })
  })

  it('reports an invalid Shippo token as unreachable', async () => {
    setEnv({ SHIPPO_API_KEY: 'shippo_test_wrong' })
    const res = await call('GET', '/api/v1/health/external', { token: staff })
    expect(res.body.shippo).toEqual({
      status: 'unreachable',
      latency_ms: expect.any(Number),
      error: 'HTTP 401',
    })
  })

  it('reports a provider 5xx as unreachable', async () => {
    allKeys()
    server.use(serverError('shippo', 503))
    const res = await call('GET', '/api/v1/health/external', { token: staff })
    expect(res.status).toBe(200)
    expect(res.body.shippo).toEqual({
      status: 'unreachable',
      latency_ms: expect.any(Number),
      error: 'HTTP 503',
    })
    expect(res.body.stripe.status).toBe('reachable')
  })

  it('reports a network error as unreachable without failing the request', async () => {
    allKeys()
    server.use(networkError('stripe'))
    const anon = await call('GET', '/api/v1/health/external')
    expect(anon.status).toBe(200)
    expect(anon.body.stripe).toEqual({ status: 'unreachable', latency_ms: expect.any(Number) })
    const asStaff = await call('GET', '/api/v1/health/external', { token: staff })
    expect(asStaff.body.stripe.error).toEqual(expect.any(String))
    expect(asStaff.body.stripe.error.length).toBeGreaterThan(0)
  })

  it('gives up on a provider that never answers (short timeout) and reports it unreachable', async () => {
    allKeys()
    server.use(hangs('resend'))
    const res = await call('GET', '/api/v1/health/external', { token: staff })
    expect(res.status).toBe(200)
    expect(res.body.resend.status).toBe('unreachable')
    expect(res.body.resend.error).toMatch(/timeout|abort/i)
    expect(res.body.stripe.status).toBe('reachable')
    expect(res.body.shippo.status).toBe('reachable')
  })

  it('caches the results for 60 s: repeated calls make no new outbound request', async () => {
    allKeys()
    const start = Date.now()
    setClock(() => start)
    const first = await call('GET', '/api/v1/health/external')
    expect(outbound()).toHaveLength(3)

    setClock(() => start + 30_000)
    const second = await call('GET', '/api/v1/health/external')
    const third = await call('GET', '/api/v1/health/external', { token: staff })
    expect(outbound()).toHaveLength(3)
    expect(second.body).toEqual(first.body)
    expect(third.body.checked_at).toBe(first.body.checked_at)

    if (kv().kind === 'memory') {
      // The in-process store expires on the shop's clock.
      setClock(() => start + 59_000)
      await call('GET', '/api/v1/health/external')
      expect(outbound()).toHaveLength(3)
      setClock(() => start + 61_000)
    } else {
      // Redis expires in real time: the key carries a TTL of at most 60 s; drop it to skip the wait.
      const ttl = await upstashClient()!.ttl(`${env().REDIS_PREFIX}${EXTERNAL_CACHE_KEY}`)
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(60)
      await kv().del(EXTERNAL_CACHE_KEY)
      resetExternalCache()
    }
    const fresh = await call('GET', '/api/v1/health/external')
    expect(outbound()).toHaveLength(6)
    expect(fresh.body.checked_at).not.toBe(first.body.checked_at)
  })

  it('still shields the providers when Redis is unreachable (no outbound requests per call)', async () => {
    allKeys()
    redisUnreachable()
    const first = await call('GET', '/api/v1/health/external')
    expect(first.status).toBe(200)
    expect(first.body.stripe.status).toBe('reachable')
    expect(outbound()).toHaveLength(3)
    // Rate limits fail open without Redis, so the 60 s cache is the only thing between anonymous
    // traffic and Stripe/Shippo/Resend.
    await call('GET', '/api/v1/health/external')
    await call('GET', '/api/v1/health/external')
    expect(outbound()).toHaveLength(3)
  })

  it('serves the cached failure to everyone, with the reason still for staff only', async () => {
    setEnv({ STRIPE_SECRET_KEY: 'sk_test_revoked0000000000000000000' })
    await call('GET', '/api/v1/health/external', { token: staff })
    const anon = await call('GET', '/api/v1/health/external')
    expect(outbound()).toHaveLength(1)
    expect(anon.body.stripe.status).toBe('unreachable')
    expect(hasNoErrorDetail(anon.body)).toBe(true)
  })
})

// --- /health/detailed -----------------------------------------------------------------------------------

describe('GET /api/v1/health/detailed', () => {
  it('is healthy with every dependency, its status and latency', async () => {
    const res = await call('GET', '/api/v1/health/detailed')
    expect(res.status).toBe(200)
    expect(res.body.status).toBe('healthy')
    expect(res.body.version).toBe(appVersion())
    expect(isIsoTimestamp(res.body.timestamp)).toBe(true)
    expect(Object.keys(res.body.checks).sort()).toEqual(['database', 'external', 'redis'])
    expect(res.body.checks.database).toMatchObject({
      status: 'healthy',
      latency_ms: expect.any(Number),
      migrations: { pending: 0, up_to_date: true, expected: entries.length },
    })
    expect(res.body.checks.redis).toEqual(
      servicesMode
        ? { status: 'healthy', latency_ms: expect.any(Number) }
        : { status: 'not_configured', latency_ms: null },
    )
    expect(res.body.checks.external).toMatchObject({
      stripe: { status: 'not_configured' },
      shippo: { status: 'not_configured' },
      resend: { status: 'not_configured' },
    })
  })

  it('is healthy when the outside services are configured and reachable', async () => {
    allKeys()
    const res = await call('GET', '/api/v1/health/detailed')
    expect(res.status).toBe(200)
    expect(res.body.status).toBe('healthy')
    expect(res.body.checks.external).toMatchObject({
      stripe: { status: 'reachable' },
      shippo: { status: 'reachable' },
      resend: { status: 'reachable' },
    })
  })

  it('is degraded (200) when an outside service is unreachable; details for staff only', async () => {
    allKeys()
    server.use(networkError('stripe'))
    const anon = await call('GET', '/api/v1/health/detailed')
    expect(anon.status).toBe(200)
    expect(anon.body.status).toBe('degraded')
    expect(anon.body.checks.external.stripe.status).toBe('unreachable')
    expect(hasNoErrorDetail(anon.body)).toBe(true)

    const asStaff = await call('GET', '/api/v1/health/detailed', { token: staff })
    expect(asStaff.body.status).toBe('degraded')
    expect(asStaff.body.checks.external.stripe.error).toEqual(expect.any(String))
  })

  it('is degraded (200) when Redis is configured but unreachable', async () => {
    redisUnreachable()
    const res = await call('GET', '/api/v1/health/detailed')
    expect(res.status).toBe(200)
    expect(res.body.status).toBe('degraded')
    expect(res.body.checks.redis.status).toBe('unhealthy')
    expect(res.body.checks.database.status).toBe('healthy')
  })

  it('is unhealthy with 503 when the database is unreachable', async () => {
    await takeDatabaseDown()
    const res = await call('GET', '/api/v1/health/detailed')
    expect(res.status).toBe(503)
    expect(res.body.status).toBe('unhealthy')
    expect(res.body.checks.database).toEqual({ status: 'unhealthy', latency_ms: expect.any(Number) })
    expect(res.body.version).toBe(appVersion())
    expect(isIsoTimestamp(res.body.timestamp)).toBe(true)
    expect(hasNoErrorDetail(res.body)).toBe(true)
  })
})
