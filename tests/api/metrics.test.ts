import { Redis } from '@upstash/redis'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  orders,
  products,
  productVariants,
  refunds,
  skus,
  userPermissions,
  users,
} from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { env, resetEnv } from '../../lib/platform/env.js'
import { httpDuration, recordRequest } from '../../lib/platform/metrics.js'
import { kv, resetKv } from '../../lib/platform/redis.js'
import { makeUser } from '../support/factories.js'
import { call } from '../support/http.js'

// docs/monitoring.md: /metrics (Prometheus text, aggregated across instances, METRICS_TOKEN) and
// /metrics/business (staff KPIs from the database).

const savedEnv = new Map<string, string | undefined>()

function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (!savedEnv.has(k)) savedEnv.set(k, process.env[k])
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  resetEnv()
}

afterEach(() => {
  for (const [k, v] of savedEnv) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  savedEnv.clear()
  resetEnv()
  resetKv()
})

// --- Prometheus text parsing ----------------------------------------------------------------------------

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

function parse(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/)
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!
    }
    out.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return out
}

const sameLabels = (a: Record<string, string>, b: Record<string, string>) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v)

/** The value of one series, or 0 when it does not exist yet. */
const value = (samples: Sample[], name: string, labels: Record<string, string>) =>
  samples.find((s) => s.name === name && sameLabels(s.labels, labels))?.value ?? 0

async function scrape(token?: string): Promise<Sample[]> {
  const res = await call('GET', '/api/v1/metrics', { token })
  expect(res.status).toBe(200)
  return parse(res.text)
}

const BUCKETS = [...httpDuration.buckets!.map(String), '+Inf']

function histogram(samples: Sample[], labels: Record<string, string>) {
  const buckets = samples
    .filter((s) => s.name === 'http_request_duration_seconds_bucket')
    .filter((s) => sameLabels(s.labels, { ...labels, le: s.labels.le! }))
  return {
    buckets: buckets.map((b) => [b.labels.le!, b.value] as const),
    sum: value(samples, 'http_request_duration_seconds_sum', labels),
    count: value(samples, 'http_request_duration_seconds_count', labels),
  }
}

// --- /metrics -----------------------------------------------------------------------------------------

