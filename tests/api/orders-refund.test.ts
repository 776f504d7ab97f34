import { eq } from 'drizzle-orm'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  inventoryLedger,
  orderStatusHistory,
  outboxEmails,
  products,
  refunds,
} from '../../db/schema/index.js'
import { refundOrder } from '../../lib/payments/refunds.js'
import { resetStripeClient } from '../../lib/payments/stripe.js'
import { getDb } from '../../lib/platform/db.js'
import { as, callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
import { restoreEnv, setEnv } from '../support/env.js'
import { call } from '../support/http.js'
import { KEYS, useMsw } from '../support/msw.js'
import { orderInState } from '../support/orders-payments.js'
import { type FakeStripe, useFakeStripe } from '../support/stripe.js'
import { badCredentials } from '../support/token-cases.js'

catalogTestEnv()
const server = useMsw()
let fake: FakeStripe
let people: Awaited<ReturnType<typeof callers>>

beforeEach(async () => {
  fake = useFakeStripe(server)
  setEnv({ STRIPE_SECRET_KEY: KEYS.stripe })
  resetStripeClient()
  people = await callers()
})
afterEach(() => {
  restoreEnv()
  resetStripeClient()
})

const refundPath = (id: string) => `/api/v1/orders/${id}/refund`

describe('POST /orders/{order_id}/refund', () => {
  it('refunds an amount of a manual order: partially_refunded, history, refunded email', async () => {
    setEnv({ STRIPE_SECRET_KEY: undefined })
    const { order } = await orderInState() // 2 x 10.00 + 25.00 + 5.00 shipping = 50.00
    const res = await as(people.admin.token).post(refundPath(order.id), { amount: 12.5, reason: 'damaged' })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({
      financial_status: 'partially_refunded',
      refunded_amount: 12.5,
      status: 'confirmed',
      refunds: [{ amount: 12.5, status: 'succeeded', reason: 'damaged' }],
    })
    const db = await getDb()
    const history = await db.select().from(orderStatusHistory).where(eq(orderStatusHistory.orderId, order.id))
    expect(history).toMatchObject([{ type: 'financial', fromStatus: 'paid', toStatus: 'partially_refunded' }])
    const mails = await db.select().from(outboxEmails).where(eq(outboxEmails.toEmail, order.email))
    expect(mails.map((m) => m.template)).toEqual(['order_refunded'])
    expect(fake.calls).toHaveLength(0)
  })

  it('refunds lines by unrefunded total x q / unrefunded quantity, the last unit taking the remainder', async () => {
    setEnv({ STRIPE_SECRET_KEY: undefined })
    // 3 units for 10.00 in all: 3.33, 3.33, 3.34
    const { order, items } = await orderInState({
      lines: [{ quantity: 3, unitPriceCents: 333 }],
      shippingCents: 1,
    })
    const line = items[0]!
    const first = await as(people.admin.token).post(refundPath(order.id), {
      items: [{ order_item_id: line.id, quantity: 1 }],
      reason: 'one',
    })
    expect(first.body.items[0]).toMatchObject({
      refunded_quantity: 1,
      refunded_amount: 3.33,
      cancelled_quantity: 1,
    })
    const rest = await as(people.admin.token).post(refundPath(order.id), {
      items: [{ order_item_id: line.id, quantity: 2 }],
      reason: 'rest',
    })
    expect(rest.body.items[0]).toMatchObject({
      refunded_quantity: 3,
      refunded_amount: 9.99,
      cancelled_quantity: 3,
    })
    expect(rest.body.financial_status).toBe('partially_refunded')
    // shipping only when asked for
    const ship = await as(people.admin.token).post(refundPath(order.id), {
      refund_shipping: true,
      reason: 'ship',
    })
    expect(ship.body).toMatchObject({ financial_status: 'refunded', status: 'refunded', refunded_amount: 10 })
  })

  it('refunds through Stripe with the refund row id as idempotency key and stores the Stripe refund id', async () => {
    const { order } = await orderInState({ stripe: fake })
    const res = await as(people.admin.token).post(refundPath(order.id), { amount: 20, reason: 'late' })
    expect(res.status, res.text).toBe(200)
    const [call0] = fake.only(/^\/v1\/refunds$/)
    const db = await getDb()
    const [row] = await db.select().from(refunds).where(eq(refunds.orderId, order.id))
    expect(call0!.idempotencyKey).toBe(row!.id)
    expect(call0!.params.get('amount')).toBe('2000')
    expect(call0!.params.get('payment_intent')).toBe(order.paymentIntentId)
    expect(row).toMatchObject({ status: 'succeeded', amountCents: 2000 })
    expect(row!.providerRefundId).toBe([...fake.refunds.keys()][0])
  })

  it('refunds everything left with no amount and no items, restocking the lines: status refunded', async () => {
    const { order, products: made, items } = await orderInState({ stripe: fake })
    const firstLine = items.find((i) => i.productId === made[0]!.id)!
    const res = await as(people.admin.token).post(refundPath(order.id), { reason: 'all', restock: true })
    expect(res.body).toMatchObject({ financial_status: 'refunded', status: 'refunded', refunded_amount: 50 })
    for (const i of res.body.items) expect(i.cancelled_quantity).toBe(i.quantity)
    const db = await getDb()
    const [p] = await db.select().from(products).where(eq(products.id, made[0]!.id))
    expect(p!.inventoryQuantity).toBe(10 + firstLine.quantity)
    const ledger = await db.select().from(inventoryLedger).where(eq(inventoryLedger.productId, made[0]!.id))
    expect(ledger.some((l) => l.delta === firstLine.quantity)).toBe(true)
  })

  it('answers 502 and changes nothing when Stripe refuses the refund', async () => {
    const { order } = await orderInState({ stripe: fake })
    fake.refuseNext.refund = 1
    const res = await as(people.admin.token).post(refundPath(order.id), { amount: 10, reason: 'x' })
    expectProblem(res, 502, 'payment_provider_error')
    const db = await getDb()
    const [row] = await db.select().from(refunds).where(eq(refunds.orderId, order.id))
    expect(row!.status).toBe('failed')
    const again = await as(people.admin.token).post(refundPath(order.id), { amount: 50, reason: 'all of it' })
    expect(again.status, again.text).toBe(200)
    expect(again.body).toMatchObject({ refunded_amount: 50, financial_status: 'refunded' })
  })

  it('replays an Idempotency-Key instead of refunding twice, and refuses the key with another body', async () => {
    const { order } = await orderInState({ stripe: fake })
    const headers = { 'idempotency-key': 'refund-once', authorization: `Bearer ${people.admin.token}` }
    const body = { amount: 5, reason: 'once' }
    const first = await call('POST', refundPath(order.id), { headers, body })
    const second = await call('POST', refundPath(order.id), { headers, body })
    expect(second.status).toBe(200)
    expect(second.headers.get('idempotent-replayed')).toBe('true')
    expect(second.body.refunded_amount).toBe(first.body.refunded_amount)
    expect(fake.only(/^\/v1\/refunds$/)).toHaveLength(1)
    const other = await call('POST', refundPath(order.id), { headers, body: { amount: 6, reason: 'once' } })
    expectProblem(other, 409, 'idempotency_key_reused')
  })

  it('never refunds above paid minus refunded', async () => {
    const { order, items } = await orderInState({ stripe: fake })
    expectProblem(
      await as(people.admin.token).post(refundPath(order.id), { amount: 50.01, reason: 'x' }),
      422,
    )
    await as(people.admin.token).post(refundPath(order.id), { amount: 40, reason: 'x' })
    const res = await as(people.admin.token).post(refundPath(order.id), {
      items: [{ order_item_id: items[1]!.id, quantity: 1 }],
      reason: 'x',
    })
    expectProblem(res, 422, 'exceeds_refundable')
    expect(res.body.errors[0]).toMatchObject({ path: 'items', code: 'exceeds_refundable' })
  })

  it('refuses ids of another order, too many units, a duplicate line, amount with items, bad decimals', async () => {
    const { order, items } = await orderInState()
    const { items: others } = await orderInState()
    const admin = as(people.admin.token)
    const cases: Array<[unknown, string]> = [
      [{ items: [{ order_item_id: others[0]!.id, quantity: 1 }], reason: 'x' }, 'items.0.order_item_id'],
      [{ items: [{ order_item_id: items[0]!.id, quantity: 3 }], reason: 'x' }, 'items.0.quantity'],
      [
        {
          items: [
            { order_item_id: items[0]!.id, quantity: 1 },
            { order_item_id: items[0]!.id, quantity: 1 },
          ],
          reason: 'x',
        },
        'items.1.order_item_id',
      ],
      [{ amount: 1, items: [{ order_item_id: items[0]!.id, quantity: 1 }], reason: 'x' }, 'amount'],
      [{ amount: 1.001, reason: 'x' }, 'amount'],
      [{ amount: 0, reason: 'x' }, 'amount'],
      [{ amount: 1 }, 'reason'],
    ]
    for (const [body, path] of cases) {
      const res = await admin.post(refundPath(order.id), body)
      expectProblem(res, 422)
      expect(res.body.errors?.[0]?.path, res.text).toBe(path)
    }
    const db = await getDb()
    expect(await db.select().from(refunds).where(eq(refunds.orderId, order.id))).toHaveLength(0)
  })

  it('is an illegal transition on an unpaid or fully refunded order', async () => {
    const { order: pending } = await orderInState({ financialStatus: 'pending' })
    expectProblem(
      await as(people.admin.token).post(refundPath(pending.id), { reason: 'x' }),
      409,
      'illegal_transition',
    )
    const { order } = await orderInState()
    await refundOrder(await getDb(), order.id, { reason: 'all' }, { actorId: null })
    expectProblem(
      await as(people.admin.token).post(refundPath(order.id), { amount: 1, reason: 'x' }),
      409,
      'illegal_transition',
    )
  })

  it('needs orders.refund: staff 403, the owner 403, another customer 404, a guest token 404', async () => {
    const { order } = await orderInState({ userId: people.customer.user.id })
    expectProblem(await as(people.staff.token).post(refundPath(order.id), { reason: 'x' }), 403)
    expectProblem(await as(people.customer.token).post(refundPath(order.id), { reason: 'x' }), 403)
    const other = await (await import('../support/factories.js')).makeUser()
    expectProblem(await as(other.token).post(refundPath(order.id), { reason: 'x' }), 404)
    const { order: guest } = await orderInState()
    expectProblem(await as(other.token).post(refundPath(guest.id), { reason: 'x' }), 404)
    expectProblem(
      await as(people.admin.token).post(refundPath('00000000-0000-4000-8000-000000000000'), { reason: 'x' }),
      404,
    )
  })

  it('answers the shared token cases with 401', async () => {
    const { order } = await orderInState()
    for (const c of await badCredentials(people.admin)) {
      const res = await call('POST', refundPath(order.id), { ...c.opts, body: { reason: 'x' } })
      expect(res.status, c.label).toBe(401)
    }
  })
})
