import { readFileSync } from 'node:fs'
import { and, eq, sql } from 'drizzle-orm'
import { HttpResponse, http } from 'msw'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { orders, outboxEmails } from '../../db/schema/index.js'
import { settleRefundTx } from '../../lib/orders/refunds.js'
import { loadOrderOr404 } from '../../lib/orders/view.js'
import { RETRY_AFTER_MS } from '../../lib/payments/reconcile.js'
import { setClock } from '../../lib/platform/clock.js'
import { getDb } from '../../lib/platform/db.js'
import { callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
import { restoreEnv, setEnv } from '../support/env.js'
import { makeUser } from '../support/factories.js'
import { call } from '../support/http.js'
import { useMsw } from '../support/msw.js'
import { orderInState } from '../support/orders-payments.js'
import {
  disputeShape,
  type FakeStripe,
  refundShape,
  signedEvent,
  useFakeStripe,
  WEBHOOK_SECRET,
  withFakeStripe,
} from '../support/stripe.js'

// Issue 15: the money path under real-world timing. Each test is the regression test of one defect the
// review found: a webhook arriving after the order was paid another way, a Stripe answer that is lost,
// staff acting while a refund is in flight, refunds Stripe settles later or sends back, disputes.

catalogTestEnv()
const server = useMsw()
let fake: FakeStripe
let who: Awaited<ReturnType<typeof callers>>
const CRON = 'cron-secret-for-timing-0123456789abcdef'

beforeAll(async () => {
  who = await callers()
})
withFakeStripe(
  server,
  (f) => {
    fake = f
  },
  { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, CRON_SECRET: CRON },
)
afterEach(() => {
  setClock(undefined)
})

const deliver = (type: string, object: unknown) => {
  const e = signedEvent(type, object)
  return call('POST', '/api/webhooks/stripe', {
    rawBody: e.payload,
    headers: { 'content-type': 'application/json', 'stripe-signature': e.signature },
  })
}
const reload = async (id: string) => loadOrderOr404(await getDb(), id)
const refund = (orderId: string, body: unknown, key?: string) =>
  call('POST', `/api/v1/orders/${orderId}/refund`, {
    token: who.admin.token,
    body,
    headers: key ? { 'idempotency-key': key } : {},
  })
const cancel = (orderId: string, token = who.admin.token, headers: Record<string, string> = {}) =>
  call('DELETE', `/api/v1/orders/${orderId}`, { token, headers })
const cron = (job: string) => call('GET', `/api/cron/${job}`, { token: CRON })
const stripeRefundCalls = () => fake.only(/^\/v1\/refunds$/).filter((c) => c.method === 'POST')
const later = (ms: number) => {
  const at = Date.now() + ms
  setClock(() => at)
}
const codes = (o: { flags: unknown }) => (o.flags as Array<{ code: string }>).map((f) => f.code)

describe('a late payment_intent.succeeded for the PaymentIntent that paid the order (defect 1)', () => {
  it('changes nothing after a cancel found the payment succeeded', async () => {
    const buyer = await makeUser()
    const { order } = await orderInState({ userId: buyer.user.id, financialStatus: 'pending', stripe: fake })
    const pi = fake.setStatus(order.paymentIntentId!, 'succeeded')
    expectProblem(await cancel(order.id, buyer.token), 409, 'payment_succeeded')
    const res = await deliver('payment_intent.succeeded', pi)
    expect(res.status, res.text).toBe(200)
    expect(res.body.outcome).toBe('recorded')
    expect(stripeRefundCalls()).toHaveLength(0)
    const o = await reload(order.id)
    expect(o).toMatchObject({ status: 'confirmed', financialStatus: 'paid', refundedAmountCents: 0 })
    expect(o.refunds).toHaveLength(0)
    expect(codes(o)).toEqual([])
  })

  it('changes nothing after the unpaid-order cron paid the order (webhook lost, then retried)', async () => {
    const { order } = await orderInState({ financialStatus: 'pending', stripe: fake })
    await (await getDb())
      .update(orders)
      .set({ createdAt: new Date(Date.now() - 2 * 3600_000) })
      .where(eq(orders.id, order.id))
    const pi = fake.setStatus(order.paymentIntentId!, 'succeeded')
    expect((await cron('release-unpaid')).body).toMatchObject({ paid: 1, cancelled: 0 })
    const res = await deliver('payment_intent.succeeded', pi)
    expect(res.body.outcome).toBe('recorded')
    expect(stripeRefundCalls()).toHaveLength(0)
    expect(await reload(order.id)).toMatchObject({ financialStatus: 'paid', refundedAmountCents: 0 })
  })
})

describe('a refund whose Stripe answer is lost (defect 2)', () => {
  it('stays pending (202): asking again for its units is 409 refund_pending, and charge.refunded settles it once', async () => {
    const { order, items } = await orderInState({ stripe: fake })
    fake.loseNext.refund = 3 // the call and both of the SDK's retries
    const body = { items: [{ order_item_id: items[0]!.id, quantity: 2 }], reason: 'damaged' }
    const first = await refund(order.id, body, 'first-try')
    expect(first.status, first.text).toBe(202)
    expect(first.body.refunds).toMatchObject([{ status: 'pending', amount: 20 }])
    expect(first.body).toMatchObject({ refunded_amount: 20, financial_status: 'paid' })
    expect(fake.refunds.size).toBe(1) // Stripe did make it
    // a retry under a new key does not refund those units again
    expectProblem(await refund(order.id, body, 'second-try'), 409, 'refund_pending')
    expectProblem(await refund(order.id, { amount: 45, reason: 'rest' }), 409, 'refund_pending')
    // the same key replays the pending refund
    const replay = await refund(order.id, body, 'first-try')
    expect(replay.status).toBe(202)
    expect(replay.headers.get('idempotent-replayed')).toBe('true')
    expect(stripeRefundCalls().map((c) => c.idempotencyKey)).toEqual(Array(3).fill(first.body.refunds[0].id))

    expect((await deliver('charge.refunded', fake.charge(order.paymentIntentId!))).status).toBe(200)
    const o = await reload(order.id)
    expect(o.refunds).toMatchObject([{ status: 'succeeded', providerRefundId: [...fake.refunds.keys()][0] }])
    expect(o).toMatchObject({ refundedAmountCents: 2000, financialStatus: 'partially_refunded' })
    expect(fake.refunds.size).toBe(1)
  })

  it('a 5xx from Stripe is not a refusal: pending, then reconcile sends it again after 10 minutes as <id>:2', async () => {
    const { order } = await orderInState({ stripe: fake })
    fake.failNext.refund = 3
    const res = await refund(order.id, { amount: 10, reason: 'x' })
    expect(res.status, res.text).toBe(202)
    const id = res.body.refunds[0].id
    expect(fake.refunds.size).toBe(0)
    expect((await cron('reconcile-payments')).body).toMatchObject({ examined: 1, waiting: 1, retried: 0 })
    later(RETRY_AFTER_MS + 1000)
    expect((await cron('reconcile-payments')).body).toMatchObject({ examined: 1, retried: 1 })
    expect(stripeRefundCalls().at(-1)!.idempotencyKey).toBe(`${id}:2`)
    expect(await reload(order.id)).toMatchObject({
      refundedAmountCents: 1000,
      financialStatus: 'partially_refunded',
    })
    expect((await reload(order.id)).refunds).toMatchObject([{ status: 'succeeded', attempts: 2 }])
    expect((await cron('reconcile-payments')).body).toMatchObject({ examined: 0 })
    expect(fake.refunds.size).toBe(1)
  })

  it('reconcile settles one Stripe made without sending it again, even before 10 minutes', async () => {
    const { order } = await orderInState({ stripe: fake })
    fake.loseNext.refund = 3
    expect((await refund(order.id, { amount: 10, reason: 'x' })).status).toBe(202)
    const sent = stripeRefundCalls().length
    expect((await cron('reconcile-payments')).body).toMatchObject({ examined: 1, settled: 1 })
    expect(stripeRefundCalls()).toHaveLength(sent)
    expect((await reload(order.id)).refunds).toMatchObject([{ status: 'succeeded' }])
  })

  it("a refusal of an attempt the reconcile cron has superseded settles nothing; the current attempt's does", async () => {
    const { order } = await orderInState({ stripe: fake })
    fake.failNext.refund = 3
    const res = await refund(order.id, { amount: 10, reason: 'x' })
    expect(res.status, res.text).toBe(202)
    const id = res.body.refunds[0].id as string
    const d = await getDb()
    // the cron claimed attempt 2 (it may be making the refund now) when attempt 1's refusal arrives
    await d.execute(sql`update refunds set attempts = 2 where id = ${id}`)
    const late = await d.transaction((tx) =>
      settleRefundTx(tx, id, { status: 'failed', failureReason: 'declined', attempt: 1 }, null),
    )
    expect(late.changed).toBe(false)
    expect(await reload(order.id)).toMatchObject({ refundedAmountCents: 1000 })
    expect((await reload(order.id)).refunds).toMatchObject([{ status: 'pending', attempts: 2 }])
    // attempt 2's own refusal does settle it: the reservation is given back
    const current = await d.transaction((tx) =>
      settleRefundTx(tx, id, { status: 'failed', failureReason: 'declined', attempt: 2 }, null),
    )
    expect(current.changed).toBe(true)
    expect(await reload(order.id)).toMatchObject({ refundedAmountCents: 0, financialStatus: 'paid' })
  })

  it('only a definite refusal gives the reservation back: 502, the row failed, nothing held', async () => {
    const { order } = await orderInState({ stripe: fake })
    fake.refuseNext.refund = 1
    expectProblem(await refund(order.id, { amount: 10, reason: 'x' }), 502, 'payment_provider_error')
    const o = await reload(order.id)
    expect(o).toMatchObject({ refundedAmountCents: 0, financialStatus: 'paid' })
    expect(o.refunds).toMatchObject([{ status: 'failed' }])
    expect((await cron('reconcile-payments')).body).toMatchObject({ examined: 0 })
  })
})

describe('units of a refund in flight (defects 3 and 4)', () => {
  it('cannot be fulfilled or shipped while Stripe answers', async () => {
    const { order, items } = await orderInState({ stripe: fake })
    fake.loseNext.refund = 3
    const r = await refund(order.id, { items: [{ order_item_id: items[0]!.id, quantity: 2 }], reason: 'x' })
    expect(r.status).toBe(202)
    const line = (body: { items: Array<{ id: string }> }) => body.items.find((i) => i.id === items[0]!.id)
    expect(line(r.body)).toMatchObject({ cancelled_quantity: 2, refunded_quantity: 2 })
    const staffToken = who.admin.token
    const fulfilled = await call('POST', `/api/v1/orders/${order.id}/fulfill`, {
      token: staffToken,
      body: {},
    })
    expect(fulfilled.status, fulfilled.text).toBe(200)
    expect(fulfilled.body.fulfillments[0].items).toEqual([{ order_item_id: items[1]!.id, quantity: 1 }])
    const shipped = await call('POST', `/api/v1/orders/${order.id}/ship`, {
      token: staffToken,
      body: { tracking_number: 'T-1' },
    })
    expect(shipped.status, shipped.text).toBe(200)
    expect(line(shipped.body)).toMatchObject({ fulfilled_quantity: 0, cancelled_quantity: 2 })
    expect(shipped.body.status).toBe('shipped')
  })

  it('a paid cancel with its refund in flight leaves nothing to ship, not even a packed parcel', async () => {
    const { order } = await orderInState({ stripe: fake })
    const packed = await call('POST', `/api/v1/orders/${order.id}/fulfill`, {
      token: who.admin.token,
      body: {},
    })
    expect(packed.status).toBe(200)
    fake.loseNext.refund = 3
    const res = await cancel(order.id)
    expect(res.status, res.text).toBe(202)
    expect(res.body).toMatchObject({ status: 'cancelled', refunded_amount: 50 })
    expect(res.body.refunds).toMatchObject([{ status: 'pending', amount: 50 }])
    expect(res.body.fulfillments.map((f: { status: string }) => f.status)).toEqual(['cancelled'])
    expectProblem(
      await call('POST', `/api/v1/orders/${order.id}/ship`, {
        token: who.admin.token,
        body: { tracking_number: 'T-2' },
      }),
      409,
      'illegal_transition',
    )
    expect((await cron('reconcile-payments')).body).toMatchObject({ settled: 1 })
    expect(await reload(order.id)).toMatchObject({ status: 'cancelled', financialStatus: 'refunded' })
  })

  it('a cancel during an in-flight partial refund is 409 refund_pending; once settled it refunds the rest', async () => {
    const { order } = await orderInState({ stripe: fake })
    fake.loseNext.refund = 3
    expect((await refund(order.id, { amount: 20, reason: 'part' })).status).toBe(202)
    expectProblem(await cancel(order.id), 409, 'refund_pending')
    expect(await reload(order.id)).toMatchObject({ status: 'confirmed', refundedAmountCents: 2000 })
    await deliver('charge.refunded', fake.charge(order.paymentIntentId!))
    const done = await cancel(order.id)
    expect(done.status, done.text).toBe(200)
    expect(done.body).toMatchObject({
      status: 'cancelled',
      financial_status: 'refunded',
      paid_amount: 50,
      refunded_amount: 50,
    })
    expect(done.body.refunds.map((r: { amount: number; status: string }) => [r.amount, r.status])).toEqual([
      [20, 'succeeded'],
      [30, 'succeeded'],
    ])
  })
})

describe('refunds Stripe settles later (defect 14)', () => {
  it('a refund Stripe answers pending (or requires_action) is 202 until refund.updated settles it', async () => {
    for (const status of ['pending', 'requires_action'] as const) {
      const { order } = await orderInState({ stripe: fake })
      fake.refundStatus = status
      const res = await refund(order.id, { amount: 10, reason: 'slow method' })
      expect(res.status, res.text).toBe(202)
      expect(res.body.refunds).toMatchObject([{ status: 'pending' }])
      expect(res.body.financial_status).toBe('paid')
      const made = [...fake.refunds.values()].at(-1)!
      made.status = 'succeeded'
      expect((await deliver('refund.updated', made)).body.outcome).toBe('settled')
      const o = await reload(order.id)
      expect(o).toMatchObject({ financialStatus: 'partially_refunded', refundedAmountCents: 1000 })
      expect(o.refunds).toMatchObject([{ status: 'succeeded', providerRefundId: made.id }])
      fake.refundStatus = 'succeeded'
    }
  })

  it('a refund that fails after it succeeded comes off the totals, flags the order and tells the buyer', async () => {
    const buyer = await makeUser()
    const { order } = await orderInState({ stripe: fake, userId: buyer.user.id })
    const res = await refund(order.id, { amount: 20, reason: 'goodwill' })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ refunded_amount: 20, financial_status: 'partially_refunded' })
    const made = [...fake.refunds.values()][0]!
    made.status = 'failed'
    const e = await deliver('refund.failed', made)
    expect(e.body.outcome).toBe('settled')
    const o = await reload(order.id)
    expect(o).toMatchObject({ refundedAmountCents: 0, financialStatus: 'paid' })
    expect(o.refunds).toMatchObject([{ status: 'failed' }])
    expect(codes(o)).toEqual(['refund_failed'])
    const mail = await (await getDb())
      .select()
      .from(outboxEmails)
      .where(and(eq(outboxEmails.userId, buyer.user.id), eq(outboxEmails.template, 'order_refund_failed')))
    expect(mail).toHaveLength(1)
    // the same news again changes nothing
    expect((await deliver('refund.failed', made)).body.outcome).toBe('unchanged')
    expect(await reload(order.id)).toMatchObject({ refundedAmountCents: 0 })
  })

  it('a refund made in the dashboard is recorded once, however Stripe reports it', async () => {
    const { order } = await orderInState({ stripe: fake })
    const pi = fake.intents.get(order.paymentIntentId!)!
    const dash = refundShape({
      amount: 1500,
      currency: 'usd',
      paymentIntent: pi.id,
      charge: pi.latest_charge!,
    })
    fake.refunds.set(dash.id, dash)
    expect((await deliver('refund.created', dash)).body.outcome).toBe('recorded')
    expect((await deliver('charge.refunded', fake.charge(pi.id))).status).toBe(200)
    const o = await reload(order.id)
    expect(o.refunds).toMatchObject([{ amountCents: 1500, status: 'succeeded', providerRefundId: dash.id }])
    expect(o).toMatchObject({ refundedAmountCents: 1500, financialStatus: 'partially_refunded' })
  })
})

