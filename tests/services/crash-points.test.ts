import { randomBytes } from 'node:crypto'
import { eq, inArray } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { orders, products, refunds } from '../../db/schema/index.js'
import { type FullOrder, loadOrderOr404 } from '../../lib/orders/view.js'
import { getDb } from '../../lib/platform/db.js'
import { ApiChild, type Req } from '../support/api-child.js'
import { makeProductRow, makeUser } from '../support/factories.js'
import { PARCEL, SHIP_FROM, SHIP_TO } from '../support/fulfilment.js'
import { KEYS } from '../support/msw.js'
import {
  type CrashWhen,
  callName,
  type FakeProviders,
  handlerSink,
  startFakeProviders,
} from '../support/provider-server.js'
import { fakeShippo } from '../support/shippo.js'
import { FakeStripe, signedEvent, WEBHOOK_SECRET } from '../support/stripe.js'

// Issue 17, item 5: a process that dies between a transaction and a provider call. The API runs as a
// child process (`npm run dev` on this file's database); Stripe and Shippo are served to it from this
// process (tests/support/provider-server.ts), which is where the crash points are: `before` — the request
// reached the provider, the child is killed (SIGKILL) and the provider never acts; `after` — the provider
// acted (refund made, label bought, PaymentIntent created) and the child is killed before the answer
// arrives. A new child on the same database then runs the documented recovery (docs/orders.md, "Crash
// recovery"): the same request with the same Idempotency-Key, the reconcile cron, release-unpaid; the
// recoveries that wait for time run on a child whose clock is 11 or 31 minutes on (DEV_CLOCK_OFFSET_MS).
// Every point ends with exactly one Stripe refund, one label or one PaymentIntent per intended action.
//
// POINTS is the list of crash points. The first test runs each flow once without a crash and fails when
// a flow makes a provider call the list does not name (before and after), so a new call needs its points.
// All points are crashed by one kill: each flow is started only once the one before is held at its point,
// so every flow is frozen exactly there when the process dies (each on its own order and products).

type Flow = 'refund' | 'paid cancel' | 'ship' | 'checkout' | 'unpaid cancel'
type Minute = 0 | 11 | 31

interface Subject {
  email: string
  key: string
  productIds: [string, string]
  cart: unknown
  orderId?: string
  lineA?: string
}

interface Point {
  flow: Flow
  call: string
  when: CrashWhen
  /** the recovery, by minutes after the crash (each stage on a new child whose clock is that far on) */
  recover: Partial<Record<Minute, (s: Subject) => Promise<void>>>
  /** checkout only: the buyer never comes back, release-unpaid alone ends it */
  abandoned?: boolean
}

const REFUND = 'stripe POST /v1/refunds'
const INTENT = 'stripe POST /v1/payment_intents'
const SHIPMENT = 'shippo POST /shipments'
const LABEL = 'shippo POST /transactions'
const READ_INTENT = 'stripe GET /v1/payment_intents/:id'
const CANCEL_INTENT = 'stripe POST /v1/payment_intents/:id/cancel'
const CRON_SECRET = 'crash-points-cron-secret'

// --- The points and their recovery ------------------------------------------------------------------

const refundBefore = {
  0: async (s: Subject) => {
    expect((await retry('refund', s)).status).toBe(202) // the key answers the refund as it is: pending
    await cron('reconcile-payments') // absent at Stripe and its attempt is fresh: it waits
    expect(await refundStatuses(s)).toEqual(['pending'])
  },
  11: async (s: Subject) => {
    await cron('reconcile-payments') // absent for 10 minutes: sent again as attempt 2
    expect((await retry('refund', s)).status).toBe(200)
  },
}
const refundAfter = {
  0: async (s: Subject) => {
    await cron('reconcile-payments') // found at Stripe by metadata.refund_id: settled
    expect((await retry('refund', s)).status).toBe(200)
  },
}
const cancelBefore = {
  0: async (s: Subject) => {
    const again = await retry('paid cancel', s) // the order is cancelled already; nothing is refunded again
    expect([again.status, again.body.code]).toEqual([409, 'illegal_transition'])
    await cron('reconcile-payments')
    expect(await refundStatuses(s)).toEqual(['pending'])
  },
  11: async () => cron('reconcile-payments'),
}
const cancelAfter = { 0: async () => cron('reconcile-payments') }
const shipAgain = async (s: Subject) => {
  const res = await retry('ship', s)
  expect([res.status, res.body.status], res.text).toEqual([200, 'shipped'])
}
const labelClaimed = async (s: Subject) => {
  const res = await retry('ship', s) // the purchase's claim is young: a request may still be buying
  expect([res.status, res.body.code]).toEqual([409, 'label_purchase_in_progress'])
}
const checkoutRetried = {
  0: async (s: Subject) => {
    const res = await retry('checkout', s)
    expect([res.status, res.headers.get('idempotent-replayed')], res.text).toEqual([201, 'true'])
    const pi = intentsOf(res.body.id)
    expect(pi).toHaveLength(1)
    expect(res.body.payment).toMatchObject({
      payment_intent_id: pi[0]!.id,
      client_secret: pi[0]!.client_secret,
    })
    expect(res.body.status).toBe('pending')
  },
  31: async (s: Subject) => {
    await cron('release-unpaid')
    const res = await retry('checkout', s)
    expect([res.status, res.body.status, res.body.payment.client_secret]).toEqual([201, 'cancelled', null])
  },
}
const released = { 31: async () => cron('release-unpaid') }
const cancelAgain = async (s: Subject) => {
  const res = await retry('unpaid cancel', s) // the PaymentIntent is read (and cancelled) again, then the order
  expect([res.status, res.body.status, res.body.financial_status], res.text).toEqual([
    200,
    'cancelled',
    'voided',
  ])
}

