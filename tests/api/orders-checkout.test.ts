import { randomBytes } from 'node:crypto'
import { eq, sql } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  discountRedemptions,
  discounts,
  orderItems,
  orderStatusHistory,
  orders,
  outboxEmails,
  products,
  productVariants,
  shippingRates,
  taxRates,
} from '../../db/schema/index.js'
import { orderToken } from '../../lib/orders/access.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { IL_ADDRESS as IL } from '../support/addresses.js'
import { catalogTestEnv, expectProblem } from '../support/catalog.js'
import { makeCategory, makeProductRow, makeUser, makeVariantRow } from '../support/factories.js'
import { type CallOptions, call } from '../support/http.js'
import { countStatements } from '../support/statements.js'

// POST /orders and POST /orders/quote (issue 9, "Creating an order"): catalog prices, totals that add up,
// stock taken for every tracked item or none, the unpaid caps, guests and their tokens, Idempotency-Key,
// and every refusal leaving nothing behind.

catalogTestEnv()
const tag = () => randomBytes(4).toString('hex')
const db = () => getDb()

const ON = { ...IL, city: 'Toronto', state: 'ON', postal_code: 'M5V 1A1', country: 'CA' }

beforeAll(async () => {
  const d = await db()
  // every address gets standard (5.00, free from 100.00) and express (15.00); IL adds 10 % tax
  await d.insert(shippingRates).values([
    {
      name: 'Standard',
      method: 'standard',
      amountCents: 500,
      freeAboveCents: 10_000,
      minDays: 3,
      maxDays: 5,
    },
    { name: 'Express', method: 'express', amountCents: 1500, minDays: 1, maxDays: 2 },
  ])
  await d.insert(taxRates).values({ name: 'IL', country: 'US', state: 'IL', rateBps: 1000 })
})

const guestEmail = () => `guest-${tag()}@example.test`
const post = (body: unknown, opts: CallOptions = {}) => call('POST', '/api/v1/orders', { ...opts, body })
const quote = (body: unknown, opts: CallOptions = {}) =>
  call('POST', '/api/v1/orders/quote', { ...opts, body })

async function productQty(id: string) {
  const [p] = await (await db()).select().from(products).where(eq(products.id, id))
  return p!.inventoryQuantity
}
async function variantQty(id: string) {
  const [v] = await (await db()).select().from(productVariants).where(eq(productVariants.id, id))
  return v!.inventoryQuantity
}
async function ordersOf(email: string) {
  return (await db()).select().from(orders).where(eq(orders.email, email))
}
async function orderCount() {
  const r = await (await db()).execute(sql`select count(*)::int as n from orders`)
  return Number((r as unknown as { rows: Array<{ n: number }> }).rows[0]!.n)
}

