import { eq } from 'drizzle-orm'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { orders, refunds } from '../../db/schema/index.js'
import { loadOrderOr404 } from '../../lib/orders/view.js'
import { getDb } from '../../lib/platform/db.js'
import { as, callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
import { restoreEnv, setEnv } from '../support/env.js'
import { makeUser } from '../support/factories.js'
import { shippableOrder, stockOf } from '../support/fulfilment.js'
import { call } from '../support/http.js'
import { orderInState } from '../support/orders-payments.js'
import { holdNextQuery } from '../support/query-hold.js'

// Issue 15, defect 15: behaviours of the money path that no test pinned (each was broken on purpose and
// every test still passed). Each test here fails when its guard is removed.

catalogTestEnv()
let people: Awaited<ReturnType<typeof callers>>
const CRON = 'cron-secret-for-pins-0123456789abcdef'
const hoursAgo = (h: number) => new Date(Date.now() - h * 3600_000)

beforeEach(async () => {
  setEnv({ STRIPE_SECRET_KEY: undefined, SHIPPO_API_KEY: undefined, CRON_SECRET: CRON })
  people = await callers()
})
afterEach(() => restoreEnv())

const admin = () => as(people.admin.token)
const release = () => call('GET', '/api/cron/release-unpaid', { token: CRON })
const age = async (orderId: string, h: number) =>
  (await getDb())
    .update(orders)
    .set({ createdAt: hoursAgo(h) })
    .where(eq(orders.id, orderId))

describe('release-unpaid never touches a paid order', () => {
  it('does not even examine an old paid manual order (the query asks for pending ones only)', async () => {
    setEnv({ UNPAID_MANUAL_ORDER_TTL_HOURS: '1' })
    const paid = await orderInState()
    const unpaid = await orderInState({ financialStatus: 'pending' })
    await age(paid.order.id, 5)
    await age(unpaid.order.id, 5)
    const res = await release()
    expect(res.body).toEqual({ examined: 1, cancelled: 1, paid: 0, skipped: 0, failed: 0 })
    const o = await loadOrderOr404(await getDb(), paid.order.id)
    expect(o).toMatchObject({ status: 'confirmed', financialStatus: 'paid', refundedAmountCents: 0 })
  })

  it('leaves alone an order paid after the query picked it (checked again under its lock)', async () => {
    setEnv({ UNPAID_MANUAL_ORDER_TTL_HOURS: '1' })
    const { order } = await orderInState({ financialStatus: 'pending' })
    await age(order.id, 5)
    const db = await getDb()
    // hold the cron's query result; mark the order paid meanwhile; then let the cron go on
    const held = holdNextQuery(db, (sql) => /from "orders"/.test(sql) && /"created_at" </.test(sql))
    try {
      const run = release()
      await held.reached
      const paid = await admin().post(`/api/v1/orders/${order.id}/mark-paid`, {})
      expect(paid.status, paid.text).toBe(200)
      held.release()
      expect((await run).body).toEqual({ examined: 1, cancelled: 0, paid: 0, skipped: 1, failed: 0 })
    } finally {
      held.restore()
    }
    const o = await loadOrderOr404(db, order.id)
    expect(o).toMatchObject({ status: 'confirmed', financialStatus: 'paid', refundedAmountCents: 0 })
    expect(o.refunds).toHaveLength(0)
  })
})

describe('refund limits', () => {
  it('refunds shipping at most once', async () => {
    const { order } = await orderInState({ shippingCents: 700 })
    const first = await admin().post(`/api/v1/orders/${order.id}/refund`, {
      refund_shipping: true,
      reason: 's',
    })
    expect(first.status, first.text).toBe(200)
    expect(first.body.refunded_amount).toBe(7)
    expectProblem(
      await admin().post(`/api/v1/orders/${order.id}/refund`, { refund_shipping: true, reason: 's' }),
      422,
      'nothing_to_refund',
    )
    // nor as part of refunding everything left
    const rest = await admin().post(`/api/v1/orders/${order.id}/refund`, { reason: 'rest' })
    expect(rest.body.refunds.map((r: { shipping_amount: number }) => r.shipping_amount)).toEqual([7, 0])
  })

  it('returns stock once across a restocking refund followed by a cancel', async () => {
    const { order, items, products } = await shippableOrder({ quantities: [3] })
    const before = await stockOf(products[0]!.id)
    const r = await admin().post(`/api/v1/orders/${order.id}/refund`, {
      items: [{ order_item_id: items[0]!.id, quantity: 2 }],
      restock: true,
      reason: 'two back',
    })
    expect(r.status, r.text).toBe(200)
    expect(await stockOf(products[0]!.id)).toBe(before + 2)
    const c = await admin().del(`/api/v1/orders/${order.id}`)
    expect(c.status, c.text).toBe(200)
    expect(await stockOf(products[0]!.id)).toBe(before + 3)
  })

  it('returns stock once across a cancel whose refund failed and a restocking refund after it', async () => {
    const { order, products } = await shippableOrder({ quantities: [2] })
    const before = await stockOf(products[0]!.id)
    const c = await admin().del(`/api/v1/orders/${order.id}`)
    expect(c.status, c.text).toBe(200)
    expect(await stockOf(products[0]!.id)).toBe(before + 2)
    // the cancel's refund is given back (as when Stripe refuses it); staff refund again, ticking restock
    const db = await getDb()
    const [row] = await db.select().from(refunds).where(eq(refunds.orderId, order.id))
    const { settleRefund } = await import('../../lib/orders/refunds.js')
    await settleRefund(db, row!.id, { status: 'failed', failureReason: 'card closed' })
    const again = await admin().post(`/api/v1/orders/${order.id}/refund`, { restock: true, reason: 'again' })
    expect(again.status, again.text).toBe(200)
    expect(again.body.financial_status).toBe('refunded')
    expect(await stockOf(products[0]!.id)).toBe(before + 2)
  })

  it('returns stock once across a return received with restock and refund', async () => {
    const buyer = await makeUser()
    const { order, items, products } = await shippableOrder({ userId: buyer.user.id, quantities: [2] })
    await admin().post(`/api/v1/orders/${order.id}/ship`, { tracking_number: 'T-9' })
    await admin().post(`/api/v1/orders/${order.id}/deliver`, {})
    const before = await stockOf(products[0]!.id)
    const ret = await as(buyer.token).post(`/api/v1/orders/${order.id}/return`, {
      items: [{ order_item_id: items[0]!.id, quantity: 2 }],
      reason: 'too big',
    })
    expect(ret.status, ret.text).toBe(201)
    const got = await admin().post(`/api/v1/returns/${ret.body.id}/receive`, { restock: true, refund: true })
    expect(got.status, got.text).toBe(200)
    expect(got.body.returns[0].status).toBe('refunded')
    expect(await stockOf(products[0]!.id)).toBe(before + 2)
    const rows = await (await getDb()).select().from(refunds).where(eq(refunds.orderId, order.id))
    expect(rows.map((x) => [x.restock, x.stockReturnedAt])).toEqual([[false, null]])
  })

  it('/ship refuses the packed parcel of an order refunded in full', async () => {
    const { order } = await shippableOrder()
    const packed = await admin().post(`/api/v1/orders/${order.id}/fulfill`, {})
    expect(packed.status).toBe(200)
    const all = await admin().post(`/api/v1/orders/${order.id}/refund`, { reason: 'everything' })
    expect(all.body).toMatchObject({ financial_status: 'refunded', status: 'refunded' })
    expectProblem(
      await admin().post(`/api/v1/orders/${order.id}/ship`, { tracking_number: 'T-10' }),
      409,
      'illegal_transition',
    )
  })
})