const POINTS: Point[] = [
  { flow: 'refund', call: REFUND, when: 'before', recover: refundBefore },
  { flow: 'refund', call: REFUND, when: 'after', recover: refundAfter },
  { flow: 'paid cancel', call: REFUND, when: 'before', recover: cancelBefore },
  { flow: 'paid cancel', call: REFUND, when: 'after', recover: cancelAfter },
  { flow: 'ship', call: SHIPMENT, when: 'before', recover: { 0: shipAgain } },
  { flow: 'ship', call: SHIPMENT, when: 'after', recover: { 0: shipAgain } },
  { flow: 'ship', call: LABEL, when: 'before', recover: { 0: labelClaimed, 11: shipAgain } },
  { flow: 'ship', call: LABEL, when: 'after', recover: { 0: labelClaimed, 11: shipAgain } },
  { flow: 'checkout', call: INTENT, when: 'before', recover: checkoutRetried },
  { flow: 'checkout', call: INTENT, when: 'after', recover: checkoutRetried },
  { flow: 'checkout', call: INTENT, when: 'before', recover: released, abandoned: true },
  { flow: 'checkout', call: INTENT, when: 'after', recover: released, abandoned: true },
  { flow: 'unpaid cancel', call: READ_INTENT, when: 'before', recover: { 0: cancelAgain } },
  { flow: 'unpaid cancel', call: READ_INTENT, when: 'after', recover: { 0: cancelAgain } },
  { flow: 'unpaid cancel', call: CANCEL_INTENT, when: 'before', recover: { 0: cancelAgain } },
  { flow: 'unpaid cancel', call: CANCEL_INTENT, when: 'after', recover: { 0: cancelAgain } },
]
const label = (p: Point) =>
  `${p.flow} ${p.when} ${p.call}${p.flow === 'checkout' ? (p.abandoned ? ', buyer gone' : ', buyer retries') : ''}`

// --- The world: fake providers, the child, its clock ---------------------------------------------------

const stripe = new FakeStripe()
const sink = handlerSink()
const shippo = fakeShippo(sink.server)
let providers: FakeProviders
let child: ApiChild
const subjects = new Map<Point, Subject>()
const unrecovered = new Map<Point, string>()

const tag = () => randomBytes(5).toString('hex')
const api = (r: Req) => child.call(r)

/** The flow's one request (the same Idempotency-Key every time). */
function request(flow: Flow, s: Subject): Req {
  const order = `/api/v1/orders/${s.orderId}`
  const staff = { token: child.staff }
  if (flow === 'checkout') return { method: 'POST', path: '/api/v1/orders', key: s.key, body: s.cart }
  if (flow === 'ship') return { method: 'POST', path: `${order}/ship`, ...staff, key: s.key, body: {} }
  if (flow !== 'refund') return { method: 'DELETE', path: order, ...staff, body: { reason: 'crash test' } }
  const body = { items: [{ order_item_id: s.lineA, quantity: 1 }], reason: 'crash test', restock: true }
  return { method: 'POST', path: `${order}/refund`, ...staff, key: s.key, body }
}
const retry = (flow: Flow, s: Subject) => api(request(flow, s))

async function cron(job: 'reconcile-payments' | 'release-unpaid') {
  const res = await api({ method: 'GET', path: `/api/cron/${job}`, token: CRON_SECRET })
  expect([res.status, res.body.failed], `${job} at +${child.minutes} min: ${res.text}`).toEqual([200, 0])
}

/** Two products of 10 units each (made before the first child starts, so it seeds no demo catalog). */
async function newSubject(): Promise<Subject> {
  const make = (priceCents: number) => makeProductRow({ inventoryQuantity: 10, priceCents, weightGrams: 500 })
  const [a, b] = await Promise.all([make(2000), make(1500)])
  const email = `crash-${tag()}@example.test`
  const cart = {
    items: [
      { product_id: a.id, quantity: 2 },
      { product_id: b.id, quantity: 1 },
    ],
    shipping_address: SHIP_TO,
    customer_email: email,
  }
  return { email, key: `crash-${tag()}`, productIds: [a.id, b.id], cart }
}