describe('GET /api/v1/metrics', () => {
  it('is Prometheus text exposition with HELP and TYPE lines', async () => {
    await call('GET', '/api/v1/health')
    const res = await call('GET', '/api/v1/metrics')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(res.text).toContain('# HELP http_requests_total ')
    expect(res.text).toContain('# TYPE http_requests_total counter')
    expect(res.text).toContain('# TYPE http_request_duration_seconds histogram')
    // Every non-comment line parses as a sample.
    expect(parse(res.text).length).toBeGreaterThan(0)
  })

  it('counts requests by method, route and status, growing by exactly the number of calls', async () => {
    const labels = { method: 'GET', route: '/api/v1/health', status: '200' }
    const before = value(await scrape(), 'http_requests_total', labels)
    for (let i = 0; i < 3; i++) expect((await call('GET', '/api/v1/health')).status).toBe(200)
    const after = await scrape()
    expect(value(after, 'http_requests_total', labels)).toBe(before + 3)
    const line = `http_requests_total{method="GET",route="/api/v1/health",status="200"} ${before + 3}`
    expect((await call('GET', '/api/v1/metrics')).text.split('\n')).toContain(line)
  })

  it('labels by status: a 401 is counted apart from the 200s of the same route', async () => {
    const unauthorized = { method: 'GET', route: '/api/v1/metrics/business', status: '401' }
    const before = value(await scrape(), 'http_requests_total', unauthorized)
    expect((await call('GET', '/api/v1/metrics/business')).status).toBe(401)
    expect((await call('GET', '/api/v1/metrics/business')).status).toBe(401)
    const after = await scrape()
    expect(value(after, 'http_requests_total', unauthorized)).toBe(before + 2)
    expect(value(after, 'http_requests_total', { ...unauthorized, status: '200' })).toBe(0)
  })

  it('renders durations as a cumulative histogram whose +Inf bucket equals _count', async () => {
    const labels = { method: 'GET', route: '/api/v1/health' }
    const before = histogram(await scrape(), labels)
    for (let i = 0; i < 4; i++) await call('GET', '/api/v1/health')
    const after = histogram(await scrape(), labels)

    expect(after.count).toBe(before.count + 4)
    expect(after.buckets.map(([le]) => le)).toEqual(BUCKETS)
    for (let i = 1; i < after.buckets.length; i++) {
      expect(after.buckets[i]![1]).toBeGreaterThanOrEqual(after.buckets[i - 1]![1])
    }
    expect(after.buckets.at(-1)).toEqual(['+Inf', after.count])
    expect(after.sum).toBeGreaterThanOrEqual(before.sum)
  })

  it('puts a recorded duration in the right bucket, with _sum in seconds', async () => {
    const route = `/api/v1/probe-${Date.now()}`
    await recordRequest(route, 'POST', 201, 120, 'req_probe_1')
    await recordRequest(route, 'POST', 201, 120, 'req_probe_2')
    await recordRequest(route, 'POST', 201, 3, 'req_probe_3')
    const samples = await scrape()
    expect(value(samples, 'http_requests_total', { method: 'POST', route, status: '201' })).toBe(3)
    const h = histogram(samples, { method: 'POST', route })
    const at = (le: string) => h.buckets.find(([b]) => b === le)?.[1]
    expect(at('0.005')).toBe(1)
    expect(at('0.1')).toBe(1)
    expect(at('0.25')).toBe(3)
    expect(at('+Inf')).toBe(3)
    expect(h.count).toBe(3)
    expect(h.sum).toBeCloseTo(0.243, 6)
  })

  it('aggregates what other instances wrote into the shared store', async () => {
    const labels = { method: 'GET', route: '/api/v1/health', status: '200' }
    await call('GET', '/api/v1/health')
    const before = value(await scrape(), 'http_requests_total', labels)
    // Another instance's write, with the same key layout (metrics:<name>, fields joined by \x1f).
    const field = ['GET', '/api/v1/health', '200'].join('\u001f')
    if (kv().kind === 'upstash') {
      // A separate Upstash client: another function instance writing to the same Redis.
      const other = new Redis({
        url: process.env.UPSTASH_REDIS_REST_URL!,
        token: process.env.UPSTASH_REDIS_REST_TOKEN!,
      })
      await other.hincrby(`${env().REDIS_PREFIX}metrics:http_requests_total`, field, 40)
    } else {
      // Embedded mode has one process store: write into it directly.
      await kv().hincrby([['metrics:http_requests_total', field, 40]])
    }
    await call('GET', '/api/v1/health')
    expect(value(await scrape(), 'http_requests_total', labels)).toBe(before + 41)
  })

  describe('in a deployed environment', () => {
    // Every required setting present (local, never-contacted addresses where the test mode has none),
    // so route() serves instead of answering 503 missing_configuration.
    const deployed = () => ({
      VERCEL_ENV: 'production',
      DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://user@127.0.0.1:9/shop',
      JWT_SECRET: 's'.repeat(32),
      UPSTASH_REDIS_REST_URL: process.env.UPSTASH_REDIS_REST_URL ?? 'http://127.0.0.1:9',
      UPSTASH_REDIS_REST_TOKEN: process.env.UPSTASH_REDIS_REST_TOKEN ?? 'token',
      CRON_SECRET: 'cron',
      MFA_ENCRYPTION_KEY: Buffer.alloc(32, 5).toString('base64'),
      ORDER_TOKEN_SECRET: 'o'.repeat(32),
      RATE_LIMITS: 'on',
    })

    it('answers 404 problem+json without METRICS_TOKEN: metrics are never public there', async () => {
      setEnv({ ...deployed(), METRICS_TOKEN: undefined })
      const res = await call('GET', '/api/v1/metrics')
      expect(res.status).toBe(404)
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
      expect(res.text).not.toContain('http_requests_total')
    })

    it('asks for the bearer token once METRICS_TOKEN is set', async () => {
      setEnv({ ...deployed(), METRICS_TOKEN: 'deployed-metrics-token-0123456789' })
      expect((await call('GET', '/api/v1/metrics')).status).toBe(401)
    })
  })

  describe('with METRICS_TOKEN set', () => {
    const TOKEN = 'metrics-scrape-token-0123456789abcdef'

    it('answers 401 problem+json without a bearer token', async () => {
      setEnv({ METRICS_TOKEN: TOKEN })
      const res = await call('GET', '/api/v1/metrics')
      expect(res.status).toBe(401)
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/)
      expect(res.body).toMatchObject({ status: 401, code: 'invalid_metrics_token' })
      expect(res.text).not.toContain('http_requests_total')
    })

    it('answers 401 with a wrong bearer token, one of another length, or another scheme', async () => {
      setEnv({ METRICS_TOKEN: TOKEN })
      for (const headers of [
        { authorization: `Bearer ${TOKEN.slice(0, -1)}x` },
        { authorization: `Bearer ${TOKEN}extra` },
        { authorization: `Bearer ${TOKEN.slice(0, 4)}` },
        { authorization: `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}` },
        { authorization: TOKEN },
      ]) {
        const res = await call('GET', '/api/v1/metrics', { headers })
        expect(res.status, headers.authorization).toBe(401)
      }
    })

    it('answers 200 with the right bearer token', async () => {
      setEnv({ METRICS_TOKEN: TOKEN })
      const res = await call('GET', '/api/v1/metrics', { token: TOKEN })
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
      expect(res.text).toContain('# TYPE http_requests_total counter')
    })

    it('does not accept a user access token in place of the metrics token', async () => {
      setEnv({ METRICS_TOKEN: TOKEN })
      const { token } = await makeUser({ role: 'admin' })
      expect((await call('GET', '/api/v1/metrics', { token })).status).toBe(401)
    })
  })
})

