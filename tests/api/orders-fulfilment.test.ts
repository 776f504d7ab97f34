import { eq } from 'drizzle-orm'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { fulfillments, orderItems, orderStatusHistory, outboxEmails } from '../../db/schema/index.js'
import { orderToken } from '../../lib/orders/access.js'
import { getDb } from '../../lib/platform/db.js'
import { as, callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
import { restoreEnv, setEnv } from '../support/env.js'
import { makeUser } from '../support/factories.js'
import { setOrder, shippableOrder } from '../support/fulfilment.js'
import { call } from '../support/http.js'
import { badCredentials } from '../support/token-cases.js'

catalogTestEnv()
let people: Awaited<ReturnType<typeof callers>>

beforeEach(async () => {
  // the token cases hit the bulk routes anonymously from one address: its 20/min policy would answer 429
  setEnv({ SHIPPO_API_KEY: undefined, RATE_LIMIT_BULK: '100000/60' })
  people = await callers()
})
afterEach(() => restoreEnv())

const path = (id: string, action: string) => `/api/v1/orders/${id}/${action}`
const staff = () => as(people.staff.token)

async function history(orderId: string) {
  const db = await getDb()
  const rows = await db
    .select()
    .from(orderStatusHistory)
    .where(eq(orderStatusHistory.orderId, orderId))
    .orderBy(orderStatusHistory.createdAt)
  return rows.map((r) => `${r.type}:${r.fromStatus}->${r.toStatus}`)
}

describe('POST /orders/{order_id}/process', () => {
  it('moves a confirmed order to processing with processed_at and a history row', async () => {
    const { order } = await shippableOrder()
    const res = await staff().post(path(order.id, 'process'))
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ id: order.id, status: 'processing', fulfillment_status: 'unfulfilled' })
    expect(res.body.processed_at).toEqual(expect.any(String))
    expect(res.body.flags).toEqual([])
    expect(await history(order.id)).toEqual(['order:confirmed->processing'])
  })

  it.each(['pending', 'processing', 'shipped', 'delivered', 'cancelled'] as const)(
    'refuses an order that is %s (409 illegal_transition, nothing changes)',
    async (status) => {
      const { order } = await shippableOrder({ status })
      const res = await staff().post(path(order.id, 'process'))
      expectProblem(res, 409, 'illegal_transition')
      expect(await history(order.id)).toEqual([])
    },
  )
})

