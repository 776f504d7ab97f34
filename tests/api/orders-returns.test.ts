import { eq } from 'drizzle-orm'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { inventoryLedger, returns } from '../../db/schema/index.js'
import { orderToken } from '../../lib/orders/access.js'
import { resetStripeClient } from '../../lib/payments/stripe.js'
import { getDb } from '../../lib/platform/db.js'
import { as, callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
import { restoreEnv, setEnv } from '../support/env.js'
import { makeUser } from '../support/factories.js'
import { setOrder, shippableOrder, stockOf } from '../support/fulfilment.js'
import { call } from '../support/http.js'
import { KEYS, useMsw } from '../support/msw.js'
import { orderInState } from '../support/orders-payments.js'
import { useFakeStripe } from '../support/stripe.js'
import { badCredentials } from '../support/token-cases.js'

catalogTestEnv()
const server = useMsw()
let people: Awaited<ReturnType<typeof callers>>

beforeEach(async () => {
  setEnv({ SHIPPO_API_KEY: undefined, STRIPE_SECRET_KEY: undefined, RETURN_WINDOW_DAYS: '30' })
  people = await callers()
})
afterEach(() => restoreEnv())

const staff = () => as(people.staff.token)

async function deliveredOrder(opts: { quantities?: number[] } = {}) {
  const buyer = await makeUser()
  const made = await shippableOrder({ userId: buyer.user.id, quantities: opts.quantities ?? [2, 1] })
  expect(
    (await staff().post(`/api/v1/orders/${made.order.id}/ship`, { tracking_number: 'T-1' })).status,
  ).toBe(200)
  const done = await staff().post(`/api/v1/orders/${made.order.id}/deliver`, {})
  expect(done.body.status).toBe('delivered')
  return { ...made, buyer }
}

const returnPath = (id: string) => `/api/v1/orders/${id}/return`

describe('POST /orders/{order_id}/return', () => {
  it('lets the buyer ask to return delivered units: 201 with a requested RMA', async () => {
    const { order, items, buyer } = await deliveredOrder()
    const res = await as(buyer.token).post(returnPath(order.id), {
      items: [{ order_item_id: items[0]!.id, quantity: 1 }],
      reason: 'Too small',
    })
    expect(res.status, res.text).toBe(201)
    expect(res.body).toMatchObject({
      order_id: order.id,
      status: 'requested',
      reason: 'Too small',
      rma_number: `RMA-${order.orderNumber}-1`,
      items: [{ order_item_id: items[0]!.id, quantity: 1 }],
      refund_id: null,
    })
    const second = await staff().post(returnPath(order.id), {
      items: [{ order_item_id: items[0]!.id, quantity: 1 }],
      reason: 'Other one too',
    })
    expect(second.status, second.text).toBe(201)
    expect(second.body.rma_number).toBe(`RMA-${order.orderNumber}-2`)
  })

  it('refuses units already requested or returned, and lines of another order (422)', async () => {
    const { order, items, buyer } = await deliveredOrder({ quantities: [2] })
    await as(buyer.token).post(returnPath(order.id), {
      items: [{ order_item_id: items[0]!.id, quantity: 2 }],
      reason: 'x',
    })
    const more = await as(buyer.token).post(returnPath(order.id), {
      items: [{ order_item_id: items[0]!.id, quantity: 1 }],
      reason: 'x',
    })
    expectProblem(more, 422)
    expect(more.body.errors[0]).toMatchObject({ path: 'items.0.quantity', code: 'exceeds_remaining' })
    const other = await shippableOrder()
    const foreign = await as(buyer.token).post(returnPath(order.id), {
      items: [{ order_item_id: other.items[0]!.id, quantity: 1 }],
      reason: 'x',
    })
    expectProblem(foreign, 422)
    expect(foreign.body.errors[0]).toMatchObject({ path: 'items.0.order_item_id', code: 'not_in_order' })
    expectProblem(await as(buyer.token).post(returnPath(order.id), { items: [], reason: 'x' }), 422)
    expectProblem(
      await as(buyer.token).post(returnPath(order.id), {
        items: [{ order_item_id: items[0]!.id, quantity: 1 }],
      }),
      422,
    )
  })

  it('closes for the buyer after RETURN_WINDOW_DAYS; staff may still open one', async () => {
    const { order, items, buyer } = await deliveredOrder()
    // delivered 31 days ago (moving the clock instead would expire the access tokens)
    await setOrder(order.id, { deliveredAt: new Date(Date.now() - 31 * 86_400_000) })
    const body = { items: [{ order_item_id: items[0]!.id, quantity: 1 }], reason: 'late' }
    expectProblem(await as(buyer.token).post(returnPath(order.id), body), 409, 'return_window_closed')
    expect((await staff().post(returnPath(order.id), body)).status).toBe(201)
  })

  it.each(['confirmed', 'processing', 'shipped', 'cancelled'] as const)(
    'refuses an order that is %s (409 illegal_transition)',
    async (status) => {
      const buyer = await makeUser()
      const { order, items } = await shippableOrder({ userId: buyer.user.id, status })
      const res = await as(buyer.token).post(returnPath(order.id), {
        items: [{ order_item_id: items[0]!.id, quantity: 1 }],
        reason: 'x',
      })
      expectProblem(res, 409, 'illegal_transition')
    },
  )

  it('another customer’s order is 404; a guest (even with its token) cannot return here (401)', async () => {
    const { order, items } = await deliveredOrder()
    const body = { items: [{ order_item_id: items[0]!.id, quantity: 1 }], reason: 'x' }
    expectProblem(await as(people.customer.token).post(returnPath(order.id), body), 404)
    const res = await call('POST', returnPath(order.id), {
      body,
      headers: { 'x-order-token': orderToken(order.id) },
    })
    expectProblem(res, 401)
    for (const c of await badCredentials(people.staff)) {
      expect((await call('POST', returnPath(order.id), { ...c.opts, body })).status, c.label).toBe(401)
    }
    const db = await getDb()
    expect(await db.select().from(returns).where(eq(returns.orderId, order.id))).toHaveLength(0)
  })
})

async function requested(quantities = [2, 1]) {
  const made = await deliveredOrder({ quantities })
  const res = await as(made.buyer.token).post(returnPath(made.order.id), {
    items: made.items.map((i) => ({ order_item_id: i.id, quantity: i.quantity })),
    reason: 'Changed my mind',
  })
  expect(res.status, res.text).toBe(201)
  return { ...made, ret: res.body }
}

describe('GET /returns', () => {
  it('lists returns to staff, filtered by status and order, paged', async () => {
    const a = await requested()
    const b = await requested()
    await staff().post(`/api/v1/returns/${b.ret.id}/approve`)
    const byOrder = await staff().get(`/api/v1/returns?order_id=${a.order.id}`)
    expect(byOrder.status, byOrder.text).toBe(200)
    expect(byOrder.body.returns.map((r: any) => r.id)).toEqual([a.ret.id])
    const approved = await staff().get('/api/v1/returns?status=approved&limit=100')
    expect(approved.body.returns.map((r: any) => r.id)).toContain(b.ret.id)
    expect(approved.body.returns.every((r: any) => r.status === 'approved')).toBe(true)
    expect(approved.body.pagination).toMatchObject({ page: 1, limit: 100 })
    expectProblem(await staff().get('/api/v1/returns?status=lost'), 422)
    expectProblem(await as(people.customer.token).get('/api/v1/returns'), 403)
    for (const c of await badCredentials(people.staff)) {
      expect((await call('GET', '/api/v1/returns', c.opts)).status, c.label).toBe(401)
    }
  })
})

describe('POST /returns/{return_id}/approve | reject | receive', () => {
  it('approves a requested return (200 with the order)', async () => {
    const { order, ret } = await requested()
    const res = await staff().post(`/api/v1/returns/${ret.id}/approve`)
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ id: order.id, returns: [{ id: ret.id, status: 'approved' }] })
    expectProblem(await staff().post(`/api/v1/returns/${ret.id}/approve`), 409, 'illegal_transition')
  })

  it('rejects a return with its reason; its units can be asked for again', async () => {
    const { order, items, buyer, ret } = await requested()
    const res = await staff().post(`/api/v1/returns/${ret.id}/reject`, { reason: 'Worn' })
    expect(res.status, res.text).toBe(200)
    expect(res.body.returns[0]).toMatchObject({ status: 'rejected', notes: 'Worn' })
    expectProblem(await staff().post(`/api/v1/returns/${ret.id}/reject`, {}), 409, 'illegal_transition')
    expectProblem(await staff().post(`/api/v1/returns/${ret.id}/approve`), 409, 'illegal_transition')
    expectProblem(await staff().post(`/api/v1/returns/${ret.id}/receive`, {}), 409, 'illegal_transition')
    const again = await as(buyer.token).post(returnPath(order.id), {
      items: [{ order_item_id: items[0]!.id, quantity: 2 }],
      reason: 'Really',
    })
    expect(again.status, again.text).toBe(201)
  })

  it('receives part of an order with restock: returned quantities, stock back, order still delivered', async () => {
    const { order, items, buyer, products } = await deliveredOrder({ quantities: [2, 1] })
    const r = await as(buyer.token).post(returnPath(order.id), {
      items: [{ order_item_id: items[0]!.id, quantity: 1 }],
      reason: 'x',
    })
    const before = await stockOf(products[0]!.id)
    const res = await staff().post(`/api/v1/returns/${r.body.id}/receive`, { restock: true })
    expect(res.status, res.text).toBe(200)
    expect(res.body.status).toBe('delivered')
    expect(res.body.returns[0]).toMatchObject({
      status: 'received',
      restock: true,
      received_at: expect.any(String),
    })
    expect(res.body.items.find((i: any) => i.id === items[0]!.id).returned_quantity).toBe(1)
    expect(await stockOf(products[0]!.id)).toBe(before + 1)
    const db = await getDb()
    const ledger = await db.select().from(inventoryLedger).where(eq(inventoryLedger.orderId, order.id))
    expect(ledger.map((l) => [l.reason, l.delta])).toEqual([['return_restock', 1]])
    expectProblem(await staff().post(`/api/v1/returns/${r.body.id}/receive`, {}), 409, 'illegal_transition')
  })

  it('receives every delivered unit without restock: the order is returned, stock unchanged', async () => {
    const { order, ret, products } = await requested()
    const before = await stockOf(products[0]!.id)
    const res = await staff().post(`/api/v1/returns/${ret.id}/approve`)
    expect(res.status).toBe(200)
    const done = await staff().post(`/api/v1/returns/${ret.id}/receive`, {})
    expect(done.body).toMatchObject({ status: 'returned', returns: [{ status: 'received', restock: false }] })
    expect(await stockOf(products[0]!.id)).toBe(before)
    const hist = await staff().get(`/api/v1/orders/${order.id}/history`)
    expect(hist.body.history.at(-1)).toMatchObject({ from: 'delivered', to: 'returned' })
    expectProblem(
      await staff().post(returnPath(order.id), {
        items: [{ order_item_id: ret.items[0].order_item_id, quantity: 1 }],
        reason: 'x',
      }),
      409,
      'illegal_transition',
    )
  })

  it('receives with a refund (orders.refund): the lines are refunded and the return ends refunded', async () => {
    const { order, ret } = await requested([2, 1])
    const res = await as(people.admin.token).post(`/api/v1/returns/${ret.id}/receive`, {
      restock: true,
      refund: true,
      refund_shipping: true,
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({
      status: 'returned',
      financial_status: 'refunded',
      refunded_amount: res.body.paid_amount,
      returns: [{ status: 'refunded', refund_id: expect.any(String) }],
    })
    expect(res.body.refunds).toMatchObject([{ id: res.body.returns[0].refund_id, status: 'succeeded' }])
    expect(res.body.items.every((i: any) => i.cancelled_quantity === 0)).toBe(true)
    expect(order.id).toBe(res.body.id)
  })

  it('refund needs orders.refund (403, nothing changes); refund_shipping needs refund (422)', async () => {
    const { ret } = await requested()
    expectProblem(await staff().post(`/api/v1/returns/${ret.id}/receive`, { refund: true }), 403)
    expectProblem(await staff().post(`/api/v1/returns/${ret.id}/receive`, { refund_shipping: true }), 422)
    const db = await getDb()
    const [row] = await db.select().from(returns).where(eq(returns.id, ret.id))
    expect(row!.status).toBe('requested')
  })

  it('refuses an unknown return (404), a bad id (422), customers (403) and bad tokens (401)', async () => {
    const { ret } = await requested()
    const missing = '00000000-0000-4000-8000-000000000000'
    for (const action of ['approve', 'reject', 'receive']) {
      expectProblem(await staff().post(`/api/v1/returns/${missing}/${action}`, {}), 404)
      expectProblem(await staff().post(`/api/v1/returns/nope/${action}`, {}), 422)
      expectProblem(await as(people.customer.token).post(`/api/v1/returns/${ret.id}/${action}`, {}), 403)
      for (const c of await badCredentials(people.staff)) {
        const res = await call('POST', `/api/v1/returns/${ret.id}/${action}`, { ...c.opts, body: {} })
        expect(res.status, `${action} ${c.label}`).toBe(401)
      }
    }
  })
})

describe('receive with a refund through Stripe', () => {
  afterEach(() => resetStripeClient())

  it('a refund Stripe refuses leaves the return received; receiving it again refunds once', async () => {
    const fake = useFakeStripe(server)
    setEnv({ STRIPE_SECRET_KEY: KEYS.stripe })
    resetStripeClient()
    const buyer = await makeUser()
    const { order } = await orderInState({ stripe: fake, userId: buyer.user.id })
    await staff().post(`/api/v1/orders/${order.id}/ship`, { tracking_number: 'T-S' })
    const delivered = await staff().post(`/api/v1/orders/${order.id}/deliver`, {})
    expect(delivered.body.status).toBe('delivered')
    const line = delivered.body.items[0]
    const r = await as(buyer.token).post(returnPath(order.id), {
      items: [{ order_item_id: line.id, quantity: line.quantity }],
      reason: 'Broken',
    })
    expect(r.status, r.text).toBe(201)

    fake.refuseNext.refund = 1
    const refused = await as(people.admin.token).post(`/api/v1/returns/${r.body.id}/receive`, {
      refund: true,
    })
    expectProblem(refused, 502, 'payment_provider_error')
    const db = await getDb()
    const [after] = await db.select().from(returns).where(eq(returns.id, r.body.id))
    expect(after).toMatchObject({ status: 'received', refundId: null })

    const res = await as(people.admin.token).post(`/api/v1/returns/${r.body.id}/receive`, { refund: true })
    expect(res.status, res.text).toBe(200)
    expect(res.body.returns[0]).toMatchObject({ status: 'refunded', refund_id: expect.any(String) })
    expect(res.body.items[0].returned_quantity).toBe(line.quantity) // counted once
    expect(res.body.refunds.filter((x: any) => x.status === 'succeeded')).toHaveLength(1)
    expect(res.body.financial_status).toBe('partially_refunded')
    expectProblem(
      await as(people.admin.token).post(`/api/v1/returns/${r.body.id}/receive`, { refund: true }),
      409,
      'illegal_transition',
    )
  })
})