describe('POST /orders: a guest order', () => {
  it('answers 201 with catalog prices, totals that add up, an access token; stock, history and email written', async () => {
    const p = await makeProductRow({ priceCents: 2000, inventoryQuantity: 5, weightGrams: 300 })
    const parent = await makeProductRow({ priceCents: 1500 })
    const v = await makeVariantRow(parent.id, { inventoryQuantity: 4, priceCents: null })
    const email = guestEmail()
    const res = await post(
      {
        items: [
          { product_id: p.id, quantity: 2, price: 0.01 },
          { product_id: parent.id, variant_id: v.id, quantity: 1 },
        ],
        shipping_address: IL,
        customer_email: email,
        customer_phone: '+1 555 0100',
        notes: 'Leave at the door',
      },
      { socketAddress: '203.0.113.7' },
    )
    expect(res.status, res.text).toBe(201)
    const o = res.body
    expect(o).toMatchObject({
      status: 'pending',
      financial_status: 'pending',
      fulfillment_status: 'unfulfilled',
      currency: 'USD',
      taxes_included: false,
      user_id: null,
      email,
      customer_phone: '+1 555 0100',
      notes: 'Leave at the door',
      subtotal: 55,
      discount_amount: 0,
      shipping_method: 'standard',
      shipping_amount: 5,
      tax_amount: 5.5,
      total_amount: 65.5,
      payment: { provider: 'manual', client_secret: null },
    })
    expect(o.order_number).toBeGreaterThan(1000)
    expect(o.access_token).toBe(orderToken(o.id))
    expect(o.items).toHaveLength(2)
    expect(o.items[0]).toMatchObject({ product_id: p.id, sku: p.sku, unit_price: 20, quantity: 2 })
    // the variant inherits its product's price
    expect(o.items[1]).toMatchObject({ variant_id: v.id, sku: v.sku, unit_price: 15, variant_title: v.title })
    const lineSum = o.items.reduce((s: number, i: { total_amount: number }) => s + i.total_amount, 0)
    expect(Math.round((lineSum + o.shipping_amount) * 100)).toBe(Math.round(o.total_amount * 100))
    expect(await productQty(p.id)).toBe(3)
    expect(await variantQty(v.id)).toBe(3)
    const d = await db()
    const [row] = await d.select().from(orders).where(eq(orders.id, o.id))
    expect(row!.clientIp).toBe('203.0.113.7')
    const history = await d.select().from(orderStatusHistory).where(eq(orderStatusHistory.orderId, o.id))
    expect(history.map((h) => [h.type, h.fromStatus, h.toStatus])).toEqual([['order', null, 'pending']])
    const mail = await d.select().from(outboxEmails).where(eq(outboxEmails.toEmail, email))
    expect(mail.map((m) => m.template)).toEqual(['order_confirmation'])
  })

  it('requires customer_email from guests (422), and refuses it from signed-in buyers (422)', async () => {
    const p = await makeProductRow()
    const noEmail = await post({ items: [{ product_id: p.id, quantity: 1 }], shipping_address: IL })
    expectProblem(noEmail, 422, 'required')
    expect(noEmail.body.errors[0].path).toBe('customer_email')
    const buyer = await makeUser()
    const withEmail = await post(
      { items: [{ product_id: p.id, quantity: 1 }], shipping_address: IL, customer_email: guestEmail() },
      { token: buyer.token },
    )
    expectProblem(withEmail, 422, 'customer_email_not_allowed')
    expect(await productQty(p.id)).toBe(p.inventoryQuantity)
  })
})

describe('POST /orders: a signed-in buyer', () => {
  it('orders under the account email and owns the order; no access token', async () => {
    const buyer = await makeUser()
    const p = await makeProductRow({ priceCents: 1000, inventoryQuantity: 2 })
    const res = await post(
      { items: [{ product_id: p.id, quantity: 1 }], shipping_address: ON, shipping_method: 'express' },
      { token: buyer.token },
    )
    expect(res.status, res.text).toBe(201)
    expect(res.body).toMatchObject({
      user_id: buyer.user.id,
      email: buyer.user.email,
      shipping_method: 'express',
      shipping_amount: 15,
      tax_amount: 0,
      total_amount: 25,
    })
    expect(res.body.access_token).toBeUndefined()
  })
})