describe('a webhook that needs Stripe while Stripe is out of reach', () => {
  it('answers charge.refunded with a 503 and Retry-After (Stripe delivers it again), recording nothing', async () => {
    const { order } = await orderInState({ stripe: fake })
    expect((await refund(order.id, { amount: 10, reason: 'x' })).status).toBe(200)
    const charge = fake.charge(order.paymentIntentId!)
    server.use(http.get('https://api.stripe.com/v1/refunds', () => HttpResponse.error()))
    const e = signedEvent('charge.refunded', charge)
    const post = () =>
      call('POST', '/api/webhooks/stripe', {
        rawBody: e.payload,
        headers: { 'content-type': 'application/json', 'stripe-signature': e.signature },
      })
    const res = await post()
    expectProblem(res, 503, 'payment_provider_unavailable')
    expect(res.headers.get('retry-after')).toBe('60')
    server.resetHandlers()
    fake = useFakeStripe(server)
    // delivered again once Stripe answers: processed then, not taken for a duplicate
    expect((await post()).body).toEqual({ received: true, outcome: 'reconciled' })
  })
})

describe('disputes (defect 13)', () => {
  it('flag the amount in major units; a lost dispute counts as refunded and is flagged once', async () => {
    const { order } = await orderInState({ stripe: fake })
    const pi = fake.intents.get(order.paymentIntentId!)!
    const dispute = disputeShape({
      charge: pi.latest_charge!,
      paymentIntent: pi.id,
      amount: 5000,
      currency: 'usd',
    })
    expect((await deliver('charge.dispute.created', dispute)).body.outcome).toBe('flagged')
    expect((await reload(order.id)).flags).toMatchObject([{ code: 'dispute', amount: 50 }])
    const closed = { ...dispute, status: 'lost' }
    expect((await deliver('charge.dispute.closed', closed)).body.outcome).toBe('dispute_lost')
    const o = await reload(order.id)
    expect(o).toMatchObject({ refundedAmountCents: 5000, financialStatus: 'refunded' })
    expect(o.refunds).toMatchObject([{ kind: 'dispute_lost', amountCents: 5000, status: 'succeeded' }])
    expect(codes(o)).toEqual(['dispute', 'dispute_lost'])
    expect(stripeRefundCalls()).toHaveLength(0)
    // a won dispute only records its outcome
    const other = await orderInState({ stripe: fake })
    const pi2 = fake.intents.get(other.order.paymentIntentId!)!
    const won = {
      ...disputeShape({ charge: pi2.latest_charge!, paymentIntent: pi2.id, amount: 5000, currency: 'usd' }),
      status: 'won',
    }
    expect((await deliver('charge.dispute.closed', won)).body.outcome).toBe('dispute_closed')
    expect(await reload(other.order.id)).toMatchObject({ refundedAmountCents: 0, financialStatus: 'paid' })
  })

  it('the migration turns dispute flags stored in minor units into major units', async () => {
    const { order } = await orderInState({ stripe: fake })
    const db = await getDb()
    const flags = [
      { code: 'dispute', message: 'disputed', at: 'x', amount: 7497 },
      { code: 'other', message: 'kept', at: 'x', amount: 5 },
    ]
    await db.update(orders).set({ flags }).where(eq(orders.id, order.id))
    const migration = readFileSync('db/migrations/0009_refund_lifecycle.sql', 'utf8')
    const statement = migration.split('--> statement-breakpoint').at(-1)!
    await db.execute(sql.raw(statement))
    expect((await reload(order.id)).flags).toMatchObject([
      { code: 'dispute', amount: 74.97 },
      { code: 'other', amount: 5 },
    ])
  })
})