describe('POST /orders/{order_id}/fulfill', () => {
  it('fulfils part of a line: a pending shipment, fulfillment partial, status processing', async () => {
    const { order, items } = await shippableOrder({ quantities: [2, 1] })
    const res = await staff().post(path(order.id, 'fulfill'), {
      items: [{ order_item_id: items[0]!.id, quantity: 1 }],
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ status: 'processing', fulfillment_status: 'partial' })
    expect(res.body.fulfillments).toMatchObject([
      { status: 'pending', items: [{ order_item_id: items[0]!.id, quantity: 1 }], shipped_at: null },
    ])
    const line = res.body.items.find((i: any) => i.id === items[0]!.id)
    expect(line.fulfilled_quantity).toBe(1)
    expect(await history(order.id)).toEqual([
      'order:confirmed->processing',
      'fulfillment:unfulfilled->partial',
    ])
  })

  it('fulfils every remaining unit without items, skipping cancelled and fulfilled ones', async () => {
    const { order, items } = await shippableOrder({ quantities: [3, 2] })
    const db = await getDb()
    await db.update(orderItems).set({ cancelledQuantity: 1 }).where(eq(orderItems.id, items[0]!.id))
    await staff().post(path(order.id, 'fulfill'), { items: [{ order_item_id: items[1]!.id, quantity: 1 }] })
    const res = await staff().post(path(order.id, 'fulfill'), {})
    expect(res.status, res.text).toBe(200)
    expect(res.body.fulfillment_status).toBe('fulfilled')
    expect(res.body.fulfillments).toHaveLength(2)
    const second = res.body.fulfillments[1].items.sort((a: any, b: any) => b.quantity - a.quantity)
    expect(second).toEqual(
      [
        { order_item_id: items[0]!.id, quantity: 2 },
        { order_item_id: items[1]!.id, quantity: 1 },
      ].sort((a, b) => b.quantity - a.quantity),
    )
    expect(res.body.items.map((i: any) => i.fulfilled_quantity).sort()).toEqual([2, 2])
  })

  it('adds up two lines naming one item', async () => {
    const { order, items } = await shippableOrder({ quantities: [3] })
    const res = await staff().post(path(order.id, 'fulfill'), {
      items: [
        { order_item_id: items[0]!.id, quantity: 1 },
        { order_item_id: items[0]!.id, quantity: 2 },
      ],
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body.fulfillments[0].items).toEqual([{ order_item_id: items[0]!.id, quantity: 3 }])
    expect(res.body.fulfillment_status).toBe('fulfilled')
  })

  it('refuses more than remains on a line (422 exceeds_remaining naming it; nothing changes)', async () => {
    const { order, items } = await shippableOrder({ quantities: [2, 1] })
    await staff().post(path(order.id, 'fulfill'), { items: [{ order_item_id: items[0]!.id, quantity: 1 }] })
    const res = await staff().post(path(order.id, 'fulfill'), {
      items: [
        { order_item_id: items[1]!.id, quantity: 1 },
        { order_item_id: items[0]!.id, quantity: 2 },
      ],
    })
    expectProblem(res, 422)
    expect(res.body.errors).toEqual([
      expect.objectContaining({ path: 'items.1.quantity', code: 'exceeds_remaining' }),
    ])
    const db = await getDb()
    expect(await db.select().from(fulfillments).where(eq(fulfillments.orderId, order.id))).toHaveLength(1)
  })

  it('refuses a line of another order (422 not_in_order)', async () => {
    const { order } = await shippableOrder()
    const other = await shippableOrder()
    const res = await staff().post(path(order.id, 'fulfill'), {
      items: [{ order_item_id: other.items[0]!.id, quantity: 1 }],
    })
    expectProblem(res, 422)
    expect(res.body.errors).toEqual([
      expect.objectContaining({ path: 'items.0.order_item_id', code: 'not_in_order' }),
    ])
  })

  it('refuses when nothing remains (409 nothing_to_fulfill)', async () => {
    const { order } = await shippableOrder()
    await staff().post(path(order.id, 'fulfill'), {})
    expectProblem(await staff().post(path(order.id, 'fulfill'), {}), 409, 'nothing_to_fulfill')
  })

  it('refuses a bad body (422) and a zero quantity', async () => {
    const { order, items } = await shippableOrder()
    expectProblem(await staff().post(path(order.id, 'fulfill'), { items: [] }), 422)
    expectProblem(
      await staff().post(path(order.id, 'fulfill'), {
        items: [{ order_item_id: items[0]!.id, quantity: 0 }],
      }),
      422,
    )
    expectProblem(await staff().post(path(order.id, 'fulfill'), { extra: true }), 422)
  })

  it.each(['pending', 'shipped', 'delivered', 'cancelled', 'refunded', 'returned'] as const)(
    'refuses an order that is %s (409 illegal_transition)',
    async (status) => {
      const { order } = await shippableOrder({ status: status as 'pending' })
      if (status === 'refunded' || status === 'returned') await setOrder(order.id, { status })
      expectProblem(await staff().post(path(order.id, 'fulfill'), {}), 409, 'illegal_transition')
    },
  )

  it('honours Idempotency-Key: the same key and body replays, another body is 409', async () => {
    const { order, items } = await shippableOrder({ quantities: [3] })
    const body = { items: [{ order_item_id: items[0]!.id, quantity: 1 }] }
    const send = (b: unknown) =>
      call('POST', path(order.id, 'fulfill'), {
        token: people.staff.token,
        body: b,
        headers: { 'idempotency-key': 'pack-1' },
      })
    const first = await send(body)
    expect(first.status, first.text).toBe(200)
    const again = await send(body)
    expect(again.status).toBe(200)
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    expect(again.body.fulfillments).toHaveLength(1)
    expect(again.body.items[0].fulfilled_quantity).toBe(1)
    expectProblem(
      await send({ items: [{ order_item_id: items[0]!.id, quantity: 2 }] }),
      409,
      'idempotency_key_reused',
    )
  })
})

describe('POST /orders/{order_id}/ship (no Shippo)', () => {
  it('without a fulfillment_id fulfils what remains and ships it all: shipped, tracking mirrored, email', async () => {
    const { order } = await shippableOrder()
    const res = await staff().post(path(order.id, 'ship'), {
      carrier: 'UPS',
      tracking_number: '1Z999AA10123456784',
      tracking_url: 'https://www.ups.com/track?tracknum=1Z999AA10123456784',
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({
      status: 'shipped',
      fulfillment_status: 'fulfilled',
      carrier: 'UPS',
      tracking_number: '1Z999AA10123456784',
      tracking_url: 'https://www.ups.com/track?tracknum=1Z999AA10123456784',
    })
    expect(res.body.shipped_at).toEqual(expect.any(String))
    expect(res.body.fulfillments).toMatchObject([{ status: 'shipped', carrier: 'UPS' }])
    expect(await history(order.id)).toEqual([
      'order:confirmed->processing',
      'fulfillment:unfulfilled->fulfilled',
      'order:processing->shipped',
    ])
    const db = await getDb()
    const mails = await db.select().from(outboxEmails).where(eq(outboxEmails.toEmail, order.email))
    expect(mails).toMatchObject([
      { template: 'order_shipped', subject: `Order ${order.orderNumber} is on its way` },
    ])
    expect(mails[0]!.payload).toMatchObject({
      order_number: order.orderNumber,
      shipments: [{ carrier: 'UPS', tracking_number: '1Z999AA10123456784' }],
    })
  })

  it('ships one fulfilment: the order stays processing until every unit has shipped', async () => {
    const { order, items } = await shippableOrder({ quantities: [2, 1] })
    const packed = await staff().post(path(order.id, 'fulfill'), {
      items: [{ order_item_id: items[0]!.id, quantity: 2 }],
    })
    const first = packed.body.fulfillments[0].id
    const res = await staff().post(path(order.id, 'ship'), { fulfillment_id: first, tracking_number: 'T-1' })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ status: 'processing', tracking_number: 'T-1', shipped_at: null })
    // the rest: fulfilled and shipped in one call
    const rest = await staff().post(path(order.id, 'ship'), { tracking_number: 'T-2' })
    expect(rest.body).toMatchObject({ status: 'shipped', tracking_number: 'T-2' })
    expect(rest.body.fulfillments.map((f: any) => [f.status, f.tracking_number])).toEqual([
      ['shipped', 'T-1'],
      ['shipped', 'T-2'],
    ])
  })

  it('refuses an already shipped fulfilment (409) and a fulfilment of another order (422)', async () => {
    const { order } = await shippableOrder()
    const shipped = await staff().post(path(order.id, 'ship'), { tracking_number: 'T-1' })
    const fid = shipped.body.fulfillments[0].id
    expectProblem(
      await staff().post(path(order.id, 'ship'), { fulfillment_id: fid }),
      409,
      'illegal_transition',
    )
    expectProblem(await staff().post(path(order.id, 'ship'), {}), 409, 'nothing_to_ship')
    const other = await shippableOrder()
    const res = await staff().post(path(other.order.id, 'ship'), { fulfillment_id: fid })
    expectProblem(res, 422)
    expect(res.body.errors).toEqual([
      expect.objectContaining({ path: 'fulfillment_id', code: 'not_in_order' }),
    ])
  })

  it.each(['pending', 'delivered', 'cancelled', 'refunded', 'returned'] as const)(
    'refuses an order that is %s (409 illegal_transition)',
    async (status) => {
      const { order } = await shippableOrder({ status: status as 'pending' })
      if (status === 'refunded' || status === 'returned') await setOrder(order.id, { status })
      expectProblem(
        await staff().post(path(order.id, 'ship'), { tracking_number: 'X' }),
        409,
        'illegal_transition',
      )
    },
  )

  it('refuses a tracking_url that is not a URL (422)', async () => {
    const { order } = await shippableOrder()
    expectProblem(await staff().post(path(order.id, 'ship'), { tracking_url: 'not a url' }), 422)
  })

  it('honours Idempotency-Key: one shipment and one email for a repeated request', async () => {
    const { order } = await shippableOrder()
    const send = () =>
      call('POST', path(order.id, 'ship'), {
        token: people.staff.token,
        body: { tracking_number: 'T-9' },
        headers: { 'idempotency-key': 'ship-once' },
      })
    expect((await send()).status).toBe(200)
    const again = await send()
    expect(again.status).toBe(200)
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    const db = await getDb()
    expect(await db.select().from(fulfillments).where(eq(fulfillments.orderId, order.id))).toHaveLength(1)
    expect(await db.select().from(outboxEmails).where(eq(outboxEmails.toEmail, order.email))).toHaveLength(1)
  })
})

describe('POST /orders/{order_id}/deliver', () => {
  it('delivers every shipment: the order delivered with delivered_at', async () => {
    const { order } = await shippableOrder()
    await staff().post(path(order.id, 'ship'), { tracking_number: 'T-1' })
    const res = await staff().post(path(order.id, 'deliver'), {})
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ status: 'delivered', fulfillments: [{ status: 'delivered' }] })
    expect(res.body.delivered_at).toEqual(expect.any(String))
    expect(res.body.fulfillments[0].delivered_at).toEqual(expect.any(String))
    expect((await history(order.id)).at(-1)).toBe('order:shipped->delivered')
  })

  it('delivers one shipment of two: the order stays shipped until the other is delivered', async () => {
    const { order, items } = await shippableOrder({ quantities: [1, 1] })
    await staff().post(path(order.id, 'fulfill'), { items: [{ order_item_id: items[0]!.id, quantity: 1 }] })
    await staff().post(path(order.id, 'fulfill'), { items: [{ order_item_id: items[1]!.id, quantity: 1 }] })
    const shipped = await staff().post(path(order.id, 'ship'), { tracking_number: 'T-1' })
    const [a, b] = shipped.body.fulfillments.map((f: any) => f.id)
    const one = await staff().post(path(order.id, 'deliver'), { fulfillment_id: a })
    expect(one.body).toMatchObject({ status: 'shipped', delivered_at: null })
    expectProblem(
      await staff().post(path(order.id, 'deliver'), { fulfillment_id: a }),
      409,
      'illegal_transition',
    )
    const two = await staff().post(path(order.id, 'deliver'), { fulfillment_id: b })
    expect(two.body.status).toBe('delivered')
  })

  it('refuses a fulfilment of another order (422 not_in_order)', async () => {
    const { order } = await shippableOrder()
    const other = await shippableOrder()
    await staff().post(path(order.id, 'ship'), { tracking_number: 'T-1' })
    const o = await staff().post(path(other.order.id, 'ship'), { tracking_number: 'T-2' })
    const res = await staff().post(path(order.id, 'deliver'), { fulfillment_id: o.body.fulfillments[0].id })
    expectProblem(res, 422)
  })

  it.each(['pending', 'confirmed', 'processing', 'delivered', 'cancelled'] as const)(
    'refuses an order that is %s (409 illegal_transition)',
    async (status) => {
      const { order } = await shippableOrder({ status })
      expectProblem(await staff().post(path(order.id, 'deliver'), {}), 409, 'illegal_transition')
    },
  )
})