// --- /metrics/business --------------------------------------------------------------------------------

const FROM = '2025-03-01T00:00:00.000Z'
const TO = '2025-04-01T00:00:00.000Z'
const at = (iso: string) => new Date(iso)
let seq = 0
const uniq = (p: string) => `${p}-${++seq}-${Math.random().toString(36).slice(2, 8)}`

const business = (query: Record<string, string>, token?: string) =>
  call('GET', `/api/v1/metrics/business?${new URLSearchParams(query)}`, { token })

describe('GET /api/v1/metrics/business', () => {
  let staff: string
  let customer: string

  beforeAll(async () => {
    staff = (await makeUser({ role: 'staff' })).token
    customer = (await makeUser({ role: 'customer' })).token
    const db = await getDb()

    const order = async (
      totalCents: number,
      createdAt: string,
      status: (typeof orders.$inferInsert)['status'],
      financialStatus: (typeof orders.$inferInsert)['financialStatus'],
      parts?: { subtotal: number; tax: number; shipping: number; discount: number },
    ) => {
      const p = parts ?? { subtotal: totalCents, tax: 0, shipping: 0, discount: 0 }
      const [row] = await db
        .insert(orders)
        .values({
          email: `${uniq('buyer')}@example.test`,
          currency: 'USD',
          status,
          financialStatus,
          subtotalCents: p.subtotal,
          taxAmountCents: p.tax,
          shippingAmountCents: p.shipping,
          discountAmountCents: p.discount,
          totalAmountCents: totalCents,
          createdAt: at(createdAt),
        })
        .returning()
      return row!
    }
    const refund = (
      orderId: string,
      amountCents: number,
      status: 'pending' | 'succeeded' | 'failed',
      createdAt: string,
    ) =>
      db.insert(refunds).values({ orderId, amountCents, currency: 'USD', status, createdAt: at(createdAt) })

    // In the period [2025-03-01, 2025-04-01):
    const a = await order(12999, FROM, 'confirmed', 'paid') // exactly at `from`: inclusive
    const b = await order(5002, '2025-03-15T10:00:00Z', 'delivered', 'partially_refunded', {
      subtotal: 4002,
      tax: 400,
      shipping: 800,
      discount: 200,
    })
    await order(3000, '2025-03-10T10:00:00Z', 'pending', 'pending') // unpaid: not revenue
    await order(2000, '2025-03-20T10:00:00Z', 'cancelled', 'voided')
    // Outside it:
    const e = await order(99999, '2025-02-28T23:59:59.999Z', 'delivered', 'paid')
    await order(77777, TO, 'confirmed', 'paid') // exactly at `to`: exclusive

    await refund(b.id, 1525, 'succeeded', '2025-03-16T09:00:00Z')
    await refund(b.id, 700, 'pending', '2025-03-17T09:00:00Z') // not money moved
    await refund(a.id, 300, 'failed', '2025-03-18T09:00:00Z') // not money moved
    await refund(e.id, 5000, 'succeeded', '2025-02-28T12:00:00Z') // before the period

    const user = (createdAt: string, deletedAt?: string) =>
      db.insert(users).values({
        email: `${uniq('new')}@example.test`,
        createdAt: at(createdAt),
        deletedAt: deletedAt ? at(deletedAt) : undefined,
      })
    await user('2025-03-02T08:00:00Z')
    await user('2025-03-31T23:59:59Z')
    await user('2025-03-05T08:00:00Z', '2025-03-06T08:00:00Z') // erased: not counted
    await user(TO) // exclusive end
    await user('2025-02-15T08:00:00Z')

    const product = async (values: Partial<typeof products.$inferInsert>) => {
      const sku = uniq('SKU')
      await db.insert(skus).values({ sku, kind: 'product' })
      const [row] = await db
        .insert(products)
        .values({ sku, name: 'Tee', slug: uniq('tee'), priceCents: 1999, ...values })
        .returning()
      return row!
    }
    const variant = async (productId: string, values: Partial<typeof productVariants.$inferInsert>) => {
      const sku = uniq('VSKU')
      await db.insert(skus).values({ sku, kind: 'variant' })
      await db.insert(productVariants).values({ productId, sku, title: 'M / Blue', ...values })
    }
    await product({ status: 'active', inventoryQuantity: 5, lowStockThreshold: 5 }) // at threshold: low
    await product({ status: 'active', inventoryQuantity: 11, lowStockThreshold: 10 }) // above
    await product({ status: 'archived', inventoryQuantity: 0, lowStockThreshold: 10 }) // archived
    await product({ status: 'draft', inventoryQuantity: 0, lowStockThreshold: 10 }) // not for sale
    await product({ status: 'active', inventoryQuantity: 0, trackInventory: false }) // untracked
    const withVariants = await product({
      status: 'active',
      hasVariants: true,
      inventoryQuantity: 7,
      lowStockThreshold: 3,
    })
    await variant(withVariants.id, { inventoryQuantity: 3 }) // at threshold: low
    await variant(withVariants.id, { inventoryQuantity: 4 }) // above
    await variant(withVariants.id, { inventoryQuantity: 0, isActive: false }) // inactive
    await variant(withVariants.id, { inventoryQuantity: 0, trackInventory: false }) // untracked
    const archived = await product({ status: 'archived', hasVariants: true, lowStockThreshold: 10 })
    await variant(archived.id, { inventoryQuantity: 0 }) // product archived
  })

  it('answers 401 without a token and with a bad one', async () => {
    const none = await business({ from: FROM, to: TO })
    expect(none.status).toBe(401)
    expect(none.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect((await business({ from: FROM, to: TO }, 'not.a.token')).status).toBe(401)
  })

  it('answers 403 for a customer', async () => {
    const res = await business({ from: FROM, to: TO }, customer)
    expect(res.status).toBe(403)
    expect(res.body.code).toBe('forbidden')
    expect(res.text).not.toContain('revenue')
  })

  it('answers 200 for a customer granted analytics.view, and for an admin', async () => {
    const granted = await makeUser({ role: 'customer' })
    const db = await getDb()
    await db.insert(userPermissions).values({ userId: granted.user.id, permission: 'analytics.view' })
    expect((await business({ from: FROM, to: TO }, granted.token)).status).toBe(200)
    const admin = await makeUser({ role: 'admin' })
    expect((await business({ from: FROM, to: TO }, admin.token)).status).toBe(200)
  })

  it('computes the KPIs of a period from the rows', async () => {
    const res = await business({ from: FROM, to: TO }, staff)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({
      period: { from: FROM, to: TO },
      currency: 'USD',
      // 129.99 + 50.02 paid; 15.25 refunded (the pending and failed refunds moved no money)
      revenue: { gross: 180.01, refunded: 15.25, net: 164.76 },
      orders: { total: 4, paid: 2, cancelled: 1 },
      // 18001 / 2 = 9000.5 cents, rounded half up
      average_order_value: 90.01,
      new_users: 2,
      low_stock: { products: 1, variants: 1 },
    })
  })

  it('filters by from/to', async () => {
    const feb = await business({ from: '2025-02-01T00:00:00Z', to: FROM }, staff)
    expect(feb.status).toBe(200)
    expect(feb.body).toMatchObject({
      period: { from: '2025-02-01T00:00:00.000Z', to: FROM },
      revenue: { gross: 999.99, refunded: 50, net: 949.99 },
      orders: { total: 1, paid: 1, cancelled: 0 },
      average_order_value: 999.99,
      new_users: 1,
    })

    const both = await business({ from: '2025-02-01T00:00:00Z', to: '2025-04-02T00:00:00Z' }, staff)
    expect(both.body).toMatchObject({
      // 129.99 + 50.02 + 999.99 + 777.77; refunds 15.25 + 50.00
      revenue: { gross: 1957.77, refunded: 65.25, net: 1892.52 },
      orders: { total: 6, paid: 4, cancelled: 1 },
      // 195777 / 4 = 48944.25 cents -> 48944
      average_order_value: 489.44,
      // 2025-02-15, 03-02, 03-31 and 04-01 (the erased one never counts)
      new_users: 4,
    })
    // Stock is a current figure, not a period one.
    expect(both.body.low_stock).toEqual({ products: 1, variants: 1 })
  })

  it('reports zeros (and no division by zero) for an empty period', async () => {
    const res = await business({ from: '2020-01-01T00:00:00Z', to: '2020-02-01T00:00:00Z' }, staff)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      revenue: { gross: 0, refunded: 0, net: 0 },
      orders: { total: 0, paid: 0, cancelled: 0 },
      average_order_value: 0,
      new_users: 0,
    })
  })

  it('defaults to the 30 days before now, and to 30 days before `to`', async () => {
    const before = Date.now()
    const res = await business({}, staff)
    expect(res.status).toBe(200)
    const to = Date.parse(res.body.period.to)
    expect(to).toBeGreaterThanOrEqual(before)
    expect(to).toBeLessThanOrEqual(Date.now())
    expect(Date.parse(res.body.period.from)).toBe(to - 30 * 86_400_000)
    // None of the 2025 orders is in the last 30 days.
    expect(res.body.orders.total).toBe(0)

    const onlyTo = await business({ to: '2025-03-31T00:00:00Z' }, staff)
    expect(onlyTo.body.period).toEqual({ from: FROM, to: '2025-03-31T00:00:00.000Z' })
  })

  it('answers 422 when from is not before to', async () => {
    for (const query of [
      { from: TO, to: FROM },
      { from: FROM, to: FROM },
    ]) {
      const res = await business(query, staff)
      expect(res.status).toBe(422)
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
      expect(res.body.errors).toEqual([
        expect.objectContaining({ path: 'query.from', code: 'invalid_range' }),
      ])
    }
  })

  it('answers 422 for a date that does not parse', async () => {
    const queries: Array<Record<string, string>> = [
      { from: 'garbage' },
      { to: 'not-a-date' },
      { from: '2025-13-45' },
    ]
    for (const query of queries) {
      const res = await business(query, staff)
      expect(res.status, JSON.stringify(query)).toBe(422)
      const field = Object.keys(query)[0]
      expect(res.body.errors).toEqual([expect.objectContaining({ path: `query.${field}` })])
    }
  })
})
