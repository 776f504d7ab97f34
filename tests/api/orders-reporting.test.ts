import { beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { fulfillments, orderStatusHistory } from '../../db/schema/index.js'
import { exportOrders } from '../../lib/orders/export.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { as, callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
import { makeOrderWithItems, type makeUser } from '../support/factories.js'
import { call } from '../support/http.js'
import { badCredentials } from '../support/token-cases.js'

// GET /orders/export, /orders/analytics and /orders/metrics (orders.view). Each test places its orders in
// its own month of 2024, so the figures are exact while the file shares one database.

catalogTestEnv()
// the export policy (10 a minute) is a real limit; these tests export more often than that
beforeEach(() => {
  process.env.RATE_LIMIT_EXPORT = '100000/60'
  resetEnv()
})

let staff: Awaited<ReturnType<typeof makeUser>>
let customer: Awaited<ReturnType<typeof makeUser>>
beforeAll(async () => {
  ;({ staff, customer } = await callers())
})
const S = () => as(staff.token)
const at = (s: string) => new Date(s)

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  return new Response(stream).text()
}

describe('GET /api/v1/orders/export', () => {
  it('streams CSV with a header row, money in major units, formula cells neutralised, filters applied', async () => {
    const jan = '2024-01'
    const a = await makeOrderWithItems({
      createdAt: at(`${jan}-05T10:00:00Z`),
      email: 'Alice@Example.test',
      financialStatus: 'paid',
      tags: ['=HYPERLINK("http://evil")', 'vip'],
      shippingCents: 499,
      source: 'mobile',
      shippingAddress: { line1: '1 Main', city: 'Springfield', country: 'US' },
      items: [
        { productId: null, quantity: 2, unitPriceCents: 1250 },
        { productId: null, quantity: 1, unitPriceCents: 100 },
      ],
    })
    await makeOrderWithItems({
      createdAt: at(`${jan}-06T10:00:00Z`),
      status: 'pending',
      items: [{ productId: null }],
    })
    await makeOrderWithItems({ createdAt: at('2023-12-31T23:59:59Z'), items: [{ productId: null }] })

    const res = await call('GET', `/api/v1/orders/export?from=${jan}-01&to=${jan}-31`, {
      token: staff.token,
    })
    expect(res.status, res.text).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/)
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="orders-\d{4}-\d{2}-\d{2}\.csv"$/,
    )
    const lines = res.text.split('\r\n')
    expect(lines[0]).toBe(
      'id,order_number,created_at,status,financial_status,fulfillment_status,email,source,currency,' +
        'item_count,subtotal,discount_amount,shipping_amount,tax_amount,total_amount,taxes_included,' +
        'paid_amount,refunded_amount,discount_code,shipping_method,shipping_country,tags',
    )
    expect(lines).toHaveLength(4) // header, two orders, the empty string after the last CRLF
    expect(lines[1]).toBe(
      [
        a.order.id,
        a.order.orderNumber,
        '2024-01-05T10:00:00.000Z',
        'confirmed',
        'paid',
        'unfulfilled',
        'Alice@Example.test',
        'mobile',
        'USD',
        3,
        26,
        0,
        4.99,
        0,
        30.99,
        false,
        30.99,
        0,
        '',
        '',
        'US',
        `"'=HYPERLINK(""http://evil"");vip"`,
      ].join(','),
    )

    const byEmail = await S().get(`/api/v1/orders/export?email=alice@EXAMPLE.test&format=json`)
    expect(byEmail.headers.get('content-type')).toMatch(/^application\/json/)
    const parsed = JSON.parse(byEmail.text)
    expect(parsed).toHaveLength(1)
    expect(parsed[0]).toMatchObject({
      id: a.order.id,
      total_amount: 30.99,
      tags: ['=HYPERLINK("http://evil")', 'vip'],
    })
    const pending = JSON.parse(
      (await S().get(`/api/v1/orders/export?format=json&status=pending&from=${jan}-01T00:00:00Z`)).text,
    )
    expect(pending.map((o: { status: string }) => o.status)).toEqual(['pending'])
    const paid = JSON.parse(
      (
        await S().get(
          `/api/v1/orders/export?format=json&financial_status=paid&fulfillment_status=unfulfilled`,
        )
      ).text,
    )
    expect(paid.map((o: { id: string }) => o.id)).toContain(a.order.id)
    expect(paid.every((o: { financial_status: string }) => o.financial_status === 'paid')).toBe(true)
  })

  it('reads in keyset batches, one query per batch, and an empty export is the header alone', async () => {
    for (let d = 1; d <= 5; d++) {
      await makeOrderWithItems({ createdAt: at(`2024-02-0${d}T00:00:00Z`), items: [{ productId: null }] })
    }
    const batches: number[] = []
    const text = await readAll(
      exportOrders(
        await getDb(),
        { from: at('2024-02-01T00:00:00Z'), to: at('2024-03-01T00:00:00Z') },
        { format: 'json', batchSize: 2, onBatch: (b) => batches.push(b.rows) },
      ),
    )
    expect(batches).toEqual([2, 2, 1])
    const numbers = JSON.parse(text).map((o: { order_number: number }) => o.order_number)
    expect(numbers).toEqual([...numbers].sort((x, y) => x - y))
    expect(numbers).toHaveLength(5)
    const none = await S().get('/api/v1/orders/export?from=1999-01-01T00:00:00Z&to=1999-02-01T00:00:00Z')
    expect(none.text.split('\r\n')).toHaveLength(2)
    expect(JSON.parse((await S().get('/api/v1/orders/export?format=json&email=nobody@x.test')).text)).toEqual(
      [],
    )
  })

  it('refuses bad filters (422), customers (403) and anonymous or bad tokens (401)', async () => {
    for (const q of ['status=lost', 'format=xml', 'from=yesterday', 'financial_status=paid-ish']) {
      expectProblem(await S().get(`/api/v1/orders/export?${q}`), 422)
    }
    expectProblem(await as(customer.token).get('/api/v1/orders/export'), 403, 'forbidden')
    for (const { label, opts } of await badCredentials(staff)) {
      for (const path of ['/api/v1/orders/export', '/api/v1/orders/analytics', '/api/v1/orders/metrics']) {
        expect((await call('GET', path, opts)).status, `${label} ${path}`).toBe(401)
      }
    }
  })
})

