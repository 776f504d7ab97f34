import { randomUUID } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { setSocketAddress } from '../../lib/http/client.js'
import { ProblemError } from '../../lib/http/errors.js'
import { type Handler, json, type RouteSpec, route } from '../../lib/http/route.js'
import { flushBackground } from '../../lib/platform/background.js'
import { setClock } from '../../lib/platform/clock.js'
import { ConfigError, env, resetEnv } from '../../lib/platform/env.js'
import { resetRateLimits } from '../../lib/platform/ratelimit.js'
import { resetKv } from '../../lib/platform/redis.js'

// route() on small inline routes, called the way Vercel calls them: with a Web Request.

interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code: string
  request_id: string
  errors?: Array<{ path: string; message: string; code: string }>
  [k: string]: unknown
}

const THING = '/api/v1/things/[thing_id]'
const REQUIRED = [
  'DATABASE_URL',
  'JWT_SECRET',
  'UPSTASH_REDIS_REST_URL',
  'UPSTASH_REDIS_REST_TOKEN',
  'CRON_SECRET',
  'MFA_ENCRYPTION_KEY',
  'ORDER_TOKEN_SECRET',
]

let saved: Record<string, string | undefined>

beforeEach(() => {
  saved = { ...process.env }
})

afterEach(async () => {
  // Metrics are written after the response: let them finish under the environment they started in.
  await flushBackground()
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
  Object.assign(process.env, saved)
  setClock(undefined)
  resetEnv()
  resetKv()
  resetRateLimits()
})

const base = { summary: 'test route', tags: ['test'], auth: 'public' } as const

function thingRoute(over: Partial<RouteSpec> = {}, handler?: Parameters<typeof route>[1]): Handler {
  return route(
    { ...base, path: THING, ...over },
    handler ?? (async ({ params, query, body }) => json({ params, query, body })),
  )
}

/**
 * A request from its own client address, so rate-limit windows (kept in Redis in services mode)
 * never carry over between tests.
 */
function req(path: string, init: RequestInit = {}, ip: string = randomUUID()): Request {
  const r = new Request(new URL(path, 'http://localhost'), init)
  setSocketAddress(r, ip)
  return r
}

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  req(path, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } })

async function problem(res: Response): Promise<Problem> {
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  const body = (await res.json()) as Problem
  expect(body.status).toBe(res.status)
  expect(body.request_id).toBe(res.headers.get('x-request-id'))
  expect(body.type).toBe(`urn:commerce-api:problem:${body.code}`)
  return body
}

/** An endless body that records how much of it was pulled and whether it was cancelled. */
function endlessBody(chunkBytes = 1024) {
  const seen = { bytes: 0, cancelled: false }
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      seen.bytes += chunkBytes
      controller.enqueue(new TextEncoder().encode(' '.repeat(chunkBytes)))
    },
    cancel() {
      seen.cancelled = true
    },
  })
  return { stream, seen }
}

function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  resetEnv()
  resetKv()
}

describe('every response', () => {
  it('carries an x-request-id header, a fresh one per request', async () => {
    const GET = thingRoute()
    const a = await GET(req('/api/v1/things/a'))
    const b = await GET(req('/api/v1/things/b'))
    expect(a.status).toBe(200)
    expect(a.headers.get('x-request-id')).toMatch(/^req_[\w-]+$/)
    expect(b.headers.get('x-request-id')).toMatch(/^req_[\w-]+$/)
    expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'))
  })

  it('puts the same request id into a problem body as into the header', async () => {
    const res = await thingRoute({ params: z.object({ thing_id: z.uuid() }) })(req('/api/v1/things/nope'))
    const body = await problem(res)
    expect(body.request_id).toMatch(/^req_/)
  })

  it('defaults to cache-control: no-store and nosniff', async () => {
    const res = await thingRoute()(req('/api/v1/things/a'))
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
  })

  it('keeps a cache-control the handler chose', async () => {
    const GET = thingRoute({}, async () => json({ ok: true }, 200, { 'cache-control': 'public, max-age=60' }))
    const res = await GET(req('/api/v1/things/a'))
    expect(res.headers.get('cache-control')).toBe('public, max-age=60')
  })

  it('sends no-store on problem responses too', async () => {
    const res = await thingRoute({}, async () => {
      throw new ProblemError(409, 'conflict_here')
    })(req('/api/v1/things/a'))
    expect(res.headers.get('cache-control')).toBe('no-store')
  })

  it('passes a handler redirect through with its Location', async () => {
    const GET = thingRoute({}, async () => Response.redirect('http://localhost/api/v1/elsewhere', 303))
    const res = await GET(req('/api/v1/things/a'))
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('http://localhost/api/v1/elsewhere')
    expect(res.headers.get('x-request-id')).toMatch(/^req_/)
  })
})

