import { eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { orderStatusHistory, outboxEmails, products } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
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

beforeAll(async () => {
  who = await callers()
})
withFakeStripe(server, (f) => {
  fake = f
})

const refund = (
  orderId: string,
  body: unknown,
  token = who.admin.token,
  headers: Record<string, string> = {},
) => call('POST', `/api/v1/orders/${orderId}/refund`, { token, body, headers })

// order: 2 x 10.00 + 1 x 25.00 + 5.00 shipping = 50.00, paid manually
describe('POST /orders/{order_id}/refund (manual payment)', () => {
  it('refunds lines at their unrefunded total, cancels unfulfilled units and writes history and email', async () => {
    const { order, items } = await orderInState()
    const res = await refund(order.id, {
      items: [{ order_item_id: items[0]!.id, quantity: 1 }],
      reason: 'damaged',
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({
      financial_status: 'partially_refunded',
      status: 'confirmed',
      refunded_amount: 10,
    })
    expect(res.body.items.find((i: { id: string }) => i.id === items[0]!.id)).toMatchObject({
      refunded_quantity: 1,
      cancelled_quantity: 1,
      refunded_amount: 10,
    })
    expect(res.body.refunds).toMatchObject([
      {
        amount: 10,
        status: 'succeeded',
        reason: 'damaged',
        items: [{ order_item_id: items[0]!.id, quantity: 1 }],
      },
    ])
    const db = await getDb()
    const history = await db.select().from(orderStatusHistory).where(eq(orderStatusHistory.orderId, order.id))
    expect(history).toEqual([
      expect.objectContaining({
        type: 'financial',
        fromStatus: 'paid',
        toStatus: 'partially_refunded',
        actorId: who.admin.user.id,
      }),
    ])
    const mail = await db.select().from(outboxEmails).where(eq(outboxEmails.toEmail, order.email))
    expect(mail.map((m) => m.template)).toEqual(['order_refunded'])
    expect(fake.calls).toHaveLength(0)
  })

  it('gives the last unit the remainder of an uneven line', async () => {
    const { order, items } = await orderInState({
      lines: [{ quantity: 3, unitPriceCents: 1000 }],
      shippingCents: 0,
    })
    // make the line total 10.00 for 3 units (3.33 + 3.33 + 3.34) through a discount-free odd total
    const db = await getDb()
    const { orderItems, orders } = await import('../../db/schema/index.js')
    await db
      .update(orderItems)
      .set({ unitPriceCents: 334, subtotalCents: 1000, totalAmountCents: 1000 })
      .where(eq(orderItems.id, items[0]!.id))
    await db
      .update(orders)
      .set({ subtotalCents: 1000, totalAmountCents: 1000, paidAmountCents: 1000 })
      .where(eq(orders.id, order.id))
    const amounts: number[] = []
    for (let i = 0; i < 3; i++) {
      const res = await refund(order.id, {
        items: [{ order_item_id: items[0]!.id, quantity: 1 }],
        reason: 'one by one',
      })
      expect(res.status, res.text).toBe(200)
      amounts.push(res.body.refunds.at(-1).amount)
    }
    // 10.00 / 3 = 3.333 -> 3.33; then 6.67 / 2 = 3.335 -> 3.34 (half-up); the last unit takes what is left
    expect(amounts).toEqual([3.33, 3.34, 3.33])
    expect(amounts.reduce((a, b) => a + Math.round(b * 100), 0)).toBe(1000)
  })

  it('refunds shipping only with refund_shipping and ends refunded (status refunded) when all is returned', async () => {
    const { order, items, products: made } = await orderInState()
    const lines = items.map((i) => ({ order_item_id: i.id, quantity: i.quantity }))
    const first = await refund(order.id, { items: lines, reason: 'out of stock', restock: true })
    expect(first.body).toMatchObject({
      refunded_amount: 45,
      financial_status: 'partially_refunded',
      status: 'confirmed',
    })
    const db = await getDb()
    const [p] = await db.select().from(products).where(eq(products.id, made[0]!.id))
    expect(p!.inventoryQuantity).toBe(12)
    const second = await refund(order.id, { refund_shipping: true, reason: 'shipping' })
    expect(second.status, second.text).toBe(200)
    expect(second.body).toMatchObject({
      refunded_amount: 50,
      financial_status: 'refunded',
      status: 'refunded',
      fulfillment_status: 'unfulfilled',
    })
    expect(second.body.refunds[1]).toMatchObject({ amount: 5, shipping_amount: 5 })
  })

  it('refuses more than paid minus refunded, ids of another order and a mixed body, changing nothing', async () => {
    const { order, items } = await orderInState()
    const other = await orderInState()
    expectProblem(await refund(order.id, { amount: 50.01, reason: 'x' }), 422, 'exceeds_refundable')
    expectProblem(await refund(order.id, { amount: 10.001, reason: 'x' }), 422)
    expectProblem(
      await refund(order.id, { items: [{ order_item_id: other.items[0]!.id, quantity: 1 }], reason: 'x' }),
      422,
      'not_in_order',
    )
    expectProblem(
      await refund(order.id, { items: [{ order_item_id: items[0]!.id, quantity: 3 }], reason: 'x' }),
      422,
      'exceeds_refundable',
    )
    expectProblem(
      await refund(order.id, {
        amount: 1,
        items: [{ order_item_id: items[0]!.id, quantity: 1 }],
        reason: 'x',
      }),
      422,
      'ambiguous_refund',
    )
    expectProblem(await refund(order.id, { amount: 1 }), 422)
    expect((await refund(order.id, { amount: 40, reason: 'goodwill' })).status).toBe(200)
    expectProblem(await refund(order.id, { amount: 10.01, reason: 'x' }), 422, 'exceeds_refundable')
    const view = await call('POST', `/api/v1/orders/${order.id}/refund`, {
      token: who.admin.token,
      body: { amount: 10, reason: 'rest' },
    })
    expect(view.body).toMatchObject({
      refunded_amount: 50,
      financial_status: 'refunded',
      status: 'confirmed',
    })
  })

  it('is an illegal transition unless paid or partially refunded', async () => {
    const { order } = await orderInState({ financialStatus: 'pending' })
    expectProblem(await refund(order.id, { amount: 1, reason: 'x' }), 409, 'illegal_transition')
  })

  it('replays the same Idempotency-Key and refuses it with another body', async () => {
    const { order } = await orderInState()
    const h = { 'idempotency-key': `refund-${order.id}` }
    const a = await refund(order.id, { amount: 5, reason: 'once' }, who.admin.token, h)
    const b = await refund(order.id, { amount: 5, reason: 'once' }, who.admin.token, h)
    expect(a.status).toBe(200)
    expect(b.status).toBe(200)
    expect(b.headers.get('idempotent-replayed')).toBe('true')
    expect(b.body.refunds).toHaveLength(1)
    expectProblem(
      await refund(order.id, { amount: 6, reason: 'once' }, who.admin.token, h),
      409,
      'idempotency_key_reused',
    )
  })

  it('treats an order id in upper case as the same order: the same Idempotency-Key replays, no second refund', async () => {
    const { order } = await orderInState()
    const h = { 'idempotency-key': `refund-case-${order.id}` }
    const a = await refund(order.id, { amount: 5, reason: 'once' }, who.admin.token, h)
    const b = await refund(order.id.toUpperCase(), { amount: 5, reason: 'once' }, who.admin.token, h)
    expect(a.status, a.text).toBe(200)
    expect(b.status, b.text).toBe(200)
    expect(b.headers.get('idempotent-replayed')).toBe('true')
    expect(b.body.id).toBe(order.id)
    expect(b.body.refunds).toHaveLength(1)
    expect(b.body.refunded_amount).toBe(5)
  })

  it('accepts ids in any case in the body: an upper-case order_item_id names the line', async () => {
    const { order, items } = await orderInState()
    const res = await refund(order.id, {
      items: [{ order_item_id: items[0]!.id.toUpperCase(), quantity: 1 }],
      reason: 'damaged',
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body.refunds[0].items).toEqual([{ order_item_id: items[0]!.id, quantity: 1 }])
    expect(res.body.refunded_amount).toBe(10)
  })

  it('needs orders.refund: staff 403, the owner 403, another customer 404, unknown order 404', async () => {
    const owner = await makeUser()
    const { order } = await orderInState({ userId: owner.user.id })
    expectProblem(await refund(order.id, { amount: 1, reason: 'x' }, who.staff.token), 403)
    expectProblem(await refund(order.id, { amount: 1, reason: 'x' }, owner.token), 403)
    expectProblem(await refund(order.id, { amount: 1, reason: 'x' }, who.customer.token), 404)
    expectProblem(await refund('00000000-0000-4000-8000-000000000000', { amount: 1, reason: 'x' }), 404)
  })

  it('answers the shared token cases with 401', async () => {
    const { order } = await orderInState()
    for (const c of await badCredentials(who.admin)) {
      const res = await call('POST', `/api/v1/orders/${order.id}/refund`, {
        ...c.opts,
        body: { amount: 1, reason: 'x' },
      })
      expect(res.status, c.label).toBe(401)
    }
  })
})

describe('POST /orders/{order_id}/refund (paid through Stripe)', () => {
  it('refunds through Stripe with the refund row id as idempotency key and stores its id', async () => {
    const { order } = await orderInState({ stripe: fake })
    const res = await refund(order.id, { amount: 12.5, reason: 'partial' })
    expect(res.status, res.text).toBe(200)
    const [call1] = fake.only(/^\/v1\/refunds$/)
    expect(call1!.params.get('amount')).toBe('1250')
    expect(call1!.params.get('payment_intent')).toBe(order.paymentIntentId)
    expect(call1!.idempotencyKey).toBe(res.body.refunds[0].id)
    expect(call1!.params.get('metadata[refund_id]')).toBe(res.body.refunds[0].id)
    expect(res.body).toMatchObject({ refunded_amount: 12.5, financial_status: 'partially_refunded' })
    const db = await getDb()
    const { refunds } = await import('../../db/schema/index.js')
    const [row] = await db.select().from(refunds).where(eq(refunds.orderId, order.id))
    expect(row!.providerRefundId).toBe([...fake.refunds.keys()][0])
  })

  it('changes nothing when Stripe refuses, and answers 502', async () => {
    const { order, items } = await orderInState({ stripe: fake })
    fake.refuseNext.refund = 1
    const res = await refund(order.id, { items: [{ order_item_id: items[0]!.id, quantity: 1 }], reason: 'x' })
    expectProblem(res, 502, 'payment_provider_error')
    const { loadOrderOr404 } = await import('../../lib/orders/view.js')
    const after = await loadOrderOr404(await getDb(), order.id)
    expect(after).toMatchObject({ refundedAmountCents: 0, financialStatus: 'paid' })
    expect(after.items.find((i) => i.id === items[0]!.id)).toMatchObject({
      refundedQuantity: 0,
      refundedAmountCents: 0,
      cancelledQuantity: 0,
    })
    expect(after.refunds.map((r) => r.status)).toEqual(['failed'])
  })
})
