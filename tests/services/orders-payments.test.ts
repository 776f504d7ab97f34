import { eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { refunds } from '../../db/schema/index.js'
import { loadOrderOr404 } from '../../lib/orders/view.js'
import { driverKind, getDb } from '../../lib/platform/db.js'
import { catalogTestEnv } from '../support/catalog.js'
import { makeUser } from '../support/factories.js'
import { call } from '../support/http.js'
import { useMsw } from '../support/msw.js'
import { orderInState } from '../support/orders-payments.js'
import { holdNextQuery } from '../support/query-hold.js'
import { type FakeStripe, signedEvent, WEBHOOK_SECRET, withFakeStripe } from '../support/stripe.js'

// Issue 9's payment races on real PostgreSQL through the Neon driver (PGlite runs one query at a time):
// duplicate and out-of-order Stripe webhooks change state once, a refund made here and then reported by
// charge.refunded is counted once, and concurrent refunds never exceed what was paid.

catalogTestEnv()
const server = useMsw()
let fake: FakeStripe
let admin: Awaited<ReturnType<typeof makeUser>>

beforeAll(async () => {
  admin = await makeUser({ role: 'admin' })
})
withFakeStripe(
  server,
  (f) => {
    fake = f
  },
  { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET },
)

const deliver = (e: { payload: string; signature: string }) =>
  call('POST', '/api/webhooks/stripe', {
    rawBody: e.payload,
    headers: { 'content-type': 'application/json', 'stripe-signature': e.signature },
  })

describe('payment races', () => {
  it('runs on the production driver', async () => {
    expect(await driverKind()).toBe('neon')
  })

  it('the same payment_intent.succeeded delivered 8 times at once pays the order once', async () => {
    const { order } = await orderInState({ financialStatus: 'pending', stripe: fake })
    const e = signedEvent('payment_intent.succeeded', fake.setStatus(order.paymentIntentId!, 'succeeded'))
    const results = await Promise.all(Array.from({ length: 8 }, () => deliver(e)))
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200))
    expect(results.filter((r) => r.body.outcome === 'paid')).toHaveLength(1)
    const o = await loadOrderOr404(await getDb(), order.id)
    expect(o).toMatchObject({
      status: 'confirmed',
      financialStatus: 'paid',
      paidAmountCents: o.totalAmountCents,
    })
    expect(o.payments.filter((p) => p.status === 'succeeded')).toHaveLength(1)
  })

  it('charge.refunded before and after the refund settles, and twice, counts the refund once', async () => {
    const { order } = await orderInState({ stripe: fake })
    const r = await call('POST', `/api/v1/orders/${order.id}/refund`, {
      token: admin.token,
      body: { amount: 20, reason: 'x' },
    })
    expect(r.status, r.text).toBe(200)
    const charge = fake.charge(order.paymentIntentId!)
    const e1 = signedEvent('charge.refunded', charge)
    const e2 = signedEvent('charge.refunded', charge)
    await Promise.all([deliver(e1), deliver(e2), deliver(e1)])
    const o = await loadOrderOr404(await getDb(), order.id)
    expect(o).toMatchObject({ refundedAmountCents: 2000, financialStatus: 'partially_refunded' })
    expect(await (await getDb()).select().from(refunds).where(eq(refunds.orderId, order.id))).toHaveLength(1)
  })

  it('an older event arriving after a newer one changes nothing more', async () => {
    const { order } = await orderInState({ financialStatus: 'pending', stripe: fake })
    const failedEarlier = signedEvent(
      'payment_intent.payment_failed',
      fake.intents.get(order.paymentIntentId!)!,
      {
        created: Math.floor(Date.now() / 1000) - 60,
      },
    )
    const succeeded = signedEvent(
      'payment_intent.succeeded',
      fake.setStatus(order.paymentIntentId!, 'succeeded'),
    )
    await deliver(succeeded)
    await deliver(failedEarlier)
    await deliver(succeeded)
    const o = await loadOrderOr404(await getDb(), order.id)
    expect(o).toMatchObject({ status: 'confirmed', financialStatus: 'paid' })
    expect(o.payments.map((p) => p.status)).toEqual(['succeeded'])
  })

  it('ten concurrent refunds of 10.00 on a 50.00 order: exactly five succeed', async () => {
    for (const stripe of [undefined, fake]) {
      const { order } = await orderInState(stripe ? { stripe } : {})
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          call('POST', `/api/v1/orders/${order.id}/refund`, {
            token: admin.token,
            body: { amount: 10, reason: `r${i}` },
          }),
        ),
      )
      expect(
        results.filter((r) => r.status === 200),
        results.map((r) => `${r.status} ${r.body?.code}`).join(),
      ).toHaveLength(5)
      // once refunded in full the order is `refunded` (409); before that the amount is too high (422), or
      // held by a refund still in flight at Stripe (409 refund_pending)
      const refused = results.filter((r) => r.status !== 200)
      expect(
        refused
          .map((r) => r.body.code)
          .every((c) => ['illegal_transition', 'exceeds_refundable', 'refund_pending'].includes(c)),
        refused.map((r) => r.body.code).join(),
      ).toBe(true)
      expect(refused).toHaveLength(5)
      const o = await loadOrderOr404(await getDb(), order.id)
      expect(o).toMatchObject({
        refundedAmountCents: 5000,
        paidAmountCents: 5000,
        financialStatus: 'refunded',
      })
    }
  })

  it('a payment landing between the cancel check and the cancel never turns it into a refund (409)', async () => {
    const db = await getDb()
    const buyer = await makeUser()
    const staff = await makeUser({ role: 'staff' }) // orders.manage, not orders.refund
    for (const canceller of [buyer, staff]) {
      const { order } = await orderInState({ userId: buyer.user.id, financialStatus: 'pending' })
      // hold the cancel's first read of the order (what it checks the caller against) ...
      const held = holdNextQuery(
        db,
        (sql, params) => /from "orders"/.test(sql) && !/for update/.test(sql) && params.includes(order.id),
      )
      try {
        const cancelling = call('DELETE', `/api/v1/orders/${order.id}`, { token: canceller.token })
        await held.reached
        // ... while the payment lands
        const paid = await call('POST', `/api/v1/orders/${order.id}/mark-paid`, { token: admin.token })
        expect(paid.status, paid.text).toBe(200)
        held.release()
        const res = await cancelling
        expect(res.status, res.text).toBe(409)
        expect(res.body.code).toBe('payment_succeeded')
      } finally {
        held.restore()
      }
      const o = await loadOrderOr404(db, order.id)
      expect(o).toMatchObject({ status: 'confirmed', financialStatus: 'paid', refundedAmountCents: 0 })
      expect(o.refunds).toHaveLength(0)
    }
  })
})