describe('path params', () => {
  it('takes them from the path, percent-decoded', async () => {
    const res = await thingRoute()(req('/api/v1/things/a%20b'))
    expect(await res.json()).toMatchObject({ params: { thing_id: 'a b' } })
  })

  it('ignores the ?thing_id= Vercel appends (or a client forges) in favour of the path', async () => {
    const res = await thingRoute()(req('/api/v1/things/from-path?thing_id=from-query'))
    const body = (await res.json()) as { params: unknown; query: unknown }
    expect(body.params).toEqual({ thing_id: 'from-path' })
    expect(body.query).toEqual({})
  })

  it('does not let the appended param fail a strict query schema', async () => {
    const GET = thingRoute({ query: z.strictObject({ expand: z.string().optional() }) })
    const res = await GET(req('/api/v1/things/abc?thing_id=abc&expand=variants'))
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ params: { thing_id: 'abc' }, query: { expand: 'variants' } })
  })

  it('validates params and reports them as params.<name>', async () => {
    const res = await thingRoute({ params: z.object({ thing_id: z.uuid() }) })(
      req('/api/v1/things/not-a-uuid'),
    )
    expect(res.status).toBe(422)
    const body = await problem(res)
    expect(body.code).toBe('validation_failed')
    expect(body.errors).toEqual([
      { path: 'params.thing_id', message: expect.any(String), code: 'invalid_format' },
    ])
  })
})

describe('query validation', () => {
  it('answers 422 with paths prefixed query.', async () => {
    const GET = thingRoute({ query: z.object({ limit: z.coerce.number().int().max(100) }) })
    const res = await GET(req('/api/v1/things/a?limit=500'))
    expect(res.status).toBe(422)
    const body = await problem(res)
    expect(body.errors).toEqual([{ path: 'query.limit', message: expect.any(String), code: 'too_big' }])
  })

  it('hands the handler the parsed, coerced query', async () => {
    const GET = thingRoute({ query: z.object({ limit: z.coerce.number().int().max(100) }) })
    const res = await GET(req('/api/v1/things/a?limit=50'))
    expect(await res.json()).toMatchObject({ query: { limit: 50 } })
  })
})

