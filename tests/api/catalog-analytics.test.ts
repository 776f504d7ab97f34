import { eq, like } from 'drizzle-orm'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { products, productVariants, userPermissions } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { makeOrderWithItems, makeProduct, makeUser } from '../support/factories.js'
import { type CallResult, call } from '../support/http.js'
import { badCredentials } from '../support/token-cases.js'

// GET /products/analytics (issue 8): units, revenue, top sellers, slow movers and low stock over a
// period, from paid order lines. Each test file has its own database, so totals are exact.

let saved: Record<string, string | undefined>
beforeEach(() => {
  saved = { ...process.env }
  process.env.RATE_LIMIT_DEFAULT = '100000/60'
  resetEnv()
})
afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
  Object.assign(process.env, saved)
  resetEnv()
})

const analytics = (token: string | undefined, query = '') =>
  call('GET', `/api/v1/products/analytics${query}`, { token })

function expectProblem(res: CallResult, status: number, code?: string) {
  expect(res.status, res.text).toBe(status)
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  if (code) expect(res.body.code).toBe(code)
}

const at = (iso: string) => new Date(iso)

describe('GET /products/analytics', () => {
  it('sums paid lines of the period into totals, series, top sellers, slow movers and low stock', async () => {
    const s = await makeUser({ role: 'staff' })
    const hoodie = await makeProduct({
      sku: 'AN-HOODIE',
      name: 'Hoodie',
      price: 40,
      status: 'active',
      inventory_quantity: 50,
    })
    const tee = await makeProduct({
      sku: 'AN-TEE',
      name: 'Tee',
      price: 15,
      status: 'active',
      inventory_quantity: 3,
    })
    const cap = await makeProduct({
      sku: 'AN-CAP',
      name: 'Cap',
      price: 12,
      status: 'active',
      inventory_quantity: 80,
    })
    await makeProduct({
      sku: 'AN-SCARF',
      name: 'Scarf',
      price: 20,
      status: 'active',
      inventory_quantity: 9,
    })
    const sized = await makeProduct({
      sku: 'AN-JEANS',
      name: 'Jeans',
      price: 60,
      status: 'active',
      low_stock_threshold: 2,
      variants: [
        { sku: 'AN-JEANS-30', option1: '30', inventory_quantity: 1 },
        { sku: 'AN-JEANS-32', option1: '32', inventory_quantity: 8 },
      ],
    })
    await makeProduct({ sku: 'AN-DRAFT', name: 'Draft', price: 1, status: 'draft', inventory_quantity: 0 })
    // the catalog existed before the period (slow movers are products that were on sale in it)
    await (await getDb())
      .update(products)
      .set({ createdAt: at('2025-11-01T00:00:00Z') })
      .where(like(products.sku, 'AN-%'))
    const [v30] = await (await getDb())
      .select()
      .from(productVariants)
      .where(eq(productVariants.sku, 'AN-JEANS-30'))

    // inside the period: 2 Jan (two orders), 9 Jan; outside: 31 Dec and 1 Feb; one unpaid, one voided
    const paid = 'paid' as const
    const line = (p: { id: string; price: number }, quantity: number, extra = {}) => ({
      productId: p.id,
      quantity,
      unitPriceCents: Math.round(p.price * 100),
      ...extra,
    })
    await makeOrderWithItems({
      financialStatus: paid,
      createdAt: at('2026-01-02T10:00:00Z'),
      items: [line(hoodie, 3, { discountCents: 1000 }), line(tee, 1)],
    })
    await makeOrderWithItems({
      financialStatus: 'partially_refunded',
      createdAt: at('2026-01-02T23:59:59Z'),
      items: [line(hoodie, 1, { refundedQuantity: 1 })],
    })
    await makeOrderWithItems({
      financialStatus: paid,
      createdAt: at('2026-01-09T08:00:00Z'),
      items: [line(sized, 2, { variantId: v30!.id })],
    })
    for (const createdAt of [at('2025-12-31T23:59:59Z'), at('2026-02-01T00:00:00Z')]) {
      await makeOrderWithItems({ financialStatus: paid, createdAt, items: [line(tee, 100)] })
    }
    await makeOrderWithItems({
      status: 'pending',
      createdAt: at('2026-01-05T00:00:00Z'),
      items: [line(cap, 100)],
    })
    await makeOrderWithItems({
      status: 'cancelled',
      financialStatus: 'voided',
      createdAt: at('2026-01-05T00:00:00Z'),
      items: [line(cap, 100)],
    })

    const res = await analytics(
      s.token,
      '?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z&interval=week&limit=3',
    )
    expect(res.status, res.text).toBe(200)
    const body = res.body
    expect(body.period).toEqual({
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-02-01T00:00:00.000Z',
      interval: 'week',
    })
    expect(body.currency).toBe('USD')
    // hoodie 3 x 40 - 10 + 1 x 40, tee 15, jeans 2 x 60
    expect(body.totals).toEqual({
      units_sold: 7,
      units_refunded: 1,
      revenue: 285,
      orders: 3,
      products_sold: 3,
    })
    // ISO weeks from Monday 29 Dec 2025 to Monday 26 Jan 2026
    expect(body.series.map((b: any) => [b.period_start, b.units_sold, b.revenue, b.orders])).toEqual([
      ['2025-12-29', 5, 165, 2],
      ['2026-01-05', 2, 120, 1],
      ['2026-01-12', 0, 0, 0],
      ['2026-01-19', 0, 0, 0],
      ['2026-01-26', 0, 0, 0],
    ])
    expect(
      body.top_sellers.map((t: any) => [t.sku, t.units_sold, t.units_refunded, t.revenue, t.orders]),
    ).toEqual([
      ['AN-HOODIE', 4, 1, 150, 2],
      ['AN-JEANS', 2, 0, 120, 1],
      ['AN-TEE', 1, 0, 15, 1],
    ])
    expect(body.top_sellers[0]).toMatchObject({ product_id: hoodie.id, name: 'Hoodie' })
    // none sold first, most stock first; the draft product is not in the shop
    expect(body.slow_movers.map((t: any) => [t.sku, t.units_sold, t.inventory_quantity])).toEqual([
      ['AN-CAP', 0, 80],
      ['AN-SCARF', 0, 9],
      ['AN-TEE', 1, 3],
    ])
    expect(
      body.low_stock.map((l: any) => [l.sku, l.variant_title, l.inventory_quantity, l.low_stock_threshold]),
    ).toEqual([
      ['AN-JEANS-30', '30', 1, 2],
      ['AN-TEE', null, 3, 10],
      ['AN-SCARF', null, 9, 10],
    ])
    expect(body.low_stock[0]).toMatchObject({ product_id: sized.id, variant_id: v30!.id, name: 'Jeans' })

    const byRevenue = await analytics(
      s.token,
      '?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z&rank_by=revenue&limit=1',
    )
    expect(byRevenue.body.top_sellers.map((t: any) => t.sku)).toEqual(['AN-HOODIE'])
    const months = await analytics(
      s.token,
      '?from=2025-12-15T00:00:00Z&to=2026-02-15T00:00:00Z&interval=month',
    )
    expect(months.body.series.map((b: any) => [b.period_start, b.units_sold])).toEqual([
      ['2025-12-01', 100],
      ['2026-01-01', 7],
      ['2026-02-01', 100],
    ])
    const days = await analytics(s.token, '?from=2026-01-02T00:00:00Z&to=2026-01-04T00:00:00Z')
    expect(days.body.series.map((b: any) => [b.period_start, b.units_sold])).toEqual([
      ['2026-01-02', 5],
      ['2026-01-03', 0],
    ])
    expect(cap.id).toBeTruthy()
  })

  it('answers zeros and empty lists for a period without sales (default: the last 30 days)', async () => {
    const s = await makeUser({ role: 'admin' })
    const res = await analytics(s.token, '?from=2030-01-01T00:00:00Z&to=2030-01-03T00:00:00Z')
    expect(res.status, res.text).toBe(200)
    expect(res.body.totals).toEqual({
      units_sold: 0,
      units_refunded: 0,
      revenue: 0,
      orders: 0,
      products_sold: 0,
    })
    expect(res.body.series).toEqual([
      { period_start: '2030-01-01', units_sold: 0, revenue: 0, orders: 0 },
      { period_start: '2030-01-02', units_sold: 0, revenue: 0, orders: 0 },
    ])
    expect(res.body.top_sellers).toEqual([])
    const plain = await analytics(s.token)
    expect(plain.status).toBe(200)
    expect(plain.body.series.length).toBeGreaterThanOrEqual(30)
    expect(Date.parse(plain.body.period.to) - Date.parse(plain.body.period.from)).toBe(30 * 86_400_000)
  })

  it('refuses bad periods and parameters with 422', async () => {
    const s = await makeUser({ role: 'staff' })
    for (const q of [
      '?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z',
      '?from=2000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z',
      '?from=yesterday',
      '?interval=year',
      '?limit=0',
      '?limit=101',
      '?rank_by=margin',
      '?unknown=1',
    ]) {
      expectProblem(await analytics(s.token, q), 422, 'validation_failed')
    }
    const ok = await analytics(s.token, '?from=2000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&interval=month')
    expect(ok.status).toBe(200)
  })

  it('needs analytics.view: 401 for every bad token, 403 for customers, granted customers may', async () => {
    const s = await makeUser({ role: 'staff' })
    for (const { label, opts } of await badCredentials(s)) {
      const res = await call('GET', '/api/v1/products/analytics', opts)
      expectProblem(res, 401)
      expect(res.headers.get('www-authenticate'), label).toBe('Bearer')
    }
    const customer = await makeUser({ role: 'customer' })
    expectProblem(await analytics(customer.token), 403, 'forbidden')
    const granted = await makeUser({ role: 'customer' })
    await (await getDb())
      .insert(userPermissions)
      .values({ userId: granted.user.id, permission: 'analytics.view' })
    expect((await analytics(granted.token)).status).toBe(200)
  })
})