describe('POST /orders: refusals change nothing', () => {
  it('422 naming the line for unknown, inactive, invisible and hidden-category products', async () => {
    const hidden = await makeCategory({ is_visible: false })
    const ok = await makeProductRow({ inventoryQuantity: 9 })
    const draft = await makeProductRow({ status: 'draft' })
    const invisible = await makeProductRow({ isVisible: false })
    const inHidden = await makeProductRow({ categoryId: hidden.id })
    const before = await orderCount()
    for (const bad of ['00000000-0000-4000-8000-000000000000', draft.id, invisible.id, inHidden.id]) {
      const res = await post({
        items: [
          { product_id: ok.id, quantity: 1 },
          { product_id: bad, quantity: 1 },
        ],
        shipping_address: IL,
        customer_email: guestEmail(),
      })
      expectProblem(res, 422, 'product_unavailable')
      expect(res.body.errors).toEqual([expect.objectContaining({ path: 'items.1.product_id' })])
    }
    expect(await orderCount()).toBe(before)
    expect(await productQty(ok.id)).toBe(9)
  })

  it('422 on variant_id: required, not allowed, of another product, inactive', async () => {
    const parent = await makeProductRow()
    const other = await makeProductRow()
    const v = await makeVariantRow(parent.id, { inventoryQuantity: 3 })
    const foreign = await makeVariantRow(other.id)
    const inactive = await makeVariantRow(parent.id, { isActive: false })
    const plain = await makeProductRow()
    const cases: Array<[unknown, string]> = [
      [{ product_id: parent.id, quantity: 1 }, 'variant_required'],
      [{ product_id: plain.id, variant_id: v.id, quantity: 1 }, 'variant_not_allowed'],
      [{ product_id: parent.id, variant_id: foreign.id, quantity: 1 }, 'variant_unavailable'],
      [{ product_id: parent.id, variant_id: inactive.id, quantity: 1 }, 'variant_unavailable'],
    ]
    for (const [item, code] of cases) {
      const res = await post({ items: [item], shipping_address: IL, customer_email: guestEmail() })
      expectProblem(res, 422, code)
      expect(res.body.errors[0].path).toBe('items.0.variant_id')
    }
    expect(await variantQty(v.id)).toBe(3)
  })

  it('422 for a bad body: no items, zero quantity, bad state, unknown field', async () => {
    const p = await makeProductRow()
    const email = guestEmail()
    for (const body of [
      { items: [], shipping_address: IL, customer_email: email },
      { items: [{ product_id: p.id, quantity: 0 }], shipping_address: IL, customer_email: email },
      {
        items: [{ product_id: p.id, quantity: 1 }],
        shipping_address: { ...IL, state: 'XX' },
        customer_email: email,
      },
      { items: [{ product_id: p.id, quantity: 1 }], shipping_address: IL, customer_email: email, total: 1 },
    ]) {
      expectProblem(await post(body), 422)
    }
    expect(await ordersOf(email)).toHaveLength(0)
  })

  it('409 out_of_stock naming the line; nothing is taken or created', async () => {
    const plenty = await makeProductRow({ inventoryQuantity: 10 })
    const parent = await makeProductRow()
    const v = await makeVariantRow(parent.id, { inventoryQuantity: 3 })
    const email = guestEmail()
    const res = await post({
      items: [
        { product_id: plenty.id, quantity: 1 },
        { product_id: parent.id, variant_id: v.id, quantity: 2 },
        // the same variant on a second line: 4 in all
        { product_id: parent.id, variant_id: v.id, quantity: 2 },
      ],
      shipping_address: IL,
      customer_email: email,
    })
    expectProblem(res, 409, 'out_of_stock')
    expect(res.body.errors[0].path).toBe('items.1')
    expect(await productQty(plenty.id)).toBe(10)
    expect(await variantQty(v.id)).toBe(3)
    expect(await ordersOf(email)).toHaveLength(0)
    const mail = await (await db()).select().from(outboxEmails).where(eq(outboxEmails.toEmail, email))
    expect(mail).toHaveLength(0)
  })

  it('refuses an item the cart read shows short before writing anything (no insert to roll back)', async () => {
    const parent = await makeProductRow()
    const v = await makeVariantRow(parent.id, { inventoryQuantity: 3 })
    const untracked = await makeProductRow({ inventoryQuantity: 0, trackInventory: false })
    const d = await db()
    let res: Awaited<ReturnType<typeof post>> | undefined
    const { texts } = await countStatements(d, async () => {
      res = await post({
        items: [
          { product_id: untracked.id, quantity: 5 },
          { product_id: parent.id, variant_id: v.id, quantity: 2 },
          { product_id: parent.id, variant_id: v.id, quantity: 2 },
        ],
        shipping_address: IL,
        customer_email: guestEmail(),
      })
    })
    expectProblem(res!, 409, 'out_of_stock')
    expect(res!.body.errors[0].path).toBe('items.1')
    expect(res!.body.detail).toContain('3 available')
    expect(
      texts.filter(
        (t) =>
          /^\s*(insert|update)\b/i.test(t) ||
          /\b(insert into|update) "?(orders|order_items|products|product_variants)"?\b/i.test(t),
      ),
    ).toEqual([])
  })

  it('422 for an unknown shipping method and an unknown discount code', async () => {
    const p = await makeProductRow({ inventoryQuantity: 4 })
    const email = guestEmail()
    const base = { items: [{ product_id: p.id, quantity: 1 }], shipping_address: IL, customer_email: email }
    const method = await post({ ...base, shipping_method: 'teleport' })
    expectProblem(method, 422)
    expect(method.body.errors[0].path).toBe('shipping_method')
    const code = await post({ ...base, discount_code: `NOPE${tag()}` })
    expectProblem(code, 422)
    expect(code.body.errors[0].path).toBe('discount_code')
    expect(await ordersOf(email)).toHaveLength(0)
    expect(await productQty(p.id)).toBe(4)
  })
})