describe('JSON bodies', () => {
  const Order = z.object({
    items: z.array(z.object({ product_id: z.uuid(), quantity: z.number().int().min(1) })).min(1),
  })
  const POST = thingRoute({ body: Order })

  it('hands the handler the validated body', async () => {
    const item = { product_id: randomUUID(), quantity: 2 }
    const res = await POST(post('/api/v1/things/a', JSON.stringify({ items: [item] })))
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ body: { items: [item] } })
  })

  it('answers 400 malformed_json for a body that is not JSON', async () => {
    const res = await POST(post('/api/v1/things/a', '{"items": [ {'))
    expect(res.status).toBe(400)
    expect((await problem(res)).code).toBe('malformed_json')
  })

  it('answers 415 for a non-JSON content type', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']) {
      const res = await POST(post('/api/v1/things/a', '{"items":[]}', { 'content-type': type }))
      expect(res.status, type).toBe(415)
      expect((await problem(res)).code).toBe('unsupported_media_type')
    }
  })

  it('answers 415 for a body without a content type', async () => {
    const r = req('/api/v1/things/a', { method: 'POST', body: new Blob(['{"items":[]}']) })
    expect(r.headers.get('content-type')).toBeNull()
    const res = await POST(r)
    expect(res.status).toBe(415)
  })

  it('accepts a +json media type and a charset', async () => {
    const body = JSON.stringify({ items: [{ product_id: randomUUID(), quantity: 1 }] })
    for (const type of ['application/json; charset=utf-8', 'application/merge-patch+json']) {
      const res = await POST(post('/api/v1/things/a', body, { 'content-type': type }))
      expect(res.status, type).toBe(200)
    }
  })

  it('answers 422 validation_failed with the dotted path of a nested field', async () => {
    const res = await POST(
      post('/api/v1/things/a', JSON.stringify({ items: [{ product_id: randomUUID(), quantity: 0 }] })),
    )
    expect(res.status).toBe(422)
    const body = await problem(res)
    expect(body.code).toBe('validation_failed')
    expect(body.title).toBe('Unprocessable Content')
    expect(body.errors).toEqual([
      { path: 'items.0.quantity', message: expect.any(String), code: 'too_small' },
    ])
  })

  it('reports every invalid field at once', async () => {
    const res = await POST(
      post(
        '/api/v1/things/a',
        JSON.stringify({ items: [{ product_id: 'x', quantity: 1.5 }, { quantity: 1 }] }),
      ),
    )
    const body = await problem(res)
    expect(body.errors?.map((e) => e.path).sort()).toEqual([
      'items.0.product_id',
      'items.0.quantity',
      'items.1.product_id',
    ])
  })

  it('answers 422, not 500, for an empty body on a route that needs one', async () => {
    const res = await POST(post('/api/v1/things/a', ''))
    expect(res.status).toBe(422)
    expect((await problem(res)).code).toBe('validation_failed')
  })
})

describe('body size', () => {
  beforeEach(() => {
    setEnv({ MAX_BODY_BYTES: '2048' })
    expect(env().MAX_BODY_BYTES).toBe(2048)
  })

  const POST = thingRoute({ body: z.object({ note: z.string() }) })

  it('accepts a body up to MAX_BODY_BYTES', async () => {
    const body = JSON.stringify({ note: 'x'.repeat(2000) })
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(2048)
    const res = await POST(post('/api/v1/things/a', body))
    expect(res.status).toBe(200)
  })

  it('answers 413 problem+json for a declared content-length over MAX_BODY_BYTES without reading it', async () => {
    const { stream, seen } = endlessBody()
    const r = req('/api/v1/things/a', {
      method: 'POST',
      body: stream,
      headers: { 'content-type': 'application/json', 'content-length': '1000000000' },
      duplex: 'half',
    } as RequestInit)
    const res = await POST(r)
    expect(res.status).toBe(413)
    expect((await problem(res)).code).toBe('payload_too_large')
    expect(seen.bytes).toBeLessThanOrEqual(2 * 1024)
  })

  it('answers 413 for a string body over the limit with its content-length', async () => {
    const body = JSON.stringify({ note: 'x'.repeat(3000) })
    const res = await POST(
      post('/api/v1/things/a', body, { 'content-length': String(Buffer.byteLength(body)) }),
    )
    expect(res.status).toBe(413)
    expect((await problem(res)).code).toBe('payload_too_large')
  })

  it('answers 413 for a chunked body without content-length and stops reading it', async () => {
    const { stream, seen } = endlessBody()
    const r = req('/api/v1/things/a', {
      method: 'POST',
      body: stream,
      headers: { 'content-type': 'application/json' },
      duplex: 'half',
    } as RequestInit)
    expect(r.headers.get('content-length')).toBeNull()
    const res = await POST(r)
    expect(res.status).toBe(413)
    expect((await problem(res)).code).toBe('payload_too_large')
    expect(seen.bytes).toBeLessThan(8 * 1024)
    expect(seen.cancelled).toBe(true)
  })

  it('answers 413 when the body is longer than its declared content-length says', async () => {
    const { stream, seen } = endlessBody()
    const r = req('/api/v1/things/a', {
      method: 'POST',
      body: stream,
      headers: { 'content-type': 'application/json', 'content-length': '10' },
      duplex: 'half',
    } as RequestInit)
    const res = await POST(r)
    expect(res.status).toBe(413)
    expect(seen.cancelled).toBe(true)
  })

  it("takes a route's own maxBodyBytes over MAX_BODY_BYTES, in both directions", async () => {
    const big = thingRoute({ body: z.object({ note: z.string() }), maxBodyBytes: 10_000 })
    const small = thingRoute({ body: z.object({ note: z.string() }), maxBodyBytes: 1024 })
    const body = JSON.stringify({ note: 'x'.repeat(5000) })
    expect((await big(post('/api/v1/things/a', body))).status).toBe(200)
    expect((await POST(post('/api/v1/things/a', body))).status).toBe(413)
    const mid = JSON.stringify({ note: 'x'.repeat(1500) })
    expect((await POST(post('/api/v1/things/a', mid))).status).toBe(200)
    const res = await small(post('/api/v1/things/a', mid))
    expect(res.status).toBe(413)
    expect((await problem(res)).detail).toContain('1024 bytes')
    const over = JSON.stringify({ note: 'x'.repeat(10_001) })
    expect((await big(post('/api/v1/things/a', over))).status).toBe(413)
  })

  it('refuses to declare a maxBodyBytes above what Vercel accepts (4.5 MB)', () => {
    expect(() => thingRoute({ body: z.object({}), maxBodyBytes: 4_500_001 })).toThrow(/maxBodyBytes/)
    expect(() => thingRoute({ body: z.object({}), maxBodyBytes: 0 })).toThrow(/maxBodyBytes/)
    expect(() => thingRoute({ body: z.object({}), maxBodyBytes: 4_500_000 })).not.toThrow()
  })
})

