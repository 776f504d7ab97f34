import { randomBytes } from 'node:crypto'
import { eq, sql } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { orders, payments } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { makeProductRow } from '../support/factories.js'
import { call } from '../support/http.js'
import { useMsw } from '../support/msw.js'
import { type FakeStripe, withFakeStripe } from '../support/stripe.js'

// POST /orders with Stripe configured (intercepted HTTP in Stripe's shapes): the PaymentIntent starts after
// the commit, its client secret is in the 201 and in an Idempotency-Key replay (read again from Stripe,
// never stored), and a Stripe failure leaves a pending order rather than a failed checkout.

const server = useMsw()
let fake: FakeStripe
withFakeStripe(
  server,
  (f) => {
    fake = f
  },
  { RATE_LIMIT_DEFAULT: '100000/60' },
)

const tag = () => randomBytes(4).toString('hex')
const IL = {
  first_name: 'Ada',
  last_name: 'Buyer',
  line1: '1 Main St',
  city: 'Springfield',
  state: 'IL',
  country: 'US',
}

async function body() {
  const p = await makeProductRow({ inventoryQuantity: 5, priceCents: 2599 })
  return {
    items: [{ product_id: p.id, quantity: 2 }],
    shipping_address: IL,
    customer_email: `stripe-${tag()}@example.test`,
  }
}

describe('POST /orders with Stripe', () => {
  it('answers the client secret of a PaymentIntent keyed by the order id; a replay reads it again', async () => {
    const b = await body()
    const key = `stripe-key-${tag()}`
    const first = await call('POST', '/api/v1/orders', { body: b, headers: { 'idempotency-key': key } })
    expect(first.status, first.text).toBe(201)
    const pi = [...fake.intents.values()][0]!
    expect(first.body.payment).toMatchObject({
      provider: 'stripe',
      payment_intent_id: pi.id,
      client_secret: pi.client_secret,
    })
    const [create] = fake.only(/^\/v1\/payment_intents$/)
    expect(create!.idempotencyKey).toBe(first.body.id)
    expect(create!.params.get('amount')).toBe('5198')

    const replay = await call('POST', '/api/v1/orders', { body: b, headers: { 'idempotency-key': key } })
    expect(replay.status).toBe(201)
    expect(replay.headers.get('idempotent-replayed')).toBe('true')
    expect(replay.body.id).toBe(first.body.id)
    expect(replay.body.payment.client_secret).toBe(pi.client_secret)
    expect(replay.body.access_token).toBe(first.body.access_token)
    expect(fake.only(/^\/v1\/payment_intents$/)).toHaveLength(1)

    const db = await getDb()
    const r = await db.execute(sql`select response_body from idempotency_keys where key = ${key}`)
    const stored = JSON.stringify(
      (r as unknown as { rows: Array<{ response_body: unknown }> }).rows[0]!.response_body,
    )
    expect(stored).toBe(JSON.stringify({ order_id: first.body.id }))
    expect(await db.select().from(payments).where(eq(payments.orderId, first.body.id))).toHaveLength(1)
  })

  it('still creates the order (pending, no client secret) when Stripe fails', async () => {
    fake.failNext.create = 5
    const res = await call('POST', '/api/v1/orders', { body: await body() })
    expect(res.status, res.text).toBe(201)
    expect(res.body.payment).toMatchObject({
      provider: 'stripe',
      client_secret: null,
      payment_intent_id: null,
    })
    const [row] = await (await getDb()).select().from(orders).where(eq(orders.id, res.body.id))
    expect(row).toMatchObject({ status: 'pending', paymentProvider: 'stripe' })
  })

  it('a retry with the same Idempotency-Key starts the payment the first request never recorded', async () => {
    // the first answer carries no PaymentIntent (Stripe failed; or the process died before recording it,
    // tests/services/crash-points.test.ts): the client's retry must still end with one it can pay
    fake.failNext.create = 3
    const b = await body()
    const key = `stripe-retry-${tag()}`
    const first = await call('POST', '/api/v1/orders', { body: b, headers: { 'idempotency-key': key } })
    expect(first.status, first.text).toBe(201)
    expect(first.body.payment).toMatchObject({ payment_intent_id: null, client_secret: null })
    expect(fake.intents.size).toBe(0)
    fake.failNext.create = 0

    const retry = await call('POST', '/api/v1/orders', { body: b, headers: { 'idempotency-key': key } })
    expect(retry.status, retry.text).toBe(201)
    expect(retry.headers.get('idempotent-replayed')).toBe('true')
    expect(retry.body.id).toBe(first.body.id)
    const [pi, ...more] = [...fake.intents.values()]
    expect(more).toEqual([])
    expect(pi!.metadata.order_id).toBe(first.body.id)
    expect(retry.body.payment).toMatchObject({ payment_intent_id: pi!.id, client_secret: pi!.client_secret })
    const creates = fake.only(/^\/v1\/payment_intents$/)
    expect(creates.map((c) => c.idempotencyKey)).toEqual(Array(creates.length).fill(first.body.id))

    // once it has one, a further retry reads it again: no second PaymentIntent
    const again = await call('POST', '/api/v1/orders', { body: b, headers: { 'idempotency-key': key } })
    expect(again.body.payment.client_secret).toBe(pi!.client_secret)
    expect(fake.intents.size).toBe(1)
    expect(
      await (await getDb()).select().from(payments).where(eq(payments.orderId, first.body.id)),
    ).toHaveLength(1)
  })

  it('a retry of a cancelled order starts no payment', async () => {
    fake.failNext.create = 3
    const b = await body()
    const key = `stripe-cancelled-${tag()}`
    const first = await call('POST', '/api/v1/orders', { body: b, headers: { 'idempotency-key': key } })
    expect(first.status, first.text).toBe(201)
    await (await getDb())
      .update(orders)
      .set({ status: 'cancelled', financialStatus: 'voided' })
      .where(eq(orders.id, first.body.id))
    fake.failNext.create = 0
    const retry = await call('POST', '/api/v1/orders', { body: b, headers: { 'idempotency-key': key } })
    expect([retry.status, retry.body.status, retry.body.payment.client_secret]).toEqual([
      201,
      'cancelled',
      null,
    ])
    expect(fake.intents.size).toBe(0)
  })
})