describe('the order token cancels a pending guest order (defect 5)', () => {
  it('cancels it with X-Order-Token, never a paid one, and never without the token', async () => {
    const checkout = await orderInState({ financialStatus: 'pending' })
    const { orderToken } = await import('../../lib/orders/access.js')
    const token = { 'x-order-token': orderToken(checkout.order.id) }
    expectProblem(await call('DELETE', `/api/v1/orders/${checkout.order.id}`), 404)
    const res = await call('DELETE', `/api/v1/orders/${checkout.order.id}`, { headers: token })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ status: 'cancelled', financial_status: 'voided' })
    const paid = await orderInState()
    expectProblem(
      await call('DELETE', `/api/v1/orders/${paid.order.id}`, {
        headers: { 'x-order-token': orderToken(paid.order.id) },
      }),
      403,
    )
  })
})

describe('GET /api/cron/reconcile-payments', () => {
  it('needs the cron secret, and without Stripe leaves pending refunds alone', async () => {
    expectProblem(await call('GET', '/api/cron/reconcile-payments'), 401)
    const { order } = await orderInState({ stripe: fake })
    fake.loseNext.refund = 3
    expect((await refund(order.id, { amount: 10, reason: 'x' })).status).toBe(202)
    restoreEnv()
    setEnv({ CRON_SECRET: CRON })
    expect((await cron('reconcile-payments')).body).toEqual({
      examined: 0,
      settled: 0,
      retried: 0,
      waiting: 0,
      failed: 0,
    })
    expect((await reload(order.id)).refunds).toMatchObject([{ status: 'pending' }])
  })
})