describe('GET /orders/{order_id}/history and POST /orders/{order_id}/notes', () => {
  it('lists status changes with actor, oldest first', async () => {
    const { order } = await shippableOrder()
    await staff().post(path(order.id, 'ship'), { tracking_number: 'T-1' })
    const res = await staff().get(path(order.id, 'history'))
    expect(res.status, res.text).toBe(200)
    expect(res.body.history.map((h: any) => `${h.type}:${h.from}->${h.to}`)).toEqual([
      'order:confirmed->processing',
      'fulfillment:unfulfilled->fulfilled',
      'order:processing->shipped',
    ])
    expect(res.body.history[0]).toMatchObject({
      actor: { id: people.staff.user.id, email: people.staff.user.email },
      reason: null,
      created_at: expect.any(String),
    })
  })

  it('adds a staff note (201 with the record) that staff see on the order and the buyer does not', async () => {
    const buyer = await makeUser()
    const { order } = await shippableOrder({ userId: buyer.user.id })
    const res = await staff().post(path(order.id, 'notes'), { body: 'Customer called about gift wrap.' })
    expect(res.status, res.text).toBe(201)
    expect(res.body).toMatchObject({
      id: expect.any(String),
      order_id: order.id,
      body: 'Customer called about gift wrap.',
      author_id: people.staff.user.id,
    })
    const after = await staff().post(path(order.id, 'process'))
    expect(after.body.staff_notes).toMatchObject([{ body: 'Customer called about gift wrap.' }])
    const tracking = await as(buyer.token).get(path(order.id, 'tracking'))
    expect(tracking.text).not.toContain('gift wrap')
    // the order itself: staff see the notes, the buyer does not
    const staffView = await staff().get(`/api/v1/orders/${order.id}`)
    expect(staffView.body.staff_notes).toMatchObject([{ body: 'Customer called about gift wrap.' }])
    const buyerView = await as(buyer.token).get(`/api/v1/orders/${order.id}`)
    expect(buyerView.status).toBe(200)
    expect(buyerView.body.staff_notes).toBeUndefined()
    expect(buyerView.text).not.toContain('gift wrap')
    expectProblem(await staff().post(path(order.id, 'notes'), { body: '  ' }), 422)
  })
})

