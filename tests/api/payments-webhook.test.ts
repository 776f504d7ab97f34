import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { orders, payments, products, refunds, webhookEvents } from '../../db/schema/index.js'
import { loadOrderOr404 } from '../../lib/orders/view.js'
import { getDb } from '../../lib/platform/db.js'
import { callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
import { setEnv } from '../support/env.js'
import { call } from '../support/http.js'
import { useMsw } from '../support/msw.js'
import { orderInState } from '../support/orders-payments.js'
import {
  disputeShape,
  type FakeStripe,
  signedEvent,
  WEBHOOK_SECRET,
  withFakeStripe,
} from '../support/stripe.js'

catalogTestEnv()
const server = useMsw()
let fake: FakeStripe
const CRON = 'cron-secret-for-payments-0123456789abcdef'

withFakeStripe(
  server,
  (f) => {
    fake = f
  },
  { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, CRON_SECRET: CRON },
)

const deliver = (e: { payload: string; signature: string }) =>
  call('POST', '/api/webhooks/stripe', {
    rawBody: e.payload,
    headers: { 'content-type': 'application/json', 'stripe-signature': e.signature },
  })
const reload = async (id: string) => loadOrderOr404(await getDb(), id)

describe('POST /api/webhooks/stripe', () => {
  it('is 404 without STRIPE_WEBHOOK_SECRET and 400 for a bad or missing signature, changing nothing', async () => {
    const { order } = await orderInState({ financialStatus: 'pending', stripe: fake })
    const pi = fake.setStatus(order.paymentIntentId!, 'succeeded')
    const good = signedEvent('payment_intent.succeeded', pi)
    const forged = signedEvent('payment_intent.succeeded', pi, { secret: 'whsec_someone_else' })
    expectProblem(await deliver(forged), 400, 'invalid_signature')
    expectProblem(
      await deliver({
        payload: good.payload.replace('"livemode":false', '"livemode":true'),
        signature: good.signature,
      }),
      400,
      'invalid_signature',
    )
    expectProblem(
      await call('POST', '/api/webhooks/stripe', {
        rawBody: good.payload,
        headers: { 'content-type': 'application/json' },
      }),
      400,
    )
    setEnv({ STRIPE_WEBHOOK_SECRET: undefined })
    expectProblem(await deliver(good), 404)
    expect(await reload(order.id)).toMatchObject({ status: 'pending', financialStatus: 'pending' })
    expect(await (await getDb()).select().from(webhookEvents)).toHaveLength(0)
  })

  it('pays a pending order once, however often the event arrives', async () => {
    const { order } = await orderInState({ financialStatus: 'pending', stripe: fake })
    const pi = fake.setStatus(order.paymentIntentId!, 'succeeded')
    const e = signedEvent('payment_intent.succeeded', pi)
    const first = await deliver(e)
    expect(first.status, first.text).toBe(200)
    expect(first.body).toEqual({ received: true, outcome: 'paid' })
    expect((await deliver(e)).body).toEqual({ received: true, duplicate: true })
    const o = await reload(order.id)
    expect(o).toMatchObject({ status: 'confirmed', financialStatus: 'paid', paidAmountCents: 5000 })
    expect(o.payments).toMatchObject([{ status: 'succeeded', providerPaymentId: pi.id }])
  })

  it('refunds at once and flags a payment with the wrong amount, a second payment, or one on a cancelled order', async () => {
    // wrong amount
    const a = await orderInState({ financialStatus: 'pending', stripe: fake })
    const piA = fake.setStatus(a.order.paymentIntentId!, 'succeeded')
    piA.amount = 4000
    piA.amount_received = 4000
    expect((await deliver(signedEvent('payment_intent.succeeded', piA))).body.outcome).toBe('refunded')
    const oa = await reload(a.order.id)
    expect(oa).toMatchObject({ status: 'pending', financialStatus: 'pending' })
    expect((oa.flags as Array<{ code: string }>).map((f) => f.code)).toEqual(['unexpected_payment'])
    // late payment on a cancelled order: sent back, and never part of the order's own money
    const b = await orderInState({ financialStatus: 'pending', stripe: fake })
    await (await getDb())
      .update(orders)
      .set({ status: 'cancelled', financialStatus: 'voided' })
      .where(eq(orders.id, b.order.id))
    const piB = fake.setStatus(b.order.paymentIntentId!, 'succeeded')
    expect((await deliver(signedEvent('payment_intent.succeeded', piB))).body.outcome).toBe('refunded')
    const ob = await reload(b.order.id)
    expect(ob).toMatchObject({
      status: 'cancelled',
      financialStatus: 'voided',
      paidAmountCents: 0,
      refundedAmountCents: 0,
    })
    expect(ob.refunds).toMatchObject([
      {
        kind: 'unexpected_payment',
        amountCents: 5000,
        status: 'succeeded',
        providerRefundId: expect.stringMatching(/^re_/),
      },
    ])
    expect(ob.payments).toMatchObject([
      { status: 'succeeded', refundedAmountCents: 5000, metadata: { unexpected: true } },
    ])
    // a second payment for an order already paid
    const c = await orderInState({ stripe: fake })
    const { paymentIntentShape } = await import('../support/stripe.js')
    const piC = paymentIntentShape({
      amount: 5000,
      currency: 'usd',
      status: 'succeeded',
      metadata: { order_id: c.order.id },
    })
    fake.intents.set(piC.id, piC)
    expect((await deliver(signedEvent('payment_intent.succeeded', piC))).body.outcome).toBe('refunded')
    const oc = await reload(c.order.id)
    expect(oc).toMatchObject({
      status: 'confirmed',
      financialStatus: 'paid',
      paidAmountCents: 5000,
      refundedAmountCents: 0,
    })
    expect((oc.flags as Array<{ code: string }>).map((f) => f.code)).toEqual(['unexpected_payment'])
    const refundCalls = fake.only(/^\/v1\/refunds$/)
    expect(refundCalls.map((x) => x.params.get('payment_intent'))).toEqual([piA.id, piB.id, piC.id])
    // each went back once, and Stripe reporting it changes nothing more
    expect(new Set(refundCalls.map((x) => x.idempotencyKey)).size).toBe(3)
    const charge = fake.charge(piB.id)
    expect((await deliver(signedEvent('charge.refunded', charge))).status).toBe(200)
    expect(await reload(b.order.id)).toMatchObject({ refundedAmountCents: 0, financialStatus: 'voided' })
    expect((await reload(b.order.id)).refunds).toHaveLength(1)
  })

  it('records a failed payment on the payments row and leaves the order pending', async () => {
    const { order } = await orderInState({ financialStatus: 'pending', stripe: fake })
    const pi = fake.intents.get(order.paymentIntentId!)!
    const failed = {
      ...pi,
      last_payment_error: {
        code: 'card_declined',
        decline_code: 'insufficient_funds',
        message: 'Your card has insufficient funds.',
        type: 'card_error',
      },
    }
    expect((await deliver(signedEvent('payment_intent.payment_failed', failed))).body.outcome).toBe(
      'recorded',
    )
    const o = await reload(order.id)
    expect(o.status).toBe('pending')
    expect(o.payments[0]).toMatchObject({ status: 'failed', failureCode: 'card_declined' })
  })

  it('counts a refund made here and then reported by charge.refunded once, and records a dashboard refund', async () => {
    const { order } = await orderInState({ stripe: fake })
    const admin = (await callers()).admin
    const r = await call('POST', `/api/v1/orders/${order.id}/refund`, {
      token: admin.token,
      body: { amount: 10, reason: 'x' },
    })
    expect(r.status, r.text).toBe(200)
    const e1 = signedEvent('charge.refunded', fake.charge(order.paymentIntentId!))
    expect((await deliver(e1)).status).toBe(200)
    expect(await reload(order.id)).toMatchObject({
      refundedAmountCents: 1000,
      financialStatus: 'partially_refunded',
    })
    expect((await reload(order.id)).refunds).toHaveLength(1)
    // a refund made in Stripe's dashboard (listed by the API, as charges no longer embed refunds)
    const { refundShape } = await import('../support/stripe.js')
    const pi = fake.intents.get(order.paymentIntentId!)!
    const dash = refundShape({
      amount: 1500,
      currency: 'usd',
      paymentIntent: pi.id,
      charge: pi.latest_charge!,
    })
    fake.refunds.set(dash.id, dash)
    const e2 = signedEvent('charge.refunded', fake.charge(pi.id))
    expect((await deliver(e2)).status).toBe(200)
    expect((await deliver(e2)).body.duplicate).toBe(true)
    const o = await reload(order.id)
    expect(o).toMatchObject({ refundedAmountCents: 2500, financialStatus: 'partially_refunded' })
    expect(o.refunds.map((x) => x.amountCents).sort()).toEqual([1000, 1500])
  })

  it('flags a dispute for staff', async () => {
    const { order } = await orderInState({ stripe: fake })
    const pi = fake.intents.get(order.paymentIntentId!)!
    const e = signedEvent(
      'charge.dispute.created',
      disputeShape({ charge: pi.latest_charge!, paymentIntent: pi.id, amount: 5000, currency: 'usd' }),
    )
    expect((await deliver(e)).body.outcome).toBe('flagged')
    expect(((await reload(order.id)).flags as Array<{ code: string }>).map((f) => f.code)).toEqual([
      'dispute',
    ])
  })

  it('records events it does not act on, once', async () => {
    const e = signedEvent('customer.created', { id: 'cus_test', object: 'customer' })
    expect((await deliver(e)).body).toEqual({ received: true, outcome: 'ignored' })
    expect((await deliver(e)).body).toEqual({ received: true, duplicate: true })
  })
})

describe('GET /api/cron/release-unpaid', () => {
  const old = new Date(Date.now() - 2 * 3600_000)
  const run = () => call('GET', '/api/cron/release-unpaid', { token: CRON })

  it('applies a succeeded payment, skips a processing one, cancels the rest and returns their stock', async () => {
    const db = await getDb()
    const paid = await orderInState({ financialStatus: 'pending', stripe: fake })
    const busy = await orderInState({ financialStatus: 'pending', stripe: fake })
    const gone = await orderInState({ financialStatus: 'pending', stripe: fake })
    const fresh = await orderInState({ financialStatus: 'pending', stripe: fake })
    const manualOld = await orderInState({ financialStatus: 'pending' })
    for (const o of [paid, busy, gone])
      await db.update(orders).set({ createdAt: old }).where(eq(orders.id, o.order.id))
    await db.update(orders).set({ createdAt: old }).where(eq(orders.id, manualOld.order.id))
    fake.setStatus(paid.order.paymentIntentId!, 'succeeded')
    fake.setStatus(busy.order.paymentIntentId!, 'processing')
    const stock = async (id: string) =>
      (await db.select().from(products).where(eq(products.id, id)))[0]!.inventoryQuantity
    const before = await stock(gone.products[0]!.id)
    const res = await run()
    expect(res.status, res.text).toBe(200)
    expect(res.body).toEqual({ examined: 3, cancelled: 1, paid: 1, skipped: 1, failed: 0 })
    expect(await reload(paid.order.id)).toMatchObject({ status: 'confirmed', financialStatus: 'paid' })
    expect(await reload(busy.order.id)).toMatchObject({ status: 'pending' })
    expect(await reload(gone.order.id)).toMatchObject({ status: 'cancelled', financialStatus: 'voided' })
    expect(fake.intents.get(gone.order.paymentIntentId!)!.status).toBe('canceled')
    expect(await stock(gone.products[0]!.id)).toBe(before + 2)
    expect(await reload(fresh.order.id)).toMatchObject({ status: 'pending' })
    // a manual order waits UNPAID_MANUAL_ORDER_TTL_HOURS (72 by default)
    expect(await reload(manualOld.order.id)).toMatchObject({ status: 'pending' })
    setEnv({ UNPAID_MANUAL_ORDER_TTL_HOURS: '1' })
    expect((await run()).body).toMatchObject({ cancelled: 1 })
    expect(await reload(manualOld.order.id)).toMatchObject({ status: 'cancelled', financialStatus: 'voided' })
    const pays = await db.select().from(payments).where(eq(payments.orderId, gone.order.id))
    expect(pays.map((p) => p.status)).toEqual(['cancelled'])
    expect(await db.select().from(refunds).where(eq(refunds.orderId, gone.order.id))).toHaveLength(0)
  })

  it('releases an order whose PaymentIntent succeeded with another amount (its webhook refunds it)', async () => {
    const db = await getDb()
    const { order } = await orderInState({ financialStatus: 'pending', stripe: fake })
    await db.update(orders).set({ createdAt: old }).where(eq(orders.id, order.id))
    const pi = fake.setStatus(order.paymentIntentId!, 'succeeded')
    pi.amount_received = 100
    expect((await run()).body).toMatchObject({ cancelled: 1, paid: 0 })
    expect(await reload(order.id)).toMatchObject({
      status: 'cancelled',
      financialStatus: 'voided',
      paidAmountCents: 0,
    })
  })

  it('needs the cron secret', async () => {
    expectProblem(await call('GET', '/api/cron/release-unpaid'), 401)
  })
})
