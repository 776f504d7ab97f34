import { randomBytes } from 'node:crypto'
import { eq, sql } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { discounts, orders, products } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { IL_ADDRESS as IL } from '../support/addresses.js'
import { catalogTestEnv, expectProblem } from '../support/catalog.js'
import { makeProductRow, makeUser, makeVariantRow } from '../support/factories.js'
import { type CallOptions, call } from '../support/http.js'

// What one buyer can hold or learn at checkout (issue 15, defects 5 and 7): the guest unpaid cap counts
// per email and client IP, MAX_QUANTITY_PER_ITEM caps an item's units per order, and a discount code
// limited per customer needs a signed-in buyer, so no answer depends on an email a stranger types.

catalogTestEnv()
const tag = () => randomBytes(4).toString('hex')
const post = (body: unknown, opts: CallOptions = {}) => call('POST', '/api/v1/orders', { ...opts, body })
const quote = (body: unknown, opts: CallOptions = {}) =>
  call('POST', '/api/v1/orders/quote', { ...opts, body })
const email = (who: string) => `${who}-${tag()}@example.test`

async function pendingUnder(address: string) {
  const r = await (await getDb()).execute(
    sql`select count(*)::int as n from orders where lower(email) = ${address.toLowerCase()} and status = 'pending'`,
  )
  return Number((r as unknown as { rows: Array<{ n: number }> }).rows[0]!.n)
}
async function stockOf(id: string) {
  const [p] = await (await getDb()).select().from(products).where(eq(products.id, id))
  return p!.inventoryQuantity
}

describe('POST /orders: the guest unpaid cap counts per email and client IP', () => {
  it('three guest orders under an email from one address do not lock its owner out elsewhere', async () => {
    const p = await makeProductRow({ inventoryQuantity: 100 })
    const victim = email('victim')
    const body = { items: [{ product_id: p.id, quantity: 1 }], shipping_address: IL, customer_email: victim }
    const stranger = { socketAddress: '203.0.113.50' }
    for (let i = 0; i < 3; i++) expect((await post(body, stranger)).status).toBe(201)
    expectProblem(await post(body, stranger), 429, 'too_many_unpaid_orders')
    // the owner of the email, from their own address (in another case): their checkout goes through
    const own = await post(
      { ...body, customer_email: victim.toUpperCase() },
      { socketAddress: '198.51.100.7' },
    )
    expect(own.status, own.text).toBe(201)
    expect(await pendingUnder(victim)).toBe(4)
  })

  it('counts an unknown client IP as one address of its own', async () => {
    const p = await makeProductRow({ inventoryQuantity: 100 })
    const buyer = email('unknown-ip')
    const body = { items: [{ product_id: p.id, quantity: 1 }], shipping_address: IL, customer_email: buyer }
    const known = { socketAddress: '198.51.100.8' }
    for (let i = 0; i < 3; i++) expect((await post(body, known)).status).toBe(201)
    expectProblem(await post(body, known), 429, 'too_many_unpaid_orders')
    // no address known: neither the email's orders from known addresses count, nor do these count there
    for (let i = 0; i < 3; i++) expect((await post(body)).status).toBe(201)
    expectProblem(await post(body), 429, 'too_many_unpaid_orders')
    const unknown = await (await getDb())
      .select()
      .from(orders)
      .where(sql`lower(${orders.email}) = ${buyer} and ${orders.clientIp} is null`)
    expect(unknown).toHaveLength(3)
  })

  it('counts an account’s own orders from the address for a guest under its email; strangers never cap the account', async () => {
    process.env.MAX_UNPAID_ORDERS_PER_BUYER = '2'
    resetEnv()
    const p = await makeProductRow({ inventoryQuantity: 100 })
    const account = await makeUser({ email: email('account') })
    const home = { socketAddress: '198.51.100.9' }
    const items = [{ product_id: p.id, quantity: 1 }]
    expect((await post({ items, shipping_address: IL }, { ...home, token: account.token })).status).toBe(201)
    const asGuest = { items, shipping_address: IL, customer_email: account.user.email }
    expect((await post(asGuest, home)).status).toBe(201)
    // signing out buys no second allowance at the same address
    expectProblem(await post(asGuest, home), 429, 'too_many_unpaid_orders')
    // a stranger elsewhere using the account's email has an allowance of their own and takes none of its
    const away = { socketAddress: '203.0.113.51' }
    for (let i = 0; i < 2; i++) expect((await post(asGuest, away)).status).toBe(201)
    const again = await post({ items, shipping_address: IL }, { ...away, token: account.token })
    expect(again.status, again.text).toBe(201)
  })
})