describe('GET /orders/{order_id}/tracking', () => {
  it('shows carrier, tracking and shipments to the buyer, the guest with its token, and staff', async () => {
    const buyer = await makeUser()
    const { order } = await shippableOrder({ userId: buyer.user.id })
    await staff().post(path(order.id, 'ship'), { carrier: 'USPS', tracking_number: '9400100000000000000000' })
    const mine = await as(buyer.token).get(path(order.id, 'tracking'))
    expect(mine.status, mine.text).toBe(200)
    expect(mine.body).toMatchObject({
      order_id: order.id,
      carrier: 'USPS',
      tracking_number: '9400100000000000000000',
      fulfillments: [{ status: 'shipped', carrier: 'USPS', events: [] }],
    })
    expect((await staff().get(path(order.id, 'tracking'))).status).toBe(200)

    const guest = await shippableOrder()
    const token = orderToken(guest.order.id)
    const ok = await call('GET', path(guest.order.id, 'tracking'), { headers: { 'x-order-token': token } })
    expect(ok.status, ok.text).toBe(200)
    expectProblem(await call('GET', path(guest.order.id, 'tracking')), 404)
    expectProblem(
      await call('GET', path(guest.order.id, 'tracking'), { headers: { 'x-order-token': 'x' } }),
      404,
    )
    // another order's token opens nothing
    expectProblem(await call('GET', path(order.id, 'tracking'), { headers: { 'x-order-token': token } }), 404)
  })
})

