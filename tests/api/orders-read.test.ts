import { randomBytes, randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { orders, shippingRates, taxRates } from '../../db/schema/index.js'
import { orderToken } from '../../lib/orders/access.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { IL_ADDRESS } from '../support/addresses.js'
import { catalogTestEnv, expectProblem } from '../support/catalog.js'
import { makeProductRow, makeUser } from '../support/factories.js'
import { type CallOptions, call } from '../support/http.js'
import { badCredentials } from '../support/token-cases.js'

// Reading and updating orders (issue 9): GET /orders (own orders only for customers, all for staff,
// filters and pagination), GET /orders/{order_id} (owner, guest token, orders.view; 404 for everyone
// else), PUT /orders/{order_id} (who may change what, and when).

catalogTestEnv()
// these tests place many unpaid orders per buyer; the caps have their own tests (orders-checkout)
beforeEach(() => {
  process.env.MAX_UNPAID_ORDERS_PER_BUYER = '1000'
  process.env.MAX_UNPAID_ORDERS_PER_IP = '1000'
  resetEnv()
})
const tag = () => randomBytes(4).toString('hex')
const db = () => getDb()

const IL = IL_ADDRESS
const IL2 = { ...IL, line1: '2 Oak Ave' }
const ON = { ...IL, city: 'Toronto', state: 'ON', postal_code: 'M5V 1A1', country: 'CA' }

type Made = Awaited<ReturnType<typeof makeUser>>
let staff: Made
let admin: Made
let alice: Made
let bob: Made
let productId: string

beforeAll(async () => {
  const d = await db()
  await d.insert(shippingRates).values({ name: 'Standard', method: 'standard', amountCents: 500 })
  await d.insert(taxRates).values({ name: 'IL', country: 'US', state: 'IL', rateBps: 1000 })
  ;[staff, admin, alice, bob] = await Promise.all([
    makeUser({ role: 'staff' }),
    makeUser({ role: 'admin' }),
    makeUser({ role: 'customer' }),
    makeUser({ role: 'customer' }),
  ])
  productId = (await makeProductRow({ inventoryQuantity: 10_000, priceCents: 1000 })).id
})

async function order(opts: { as?: Made; email?: string } = {}) {
  const body: Record<string, unknown> = {
    items: [{ product_id: productId, quantity: 1 }],
    shipping_address: IL,
  }
  if (!opts.as) body.customer_email = opts.email ?? `guest-${tag()}@example.test`
  const res = await call('POST', '/api/v1/orders', { token: opts.as?.token, body })
  expect(res.status, res.text).toBe(201)
  return res.body as { id: string; access_token?: string; email: string }
}
const get = (path: string, opts: CallOptions = {}) => call('GET', path, opts)
const put = (id: string, body: unknown, opts: CallOptions = {}) =>
  call('PUT', `/api/v1/orders/${id}`, { ...opts, body })

describe('GET /orders/{order_id}: who may see an order', () => {
  it('the owner and staff see it; staff also see flags', async () => {
    const o = await order({ as: alice })
    const mine = await get(`/api/v1/orders/${o.id}`, { token: alice.token })
    expect(mine.status, mine.text).toBe(200)
    expect(mine.body).toMatchObject({ id: o.id, user_id: alice.user.id, status: 'pending' })
    expect(mine.body.flags).toBeUndefined()
    expect(mine.body.access_token).toBeUndefined()
    const seen = await get(`/api/v1/orders/${o.id}`, { token: staff.token })
    expect(seen.status).toBe(200)
    expect(seen.body.flags).toEqual([])
  })

  it('is a 404 for another customer, anonymous callers, and any order token on an account order', async () => {
    const o = await order({ as: alice })
    expectProblem(await get(`/api/v1/orders/${o.id}`, { token: bob.token }), 404, 'not_found')
    expectProblem(await get(`/api/v1/orders/${o.id}`), 404, 'not_found')
    // the right HMAC opens guest orders only
    expectProblem(
      await get(`/api/v1/orders/${o.id}`, { headers: { 'x-order-token': orderToken(o.id) } }),
      404,
    )
    expectProblem(await get(`/api/v1/orders/${randomUUID()}`, { token: alice.token }), 404)
  })

  it('a guest sees its order with its token only; a wrong token or another order’s token is a 404', async () => {
    const g = await order()
    const other = await order()
    expect(g.access_token).toBe(orderToken(g.id))
    const ok = await get(`/api/v1/orders/${g.id}`, { headers: { 'x-order-token': g.access_token! } })
    expect(ok.status, ok.text).toBe(200)
    expect(ok.body).toMatchObject({ id: g.id, user_id: null })
    expect(ok.body.access_token).toBeUndefined()
    expectProblem(await get(`/api/v1/orders/${g.id}`), 404)
    expectProblem(await get(`/api/v1/orders/${g.id}`, { headers: { 'x-order-token': 'wrong' } }), 404)
    expectProblem(
      await get(`/api/v1/orders/${g.id}`, { headers: { 'x-order-token': other.access_token! } }),
      404,
    )
    // a signed-in customer who is not the buyer gets nothing either
    expectProblem(await get(`/api/v1/orders/${g.id}`, { token: bob.token }), 404)
  })

  it('treats every bad credential of the owner as no one: 404, never the order', async () => {
    const o = await order({ as: alice })
    for (const { label, opts } of await badCredentials(alice)) {
      const res = await get(`/api/v1/orders/${o.id}`, opts)
      expect(res.status, label).toBe(404)
      expect(res.body.id, label).toBeUndefined()
    }
  })

  it('422 for an id that is not a uuid', async () => {
    expectProblem(await get('/api/v1/orders/not-an-id', { token: alice.token }), 422)
  })
})

describe('GET /orders', () => {
  it('answers 401 for guests and for every bad token', async () => {
    for (const { label, opts } of await badCredentials(alice)) {
      const res = await get('/api/v1/orders', opts)
      expect(res.status, label).toBe(401)
    }
  })

  it('lists a customer’s own orders only (by account, never by a matching email)', async () => {
    const carol = await makeUser({ role: 'customer' })
    const a = await order({ as: carol })
    const b = await order({ as: carol })
    // a guest order under carol's email is not hers through the account
    await order({ email: carol.user.email })
    await order({ as: bob })
    const res = await get('/api/v1/orders', { token: carol.token })
    expect(res.status, res.text).toBe(200)
    expect(res.body.orders.map((o: { id: string }) => o.id)).toEqual([b.id, a.id])
    expect(res.body.pagination).toMatchObject({ page: 1, limit: 20, total: 2, pages: 1, next_cursor: null })
  })

  it('lists every order for staff, with filters', async () => {
    const email = `filter-${tag()}@example.test`
    const g = await order({ email })
    const all = await get('/api/v1/orders?limit=100', { token: staff.token })
    expect(all.status).toBe(200)
    expect(all.body.pagination.total).toBeGreaterThan(3)
    const byEmail = await get(`/api/v1/orders?email=${email.toUpperCase()}`, { token: staff.token })
    expect(byEmail.body.orders.map((o: { id: string }) => o.id)).toEqual([g.id])
    expect(byEmail.body.orders[0].flags).toEqual([])
    const d = await db()
    await d.update(orders).set({ status: 'confirmed', financialStatus: 'paid' }).where(eq(orders.id, g.id))
    const paid = await get(`/api/v1/orders?email=${email}&financial_status=paid&status=confirmed`, {
      token: staff.token,
    })
    expect(paid.body.orders).toHaveLength(1)
    const pending = await get(`/api/v1/orders?email=${email}&status=pending`, { token: staff.token })
    expect(pending.body.orders).toHaveLength(0)
    const unfulfilled = await get(`/api/v1/orders?email=${email}&fulfillment_status=unfulfilled`, {
      token: staff.token,
    })
    expect(unfulfilled.body.orders).toHaveLength(1)
    await d
      .update(orders)
      .set({ createdAt: new Date('2020-03-04T10:00:00Z') })
      .where(eq(orders.id, g.id))
    const inRange = await get(`/api/v1/orders?email=${email}&from=2020-03-04&to=2020-03-04`, {
      token: staff.token,
    })
    expect(inRange.body.orders).toHaveLength(1)
    const after = await get(`/api/v1/orders?email=${email}&from=2020-03-05`, { token: staff.token })
    expect(after.body.orders).toHaveLength(0)
    expectProblem(await get('/api/v1/orders?from=2020-03-05&to=2020-03-04', { token: staff.token }), 422)
    expectProblem(await get('/api/v1/orders?status=lost', { token: staff.token }), 422)
    expectProblem(await get('/api/v1/orders?limit=101', { token: staff.token }), 422)
  })

  it('pages by page/limit and by keyset cursor without repeats', async () => {
    const dave = await makeUser({ role: 'customer' })
    const made = [await order({ as: dave }), await order({ as: dave }), await order({ as: dave })]
    const newestFirst = made.map((o) => o.id).reverse()
    const p2 = await get('/api/v1/orders?limit=2&page=2', { token: dave.token })
    expect(p2.body.orders.map((o: { id: string }) => o.id)).toEqual([newestFirst[2]])
    expect(p2.body.pagination).toMatchObject({ page: 2, limit: 2, total: 3, pages: 2 })
    const first = await get('/api/v1/orders?limit=2', { token: dave.token })
    expect(first.body.orders.map((o: { id: string }) => o.id)).toEqual(newestFirst.slice(0, 2))
    const cursor = first.body.pagination.next_cursor
    expect(cursor).toEqual(expect.any(String))
    const next = await get(`/api/v1/orders?limit=2&cursor=${cursor}`, { token: dave.token })
    expect(next.body.orders.map((o: { id: string }) => o.id)).toEqual([newestFirst[2]])
    expect(next.body.pagination.next_cursor).toBeNull()
    expectProblem(await get('/api/v1/orders?cursor=garbage', { token: dave.token }), 422, 'invalid_cursor')
  })
})

describe('PUT /orders/{order_id}', () => {
  it('answers 401 for every bad token', async () => {
    const o = await order({ as: alice })
    for (const { label, opts } of await badCredentials(alice)) {
      const res = await put(o.id, { notes: 'x' }, opts)
      expect(res.status, label).toBe(401)
    }
  })

  it('lets the owner change notes and, while pending, an address that keeps the price', async () => {
    const o = await order({ as: alice })
    const res = await put(o.id, { notes: 'Leave at the door', shipping_address: IL2 }, { token: alice.token })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ notes: 'Leave at the door', shipping_address: { line1: '2 Oak Ave' } })
  })

  it('refuses tags and metadata from the owner (403); orders.manage may set them', async () => {
    const o = await order({ as: alice })
    expectProblem(await put(o.id, { tags: ['vip'] }, { token: alice.token }), 403)
    expectProblem(await put(o.id, { metadata: { a: 1 } }, { token: alice.token }), 403)
    const res = await put(o.id, { tags: ['vip', 'vip', 'gift'], metadata: { a: 1 } }, { token: staff.token })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ tags: ['vip', 'gift'], metadata: { a: 1 } })
  })

  it('is a 404 for another customer and a guest token; 422 for an empty or unknown body', async () => {
    const o = await order({ as: alice })
    expectProblem(await put(o.id, { notes: 'mine now' }, { token: bob.token }), 404)
    const g = await order()
    expectProblem(await put(g.id, { notes: 'x' }, { headers: { 'x-order-token': g.access_token! } }), 401)
    expectProblem(await put(g.id, { notes: 'x' }, { token: bob.token }), 404)
    expectProblem(await put(o.id, {}, { token: alice.token }), 422)
    expectProblem(await put(o.id, { total_amount: 0 }, { token: alice.token }), 422)
    const [row] = await (await db()).select().from(orders).where(eq(orders.id, o.id))
    expect(row!.notes).toBeNull()
  })

  it('409 when an address would change tax or shipping; the owner cannot change addresses once paid', async () => {
    const o = await order({ as: alice })
    expectProblem(
      await put(o.id, { shipping_address: ON }, { token: alice.token }),
      409,
      'address_changes_price',
    )
    const d = await db()
    await d.update(orders).set({ status: 'confirmed', financialStatus: 'paid' }).where(eq(orders.id, o.id))
    expectProblem(
      await put(o.id, { shipping_address: IL2 }, { token: alice.token }),
      409,
      'illegal_transition',
    )
    // staff may, as long as the price stays
    expectProblem(
      await put(o.id, { shipping_address: ON }, { token: admin.token }),
      409,
      'address_changes_price',
    )
    const ok = await put(o.id, { shipping_address: IL2, notes: 'still editable' }, { token: admin.token })
    expect(ok.status, ok.text).toBe(200)
    const [row] = await d.select().from(orders).where(eq(orders.id, o.id))
    expect(row!.shippingAddress).toMatchObject({ line1: '2 Oak Ave', state: 'IL' })
  })

  it('409 illegal_transition for shipped and closed orders, and addresses once fulfilment started', async () => {
    const d = await db()
    const fulfilling = await order({ as: alice })
    await d
      .update(orders)
      .set({ status: 'processing', financialStatus: 'paid', fulfillmentStatus: 'partial' })
      .where(eq(orders.id, fulfilling.id))
    expectProblem(
      await put(fulfilling.id, { shipping_address: IL2 }, { token: staff.token }),
      409,
      'illegal_transition',
    )
    for (const status of ['shipped', 'delivered', 'cancelled'] as const) {
      const o = await order({ as: alice })
      await d.update(orders).set({ status }).where(eq(orders.id, o.id))
      expectProblem(await put(o.id, { notes: 'late' }, { token: alice.token }), 409, 'illegal_transition')
    }
  })
})
