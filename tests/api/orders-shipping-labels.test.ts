import { eq } from 'drizzle-orm'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { fulfillments } from '../../db/schema/index.js'
import { setClock } from '../../lib/platform/clock.js'
import { getDb } from '../../lib/platform/db.js'
import { LABEL_CLAIM_MS } from '../../lib/shipping/shippo.js'
import { as, callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
import { restoreEnv, setEnv } from '../support/env.js'
import { PARCEL, SHIP_FROM, SHIP_TO, shippableOrder } from '../support/fulfilment.js'
import { KEYS, outbound, useMsw } from '../support/msw.js'
import { type FakeShippo, fakeShippo } from '../support/shippo.js'

catalogTestEnv()
const server = useMsw()
let shippo: FakeShippo
let people: Awaited<ReturnType<typeof callers>>

beforeEach(async () => {
  shippo = fakeShippo(server)
  setEnv({
    SHIPPO_API_KEY: KEYS.shippo,
    SHIP_FROM_ADDRESS: JSON.stringify(SHIP_FROM),
    DEFAULT_PARCEL: JSON.stringify(PARCEL),
  })
  people = await callers()
})
afterEach(() => {
  restoreEnv()
  setClock(undefined)
})

const ship = (id: string, body: unknown = {}) =>
  as(people.staff.token).post(`/api/v1/orders/${id}/ship`, body)

describe('POST /orders/{order_id}/ship with Shippo', () => {
  it('buys the cheapest rate from the shop to the buyer with the items’ weight, then ships', async () => {
    const { order } = await shippableOrder({ quantities: [2, 1], weightGrams: 454 })
    const res = await ship(order.id)
    expect(res.status, res.text).toBe(200)
    const [sent] = shippo.shipments
    expect(sent!.body).toMatchObject({
      address_from: { name: 'Example Shop', street1: '215 Clayton St.', zip: '94117', country: 'US' },
      address_to: {
        name: 'Ada Lovelace',
        street1: SHIP_TO.line1,
        city: 'San Francisco',
        state: 'CA',
        zip: '94105',
      },
      parcels: [
        { length: '10', width: '8', height: '4', distance_unit: 'in', mass_unit: 'lb', weight: '3.003' },
      ],
      async: false,
    })
    const fid = res.body.fulfillments[0].id
    expect(sent!.body.metadata).toBe(`fulfillment:${fid}`)
    expect(shippo.purchases).toHaveLength(1)
    const bought = shippo.transactions[0]!
    expect(shippo.rateById.get(bought.rate)!.servicelevel.token).toBe('usps_ground_advantage')
    expect(shippo.purchases[0]).toMatchObject({
      async: false,
      label_file_type: 'PDF_4x6',
      metadata: `fulfillment:${fid}`,
    })
    expect(res.body).toMatchObject({
      status: 'shipped',
      carrier: 'USPS',
      tracking_number: bought.tracking_number,
      tracking_url: bought.tracking_url_provider,
    })
    expect(res.body.fulfillments[0]).toMatchObject({
      status: 'shipped',
      service_level: 'usps_ground_advantage',
      label_url: bought.label_url,
    })
    const db = await getDb()
    const [row] = await db.select().from(fulfillments).where(eq(fulfillments.id, fid))
    expect(row!.providerShipmentId).toBe(bought.object_id)
    expect(outbound('shippo').every((r) => r.authorization === `ShippoToken ${KEYS.shippo}`)).toBe(true)
  })

  it('buys the rate service_level names, and refuses one no rate has (422, nothing bought)', async () => {
    const { order } = await shippableOrder()
    const bad = await ship(order.id, { service_level: 'fedex_2_day' })
    expectProblem(bad, 422)
    expect(bad.body.errors[0]).toMatchObject({ path: 'service_level', code: 'unknown_service_level' })
    expect(shippo.purchases).toHaveLength(0)
    const res = await ship(order.id, { service_level: 'ups_next_day_air' })
    expect(res.status, res.text).toBe(200)
    expect(res.body.fulfillments).toHaveLength(1)
    expect(res.body).toMatchObject({ carrier: 'UPS', status: 'shipped' })
    expect(res.body.fulfillments[0].service_level).toBe('ups_next_day_air')
  })

  it('with a tracking number buys no label', async () => {
    const { order } = await shippableOrder()
    const res = await ship(order.id, { carrier: 'DHL', tracking_number: 'JD014600006281230701' })
    expect(res.status, res.text).toBe(200)
    expect(outbound('shippo')).toHaveLength(0)
    expect(res.body.fulfillments[0]).toMatchObject({ carrier: 'DHL', label_url: null })
  })

  it('a label Shippo refuses is a 502 with its message; the shipment stays pending and a retry buys', async () => {
    const { order } = await shippableOrder()
    shippo.refuseNextLabel = true
    const res = await ship(order.id)
    expectProblem(res, 502, 'label_purchase_failed')
    expect(res.body.detail).toContain('could not be verified')
    const db = await getDb()
    const [f] = await db.select().from(fulfillments).where(eq(fulfillments.orderId, order.id))
    expect(f).toMatchObject({ status: 'pending', providerShipmentId: null })
    const retry = await ship(order.id)
    expect(retry.status, retry.text).toBe(200)
    expect(retry.body.status).toBe('shipped')
    expect(shippo.transactions.filter((t) => t.status === 'SUCCESS')).toHaveLength(1)
  })

  it('never buys twice: after a lost answer the retry finds the label already bought', async () => {
    const { order } = await shippableOrder()
    shippo.loseNextAnswer = true
    const lost = await ship(order.id)
    expectProblem(lost, 502, 'shipping_provider_error')
    expect(shippo.transactions).toHaveLength(1) // bought at Shippo, answer lost
    // a retry at once: the claim is still fresh
    expectProblem(await ship(order.id), 409, 'label_purchase_in_progress')
    // later: the retry asks Shippo for the claimed rate's purchases and takes that label
    const later = Date.now() + LABEL_CLAIM_MS + 1000
    setClock(() => later)
    const res = await ship(order.id)
    expect(res.status, res.text).toBe(200)
    expect(shippo.purchases).toHaveLength(1)
    expect(res.body).toMatchObject({
      status: 'shipped',
      tracking_number: shippo.transactions[0]!.tracking_number,
    })
  })

  it('voids a label bought while the order was being cancelled; the cancelled shipment stays cancelled', async () => {
    const { order } = await shippableOrder()
    shippo.duringPurchase = async () => {
      shippo.duringPurchase = undefined
      const cancelled = await as(people.admin.token).del(`/api/v1/orders/${order.id}`)
      expect(cancelled.status, cancelled.text).toBe(200)
    }
    expectProblem(await ship(order.id), 409, 'illegal_transition')
    const bought = shippo.transactions[0]!
    expect(shippo.voids).toEqual([{ transaction: bought.object_id, async: false }])
    const db = await getDb()
    const [f] = await db.select().from(fulfillments).where(eq(fulfillments.orderId, order.id))
    expect(f).toMatchObject({ status: 'cancelled', providerShipmentId: bought.object_id })
    expect(f!.labelVoidedAt).toBeInstanceOf(Date)
  })

  it('voids the label when an order is cancelled after its label was bought, even one whose answer was lost', async () => {
    const { order } = await shippableOrder()
    shippo.loseNextAnswer = true
    expectProblem(await ship(order.id), 502, 'shipping_provider_error')
    const cancelled = await as(people.admin.token).del(`/api/v1/orders/${order.id}`)
    expect(cancelled.status, cancelled.text).toBe(200)
    expect(shippo.voids).toEqual([{ transaction: shippo.transactions[0]!.object_id, async: false }])
    const db = await getDb()
    const [f] = await db.select().from(fulfillments).where(eq(fulfillments.orderId, order.id))
    expect(f).toMatchObject({ status: 'cancelled' })
    expect(f!.labelVoidedAt).toBeInstanceOf(Date)
  })

  it('refuses without SHIP_FROM_ADDRESS or DEFAULT_PARCEL, or with broken JSON (409 label_not_configured)', async () => {
    const { order } = await shippableOrder()
    setEnv({ SHIP_FROM_ADDRESS: undefined })
    expectProblem(await ship(order.id), 409, 'label_not_configured')
    setEnv({ SHIP_FROM_ADDRESS: JSON.stringify(SHIP_FROM), DEFAULT_PARCEL: '{not json' })
    const res = await ship(order.id)
    expectProblem(res, 409, 'label_not_configured')
    expect(res.body.detail).toContain('DEFAULT_PARCEL')
    expect(shippo.shipments).toHaveLength(0)
  })

  it('refuses an order without a shipping address (409 no_shipping_address)', async () => {
    const { order } = await shippableOrder({ shippingAddress: null })
    expectProblem(await ship(order.id), 409, 'no_shipping_address')
    expect(outbound('shippo')).toHaveLength(0)
  })

  it('uses DEFAULT_PARCEL’s weight when the items have none, and refuses when neither has one', async () => {
    const { order } = await shippableOrder({ weightGrams: 0 })
    expectProblem(await ship(order.id), 409, 'label_not_configured')
    setEnv({ DEFAULT_PARCEL: JSON.stringify({ ...PARCEL, weight: 2 }) })
    const res = await ship(order.id)
    expect(res.status, res.text).toBe(200)
    expect(shippo.shipments[0]!.body.parcels[0].weight).toBe('2')
  })

  it('a wrong Shippo key is a 502 (nothing ships)', async () => {
    setEnv({ SHIPPO_API_KEY: 'shippo_test_wrong' })
    const { order } = await shippableOrder()
    const res = await ship(order.id)
    expectProblem(res, 502, 'shipping_provider_error')
    const db = await getDb()
    const [f] = await db.select().from(fulfillments).where(eq(fulfillments.orderId, order.id))
    expect(f!.status).toBe('pending')
  })
})
