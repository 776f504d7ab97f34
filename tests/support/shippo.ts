import { randomBytes } from 'node:crypto'
import { HttpResponse, http } from 'msw'
import type { SetupServer } from 'msw/node'
import { KEYS, SHIPPO_API } from './msw.js'

// A small, stateful Shippo for the label tests: shipments with rates (POST /shipments), label purchases
// (POST /transactions, GET /transactions?rate=, GET /rates/{id}) and track_updated webhook bodies, in the
// JSON shapes Shippo's API answers with (API version 2018-02-08, as the `shippo` 2.x SDK speaks it).

const oid = () => randomBytes(16).toString('hex')
const stamp = () => new Date().toISOString()
const OWNER = 'shop@example.com'

export interface FakeRate {
  provider: string
  token: string
  name: string
  amount: string
  days: number
}

export const DEFAULT_RATES: FakeRate[] = [
  { provider: 'USPS', token: 'usps_priority', name: 'Priority Mail', amount: '7.58', days: 2 },
  { provider: 'USPS', token: 'usps_ground_advantage', name: 'Ground Advantage', amount: '5.21', days: 4 },
  { provider: 'UPS', token: 'ups_next_day_air', name: 'Next Day Air®', amount: '42.10', days: 1 },
]

const addressShape = (a: Record<string, unknown>) => ({
  object_id: oid(),
  is_complete: true,
  name: a.name ?? '',
  company: a.company ?? '',
  street_no: '',
  street1: a.street1 ?? '',
  street2: a.street2 ?? '',
  street3: '',
  city: a.city ?? '',
  state: a.state ?? '',
  zip: a.zip ?? '',
  country: a.country ?? 'US',
  phone: a.phone ?? '',
  email: a.email ?? '',
  is_residential: null,
  validation_results: {},
  test: true,
})

function rateShape(shipmentId: string, r: FakeRate, attributes: string[]) {
  return {
    object_created: stamp(),
    object_id: oid(),
    object_owner: OWNER,
    shipment: shipmentId,
    attributes,
    amount: r.amount,
    currency: 'USD',
    amount_local: r.amount,
    currency_local: 'USD',
    provider: r.provider,
    provider_image_75: `https://shippo-static.s3.amazonaws.com/providers/75/${r.provider}.png`,
    provider_image_200: `https://shippo-static.s3.amazonaws.com/providers/200/${r.provider}.png`,
    servicelevel: {
      name: r.name,
      token: r.token,
      terms: '',
      extended_token: r.token,
      parent_servicelevel: null,
    },
    estimated_days: r.days,
    arrives_by: null,
    duration_terms: `Delivery in ${r.days} business days.`,
    messages: [],
    carrier_account: oid(),
    test: true,
    zone: '1',
  }
}

type Rate = ReturnType<typeof rateShape>

function transactionShape(rate: Rate, metadata: string, ok: boolean) {
  const id = oid()
  const tracking = ok ? `9400${randomBytes(9).toString('hex').replace(/\D/g, '7').slice(0, 18)}` : ''
  return {
    object_state: 'VALID',
    status: ok ? 'SUCCESS' : 'ERROR',
    object_created: stamp(),
    object_updated: stamp(),
    object_id: id,
    object_owner: OWNER,
    test: true,
    rate: rate.object_id,
    tracking_number: tracking,
    tracking_status: 'UNKNOWN',
    eta: null,
    tracking_url_provider: ok
      ? `https://tools.usps.com/go/TrackConfirmAction_input?origTrackNum=${tracking}`
      : '',
    label_url: ok ? `https://shippo-delivery.s3.amazonaws.com/${id}.pdf?Expires=1900000000` : '',
    commercial_invoice_url: '',
    messages: ok ? [] : [{ source: rate.provider, code: '', text: 'The address could not be verified.' }],
    order: null,
    metadata,
    parcel: oid(),
    billing: { payments: [] },
    qr_code_url: null,
    created_by: { first_name: 'Shop', last_name: 'Owner', username: OWNER },
  }
}

export type FakeTransaction = ReturnType<typeof transactionShape>

export interface FakeShippo {
  /** rates offered for the next shipments */
  rates: FakeRate[]
  shipments: Array<{ body: any; answer: any }>
  rateById: Map<string, Rate>
  transactions: FakeTransaction[]
  /** the next label purchase fails the way Shippo reports a refused label */
  refuseNextLabel: boolean
  /** the next label purchase is made at Shippo, but its answer never arrives (the connection drops) */
  loseNextAnswer: boolean
  /** POST /transactions bodies, in order */
  purchases: any[]
  /** runs while a label is being bought, before Shippo answers (e.g. another request cancelling the order) */
  duringPurchase?: () => Promise<void>
  /** POST /refunds bodies (labels voided), in order */
  voids: any[]
}

const unauthorized = () => HttpResponse.json({ detail: 'Invalid token.' }, { status: 401 })
const authorized = (request: Request) => request.headers.get('authorization') === `ShippoToken ${KEYS.shippo}`

