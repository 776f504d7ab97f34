import { eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  discountRedemptions,
  discounts,
  fulfillments,
  orderStatusHistory,
  payments,
  products,
} from '../../db/schema/index.js'
import { orderToken } from '../../lib/orders/access.js'
import { getDb } from '../../lib/platform/db.js'
import { callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
import { setEnv } from '../support/env.js'
import { makeUser } from '../support/factories.js'
import { call } from '../support/http.js'
import { useMsw } from '../support/msw.js'
import { orderInState } from '../support/orders-payments.js'
import { type FakeStripe, withFakeStripe } from '../support/stripe.js'
import { badCredentials } from '../support/token-cases.js'

catalogTestEnv()
const server = useMsw()
let fake: FakeStripe
let who: Awaited<ReturnType<typeof callers>>
let buyer: Awaited<ReturnType<typeof makeUser>>

beforeAll(async () => {
  who = await callers()
  buyer = await makeUser()
})
withFakeStripe(server, (f) => {
  fake = f
})

const stockOf = async (id: string) => {
  const [p] = await (await getDb()).select().from(products).where(eq(products.id, id))
  return p!.inventoryQuantity
}

describe('POST /orders/{order_id}/payment', () => {
  it('creates the PaymentIntent once and answers the order with its client secret on every retry', async () => {
    const { order } = await orderInState({ userId: buyer.user.id, financialStatus: 'pending' })
    const db = await getDb()
    const { orders } = await import('../../db/schema/index.js')
    await db
      .update(orders)
      .set({ paymentProvider: 'stripe', paymentIntentId: null })
      .where(eq(orders.id, order.id))
    fake.intents.clear()
    const first = await call('POST', `/api/v1/orders/${order.id}/payment`, { token: buyer.token })
    expect(first.status, first.text).toBe(200)
    expect(first.body.payment).toMatchObject({
      provider: 'stripe',
      client_secret: expect.stringMatching(/_secret_/),
    })
    const again = await call('POST', `/api/v1/orders/${order.id}/payment`, { token: buyer.token })
    expect(again.body.payment.client_secret).toBe(first.body.payment.client_secret)
    expect(fake.intents.size).toBe(1)
    expect(new Set(fake.only(/^\/v1\/payment_intents$/).map((c) => c.idempotencyKey))).toEqual(
      new Set([order.id]),
    )
  })

  it('lets a guest pay with the order token and 404s without it or with a wrong one', async () => {
    const { order } = await orderInState({ financialStatus: 'pending', stripe: fake })
    const path = `/api/v1/orders/${order.id}/payment`
    expectProblem(await call('POST', path), 404)
    expectProblem(await call('POST', path, { headers: { 'x-order-token': 'wrong' } }), 404)
    const ok = await call('POST', path, { headers: { 'x-order-token': orderToken(order.id) } })
    expect(ok.status, ok.text).toBe(200)
    expect(ok.body.payment.client_secret).toBe(fake.intents.get(order.paymentIntentId!)!.client_secret)
    expect(ok.body.flags).toBeUndefined()
  })

  it('replays an Idempotency-Key with the client secret rebuilt from Stripe', async () => {
    const { order } = await orderInState({ userId: buyer.user.id, financialStatus: 'pending', stripe: fake })
    const h = { 'idempotency-key': `pay-${order.id}` }
    const a = await call('POST', `/api/v1/orders/${order.id}/payment`, { token: buyer.token, headers: h })
    const b = await call('POST', `/api/v1/orders/${order.id}/payment`, { token: buyer.token, headers: h })
    expect(b.headers.get('idempotent-replayed')).toBe('true')
    expect(b.body.payment.client_secret).toBe(a.body.payment.client_secret)
  })

  it('refuses: another customer 404, a paid order 409, no Stripe 409, Stripe down 502', async () => {
    const { order } = await orderInState({ userId: buyer.user.id, financialStatus: 'pending', stripe: fake })
    expectProblem(
      await call('POST', `/api/v1/orders/${order.id}/payment`, { token: who.customer.token }),
      404,
    )
    const paid = await orderInState({ userId: buyer.user.id })
    expectProblem(
      await call('POST', `/api/v1/orders/${paid.order.id}/payment`, { token: buyer.token }),
      409,
      'illegal_transition',
    )
    fake.failNext.retrieve = 5
    expectProblem(
      await call('POST', `/api/v1/orders/${order.id}/payment`, { token: buyer.token }),
      502,
      'payment_provider_error',
    )
    setEnv({ STRIPE_SECRET_KEY: undefined })
    expectProblem(
      await call('POST', `/api/v1/orders/${order.id}/payment`, { token: buyer.token }),
      409,
      'payment_not_available',
    )
  })
})

describe('POST /orders/{order_id}/mark-paid', () => {
  it('confirms a manual pending order: paid, confirmed, a manual payments row and history', async () => {
    const { order } = await orderInState({ financialStatus: 'pending' })
    const res = await call('POST', `/api/v1/orders/${order.id}/mark-paid`, {
      token: who.staff.token,
      body: { reason: 'bank transfer' },
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({
      status: 'confirmed',
      financial_status: 'paid',
      paid_amount: 50,
      payment: { provider: 'manual', status: 'succeeded' },
    })
    const db = await getDb()
    expect(await db.select().from(payments).where(eq(payments.orderId, order.id))).toMatchObject([
      { provider: 'manual', amountCents: 5000, status: 'succeeded' },
    ])
    const h = await db.select().from(orderStatusHistory).where(eq(orderStatusHistory.orderId, order.id))
    expect(h.map((r) => [r.type, r.fromStatus, r.toStatus, r.reason]).sort()).toEqual([
      ['financial', 'pending', 'paid', 'bank transfer'],
      ['order', 'pending', 'confirmed', 'bank transfer'],
    ])
    expectProblem(
      await call('POST', `/api/v1/orders/${order.id}/mark-paid`, { token: who.staff.token }),
      409,
      'illegal_transition',
    )
  })

  it('refuses a Stripe order, the buyer (403), another customer (404) and bad tokens (401)', async () => {
    const { order } = await orderInState({ userId: buyer.user.id, financialStatus: 'pending', stripe: fake })
    const path = `/api/v1/orders/${order.id}/mark-paid`
    expectProblem(await call('POST', path, { token: who.staff.token }), 409, 'stripe_payment')
    expectProblem(await call('POST', path, { token: buyer.token }), 403)
    expectProblem(await call('POST', path, { token: who.customer.token }), 404)
    for (const c of await badCredentials(who.staff))
      expect((await call('POST', path, c.opts)).status, c.label).toBe(401)
  })
})

describe('DELETE /orders/{order_id} (cancel)', () => {
  it('lets the owner cancel a pending Stripe order: PaymentIntent cancelled first, stock back, voided', async () => {
    const { order, products: made } = await orderInState({
      userId: buyer.user.id,
      financialStatus: 'pending',
      stripe: fake,
    })
    const before = await stockOf(made[0]!.id)
    const res = await call('DELETE', `/api/v1/orders/${order.id}`, { token: buyer.token })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({
      status: 'cancelled',
      financial_status: 'voided',
      cancel_reason: 'cancelled by the buyer',
    })
    expect(fake.intents.get(order.paymentIntentId!)!.status).toBe('canceled')
    expect(await stockOf(made[0]!.id)).toBe(before + 2)
    expect(
      res.body.items.every(
        (i: { cancelled_quantity: number; quantity: number }) => i.cancelled_quantity === i.quantity,
      ),
    ).toBe(true)
    expectProblem(await call('DELETE', `/api/v1/orders/${order.id}`, { token: buyer.token }), 403)
    expectProblem(
      await call('DELETE', `/api/v1/orders/${order.id}`, { token: who.staff.token }),
      409,
      'illegal_transition',
    )
  })

  it('does not cancel an order whose PaymentIntent succeeded meanwhile: it applies the payment and 409s', async () => {
    const { order } = await orderInState({ userId: buyer.user.id, financialStatus: 'pending', stripe: fake })
    fake.setStatus(order.paymentIntentId!, 'succeeded')
    expectProblem(
      await call('DELETE', `/api/v1/orders/${order.id}`, { token: buyer.token }),
      409,
      'payment_succeeded',
    )
    const view = await call('POST', `/api/v1/orders/${order.id}/payment`, { token: buyer.token })
    expectProblem(view, 409, 'illegal_transition')
  })

  it('releases the discount redemption of an unpaid order', async () => {
    const { order } = await orderInState({ financialStatus: 'pending' })
    const db = await getDb()
    const [d] = await db
      .insert(discounts)
      .values({
        code: `C${order.id.slice(0, 8)}`,
        type: 'fixed_amount',
        amountCents: 100,
        timesUsed: 1,
      } as never)
      .returning()
    await db
      .insert(discountRedemptions)
      .values({ discountId: d!.id, orderId: order.id, email: order.email } as never)
    const res = await call('DELETE', `/api/v1/orders/${order.id}`, { token: who.staff.token })
    expect(res.status, res.text).toBe(200)
    const [after] = await db.select().from(discounts).where(eq(discounts.id, d!.id))
    expect(after!.timesUsed).toBe(0)
  })

  it('refunds a paid order in full (orders.refund) and cancels its unshipped fulfilments', async () => {
    const { order, products: made } = await orderInState({ stripe: fake, status: 'processing' })
    const db = await getDb()
    await db.insert(fulfillments).values({ orderId: order.id, status: 'pending' })
    expectProblem(await call('DELETE', `/api/v1/orders/${order.id}`, { token: who.staff.token }), 403)
    const before = await stockOf(made[1]!.id)
    const res = await call('DELETE', `/api/v1/orders/${order.id}`, {
      token: who.admin.token,
      body: { reason: 'customer called' },
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({
      status: 'cancelled',
      financial_status: 'refunded',
      refunded_amount: 50,
      cancel_reason: 'customer called',
    })
    expect(res.body.fulfillments.map((f: { status: string }) => f.status)).toEqual(['cancelled'])
    expect(fake.only(/^\/v1\/refunds$/)[0]!.params.get('amount')).toBe('5000')
    expect(await stockOf(made[1]!.id)).toBe(before + 1)
  })

  it('is an illegal transition once something shipped, and 404 for another customer or a guest', async () => {
    const { order } = await orderInState({ userId: buyer.user.id, status: 'processing' })
    const db = await getDb()
    await db.insert(fulfillments).values({ orderId: order.id, status: 'shipped', shippedAt: new Date() })
    expectProblem(
      await call('DELETE', `/api/v1/orders/${order.id}`, { token: who.admin.token }),
      409,
      'illegal_transition',
    )
    expectProblem(await call('DELETE', `/api/v1/orders/${order.id}`, { token: who.customer.token }), 404)
    // as for GET: bad credentials never confirm the order exists
    for (const c of await badCredentials(buyer))
      expect((await call('DELETE', `/api/v1/orders/${order.id}`, c.opts)).status, c.label).toBe(404)
  })
})