describe('GET /api/v1/orders/analytics', () => {
  it('counts revenue net of refunds, never cancelled orders or late payments, by day, week and month', async () => {
    const base = { items: [{ productId: null, unitPriceCents: 10_000 }] }
    await makeOrderWithItems({ ...base, createdAt: at('2024-03-01T09:00:00Z'), financialStatus: 'paid' })
    await makeOrderWithItems({
      items: [{ productId: null, unitPriceCents: 5000 }],
      createdAt: at('2024-03-02T23:30:00Z'),
      financialStatus: 'partially_refunded',
      refundedAmountCents: 1000,
      source: 'pos',
    })
    // a payment that arrived after cancellation: refunded at once, never revenue
    await makeOrderWithItems({
      items: [{ productId: null, unitPriceCents: 3000 }],
      createdAt: at('2024-03-03T10:00:00Z'),
      status: 'cancelled',
      financialStatus: 'refunded',
      refundedAmountCents: 3000,
    })
    await makeOrderWithItems({
      ...base,
      createdAt: at('2024-03-04T10:00:00Z'),
      status: 'cancelled',
      financialStatus: 'voided',
      source: 'api',
    })
    await makeOrderWithItems({ ...base, createdAt: at('2024-03-05T10:00:00Z'), status: 'pending' })

    const q = 'from=2024-03-01T00:00:00Z&to=2024-04-01T00:00:00Z'
    const day = await S().get(`/api/v1/orders/analytics?${q}`)
    expect(day.status, day.text).toBe(200)
    expect(day.body).toMatchObject({
      period: { from: '2024-03-01T00:00:00.000Z', to: '2024-04-01T00:00:00.000Z' },
      interval: 'day',
      currency: 'USD',
      revenue: { gross: 150, refunds: 10, net: 140 },
      orders: { total: 5, revenue: 2 },
      average_order_value: 75,
      series: [
        { period_start: '2024-03-01', orders: 1, gross: 100, refunds: 0, net: 100 },
        { period_start: '2024-03-02', orders: 1, gross: 50, refunds: 10, net: 40 },
      ],
    })
    expect(day.body.by_status).toEqual({ confirmed: 2, cancelled: 2, pending: 1 })
    expect(day.body.by_source).toEqual({ web: 3, pos: 1, api: 1 })
    // 2024-03-01 is a Friday: both days fall in the week starting Monday 2024-02-26
    const week = await S().get(`/api/v1/orders/analytics?${q}&interval=week`)
    expect(week.body.series).toEqual([
      { period_start: '2024-02-26', orders: 2, gross: 150, refunds: 10, net: 140 },
    ])
    const month = await S().get(`/api/v1/orders/analytics?${q}&interval=month`)
    expect(month.body.series.map((s: { period_start: string }) => s.period_start)).toEqual(['2024-03-01'])
    const empty = await S().get('/api/v1/orders/analytics?from=1990-01-01T00:00:00Z&to=1990-02-01T00:00:00Z')
    expect(empty.body).toMatchObject({ revenue: { gross: 0, net: 0 }, average_order_value: 0, series: [] })
  })

  it('rounds the average order value half-up in minor units', async () => {
    await makeOrderWithItems({
      items: [{ productId: null, unitPriceCents: 100 }],
      createdAt: at('2024-06-01T00:00:00Z'),
      financialStatus: 'paid',
    })
    await makeOrderWithItems({
      items: [{ productId: null, unitPriceCents: 1 }],
      createdAt: at('2024-06-02T00:00:00Z'),
      financialStatus: 'paid',
    })
    const res = await S().get('/api/v1/orders/analytics?from=2024-06-01T00:00:00Z&to=2024-07-01T00:00:00Z')
    expect(res.body.average_order_value).toBe(0.51) // 101 / 2 = 50.5 -> 51 minor units
  })

  it('refuses an empty or reversed period and an unknown interval (422), customers (403)', async () => {
    expectProblem(
      await S().get('/api/v1/orders/analytics?from=2024-03-02T00:00:00Z&to=2024-03-01T00:00:00Z'),
      422,
    )
    expectProblem(await S().get('/api/v1/orders/analytics?interval=year'), 422)
    expectProblem(
      await S().get('/api/v1/orders/analytics?from=2000-01-01T00:00:00Z&to=2024-01-01T00:00:00Z'),
      422,
    )
    expectProblem(await as(customer.token).get('/api/v1/orders/analytics'), 403, 'forbidden')
    expectProblem(await as().get('/api/v1/orders/analytics'), 401)
  })
})