describe('POST /orders: discounts', () => {
  it('applies a code, spreads it over the lines and records one redemption', async () => {
    const d = await db()
    const code = `TEN${tag()}`.toUpperCase()
    const [disc] = await d
      .insert(discounts)
      .values({ code, type: 'percentage', percentBps: 1000, usageLimit: 1 })
      .returning()
    const a = await makeProductRow({ priceCents: 3000, inventoryQuantity: 5 })
    const b = await makeProductRow({ priceCents: 1000, inventoryQuantity: 5 })
    const email = guestEmail()
    const res = await post({
      items: [
        { product_id: a.id, quantity: 1 },
        { product_id: b.id, quantity: 1 },
      ],
      shipping_address: ON,
      customer_email: email,
      discount_code: code.toLowerCase(),
    })
    expect(res.status, res.text).toBe(201)
    expect(res.body).toMatchObject({ subtotal: 40, discount_amount: 4, discount_code: code })
    expect(res.body.items.map((i: { discount_amount: number }) => i.discount_amount)).toEqual([3, 1])
    const used = await d
      .select()
      .from(discountRedemptions)
      .where(eq(discountRedemptions.discountId, disc!.id))
    expect(used).toEqual([expect.objectContaining({ orderId: res.body.id, email })])
    // the limit of one is reached: the next buyer is refused and nothing is taken
    const again = await post({
      items: [{ product_id: a.id, quantity: 1 }],
      shipping_address: ON,
      customer_email: guestEmail(),
      discount_code: code,
    })
    expectProblem(again, 422)
    expect(again.body.errors[0].path).toBe('discount_code')
    expect(await productQty(a.id)).toBe(4)
  })
})

describe('POST /orders: unpaid caps', () => {
  it('429 too_many_unpaid_orders per account and per guest email, nothing created', async () => {
    process.env.MAX_UNPAID_ORDERS_PER_BUYER = '2'
    resetEnv()
    const buyer = await makeUser()
    const p = await makeProductRow({ inventoryQuantity: 50 })
    const body = { items: [{ product_id: p.id, quantity: 1 }], shipping_address: IL }
    for (let i = 0; i < 2; i++) expect((await post(body, { token: buyer.token })).status).toBe(201)
    expectProblem(await post(body, { token: buyer.token }), 429, 'too_many_unpaid_orders')
    const email = guestEmail()
    for (let i = 0; i < 2; i++) expect((await post({ ...body, customer_email: email })).status).toBe(201)
    // the cap counts the lower-cased email
    expectProblem(await post({ ...body, customer_email: email.toUpperCase() }), 429, 'too_many_unpaid_orders')
    expect(await ordersOf(email)).toHaveLength(2)
    expect(await productQty(p.id)).toBe(46)
    // an order that is no longer pending does not count
    await (await db()).update(orders).set({ status: 'confirmed' }).where(eq(orders.userId, buyer.user.id))
    expect((await post(body, { token: buyer.token })).status).toBe(201)
  })

  it('429 per client IP, lifted by RATE_LIMITS=off', async () => {
    process.env.MAX_UNPAID_ORDERS_PER_IP = '2'
    resetEnv()
    const p = await makeProductRow({ inventoryQuantity: 50 })
    const ip = '198.51.100.23'
    const body = () => ({
      items: [{ product_id: p.id, quantity: 1 }],
      shipping_address: IL,
      customer_email: guestEmail(),
    })
    for (let i = 0; i < 2; i++) expect((await post(body(), { socketAddress: ip })).status).toBe(201)
    expectProblem(await post(body(), { socketAddress: ip }), 429, 'too_many_unpaid_orders')
    expect((await post(body(), { socketAddress: '198.51.100.24' })).status).toBe(201)
    process.env.RATE_LIMITS = 'off'
    resetEnv()
    expect((await post(body(), { socketAddress: ip })).status).toBe(201)
  })
})

