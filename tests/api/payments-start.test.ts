import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { orders, payments } from '../../db/schema/index.js'
import { loadOrderOr404 } from '../../lib/orders/view.js'
import { paymentClientSecret, startPayment } from '../../lib/payments/start.js'
import { getDb } from '../../lib/platform/db.js'
import { setEnv } from '../support/env.js'
import { makeOrderWithItems, makeProductRow } from '../support/factories.js'
import { useMsw } from '../support/msw.js'
import { type FakeStripe, withFakeStripe } from '../support/stripe.js'

const server = useMsw()
let fake: FakeStripe

withFakeStripe(server, (f) => {
  fake = f
})

async function pendingOrder(currency = 'USD', unitPriceCents = 2599) {
  const product = await makeProductRow()
  const { order } = await makeOrderWithItems({
    status: 'pending',
    currency,
    items: [{ productId: product.id, quantity: 2, unitPriceCents }],
  })
  return loadOrderOr404(await getDb(), order.id)
}

describe('startPayment', () => {
  it('creates a PaymentIntent keyed by the order id and stores it with a pending payments row', async () => {
    const order = await pendingOrder()
    const { clientSecret } = await startPayment(await getDb(), order)
    const [create] = fake.only(/^\/v1\/payment_intents$/)
    expect(create!.idempotencyKey).toBe(order.id)
    expect(create!.params.get('amount')).toBe('5198')
    expect(create!.params.get('currency')).toBe('usd')
    expect(create!.params.get('metadata[order_id]')).toBe(order.id)
    const pi = [...fake.intents.values()][0]!
    expect(clientSecret).toBe(pi.client_secret)
    const db = await getDb()
    const [row] = await db.select().from(orders).where(eq(orders.id, order.id))
    expect(row!.paymentIntentId).toBe(pi.id)
    expect(row!.paymentProvider).toBe('stripe')
    expect(row!.status).toBe('pending')
    const rows = await db.select().from(payments).where(eq(payments.orderId, order.id))
    expect(rows).toMatchObject([
      { provider: 'stripe', providerPaymentId: pi.id, amountCents: 5198, status: 'pending' },
    ])
  })

  it('sends Stripe its own amount for ISK (x100)', async () => {
    const order = await pendingOrder('ISK', 1500)
    await startPayment(await getDb(), order)
    expect(fake.only(/^\/v1\/payment_intents$/)[0]!.params.get('amount')).toBe('300000')
  })

  it('retrieves the same PaymentIntent on a retry instead of creating a second one', async () => {
    const db = await getDb()
    const order = await pendingOrder()
    const first = await startPayment(db, order)
    const again = await startPayment(db, await loadOrderOr404(db, order.id))
    expect(again.clientSecret).toBe(first.clientSecret)
    expect(fake.intents.size).toBe(1)
    expect(fake.only(/^\/v1\/payment_intents$/)).toHaveLength(1)
    expect(await db.select().from(payments).where(eq(payments.orderId, order.id))).toHaveLength(1)
    expect(await paymentClientSecret(await loadOrderOr404(db, order.id))).toBe(first.clientSecret)
  })

  it('leaves the order pending and does not throw when Stripe fails', async () => {
    const db = await getDb()
    const order = await pendingOrder()
    fake.failNext.create = 5
    expect(await startPayment(db, order)).toEqual({ clientSecret: null })
    const [row] = await db.select().from(orders).where(eq(orders.id, order.id))
    expect(row).toMatchObject({
      status: 'pending',
      financialStatus: 'pending',
      paymentIntentId: null,
      paymentProvider: 'stripe',
    })
    expect(await db.select().from(payments).where(eq(payments.orderId, order.id))).toHaveLength(0)
    // a later retry succeeds with the same idempotency key
    const retry = await startPayment(db, await loadOrderOr404(db, order.id))
    expect(retry.clientSecret).toMatch(/_secret_/)
    expect(new Set(fake.calls.map((c) => c.idempotencyKey))).toEqual(new Set([order.id]))
  })

  it('is a manual payment without STRIPE_SECRET_KEY (no call to Stripe)', async () => {
    setEnv({ STRIPE_SECRET_KEY: undefined })
    const order = await pendingOrder()
    expect(await startPayment(await getDb(), order)).toEqual({ clientSecret: null })
    expect(await paymentClientSecret(order)).toBeNull()
    expect(fake.calls).toHaveLength(0)
  })
})
