import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { payments, refunds } from '../../db/schema/index.js'
import { addFlag } from '../../lib/orders/history.js'
import { loadOrderOr404 } from '../../lib/orders/view.js'
import { repairPayments } from '../../lib/payments/repair.js'
import { getDb } from '../../lib/platform/db.js'
import { catalogTestEnv } from '../support/catalog.js'
import { useMsw } from '../support/msw.js'
import { orderInState } from '../support/orders-payments.js'
import { type FakeStripe, paymentIntentShape, refundShape, withFakeStripe } from '../support/stripe.js'

// `npm run payments:reconcile` (lib/payments/repair.ts): orders the old money path got wrong end right,
// and a second run changes nothing. The states below are what the old code left behind.

catalogTestEnv()
const server = useMsw()
let fake: FakeStripe

withFakeStripe(server, (f) => {
  fake = f
})

const reload = async (id: string) => loadOrderOr404(await getDb(), id)
const codes = (o: { flags: unknown }) => (o.flags as Array<{ code: string }>).map((f) => f.code)

/** A refund at the fake Stripe, made outside this API's rows. */
function stripeRefund(piId: string, amount: number, metadata: Record<string, string>) {
  const pi = fake.intents.get(piId)!
  const r = refundShape({
    amount,
    currency: pi.currency,
    paymentIntent: pi.id,
    charge: pi.latest_charge!,
    metadata,
  })
  fake.refunds.set(r.id, r)
  return r
}

describe('npm run payments:reconcile', () => {
  it('counts the refund a late webhook made of the payment that paid the order (defect 1)', async () => {
    const { order } = await orderInState({ stripe: fake })
    const db = await getDb()
    const r = stripeRefund(order.paymentIntentId!, 5000, { order_id: order.id, reason: 'unexpected_payment' })
    await db.update(payments).set({ refundedAmountCents: 5000 }).where(eq(payments.orderId, order.id))
    await addFlag(db, order.id, { code: 'unexpected_payment', message: 'old', refund_id: r.id })
    expect(await reload(order.id)).toMatchObject({ financialStatus: 'paid', refundedAmountCents: 0 })

    expect(await repairPayments(db)).toMatchObject({ repaired: 1, failed: 0 })
    const o = await reload(order.id)
    expect(o).toMatchObject({ financialStatus: 'refunded', refundedAmountCents: 5000 })
    expect(o.refunds).toMatchObject([{ kind: 'refund', status: 'succeeded', providerRefundId: r.id }])
    expect(codes(o)).toEqual(['unexpected_payment', 'refund_repaired'])

    expect(await repairPayments(db)).toMatchObject({ repaired: 0, settled: 1 })
    expect((await reload(order.id)).refunds).toHaveLength(1)
  })

  it('counts a refund marked failed although Stripe made it (defect 2)', async () => {
    const { order } = await orderInState({ stripe: fake })
    const db = await getDb()
    const [row] = await db
      .insert(refunds)
      .values({
        orderId: order.id,
        amountCents: 2000,
        currency: 'USD',
        reason: 'damaged',
        status: 'failed',
        failureReason: 'Request was retried',
      })
      .returning()
    const r = stripeRefund(order.paymentIntentId!, 2000, { order_id: order.id, refund_id: row!.id })

    expect(await repairPayments(db)).toMatchObject({ repaired: 1 })
    const o = await reload(order.id)
    expect(o).toMatchObject({ financialStatus: 'partially_refunded', refundedAmountCents: 2000 })
    expect(o.refunds.map((x) => [x.status, x.providerRefundId])).toEqual([
      ['failed', null],
      ['succeeded', r.id],
    ])
    expect(o.refunds[0]!.failureReason).toContain(r.id)
    expect(codes(o)).toEqual(['refund_repaired'])

    expect(await repairPayments(db)).toMatchObject({ repaired: 0 })
    expect(await reload(order.id)).toMatchObject({ refundedAmountCents: 2000 })
  })

  it('keeps a second payment the old webhook sent back outside the order’s totals', async () => {
    const { order } = await orderInState({ stripe: fake })
    const db = await getDb()
    const second = paymentIntentShape({ amount: 5000, currency: 'usd', status: 'succeeded' })
    fake.intents.set(second.id, second)
    await db.insert(payments).values({
      orderId: order.id,
      provider: 'stripe',
      providerPaymentId: second.id,
      amountCents: 5000,
      refundedAmountCents: 5000,
      currency: 'USD',
      status: 'succeeded',
      metadata: { refunded_at_once: true },
    })
    stripeRefund(second.id, 5000, { order_id: order.id, reason: 'unexpected_payment' })

    await repairPayments(db)
    const o = await reload(order.id)
    expect(o).toMatchObject({ financialStatus: 'paid', refundedAmountCents: 0 })
    expect(o.refunds).toMatchObject([{ kind: 'unexpected_payment', amountCents: 5000, status: 'succeeded' }])
    expect(o.payments.find((p) => p.providerPaymentId === second.id)!.metadata).toMatchObject({
      unexpected: true,
    })
  })
})
