import { eq } from 'drizzle-orm'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { fulfillments, orders, trackingEvents, webhookEvents } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { as, callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
import { restoreEnv, setEnv } from '../support/env.js'
import { makeUser } from '../support/factories.js'
import { shippableOrder } from '../support/fulfilment.js'
import { call } from '../support/http.js'
import { trackUpdated } from '../support/shippo.js'

catalogTestEnv()
const SECRET = 'shippo-hook-secret-0123456789'
let people: Awaited<ReturnType<typeof callers>>

beforeEach(async () => {
  setEnv({ SHIPPO_WEBHOOK_SECRET: SECRET, SHIPPO_API_KEY: undefined })
  people = await callers()
})
afterEach(() => restoreEnv())

const hook = (body: unknown, token: string | null = SECRET) =>
  call('POST', `/api/webhooks/shippo${token === null ? '' : `?token=${encodeURIComponent(token)}`}`, {
    rawBody: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  })

let trackingCounter = 0
async function shippedOrder(opts: { userId?: string; quantities?: number[] } = {}) {
  const { order } = await shippableOrder(opts)
  const tracking = `9400111${Date.now()}${++trackingCounter}`
  const res = await as(people.staff.token).post(`/api/v1/orders/${order.id}/ship`, {
    carrier: 'USPS',
    tracking_number: tracking,
  })
  expect(res.status, res.text).toBe(200)
  return { order, tracking, fulfillmentId: res.body.fulfillments[0].id as string }
}

const orderOf = async (id: string) => (await as(people.staff.token).get(`/api/v1/orders/${id}/tracking`)).body

describe('POST /api/webhooks/shippo', () => {
  it('is 404 when SHIPPO_WEBHOOK_SECRET is unset and 401 for a missing or wrong token', async () => {
    const body = trackUpdated({ trackingNumber: 'X', status: 'TRANSIT', statusDate: '2026-12-01T10:00:00Z' })
    setEnv({ SHIPPO_WEBHOOK_SECRET: undefined })
    expectProblem(await hook(body), 404)
    setEnv({ SHIPPO_WEBHOOK_SECRET: SECRET })
    expectProblem(await hook(body, null), 401, 'invalid_webhook_token')
    expectProblem(await hook(body, `${SECRET}x`), 401, 'invalid_webhook_token')
    expectProblem(await hook(body, 'short'), 401, 'invalid_webhook_token')
  })

  it('TRANSIT: the shipment is in transit and every scan is a tracking event', async () => {
    const { order, tracking, fulfillmentId } = await shippedOrder()
    const res = await hook(
      trackUpdated({
        trackingNumber: tracking,
        status: 'TRANSIT',
        statusDate: '2026-12-01T10:00:00Z',
        details: 'Arrived at USPS Regional Facility',
        history: [{ status: 'PRE_TRANSIT', statusDate: '2026-11-30T18:00:00Z', details: 'Label created' }],
      }),
    )
    expect(res.status, res.text).toBe(200)
    expect(res.body).toEqual({ received: true })
    const view = await orderOf(order.id)
    expect(view.fulfillments[0]).toMatchObject({ id: fulfillmentId, status: 'in_transit' })
    expect(view.fulfillments[0].events).toEqual([
      {
        status: 'PRE_TRANSIT',
        description: 'Label created',
        location: 'San Francisco, CA, 94103, US',
        occurred_at: '2026-11-30T18:00:00.000Z',
      },
      expect.objectContaining({ status: 'TRANSIT', description: 'Arrived at USPS Regional Facility' }),
    ])
  })

  it('DELIVERED: the shipment and (everything delivered) the order are delivered', async () => {
    const { order, tracking } = await shippedOrder()
    await hook(
      trackUpdated({ trackingNumber: tracking, status: 'DELIVERED', statusDate: '2026-12-02T15:00:00Z' }),
    )
    const res = await as(people.staff.token).get(`/api/v1/orders/${order.id}/history`)
    expect(res.body.history.at(-1)).toMatchObject({
      from: 'shipped',
      to: 'delivered',
      actor: null,
      reason: 'carrier reported delivery',
    })
    const view = await orderOf(order.id)
    expect(view.fulfillments[0]).toMatchObject({
      status: 'delivered',
      delivered_at: '2026-12-02T15:00:00.000Z',
    })
  })

  it.each([
    ['FAILURE', 'failed', 'delivery_failed'],
    ['RETURNED', 'returned', 'shipment_returned'],
  ] as const)('%s: the shipment is %s and the order flagged for staff', async (status, shipment, flag) => {
    const { order, tracking, fulfillmentId } = await shippedOrder()
    await hook(
      trackUpdated({
        trackingNumber: tracking,
        status,
        statusDate: '2026-12-02T15:00:00Z',
        details: 'No access',
      }),
    )
    const view = await orderOf(order.id)
    expect(view.fulfillments[0].status).toBe(shipment)
    const db = await getDb()
    const [row] = await db
      .select({ flags: orders.flags, status: orders.status })
      .from(orders)
      .where(eq(orders.id, order.id))
    expect(row!.status).toBe('shipped')
    expect(row!.flags).toEqual([
      expect.objectContaining({
        code: flag,
        fulfillment_id: fulfillmentId,
        tracking_number: tracking,
        details: 'No access',
      }),
    ])
  })

  it('a redelivered event changes nothing and is answered as a duplicate', async () => {
    const { tracking, fulfillmentId } = await shippedOrder()
    const body = trackUpdated({
      trackingNumber: tracking,
      status: 'FAILURE',
      statusDate: '2026-12-02T15:00:00Z',
    })
    await hook(body)
    const again = await hook(body)
    expect(again.status).toBe(200)
    expect(again.body).toEqual({ received: true, duplicate: true })
    const db = await getDb()
    const events = await db
      .select()
      .from(trackingEvents)
      .where(eq(trackingEvents.fulfillmentId, fulfillmentId))
    expect(events).toHaveLength(1)
    const seen = await db.select().from(webhookEvents).where(eq(webhookEvents.provider, 'shippo'))
    expect(seen.filter((e) => (e.payload as any)?.tracking_number === tracking)).toHaveLength(1)
  })

  it('out of order: an older TRANSIT after DELIVERED adds its scan but leaves the shipment delivered', async () => {
    const { order, tracking } = await shippedOrder()
    await hook(
      trackUpdated({ trackingNumber: tracking, status: 'DELIVERED', statusDate: '2026-12-02T15:00:00Z' }),
    )
    await hook(
      trackUpdated({ trackingNumber: tracking, status: 'TRANSIT', statusDate: '2026-12-01T09:00:00Z' }),
    )
    const view = await orderOf(order.id)
    expect(view.fulfillments[0].status).toBe('delivered')
    expect(view.fulfillments[0].events.map((e: any) => e.status)).toEqual(['TRANSIT', 'DELIVERED'])
  })

  it('an older FAILURE after a newer TRANSIT does not move the shipment back', async () => {
    const { order, tracking } = await shippedOrder()
    await hook(
      trackUpdated({ trackingNumber: tracking, status: 'TRANSIT', statusDate: '2026-12-02T10:00:00Z' }),
    )
    await hook(
      trackUpdated({ trackingNumber: tracking, status: 'FAILURE', statusDate: '2026-12-01T10:00:00Z' }),
    )
    expect((await orderOf(order.id)).fulfillments[0].status).toBe('in_transit')
  })

  it('acknowledges unknown tracking numbers, other events and labels that have not shipped', async () => {
    const unknown = await hook(
      trackUpdated({ trackingNumber: 'NOPE-1', status: 'TRANSIT', statusDate: '2026-12-01T10:00:00Z' }),
    )
    expect(unknown.body).toEqual({ received: true, ignored: 'unknown tracking number' })
    const other = await hook({ event: 'transaction_created', test: true, data: {} })
    expect(other.body).toEqual({ received: true, ignored: 'event transaction_created' })

    const { order } = await shippableOrder()
    const db = await getDb()
    const [f] = await db
      .insert(fulfillments)
      .values({ orderId: order.id, status: 'label_created', trackingNumber: 'LABEL-ONLY' })
      .returning()
    await hook(
      trackUpdated({ trackingNumber: 'LABEL-ONLY', status: 'TRANSIT', statusDate: '2026-12-01T10:00:00Z' }),
    )
    const [after] = await db.select().from(fulfillments).where(eq(fulfillments.id, f!.id))
    expect(after!.status).toBe('label_created')
  })

  it('refuses a body that is not JSON or not a Shippo event (400, nothing recorded)', async () => {
    expectProblem(await hook('{not json'), 400, 'invalid_payload')
    expectProblem(await hook({ data: {} }), 400, 'invalid_payload')
  })

  it('with two shipments, the order is delivered only when both are', async () => {
    const buyer = await makeUser()
    const { order, items } = await shippableOrder({ userId: buyer.user.id, quantities: [1, 1] })
    const staff = as(people.staff.token)
    const packed = await staff.post(`/api/v1/orders/${order.id}/fulfill`, {
      items: [{ order_item_id: items[0]!.id, quantity: 1 }],
    })
    const a = await staff.post(`/api/v1/orders/${order.id}/ship`, {
      fulfillment_id: packed.body.fulfillments[0].id,
      tracking_number: `A-${order.id}`,
    })
    expect(a.body.status).toBe('processing')
    const b = await staff.post(`/api/v1/orders/${order.id}/ship`, { tracking_number: `B-${order.id}` })
    expect(b.body.status).toBe('shipped')
    expect(a.body.fulfillments).toHaveLength(1)
    await hook(
      trackUpdated({
        trackingNumber: `A-${order.id}`,
        status: 'DELIVERED',
        statusDate: '2026-12-02T10:00:00Z',
      }),
    )
    const mid = await as(buyer.token).get(`/api/v1/orders/${order.id}/tracking`)
    expect(mid.body.fulfillments.map((f: any) => f.status)).toEqual(['delivered', 'shipped'])
    const hist1 = await staff.get(`/api/v1/orders/${order.id}/history`)
    expect(hist1.body.history.at(-1).to).toBe('shipped')
    await hook(
      trackUpdated({
        trackingNumber: `B-${order.id}`,
        status: 'DELIVERED',
        statusDate: '2026-12-02T11:00:00Z',
      }),
    )
    const hist2 = await staff.get(`/api/v1/orders/${order.id}/history`)
    expect(hist2.body.history.at(-1).to).toBe('delivered')
  })
})