/**
 * What the flow starts from: nothing (checkout), an order placed through the child and awaiting its
 * payment (unpaid cancel), or that order paid: the buyer pays at Stripe and Stripe's webhook arrives.
 */
async function prepare(flow: Flow, s: Subject): Promise<void> {
  if (flow === 'checkout') return
  const placed = await api({ method: 'POST', path: '/api/v1/orders', body: s.cart })
  expect(placed.status, placed.text).toBe(201)
  s.orderId = placed.body.id
  s.lineA = placed.body.items.find((i: { product_id: string }) => i.product_id === s.productIds[0]).id
  if (flow === 'unpaid cancel') return
  const e = signedEvent(
    'payment_intent.succeeded',
    stripe.setStatus(placed.body.payment.payment_intent_id, 'succeeded'),
  )
  const paid = await api({
    method: 'POST',
    path: '/api/webhooks/stripe',
    raw: e.payload,
    headers: { 'stripe-signature': e.signature },
  })
  expect(paid.body.outcome, paid.text).toBe('paid')
}

// --- Reading the books ----------------------------------------------------------------------------------

const intentsOf = (orderId: string) =>
  [...stripe.intents.values()].filter((pi) => pi.metadata.order_id === orderId)
const stripeRefundsOf = (o: FullOrder) =>
  [...stripe.refunds.values()].filter((r) => r.payment_intent === o.paymentIntentId)
async function orderOf(s: Subject): Promise<FullOrder> {
  const db = await getDb()
  if (!s.orderId) {
    const found = await db.select({ id: orders.id }).from(orders).where(eq(orders.email, s.email))
    expect(found, 'one order per checkout, retried or not').toHaveLength(1)
    s.orderId = found[0]!.id
  }
  return loadOrderOr404(db, s.orderId)
}
async function refundStatuses(s: Subject) {
  return (await orderOf(s)).refunds.map((r) => r.status)
}
async function stockOf(s: Subject) {
  const rows = await (await getDb())
    .select({ id: products.id, q: products.inventoryQuantity })
    .from(products)
    .where(inArray(products.id, s.productIds))
  return s.productIds.map((id) => rows.find((r) => r.id === id)!.q)
}

// --- Lifecycle ------------------------------------------------------------------------------------------

const FLOWS: Flow[] = ['refund', 'paid cancel', 'ship', 'checkout', 'unpaid cancel']
const normal = new Map<Flow, Subject>()

beforeAll(async () => {
  providers = await startFakeProviders({ stripe: stripe.handlers(), shippo: sink.handlers })
  const staffId = (await makeUser({ role: 'admin' })).user.id
  for (const flow of FLOWS) normal.set(flow, await newSubject())
  for (const p of POINTS) subjects.set(p, await newSubject())
  child = new ApiChild({
    staffId,
    env: {
      ...providers.env,
      STRIPE_SECRET_KEY: KEYS.stripe,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      SHIPPO_API_KEY: KEYS.shippo,
      SHIP_FROM_ADDRESS: JSON.stringify(SHIP_FROM),
      DEFAULT_PARCEL: JSON.stringify(PARCEL),
      CRON_SECRET,
      RATE_LIMITS: 'off',
      RESEND_API_KEY: undefined,
      SENTRY_DSN: undefined,
      LOG_LEVEL: 'error',
    },
  })
  await child.start(0)
  for (const [flow, s] of normal) await prepare(flow, s)
  for (const [p, s] of subjects) await prepare(p.flow, s)
}, 120_000)

afterAll(async () => {
  await child?.stop()
  await providers?.close()
})