describe('POST /orders: Idempotency-Key', () => {
  it('replays the first answer (same order, token rebuilt), 409 for another body, nothing created twice', async () => {
    const p = await makeProductRow({ inventoryQuantity: 5 })
    const email = guestEmail()
    const body = { items: [{ product_id: p.id, quantity: 1 }], shipping_address: IL, customer_email: email }
    const key = `key-${tag()}`
    const first = await post(body, { headers: { 'idempotency-key': key } })
    expect(first.status, first.text).toBe(201)
    const replay = await post(body, { headers: { 'idempotency-key': key } })
    expect(replay.status).toBe(201)
    expect(replay.headers.get('idempotent-replayed')).toBe('true')
    expect(replay.body.id).toBe(first.body.id)
    expect(replay.body.access_token).toBe(first.body.access_token)
    expect(replay.body.total_amount).toBe(first.body.total_amount)
    const other = await post({ ...body, notes: 'changed' }, { headers: { 'idempotency-key': key } })
    expectProblem(other, 409, 'idempotency_key_reused')
    expect(await ordersOf(email)).toHaveLength(1)
    expect(await productQty(p.id)).toBe(4)
    // the key stores the order id only, never the token
    const r = await (await db()).execute(sql`select response_body from idempotency_keys where key = ${key}`)
    const stored = (r as unknown as { rows: Array<{ response_body: unknown }> }).rows[0]!.response_body
    expect(JSON.stringify(stored)).not.toContain(first.body.access_token)
  })

  it('scopes keys to the caller: another buyer with the same key gets an order of their own', async () => {
    const p = await makeProductRow({ inventoryQuantity: 5 })
    const [a, b] = await Promise.all([makeUser(), makeUser()])
    const body = { items: [{ product_id: p.id, quantity: 1 }], shipping_address: IL }
    const key = `shared-${tag()}`
    const ra = await post(body, { token: a.token, headers: { 'idempotency-key': key } })
    const rb = await post(body, { token: b.token, headers: { 'idempotency-key': key } })
    expect([ra.status, rb.status]).toEqual([201, 201])
    expect(rb.body.id).not.toBe(ra.body.id)
    expect(rb.body.user_id).toBe(b.user.id)
  })
})

describe('POST /orders: one transaction of a fixed size', () => {
  it('sends the same number of statements for 1 and 20 lines', async () => {
    const items = await Promise.all(
      Array.from({ length: 20 }, () => makeProductRow({ priceCents: 100, inventoryQuantity: 5 })),
    )
    const d = await db()
    const count = async (n: number) =>
      (
        await countStatements(d, async () => {
          const res = await post({
            items: items.slice(0, n).map((p) => ({ product_id: p.id, quantity: 1 })),
            shipping_address: IL,
            customer_email: guestEmail(),
          })
          expect(res.status, res.text).toBe(201)
        })
      ).statements
    const one = await count(1)
    const twenty = await count(20)
    expect(twenty).toBe(one)
    const [line] = await d.select().from(orderItems).where(eq(orderItems.productId, items[19]!.id))
    expect(line).toBeDefined()
  })
})