describe('bulk-process and bulk-fulfill', () => {
  it('processes each order on its own and reports every one in request order', async () => {
    const a = await shippableOrder()
    const b = await shippableOrder({ status: 'pending' })
    const missing = '00000000-0000-4000-8000-000000000000'
    const res = await staff().post('/api/v1/orders/bulk-process', {
      order_ids: [a.order.id, b.order.id, missing],
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body.results).toEqual([
      { index: 0, id: a.order.id, status: 'processed' },
      {
        index: 1,
        id: b.order.id,
        status: 'error',
        errors: [expect.objectContaining({ code: 'illegal_transition' })],
      },
      { index: 2, id: missing, status: 'error', errors: [expect.objectContaining({ code: 'not_found' })] },
    ])
    expect(await history(a.order.id)).toEqual(['order:confirmed->processing'])
  })

  it('fulfils all remaining units of each order; refusals do not hold the others back', async () => {
    const a = await shippableOrder({ quantities: [2, 3] })
    const done = await shippableOrder()
    await staff().post(path(done.order.id, 'fulfill'), {})
    const c = await shippableOrder({ status: 'processing' })
    const res = await staff().post('/api/v1/orders/bulk-fulfill', {
      order_ids: [a.order.id, done.order.id, c.order.id],
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body.results.map((r: any) => r.status)).toEqual(['fulfilled', 'error', 'fulfilled'])
    expect(res.body.results[1].errors[0].code).toBe('nothing_to_fulfill')
    const order = await staff().post(path(a.order.id, 'notes'), { body: 'x' })
    expect(order.status).toBe(201)
    const db = await getDb()
    const lines = await db.select().from(orderItems).where(eq(orderItems.orderId, a.order.id))
    expect(lines.map((l) => l.fulfilledQuantity).sort()).toEqual([2, 3])
  })

  it('refuses an empty list, too many ids and ids that are not uuids (422), and customers (403)', async () => {
    expectProblem(await staff().post('/api/v1/orders/bulk-process', { order_ids: [] }), 422)
    expectProblem(await staff().post('/api/v1/orders/bulk-fulfill', { order_ids: ['nope'] }), 422)
    const many = Array.from({ length: 101 }, () => '00000000-0000-4000-8000-000000000000')
    expectProblem(await staff().post('/api/v1/orders/bulk-process', { order_ids: many }), 422)
    const { order } = await shippableOrder()
    expectProblem(
      await as(people.customer.token).post('/api/v1/orders/bulk-process', { order_ids: [order.id] }),
      403,
    )
    expectProblem(await call('POST', '/api/v1/orders/bulk-fulfill', { body: { order_ids: [order.id] } }), 401)
  })
})

describe('who may act', () => {
  const staffActions: Array<[string, 'GET' | 'POST', unknown]> = [
    ['process', 'POST', undefined],
    ['fulfill', 'POST', {}],
    ['ship', 'POST', { tracking_number: 'X' }],
    ['deliver', 'POST', {}],
    ['notes', 'POST', { body: 'note' }],
    ['history', 'GET', undefined],
  ]

  it.each(staffActions)(
    '%s: another customer’s order is 404, the buyer’s own is 403, nothing changes',
    async (action, method, body) => {
      const buyer = await makeUser()
      const { order } = await shippableOrder({ userId: buyer.user.id })
      const other = await call(method, path(order.id, action), { token: people.customer.token, body })
      expectProblem(other, 404)
      const own = await call(method, path(order.id, action), { token: buyer.token, body })
      expectProblem(own, 403)
      expect(await history(order.id)).toEqual([])
    },
  )

  it.each(staffActions)(
    '%s: a guest with the order token cannot act (401 without a bearer token)',
    async (action, method, body) => {
      const { order } = await shippableOrder()
      const res = await call(method, path(order.id, action), {
        body,
        headers: { 'x-order-token': orderToken(order.id) },
      })
      expectProblem(res, 401)
    },
  )

  it('tracking: another customer’s order is 404', async () => {
    const buyer = await makeUser()
    const { order } = await shippableOrder({ userId: buyer.user.id })
    expectProblem(await as(people.customer.token).get(path(order.id, 'tracking')), 404)
  })

  it('answers 404 for an order that does not exist and 422 for an id that is not a uuid', async () => {
    expectProblem(await staff().post(path('00000000-0000-4000-8000-000000000000', 'process')), 404)
    expectProblem(await staff().post(path('not-a-uuid', 'process')), 422)
  })

  it.each(staffActions)('%s: the shared token cases are 401', async (action, method, body) => {
    const { order } = await shippableOrder()
    for (const c of await badCredentials(people.staff)) {
      const res = await call(method, path(order.id, action), { ...c.opts, body })
      expect(res.status, `${c.label}: ${res.text}`).toBe(401)
    }
    expect(await history(order.id)).toEqual([])
  })

  it('bulk routes: the shared token cases are 401', async () => {
    const { order } = await shippableOrder()
    for (const route of ['bulk-process', 'bulk-fulfill']) {
      for (const c of await badCredentials(people.staff)) {
        const res = await call('POST', `/api/v1/orders/${route}`, {
          ...c.opts,
          body: { order_ids: [order.id] },
        })
        expect(res.status, `${route} ${c.label}`).toBe(401)
      }
    }
  })
})
