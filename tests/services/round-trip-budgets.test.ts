import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { flushBackground } from '../../lib/platform/background.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { resetRateLimits } from '../../lib/platform/ratelimit.js'
import { resetKv } from '../../lib/platform/redis.js'
import { makeCategory, makeProduct, makeUser } from '../support/factories.js'
import { request } from '../support/http.js'
import { TEST_REDIS_URL } from '../support/services.js'
import { countStatements } from '../support/statements.js'
import { startUpstashProxy, type UpstashProxy } from '../support/upstash-proxy.js'

// Issue #10's round-trip budgets, counted on the real PostgreSQL (Neon driver) and the real Redis (Upstash
// client): SQL statements at the driver (tests/support/statements.ts), Redis round trips as the HTTP
// requests reaching an Upstash proxy of this file's own (tests/support/upstash-proxy.ts, recording).
// "Before the response" is what has reached Redis when the handler's Response is in hand; work after the
// response (metrics, a session-cache fill) is counted apart. The rate limit (@upstash/ratelimit) and the
// session read are two requests sent together (ADR 011): "no request waits for another" is counted on the
// proxy's event order (each started before the other ended), with the proxy holding its replies until
// both have arrived, so the proof does not depend on how fast Redis answers. Order creation's budget (one transaction whose
// statement count does not grow with its lines) is tests/services/orders-checkout.test.ts, "order creation
// sends the same number of statements for 1 and 20 lines".

let proxy: UpstashProxy
const saved: Record<string, string | undefined> = {}
const setEnv = (vars: Record<string, string | undefined>) => {
  for (const [k, v] of Object.entries(vars)) {
    if (!(k in saved)) saved[k] = process.env[k]
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  resetEnv()
  resetKv()
}

beforeAll(async () => {
  proxy = await startUpstashProxy({ redisUrl: TEST_REDIS_URL, record: true })
})

afterAll(async () => {
  await proxy.close()
})

beforeEach(() => {
  setEnv({
    UPSTASH_REDIS_REST_URL: proxy.url,
    UPSTASH_REDIS_REST_TOKEN: proxy.token,
    RATE_LIMIT_DEFAULT: '100000/60',
  })
})

afterEach(async () => {
  await flushBackground()
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
    delete saved[k]
  }
  resetEnv()
  resetKv()
  resetRateLimits()
})

interface Counted {
  status: number
  body: string
  /** Redis round trips before the response, each the commands of one request. */
  before: string[][]
  /** Their spans on the proxy's event counter, in the same order. */
  beforeSpans: UpstashProxy['spans']
  /** Redis round trips after it (background work), once it has settled. */
  after: string[][]
  statements: number
  texts: string[]
}

/**
 * One in-process request with its statements and its Redis round trips before and after the response.
 * `together`: the proxy holds its replies until that many requests are in flight at once (at most 500 ms).
 */
async function counted(path: string, token?: string, together?: number): Promise<Counted> {
  await flushBackground()
  proxy.requests.length = 0
  proxy.spans.length = 0
  const db = await getDb()
  let before: string[][] = []
  let beforeSpans: UpstashProxy['spans'] = []
  if (together) proxy.holdUntilConcurrent(together)
  const { result, statements, texts } = await countStatements(db, async () => {
    const res = await request('GET', path, { token })
    // The handler has answered: whatever reached Redis so far was awaited before the response.
    before = proxy.requests.slice()
    beforeSpans = proxy.spans.slice()
    return { status: res.status, body: await res.text() }
  })
  await flushBackground()
  return { ...result, before, beforeSpans, after: proxy.requests.slice(before.length), statements, texts }
}

/** Each request started before every other one ended: none waited for another's answer. */
function overlapping(spans: UpstashProxy['spans']): boolean {
  return spans.every((a, i) => spans.every((b, j) => i === j || (b.end !== undefined && a.start < b.end)))
}

/** The commands of each request, in a stable order (requests sent together arrive in either order). */
const sorted = (requests: string[][]) => requests.map((r) => r.join(' ')).sort()

describe('product by id', () => {
  it('is one SQL statement and one Redis request (the rate limit), by id and by slug', async () => {
    const category = await makeCategory()
    const p = await makeProduct({
      category_id: category.id,
      variants: [
        { sku: `B-${p8()}`, option1: 'S', price: 10 },
        { sku: `B-${p8()}`, option1: 'M', price: 12 },
      ],
    })
    await counted(`/api/v1/products/${p.id}`) // loads the rate-limit script into Redis (EVAL on NOSCRIPT)
    for (const key of [p.id, p.slug]) {
      const r = await counted(`/api/v1/products/${key}`)
      expect(r.status, r.body).toBe(200)
      expect(JSON.parse(r.body).variants).toHaveLength(2)
      expect(r.statements, r.texts.join('\n---\n')).toBe(1)
      expect(r.before).toEqual([['EVALSHA']])
    }
  })

  it('is one statement for staff too (the principal comes from the warm session cache)', async () => {
    const staff = await makeUser({ role: 'staff' })
    const p = await makeProduct()
    await counted(`/api/v1/products/${p.id}`, staff.token) // warms the session cache
    const r = await counted(`/api/v1/products/${p.id}`, staff.token, 2)
    expect(r.status, r.body).toBe(200)
    expect(JSON.parse(r.body).cost_price).toBeDefined()
    expect(r.statements, r.texts.join('\n---\n')).toBe(1)
    expect(sorted(r.before)).toEqual(['EVALSHA', 'GET'])
    expect(overlapping(r.beforeSpans)).toBe(true)
  })
})