describe('CSV bodies', () => {
  const Rows = z.object({ rows: z.array(z.object({ a: z.string().min(1) })).min(1) })
  /** A stand-in parser: one `a` value per line. */
  const lines = (text: string) => ({
    rows: text
      .split('\n')
      .filter(Boolean)
      .map((a) => ({ a })),
  })
  const POST = thingRoute({ body: Rows, csvBody: lines })
  const csv = (body: string, type = 'text/csv; charset=utf-8') =>
    req('/api/v1/things/a', { method: 'POST', body, headers: { 'content-type': type } })

  it('turns a text/csv body into the body shape and validates it like JSON', async () => {
    const res = await POST(csv('x\ny\n'))
    expect(res.status).toBe(200)
    expect(((await res.json()) as { body: unknown }).body).toEqual({ rows: [{ a: 'x' }, { a: 'y' }] })
    const json = await POST(post('/api/v1/things/a', JSON.stringify({ rows: [{ a: 'j' }] })))
    expect(((await json.json()) as { body: unknown }).body).toEqual({ rows: [{ a: 'j' }] })
    const empty = await POST(csv(''))
    expect(empty.status).toBe(422)
    expect((await problem(empty)).errors?.[0]?.path).toBe('rows')
  })

  it('answers 415 naming both types for other content types, and CSV only where the route takes it', async () => {
    const res = await POST(csv('x', 'text/plain'))
    expect(res.status).toBe(415)
    expect((await problem(res)).detail).toBe('Send the body as application/json or text/csv.')
    const jsonOnly = thingRoute({ body: Rows })
    const refused = await jsonOnly(csv('x'))
    expect(refused.status).toBe(415)
    expect((await problem(refused)).detail).toBe('Send the body as application/json.')
  })

  it('passes the ProblemError of a CSV parser through', async () => {
    const strict = thingRoute({
      body: Rows,
      csvBody: () => {
        throw new ProblemError(400, 'malformed_csv', 'Line 2 is broken.')
      },
    })
    const res = await strict(csv('a\n"'))
    expect(res.status).toBe(400)
    expect((await problem(res)).code).toBe('malformed_csv')
  })
})