describe('GET /api/v1/orders/metrics', () => {
  it('counts pending and awaiting orders and averages the time to the first shipment', async () => {
    const before = (await S().get('/api/v1/orders/metrics')).body
    const db = await getDb()
    await makeOrderWithItems({ status: 'pending', items: [{ productId: null }] })
    await makeOrderWithItems({ status: 'confirmed', financialStatus: 'paid', items: [{ productId: null }] })
    await makeOrderWithItems({ status: 'processing', financialStatus: 'paid', items: [{ productId: null }] })
    await makeOrderWithItems({ status: 'shipped', financialStatus: 'paid', items: [{ productId: null }] })

    const one = await makeOrderWithItems({
      status: 'shipped',
      createdAt: at('2024-05-01T00:00:00Z'),
      items: [{ productId: null }],
    })
    await db.insert(orderStatusHistory).values({
      orderId: one.order.id,
      type: 'order',
      fromStatus: 'pending',
      toStatus: 'confirmed',
      createdAt: at('2024-05-01T02:00:00Z'),
    })
    await db.insert(fulfillments).values([
      { orderId: one.order.id, status: 'shipped', shippedAt: at('2024-05-02T00:00:00Z') },
      { orderId: one.order.id, status: 'shipped', shippedAt: at('2024-05-09T00:00:00Z') },
      { orderId: one.order.id, status: 'pending' },
    ])
    const two = await makeOrderWithItems({
      status: 'shipped',
      createdAt: at('2024-05-03T00:00:00Z'),
      items: [{ productId: null }],
    })
    await db
      .insert(fulfillments)
      .values({ orderId: two.order.id, status: 'delivered', shippedAt: at('2024-05-03T12:00:00Z') })

    const after = (await S().get('/api/v1/orders/metrics')).body
    expect(after.pending_orders - before.pending_orders).toBe(1)
    expect(after.awaiting_fulfillment - before.awaiting_fulfillment).toBe(2)

    const may = await S().get('/api/v1/orders/metrics?from=2024-05-01T00:00:00Z&to=2024-06-01T00:00:00Z')
    expect(may.status, may.text).toBe(200)
    expect(may.body.fulfillment_time).toEqual({
      period: { from: '2024-05-01T00:00:00.000Z', to: '2024-06-01T00:00:00.000Z' },
      orders: 2,
      average_hours: 18, // (24 + 12) / 2
      average_hours_from_payment: 22, // only the first was confirmed in its history
    })
    const none = await S().get('/api/v1/orders/metrics?from=2024-07-01T00:00:00Z&to=2024-08-01T00:00:00Z')
    expect(none.body.fulfillment_time).toMatchObject({ orders: 0, average_hours: null })
    expectProblem(await as(customer.token).get('/api/v1/orders/metrics'), 403, 'forbidden')
  })
})

describe('Prometheus order metrics (GET /api/v1/metrics)', () => {
  const scrape = async () => (await call('GET', '/api/v1/metrics')).text
  const sample = (text: string, series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `))
    return line === undefined ? 0 : Number(line.slice(series.length + 1))
  }

  it('exposes orders created by source, order value, pending and awaiting orders and the time to fulfil', async () => {
    const before = await scrape()
    const placed = await makeOrderWithItems({
      source: 'mobile',
      status: 'pending',
      items: [{ productId: null, unitPriceCents: 1234 }],
    })
    await makeOrderWithItems({ status: 'processing', items: [{ productId: null, unitPriceCents: 1 }] })
    await (await getDb()).insert(fulfillments).values({
      orderId: placed.order.id,
      status: 'shipped',
      shippedAt: new Date(placed.order.createdAt.getTime() + 1),
    })
    const after = await scrape()
    expect(after).toMatch(/# TYPE orders_created_total counter/)
    const d = (series: string) => Math.round((sample(after, series) - sample(before, series)) * 1000) / 1000
    expect(d('orders_created_total{source="mobile"}')).toBe(1)
    expect(d('orders_created_total{source="web"}')).toBe(1)
    expect(d('orders_value_total')).toBe(12.35)
    expect(d('orders_pending')).toBe(1)
    expect(d('orders_awaiting_fulfillment')).toBe(1)
    expect(sample(after, 'orders_fulfillment_seconds_average')).toBeGreaterThanOrEqual(0)
    expect(after).toMatch(/^orders_fulfillment_seconds_average \d/m)
  })
})