describe('crash consistency across provider calls', () => {
  it('lists a before and an after point for every provider call each flow makes', async () => {
    for (const flow of FLOWS) {
      const from = providers.log.length
      const res = await api(request(flow, normal.get(flow)!))
      expect(res.status, `${flow}: ${res.text}`).toBe(flow === 'checkout' ? 201 : 200)
      const made = [...new Set(providers.log.slice(from).map(callName))].sort()
      const listed = (when: CrashWhen) =>
        [...new Set(POINTS.filter((p) => p.flow === flow && p.when === when).map((p) => p.call))].sort()
      expect(made, `${flow}: every provider call it makes needs its crash points`).toEqual(listed('before'))
      expect(made, flow).toEqual(listed('after'))
    }
  }, 60_000)

  it('kills the server at every point: no flow gets an answer', async () => {
    const outcomes: Array<Promise<string>> = []
    for (const p of POINTS) {
      const s = subjects.get(p)!
      const caught = providers.trap(p.call, p.when)
      outcomes.push(
        child.send(request(p.flow, s)).then(
          (res) => `${label(p)}: answered ${res.status}`,
          () => 'died',
        ),
      )
      let timer: NodeJS.Timeout | undefined
      const late = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${label(p)} never got there`)), 8000)
      })
      await Promise.race([caught, late]).finally(() => clearTimeout(timer))
    }
    expect(providers.armed()).toEqual([])
    await child.kill()
    providers.release()
    expect(await Promise.all(outcomes)).toEqual(POINTS.map(() => 'died'))
  }, 60_000)

  it('recovers every point: restarted at once, then 11 and 31 minutes later', async () => {
    for (const at of [0, 11, 31] as const) {
      if (at > 0) await child.stop()
      await child.start(at)
      for (const p of POINTS) {
        const step = p.recover[at]
        if (!step || unrecovered.has(p)) continue
        // one point failing does not hide the others: each is reported, and fails its own check below
        await step(subjects.get(p)!).catch((err: Error) => unrecovered.set(p, `+${at} min: ${err.message}`))
      }
    }
    expect(Object.fromEntries([...unrecovered].map(([p, e]) => [label(p), e]))).toEqual({})
    expect(providers.unhandled).toEqual([])
  }, 90_000)

  it.each(POINTS.map((p) => [label(p), p] as const))('%s: finished, once', async (_, p) => {
    expect(unrecovered.get(p), 'its recovery').toBeUndefined()
    const s = subjects.get(p)!
    const o = await orderOf(s)
    expect(o.refunds.filter((r) => r.status === 'pending')).toEqual([])
    const stock = await stockOf(s)
    if (p.flow === 'refund' || p.flow === 'paid cancel') {
      const [atStripe, ...more] = stripeRefundsOf(o)
      expect(more, 'exactly one refund at Stripe').toEqual([])
      const amount = p.flow === 'refund' ? 2000 : 5500
      expect(atStripe).toMatchObject({ amount, metadata: { refund_id: o.refunds[0]?.id } })
      expect(o.refunds.map((r) => [r.status, r.amountCents, r.providerRefundId])).toEqual([
        ['succeeded', amount, atStripe!.id],
      ])
      expect(o).toMatchObject({ paidAmountCents: 5500, refundedAmountCents: amount })
      if (p.flow === 'refund') {
        expect(o).toMatchObject({ status: 'confirmed', financialStatus: 'partially_refunded' })
        expect(stock, 'one unit restocked, once').toEqual([9, 9])
      } else {
        expect(o).toMatchObject({ status: 'cancelled', financialStatus: 'refunded' })
        expect(stock, 'every unit back').toEqual([10, 10])
      }
    }
    if (p.flow === 'ship') {
      const [f, ...more] = o.fulfillments
      expect(more).toEqual([])
      const bought = shippo.transactions.filter((t) => t.metadata === `fulfillment:${f!.id}`)
      expect(
        bought.map((t) => t.status),
        'exactly one label bought',
      ).toEqual(['SUCCESS'])
      const { object_id, tracking_number } = bought[0]!
      expect(f).toMatchObject({
        status: 'shipped',
        providerShipmentId: object_id,
        trackingNumber: tracking_number,
      })
      expect(o.status).toBe('shipped')
      expect(stock, 'sold units stay sold').toEqual([8, 9])
    }
    if (p.flow === 'checkout' || p.flow === 'unpaid cancel') {
      expect(o).toMatchObject({ status: 'cancelled', financialStatus: 'voided', refunds: [] })
      expect(stock, 'stock back').toEqual([10, 10])
      const intents = intentsOf(o.id).map((pi) => pi.status)
      // retried: payable with its one PaymentIntent until release-unpaid cancelled it at Stripe. Abandoned:
      // the one Stripe made (after) or none (before), never cancelled but never payable either: nobody
      // ever had its client secret.
      const gone = p.abandoned && p.when === 'after' ? ['requires_payment_method'] : []
      expect(intents, 'one PaymentIntent at most').toEqual(p.abandoned ? gone : ['canceled'])
      if (!p.abandoned) expect(o.paymentIntentId).toBe(intentsOf(o.id)[0]!.id)
    }
  })

  it('leaves no refund pending, and every Stripe refund is one row of ours', async () => {
    const db = await getDb()
    expect(await db.select({ id: refunds.id }).from(refunds).where(eq(refunds.status, 'pending'))).toEqual([])
    const ours = await db.select().from(refunds)
    for (const r of stripe.refunds.values()) {
      const row = ours.filter((x) => x.id === r.metadata.refund_id)
      expect(row.map((x) => [x.amountCents, x.providerRefundId])).toEqual([[r.amount, r.id]])
    }
    expect(stripe.refunds.size).toBe(ours.filter((x) => x.providerRefundId).length)
  })
})