describe('errors', () => {
  it('answers 500 internal_error for an unexpected error, without its message or stack', async () => {
    const GET = thingRoute({}, async () => {
      throw new Error('password authentication failed for postgres://admin:hunter22@db.internal:5432')
    })
    const res = await GET(req('/api/v1/things/a'))
    expect(res.status).toBe(500)
    const text = await res.clone().text()
    expect(text).not.toMatch(/authentication|hunter22|db\.internal|postgres:/)
    expect(text).not.toMatch(/\bat .+:\d+:\d+/)
    expect(text).not.toContain('stack')
    const body = await problem(res)
    expect(body.code).toBe('internal_error')
    expect(body.title).toBe('Internal Server Error')
  })

  it('answers 500 for a thrown non-Error value too', async () => {
    const GET = thingRoute({}, async () => {
      throw 'a string with a secret: hunter22'
    })
    const res = await GET(req('/api/v1/things/a'))
    expect(res.status).toBe(500)
    expect(await res.clone().text()).not.toContain('hunter22')
    expect((await problem(res)).code).toBe('internal_error')
  })

  it('keeps the status, code, detail, extra fields and headers of a thrown ProblemError', async () => {
    const GET = thingRoute({}, async () => {
      throw new ProblemError(409, 'order_not_cancellable', 'The order has shipped.', {
        headers: { 'x-order-status': 'shipped' },
        order_status: 'shipped',
      })
    })
    const res = await GET(req('/api/v1/things/a'))
    expect(res.status).toBe(409)
    expect(res.headers.get('x-order-status')).toBe('shipped')
    const body = await problem(res)
    expect(body).toMatchObject({
      code: 'order_not_cancellable',
      title: 'Conflict',
      detail: 'The order has shipped.',
      order_status: 'shipped',
    })
    expect(body).not.toHaveProperty('headers')
  })
})

describe('rate limits', () => {
  const limited = () => {
    let calls = 0
    const GET = thingRoute({ rateLimit: 'auth_login' }, async () => {
      calls++
      return json({ ok: true })
    })
    return { GET, calls: () => calls }
  }

  beforeEach(() => {
    process.env.RATE_LIMIT_AUTH_LOGIN = '2/60'
  })

  it('sends RateLimit headers on allowed responses, counting down', async () => {
    const { GET } = limited()
    const ip = randomUUID()
    const first = await GET(req('/api/v1/things/a', {}, ip))
    const second = await GET(req('/api/v1/things/a', {}, ip))
    expect(first.status).toBe(200)
    expect(first.headers.get('ratelimit-limit')).toBe('2')
    expect(first.headers.get('ratelimit-remaining')).toBe('1')
    expect(second.headers.get('ratelimit-remaining')).toBe('0')
    const reset = Number(first.headers.get('ratelimit-reset'))
    expect(Number.isInteger(reset) && reset >= 0 && reset <= 60).toBe(true)
    expect(first.headers.has('retry-after')).toBe(false)
  })

  it('answers 429 with Retry-After and RateLimit headers once the limit is spent, without running the handler', async () => {
    const { GET, calls } = limited()
    const ip = randomUUID()
    await GET(req('/api/v1/things/a', {}, ip))
    await GET(req('/api/v1/things/a', {}, ip))
    const res = await GET(req('/api/v1/things/a', {}, ip))
    expect(res.status).toBe(429)
    expect(calls()).toBe(2)
    const retryAfter = res.headers.get('retry-after')
    expect(retryAfter).toMatch(/^\d+$/)
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1)
    expect(Number(retryAfter)).toBeLessThanOrEqual(60)
    expect(res.headers.get('ratelimit-limit')).toBe('2')
    expect(res.headers.get('ratelimit-remaining')).toBe('0')
    expect(res.headers.get('ratelimit-reset')).toMatch(/^\d+$/)
    const body = await problem(res)
    expect(body.code).toBe('rate_limited')
    expect(body.title).toBe('Too Many Requests')
  })

  it('counts each client on its own', async () => {
    const { GET } = limited()
    const ip = randomUUID()
    for (let i = 0; i < 3; i++) await GET(req('/api/v1/things/a', {}, ip))
    expect((await GET(req('/api/v1/things/a', {}, ip))).status).toBe(429)
    expect((await GET(req('/api/v1/things/a'))).status).toBe(200)
  })

  it('applies the default policy to a route that names none', async () => {
    const res = await thingRoute()(req('/api/v1/things/a'))
    expect(res.headers.get('ratelimit-limit')).toBe('300')
  })

  it('sends no RateLimit headers for a route with rateLimit: false', async () => {
    const res = await thingRoute({ rateLimit: false })(req('/api/v1/things/a'))
    expect(res.status).toBe(200)
    expect(res.headers.has('ratelimit-limit')).toBe(false)
  })

  it('does not limit at all with RATE_LIMITS=off', async () => {
    setEnv({ RATE_LIMITS: 'off', RATE_LIMIT_AUTH_LOGIN: '1/60' })
    const { GET, calls } = limited()
    const ip = randomUUID()
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) {
      const res = await GET(req('/api/v1/things/a', {}, ip))
      statuses.push(res.status)
      expect(res.headers.has('ratelimit-limit')).toBe(false)
    }
    expect(statuses).toEqual([200, 200, 200])
    expect(calls()).toBe(3)
  })

  it('refuses RATE_LIMITS=off with NODE_ENV=production: env() throws and the route does not serve', async () => {
    setEnv({ RATE_LIMITS: 'off', NODE_ENV: 'production' })
    expect(() => env()).toThrow(ConfigError)
    const { GET, calls } = limited()
    const res = await GET(req('/api/v1/things/a'))
    expect(res.status).toBe(503)
    const body = await problem(res)
    expect(body.code).toBe('missing_configuration')
    expect(body.missing_settings).toContain('RATE_LIMITS')
    expect(calls()).toBe(0)
  })
})