/** Install the fake Shippo on the test's MSW server; returns its state. */
export function fakeShippo(server: SetupServer, rates: FakeRate[] = DEFAULT_RATES): FakeShippo {
  const state: FakeShippo = {
    rates,
    shipments: [],
    rateById: new Map(),
    transactions: [],
    refuseNextLabel: false,
    loseNextAnswer: false,
    purchases: [],
    voids: [],
  }
  server.use(
    http.post(`${SHIPPO_API}/shipments`, async ({ request }) => {
      if (!authorized(request)) return unauthorized()
      const body = (await request.json()) as any
      const id = oid()
      const cheapest = Math.min(...state.rates.map((r) => Number(r.amount)))
      const shipmentRates = state.rates.map((r) =>
        rateShape(id, r, Number(r.amount) === cheapest ? ['CHEAPEST', 'BESTVALUE'] : []),
      )
      for (const r of shipmentRates) state.rateById.set(r.object_id, r)
      const answer = {
        carrier_accounts: [],
        object_created: stamp(),
        object_updated: stamp(),
        object_id: id,
        object_owner: OWNER,
        status: 'SUCCESS',
        address_from: addressShape(body.address_from),
        address_to: addressShape(body.address_to),
        address_return: addressShape(body.address_from),
        parcels: (body.parcels as any[]).map((p) => ({
          object_id: oid(),
          object_created: stamp(),
          object_updated: stamp(),
          object_owner: OWNER,
          object_state: 'VALID',
          template: null,
          length: p.length,
          width: p.width,
          height: p.height,
          distance_unit: p.distance_unit,
          weight: p.weight,
          mass_unit: p.mass_unit,
          value_amount: null,
          value_currency: null,
          metadata: '',
          line_items: [],
          test: true,
        })),
        shipment_date: stamp(),
        extra: { insurance: { amount: '', currency: '' }, reference_1: '', reference_2: '' },
        customs_declaration: null,
        rates: shipmentRates,
        messages: [],
        metadata: body.metadata ?? '',
        test: true,
      }
      state.shipments.push({ body, answer })
      return HttpResponse.json(answer, { status: 201 })
    }),
    http.post(`${SHIPPO_API}/transactions`, async ({ request }) => {
      if (!authorized(request)) return unauthorized()
      const body = (await request.json()) as any
      state.purchases.push(body)
      const rate = state.rateById.get(body.rate)
      if (!rate) {
        return HttpResponse.json(
          { rate: [`Invalid pk "${body.rate}" - object does not exist.`] },
          { status: 400 },
        )
      }
      const ok = !state.refuseNextLabel
      state.refuseNextLabel = false
      const t = transactionShape(rate, body.metadata ?? '', ok)
      state.transactions.push(t)
      await state.duringPurchase?.()
      if (state.loseNextAnswer) {
        state.loseNextAnswer = false
        return HttpResponse.error()
      }
      return HttpResponse.json(t, { status: 201 })
    }),
    http.get(`${SHIPPO_API}/transactions`, ({ request }) => {
      if (!authorized(request)) return unauthorized()
      const rate = new URL(request.url).searchParams.get('rate')
      const results = state.transactions.filter((t) => !rate || t.rate === rate)
      return HttpResponse.json({ next: null, previous: null, results })
    }),
    http.post(`${SHIPPO_API}/refunds`, async ({ request }) => {
      if (!authorized(request)) return unauthorized()
      const body = (await request.json()) as any
      state.voids.push(body)
      if (!state.transactions.some((t) => t.object_id === body.transaction)) {
        return HttpResponse.json({ transaction: ['Transaction not found.'] }, { status: 400 })
      }
      return HttpResponse.json(
        {
          object_created: stamp(),
          object_id: oid(),
          object_owner: OWNER,
          object_updated: stamp(),
          status: body.async === false ? 'SUCCESS' : 'QUEUED',
          test: true,
          transaction: body.transaction,
        },
        { status: 201 },
      )
    }),
    http.get(`${SHIPPO_API}/rates/:rateId`, ({ request, params }) => {
      if (!authorized(request)) return unauthorized()
      const rate = state.rateById.get(String(params.rateId))
      return rate ? HttpResponse.json(rate) : HttpResponse.json({ detail: 'Not found.' }, { status: 404 })
    }),
  )
  return state
}

/** A track_updated webhook body as Shippo posts it. */
export function trackUpdated(o: {
  trackingNumber: string
  status: 'PRE_TRANSIT' | 'TRANSIT' | 'DELIVERED' | 'RETURNED' | 'FAILURE' | 'UNKNOWN'
  statusDate: string
  details?: string
  history?: Array<{ status: string; statusDate: string; details?: string }>
  carrier?: string
}) {
  const location = { city: 'San Francisco', state: 'CA', zip: '94103', country: 'US' }
  const scan = (status: string, date: string, details?: string) => ({
    object_created: date,
    object_updated: date,
    object_id: oid(),
    status,
    status_details: details ?? `${status} at the carrier`,
    status_date: date,
    substatus: null,
    location,
  })
  const current = scan(o.status, o.statusDate, o.details)
  return {
    event: 'track_updated',
    test: true,
    data: {
      messages: [],
      carrier: o.carrier ?? 'usps',
      tracking_number: o.trackingNumber,
      address_from: { city: 'Las Vegas', state: 'NV', zip: '89101', country: 'US' },
      address_to: location,
      eta: '2026-12-05T00:00:00Z',
      original_eta: '2026-12-05T00:00:00Z',
      servicelevel: { token: 'usps_priority', name: 'Priority Mail' },
      metadata: null,
      tracking_status: current,
      tracking_history: [...(o.history ?? []).map((h) => scan(h.status, h.statusDate, h.details)), current],
      transaction: oid(),
    },
  }
}