describe('product list and search', () => {
  it('answer a category and price filter, and a text search, in at most 2 statements each', async () => {
    const category = await makeCategory()
    const word = `budget${p8()}`
    for (let i = 0; i < 3; i++) {
      await makeProduct({
        name: `Merino ${word} ${i}`,
        category_id: category.id,
        price: 20 + i * 10,
        variants: [{ sku: `L-${p8()}`, option1: 'S' }],
      })
    }
    const list = await counted(
      `/api/v1/products?category=${category.slug}&min_price=15&max_price=60&limit=24`,
    )
    expect(list.status, list.body).toBe(200)
    expect(JSON.parse(list.body).products).toHaveLength(3)
    expect(list.statements, list.texts.join('\n---\n')).toBeLessThanOrEqual(2)

    const search = await counted(`/api/v1/products?search=${word}&limit=24`)
    expect(search.status, search.body).toBe(200)
    expect(JSON.parse(search.body).products).toHaveLength(3)
    expect(search.statements, search.texts.join('\n---\n')).toBeLessThanOrEqual(2)
  })
})

describe('the default list page with its total (ADR 018)', () => {
  it('is one statement and one Redis read (MGET of count and version) on a warm count cache; two statements on a cold one, the count stored after the response', async () => {
    const p = await makeProduct() // a catalog write: a new count version, so the first list is cold
    await counted(`/api/v1/products/${p.id}`) // loads the rate-limit script into Redis
    const cold = await counted('/api/v1/products?limit=24')
    expect(cold.status, cold.body).toBe(200)
    expect(JSON.parse(cold.body).pagination.total).toBeGreaterThan(0)
    expect(cold.statements, cold.texts.join('\n---\n')).toBe(2)
    expect(sorted(cold.before)).toEqual(['EVALSHA', 'MGET'])
    expect(cold.after.flat()).toContain('SET')

    const warm = await counted('/api/v1/products?limit=24')
    expect(JSON.parse(warm.body).pagination).toEqual(JSON.parse(cold.body).pagination)
    expect(warm.statements, warm.texts.join('\n---\n')).toBe(1)
    expect(sorted(warm.before)).toEqual(['EVALSHA', 'MGET'])
    expect(warm.after.flat()).not.toContain('SET')
  })
})

describe('an authenticated request', () => {
  it('GET /auth/me on a warm session cache: the limit and the session read sent together, no Redis request waiting for another; one statement', async () => {
    const { user, token } = await makeUser()
    await counted('/api/v1/auth/me', token) // cache miss: fills the session cache after the response
    const r = await counted('/api/v1/auth/me', token, 2)
    expect(r.status, r.body).toBe(200)
    expect(JSON.parse(r.body).id).toBe(user.id)
    // The rate limit (@upstash/ratelimit's script) and the session state: two requests, in flight together.
    expect(sorted(r.before)).toEqual(['EVALSHA', 'GET'])
    expect(overlapping(r.beforeSpans)).toBe(true)
    // Nothing but the profile read: the session state came from Redis.
    expect(r.statements, r.texts.join('\n---\n')).toBe(1)
  })

  it('on a cold cache: still no Redis request waiting for another before the response; the fill comes after it', async () => {
    const { token } = await makeUser()
    await counted('/api/v1/health') // the rate-limit script is loaded
    const r = await counted('/api/v1/auth/me', token, 2)
    expect(r.status, r.body).toBe(200)
    expect(sorted(r.before)).toEqual(['EVALSHA', 'GET'])
    expect(overlapping(r.beforeSpans)).toBe(true)
    expect(r.statements).toBe(2) // the session state, then the profile
    expect(r.after.flat()).toContain('SET')
  })

  it('a caller refused by the limit gets its next 429s from memory: no Redis request, no session read', async () => {
    const { token } = await makeUser()
    // A window of its own: earlier tests counted this caller's address under the same policy.
    setEnv({ RATE_LIMIT_DEFAULT: '1/60', REDIS_PREFIX: `budget:${p8()}:` })
    expect((await counted('/api/v1/auth/me', token)).status).toBe(200)
    expect((await counted('/api/v1/auth/me', token)).status).toBe(429) // Redis says no, remembered
    const r = await counted('/api/v1/auth/me', token)
    expect(r.status).toBe(429)
    expect(r.before).toEqual([])
  })
})

describe('an anonymous request', () => {
  it('makes one Redis request before the response (the rate limit), none with limits off', async () => {
    const p = await makeProduct()
    await counted(`/api/v1/products/${p.id}`)
    expect((await counted(`/api/v1/products/${p.id}`)).before).toEqual([['EVALSHA']])

    setEnv({ RATE_LIMITS: 'off' })
    const off = await counted(`/api/v1/products/${p.id}`)
    expect(off.status, off.body).toBe(200)
    expect(off.before).toEqual([])
  })
})

const p8 = () => Math.random().toString(36).slice(2, 10)