describe('MAX_QUANTITY_PER_ITEM', () => {
  it('caps one item’s units in an order and a quote, summed over its lines: 422 quantity_limit on the line', async () => {
    const p = await makeProductRow({ inventoryQuantity: 100, priceCents: 100 })
    const parent = await makeProductRow({ priceCents: 100 })
    const [v1, v2] = await Promise.all([
      makeVariantRow(parent.id, { inventoryQuantity: 50 }),
      makeVariantRow(parent.id, { inventoryQuantity: 50 }),
    ])
    const cart = (items: unknown[]) => ({ items, shipping_address: IL, customer_email: email('qty') })
    // at the default cap of 10: accepted; each variant is an item of its own
    expect((await quote(cart([{ product_id: p.id, quantity: 10 }]))).status).toBe(200)
    const variants = cart([
      { product_id: parent.id, variant_id: v1!.id, quantity: 10 },
      { product_id: parent.id, variant_id: v2!.id, quantity: 10 },
    ])
    expect((await quote(variants)).status).toBe(200)

    const eleven = cart([{ product_id: p.id, quantity: 11 }])
    for (const res of [await quote(eleven), await post(eleven)]) {
      expectProblem(res, 422, 'quantity_limit')
      expect(res.body.errors).toEqual([
        expect.objectContaining({ path: 'items.0.quantity', code: 'quantity_limit' }),
      ])
    }
    // one item on two lines is summed: the line where it passes the cap is named, once
    const split = cart([
      { product_id: p.id, quantity: 6 },
      { product_id: parent.id, variant_id: v1!.id, quantity: 1 },
      { product_id: p.id, quantity: 5 },
      { product_id: p.id, quantity: 1 },
    ])
    for (const res of [await quote(split), await post(split)]) {
      expectProblem(res, 422, 'quantity_limit')
      expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(['items.2.quantity'])
    }
    expect(await stockOf(p.id)).toBe(100)
    expect(await pendingUnder(split.customer_email)).toBe(0)

    process.env.MAX_QUANTITY_PER_ITEM = '2'
    resetEnv()
    expectProblem(await post(cart([{ product_id: p.id, quantity: 3 }])), 422, 'quantity_limit')
    expect((await post(cart([{ product_id: p.id, quantity: 2 }]))).status).toBe(201)
  })
})

describe('discount codes limited per customer', () => {
  it('need a signed-in buyer: a guest gets the same 422 sign_in_required whatever email it types', async () => {
    const p = await makeProductRow({ inventoryQuantity: 20, priceCents: 5000 })
    const code = `ONCE${tag()}`.toUpperCase()
    await (await getDb())
      .insert(discounts)
      .values({ code, type: 'percentage', percentBps: 1000, usageLimitPerCustomer: 1 })
    const items = [{ product_id: p.id, quantity: 1 }]
    const user = await makeUser({ email: email('used') })
    const mine = await post({ items, shipping_address: IL, discount_code: code }, { token: user.token })
    expect(mine.status, mine.text).toBe(201)
    expect(mine.body.discount_amount).toBe(5)

    // the email that used it, a fresh one, none: one answer, so the code's history stays private
    const answers = []
    for (const typed of [user.user.email, email('fresh'), undefined]) {
      const body = { items, shipping_address: IL, discount_code: code, customer_email: typed }
      const res = await quote(body)
      expectProblem(res, 422, 'sign_in_required')
      expect(res.body.errors).toEqual([expect.objectContaining({ path: 'discount_code' })])
      answers.push([res.body.code, res.body.detail, res.body.errors])
    }
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1)
    const guest = await post({ items, shipping_address: IL, discount_code: code, customer_email: email('g') })
    expectProblem(guest, 422, 'sign_in_required')
    expect(guest.body.errors[0].path).toBe('discount_code')
    expect(await stockOf(p.id)).toBe(19)

    // signed in, the limit is counted against the caller's own account
    const again = await quote({ items, shipping_address: IL, discount_code: code }, { token: user.token })
    expectProblem(again, 422, 'discount_customer_limit_reached')
    const other = await makeUser()
    const theirs = await quote({ items, shipping_address: IL, discount_code: code }, { token: other.token })
    expect(theirs.status, theirs.text).toBe(200)
    expect(theirs.body.discount_amount).toBe(5)
  })
})

describe('a cart whose lines are all free', () => {
  it('is quoted and ordered at 0 with a discount code (no division by a zero subtotal)', async () => {
    const free = await makeProductRow({ inventoryQuantity: 5, priceCents: 0 })
    const alsoFree = await makeProductRow({ inventoryQuantity: 5, priceCents: 0 })
    const code = `FREE${tag()}`.toUpperCase()
    await (await getDb()).insert(discounts).values({ code, type: 'percentage', percentBps: 2500 })
    const body = {
      items: [
        { product_id: free.id, quantity: 2 },
        { product_id: alsoFree.id, quantity: 1 },
      ],
      shipping_address: IL,
      customer_email: email('free'),
      discount_code: code,
    }
    const q = await quote(body)
    expect(q.status, q.text).toBe(200)
    expect(q.body).toMatchObject({ subtotal: 0, discount_amount: 0, total_amount: 0 })
    const o = await post(body)
    expect(o.status, o.text).toBe(201)
    expect(o.body.items.map((i: { discount_amount: number }) => i.discount_amount)).toEqual([0, 0])
  })
})
