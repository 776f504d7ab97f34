import { readFileSync } from 'node:fs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import * as schema from '../../db/schema/index.js'
import { toOpenApiPath } from '../../lib/http/path.js'
import { METHODS, type RouteFile } from '../../lib/http/router.js'
import { resetExternalCache } from '../../lib/monitoring/health.js'
import { generateOpenApi, OPENAPI_FILE, serialise } from '../../lib/openapi/document.js'
import { type Db, driverKind, getDb, pgliteExtensions, setDatabase } from '../../lib/platform/db.js'
import { appVersion, resetEnv } from '../../lib/platform/env.js'
import { recordRequest } from '../../lib/platform/metrics.js'
import { kv, resetKv } from '../../lib/platform/redis.js'
import { allRoutes, call } from '../support/http.js'
import { KEYS, networkError, outbound, useMsw } from '../support/msw.js'
import { servicesMode } from '../support/services.js'

// docs/monitoring.md: /status (status-page data) and the OpenAPI document of every route.

const server = useMsw()

const EXTERNAL_CACHE_KEY = 'health:external'
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

let restoreDatabase: (() => Promise<void>) | undefined

/** A real driver that cannot reach its database (see tests/api/health.test.ts). */
async function takeDatabaseDown(): Promise<void> {
  const real = await getDb()
  const kind = await driverKind()
  const client = (real as unknown as { $client: { end(): Promise<void>; close(): Promise<void> } }).$client
  let down: { db: Db; close: () => Promise<void> }
  if (kind === 'pglite') {
    const [{ PGlite }, { drizzle }] = await Promise.all([
      import('@electric-sql/pglite'),
      import('drizzle-orm/pglite'),
    ])
    const dead = new PGlite({ extensions: await pgliteExtensions() })
    await dead.close()
    down = { db: drizzle({ client: dead, schema }) as unknown as Db, close: async () => {} }
  } else {
    const [{ Pool }, { drizzle }] = await Promise.all([
      import('@neondatabase/serverless'),
      import('drizzle-orm/neon-serverless'),
    ])
    const url = new URL(process.env.DATABASE_URL!)
    url.pathname = '/commerce_status_no_such_database'
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

beforeEach(async () => {
  await kv().del(EXTERNAL_CACHE_KEY)
  resetExternalCache()
})

afterEach(async () => {
  await restoreDatabase?.()
  restoreDatabase = undefined
  for (const [k, v] of savedEnv) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  savedEnv.clear()
  resetEnv()
  resetKv()
  await kv().del(EXTERNAL_CACHE_KEY)
  resetExternalCache()
})

const component = (body: { components: Array<{ name: string }> }, name: string) =>
  body.components.find((c) => c.name === name)

// --- /status --------------------------------------------------------------------------------------------

describe('GET /api/v1/status', () => {
  it('lists the components with their statuses, the version and the uptime', async () => {
    const res = await call('GET', '/api/v1/status')
    expect(res.status).toBe(200)
    expect(res.body.status).toBe('operational')
    expect(res.body.version).toBe(appVersion())
    expect(Number.isInteger(res.body.uptime_seconds)).toBe(true)
    expect(res.body.uptime_seconds).toBeGreaterThanOrEqual(0)
    expect(new Date(res.body.started_at).toISOString()).toBe(res.body.started_at)
    expect(Date.parse(res.body.started_at)).toBeLessThanOrEqual(Date.now())
    expect(res.body.components.map((c: { name: string }) => c.name)).toEqual([
      'api',
      'database',
      'cache',
      'payments',
      'shipping',
      'email',
    ])
    expect(component(res.body, 'api')).toEqual({ name: 'api', status: 'operational', latency_ms: null })
    expect(component(res.body, 'database')).toEqual({
      name: 'database',
      status: 'operational',
      latency_ms: expect.any(Number),
    })
    expect(component(res.body, 'cache')).toEqual(
      servicesMode
        ? { name: 'cache', status: 'operational', latency_ms: expect.any(Number) }
        : { name: 'cache', status: 'not_configured', latency_ms: null },
    )
    for (const name of ['payments', 'shipping', 'email']) {
      expect(component(res.body, name)).toEqual({ name, status: 'not_configured', latency_ms: null })
    }
    expect(res.body.incidents).toEqual([])
    expect(Array.isArray(res.body.recent_errors)).toBe(true)
  })

  it('reports configured, reachable outside services as operational with no incident', async () => {
    setEnv({ STRIPE_SECRET_KEY: KEYS.stripe, SHIPPO_API_KEY: KEYS.shippo, RESEND_API_KEY: KEYS.resend })
    const res = await call('GET', '/api/v1/status')
    expect(res.body.status).toBe('operational')
    for (const name of ['payments', 'shipping', 'email']) {
      expect(component(res.body, name)).toEqual({
        name,
        status: 'operational',
        latency_ms: expect.any(Number),
      })
    }
    expect(res.body.incidents).toEqual([])
    expect(outbound()).toHaveLength(3)
  })

  it('lists payments as an incident when Stripe is unreachable', async () => {
    setEnv({ STRIPE_SECRET_KEY: KEYS.stripe, SHIPPO_API_KEY: KEYS.shippo, RESEND_API_KEY: KEYS.resend })
    server.use(networkError('stripe'))
    const res = await call('GET', '/api/v1/status')
    expect(res.status).toBe(200)
    expect(res.body.status).toBe('degraded')
    expect(component(res.body, 'payments')).toMatchObject({ status: 'outage' })
    expect(component(res.body, 'shipping')).toMatchObject({ status: 'operational' })
    expect(res.body.incidents).toEqual([
      { component: 'payments', status: 'outage', since: expect.any(String) },
    ])
    expect(new Date(res.body.incidents[0].since).toISOString()).toBe(res.body.incidents[0].since)
    // Public data: the reason stays private.
    expect(JSON.stringify(res.body)).not.toContain('"error"')
  })

  it('reports an outage of the database', async () => {
    await takeDatabaseDown()
    const res = await call('GET', '/api/v1/status')
    expect(res.status).toBe(200)
    expect(res.body.status).toBe('outage')
    expect(component(res.body, 'database')).toMatchObject({ status: 'outage' })
    expect(res.body.incidents).toEqual([expect.objectContaining({ component: 'database', status: 'outage' })])
  })

  it('lists a recorded 5xx in recent_errors, newest first', async () => {
    await recordRequest('/api/v1/x', 'GET', 500, 3, 'req_test')
    await recordRequest('/api/v1/y', 'POST', 503, 7, 'req_test_2')
    await recordRequest('/api/v1/z', 'GET', 404, 1, 'req_not_an_error')
    const res = await call('GET', '/api/v1/status')
    expect(res.body.recent_errors.slice(0, 2)).toEqual([
      { at: expect.any(String), method: 'POST', route: '/api/v1/y', status: 503, request_id: 'req_test_2' },
      { at: expect.any(String), method: 'GET', route: '/api/v1/x', status: 500, request_id: 'req_test' },
    ])
    expect(
      res.body.recent_errors.some((e: { request_id: string }) => e.request_id === 'req_not_an_error'),
    ).toBe(false)
    expect(new Date(res.body.recent_errors[0].at).toISOString()).toBe(res.body.recent_errors[0].at)
  })

  it('keeps at most 10 recent errors in the answer', async () => {
    for (let i = 0; i < 12; i++) await recordRequest('/api/v1/x', 'GET', 500, 1, `req_many_${i}`)
    const res = await call('GET', '/api/v1/status')
    expect(res.body.recent_errors).toHaveLength(10)
    expect(res.body.recent_errors[0].request_id).toBe('req_many_11')
  })
})

// --- /openapi.json --------------------------------------------------------------------------------------

describe('GET /api/v1/openapi.json', () => {
  it('serves an OpenAPI 3.1 document as JSON', async () => {
    const res = await call('GET', '/api/v1/openapi.json')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(res.body.openapi).toBe('3.1.0')
    expect(res.body.info).toMatchObject({ title: expect.any(String), version: expect.any(String) })
    expect(res.body.components.schemas.Problem).toBeDefined()
  })

  /** The operations of a route file: its handlers built by route() (405/HEAD/OPTIONS fallbacks have no spec). */
  const operations = (r: RouteFile) =>
    METHODS.flatMap((method) => {
      const h = r.module[method] as
        | (((req: Request) => Promise<Response>) & { spec?: { path: string } })
        | undefined
      return h?.spec ? [{ method, spec: h.spec }] : []
    })

  it('lists every route file with each of its methods', async () => {
    const doc = (await call('GET', '/api/v1/openapi.json')).body
    const routes = await allRoutes()
    const missing: string[] = []
    for (const r of routes) {
      for (const { method } of operations(r)) {
        if (!doc.paths[toOpenApiPath(r.path)]?.[method.toLowerCase()]) missing.push(`${method} ${r.path}`)
      }
    }
    expect(routes.flatMap(operations).length).toBeGreaterThanOrEqual(8)
    expect(missing, 'routes missing from the served document: run npm run openapi').toEqual([])
    // Nothing documented that no file serves.
    const served = new Set(
      routes.flatMap((r) => operations(r).map((o) => `${o.method} ${toOpenApiPath(r.path)}`)),
    )
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(
      ([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    )
    expect(documented.filter((d) => !served.has(d))).toEqual([])
  })

  it('builds every versioned API file with route(), declaring the path of its own file', async () => {
    const wrong: string[] = []
    for (const r of await allRoutes()) {
      const ops = operations(r)
      if (ops.length === 0 && r.file.startsWith('api/v1/')) wrong.push(`${r.file}: no route() handler`)
      for (const { method, spec } of ops) {
        if (spec.path !== r.path) wrong.push(`${r.file} ${method}: declares ${spec.path}`)
      }
    }
    expect(wrong).toEqual([])
  })

  it('is up to date: the committed document has the content of a freshly generated one', async () => {
    const committed = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'))
    const fresh = JSON.parse(serialise(await generateOpenApi()))
    expect(committed, 'lib/openapi/openapi.json is stale: run npm run openapi').toEqual(fresh)
    const served = (await call('GET', '/api/v1/openapi.json')).body
    expect(served).toEqual(committed)
  })

  it('is committed byte for byte as `npm run openapi` writes it', async () => {
    const committed = readFileSync(OPENAPI_FILE, 'utf8')
    const fresh = serialise(await generateOpenApi())
    expect(
      committed,
      'lib/openapi/openapi.json is not what the generator writes: run npm run openapi ' +
        '(and keep the file out of formatters, or the next format run rewrites it)',
    ).toBe(fresh)
  })
})