describe('deployed mode', () => {
  const nothing = Object.fromEntries(
    [...REQUIRED, 'NODE_ENV', 'JWT_SECRET_PREVIOUS', 'MFA_ENCRYPTION_KEY_PREVIOUS'].map((k) => [
      k,
      undefined,
    ]),
  )
  const complete = {
    // Never contacted by these tests; local addresses so a stray call cannot leave the machine.
    DATABASE_URL: 'postgres://user@127.0.0.1:9/shop',
    JWT_SECRET: 's'.repeat(32),
    UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9',
    UPSTASH_REDIS_REST_TOKEN: 'token',
    CRON_SECRET: 'cron',
    MFA_ENCRYPTION_KEY: Buffer.alloc(32, 3).toString('base64'),
    ORDER_TOKEN_SECRET: 'o'.repeat(32),
  }

  it('answers 503 missing_configuration naming every missing setting when nothing is configured', async () => {
    setEnv({ ...nothing, VERCEL_ENV: 'production' })
    let calls = 0
    const GET = thingRoute({}, async () => {
      calls++
      return json({})
    })
    const res = await GET(req('/api/v1/things/a'))
    expect(res.status).toBe(503)
    expect(res.headers.get('x-request-id')).toMatch(/^req_/)
    const body = await problem(res)
    expect(body.code).toBe('missing_configuration')
    expect(body.title).toBe('Service Unavailable')
    expect(body.missing_settings).toEqual(REQUIRED)
    for (const name of REQUIRED) expect(body.detail).toContain(name)
    expect(calls).toBe(0)
  })

  it('answers 503 in a preview deployment too', async () => {
    setEnv({ ...nothing, VERCEL_ENV: 'preview' })
    const res = await thingRoute()(req('/api/v1/things/a'))
    expect(res.status).toBe(503)
  })

  it('counts a JWT_SECRET under 32 bytes as missing', async () => {
    setEnv({ ...nothing, VERCEL_ENV: 'production', ...complete, JWT_SECRET: 'too-short-secret' })
    const res = await thingRoute({ rateLimit: false, db: false })(req('/api/v1/things/a'))
    expect(res.status).toBe(503)
    const body = await problem(res)
    expect(body.missing_settings).toEqual(['JWT_SECRET'])
    expect(body.detail).toContain('JWT_SECRET')
    expect(body.detail).not.toContain('too-short-secret')
  })

  it('answers 503 naming a malformed setting instead of failing the invocation', async () => {
    setEnv({ MAX_BODY_BYTES: 'lots' })
    const res = await thingRoute()(req('/api/v1/things/a'))
    expect(res.status).toBe(503)
    const body = await problem(res)
    expect(body.code).toBe('missing_configuration')
    expect(body.missing_settings).toEqual(['MAX_BODY_BYTES'])
  })

  it('serves once every required setting is present', async () => {
    setEnv({ ...nothing, VERCEL_ENV: 'production', ...complete })
    const res = await thingRoute({ rateLimit: false, db: false })(req('/api/v1/things/a'))
    expect(res.status).toBe(200)
  })
})