describe('POST /orders: the hot rows are locked last', () => {
  it('takes the stock and redeems the discount in one statement, after every other write of the order', async () => {
    const d = await db()
    const code = `HOT${tag()}`.toUpperCase()
    const [disc] = await d
      .insert(discounts)
      .values({ code, type: 'percentage', percentBps: 1000, usageLimit: 10 })
      .returning()
    const p = await makeProductRow({ priceCents: 2000, inventoryQuantity: 5 })
    let res: Awaited<ReturnType<typeof post>> | undefined
    const { texts } = await countStatements(d, async () => {
      res = await post(
        {
          items: [{ product_id: p.id, quantity: 2 }],
          shipping_address: IL,
          customer_email: guestEmail(),
          discount_code: code,
        },
        { headers: { 'idempotency-key': `hot-${tag()}` } },
      )
    })
    expect(res!.status, res!.text).toBe(201)
    const take = texts.findIndex((t) => /update products p set inventory_quantity/i.test(t))
    expect(take).toBeGreaterThan(0)
    // one statement locks both hot rows: the product's stock and the discount's use count
    expect(texts[take]).toMatch(/update discounts set times_used = times_used \+ 1/i)
    expect(texts[take]).toMatch(/insert into discount_redemptions/i)
    // every other write of the order's transaction came before it
    const writes = (ts: string[], table: string) =>
      ts.filter((t) => new RegExp(`(insert into|update) "?${table}"?\\b`, 'i').test(t)).length
    const before = texts.slice(0, take)
    const after = texts.slice(take + 1)
    for (const table of [
      'orders',
      'order_items',
      'order_status_history',
      'outbox_emails',
      'idempotency_keys',
    ]) {
      expect(writes(before, table), table).toBeGreaterThan(0)
      expect(writes(after, table), table).toBe(0)
    }
    expect(
      after.filter((t) => /(update|insert into) "?(products|discounts|discount_redemptions)"?\b/i.test(t)),
    ).toEqual([])
    // the answer's order was read inside the transaction: nothing reads it after the commit
    expect(before.some((t) => /from "orders"/i.test(t))).toBe(true)
    expect(after.filter((t) => /from "orders"/i.test(t))).toEqual([])
    expect(await productQty(p.id)).toBe(3)
    const [counted] = await d.select().from(discounts).where(eq(discounts.id, disc!.id))
    expect(counted!.timesUsed).toBe(1)
  })
})

describe('POST /orders/quote', () => {
  it('answers every amount and the shipping options, creating and taking nothing', async () => {
    const p = await makeProductRow({ priceCents: 6000, inventoryQuantity: 3 })
    const before = await orderCount()
    const res = await quote({
      items: [{ product_id: p.id, quantity: 2, price: 1 }],
      shipping_address: IL,
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({
      currency: 'USD',
      taxes_included: false,
      subtotal: 120,
      discount_amount: 0,
      // free standard shipping from 100.00
      shipping_method: 'standard',
      shipping_amount: 0,
      tax_amount: 12,
      total_amount: 132,
      items: [expect.objectContaining({ product_id: p.id, unit_price: 60, quantity: 2, total_amount: 132 })],
    })
    expect(res.body.shipping_options).toEqual([
      { method: 'standard', name: 'Standard', amount: 0, min_days: 3, max_days: 5 },
      { method: 'express', name: 'Express', amount: 15, min_days: 1, max_days: 2 },
    ])
    expect(await orderCount()).toBe(before)
    expect(await productQty(p.id)).toBe(3)
  })

  it('refuses the same bad lines as an order, and customer_email from signed-in buyers', async () => {
    const draft = await makeProductRow({ status: 'draft' })
    const res = await quote({ items: [{ product_id: draft.id, quantity: 1 }], shipping_address: IL })
    expectProblem(res, 422, 'product_unavailable')
    const buyer = await makeUser()
    const p = await makeProductRow()
    expectProblem(
      await quote(
        { items: [{ product_id: p.id, quantity: 1 }], shipping_address: IL, customer_email: guestEmail() },
        { token: buyer.token },
      ),
      422,
      'customer_email_not_allowed',
    )
  })
})
