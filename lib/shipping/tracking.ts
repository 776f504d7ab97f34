import { createHash, timingSafeEqual } from 'node:crypto'
import { and, asc, eq, inArray, ne } from 'drizzle-orm'
import { z } from 'zod'
import { fulfillments, type ShipmentStatus, trackingEvents, webhookEvents } from '../../db/schema/index.js'
import { badRequest, notFound, unauthorized } from '../http/errors.js'
import { isShipped, lockFullOrder } from '../orders/fulfilment.js'
import { addFlag } from '../orders/history.js'
import { settleDelivery } from '../orders/shipment.js'
import type { FullOrder, Runner } from '../orders/view.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { env } from '../platform/env.js'

// Tracking: Shippo's `track_updated` webhook moves shipments along (TRANSIT -> in_transit, DELIVERED ->
// delivered, FAILURE/RETURNED -> failed/returned and a staff flag) and keeps every carrier scan as a
// tracking event; GET /orders/{id}/tracking shows them per shipment.
//
// Shippo's webhook configuration takes only a URL, so the URL carries SHIPPO_WEBHOOK_SECRET as `token`
// (compared in constant time). Shippo sends no event id; an event is identified by what it says
// (tracking number, status and status date), so a redelivered event changes nothing. Events may arrive
// out of order: a status older than the newest scan already recorded only adds its scan, and a delivered
// shipment stays delivered.

/** The webhook's URL token against SHIPPO_WEBHOOK_SECRET: 404 when unset (no webhook here), 401 when wrong. */
export function checkShippoToken(token: string | null): void {
  const secret = env().SHIPPO_WEBHOOK_SECRET
  if (!secret) throw notFound('webhook')
  const digest = (s: string) => createHash('sha256').update(s).digest()
  if (!token || !timingSafeEqual(digest(token), digest(secret))) {
    throw unauthorized('The webhook token is missing or wrong.', 'invalid_webhook_token')
  }
}

const Location = z
  .object({
    city: z.string().nullish(),
    state: z.string().nullish(),
    zip: z.string().nullish(),
    country: z.string().nullish(),
  })
  .passthrough()
  .nullish()

const TrackingStatus = z
  .object({
    status: z.string(),
    status_details: z.string().nullish(),
    status_date: z.string().nullish(),
    object_created: z.string().nullish(),
    location: Location,
  })
  .passthrough()
type TrackingStatus = z.output<typeof TrackingStatus>

export const ShippoTrackEvent = z
  .object({
    event: z.string(),
    test: z.boolean().nullish(),
    data: z
      .object({
        carrier: z.string().nullish(),
        tracking_number: z.string().nullish(),
        tracking_status: TrackingStatus.nullish(),
        tracking_history: z.array(TrackingStatus).nullish(),
      })
      .passthrough()
      .nullish(),
  })
  .passthrough()

/** Shippo's tracking statuses that move a shipment; PRE_TRANSIT and UNKNOWN only add a scan. */
const SHIPMENT_STATUS: Record<string, ShipmentStatus> = {
  TRANSIT: 'in_transit',
  DELIVERED: 'delivered',
  FAILURE: 'failed',
  RETURNED: 'returned',
}
const FINAL: readonly ShipmentStatus[] = ['delivered', 'returned']

const FLAGS: Partial<Record<ShipmentStatus, { code: string; message: string }>> = {
  failed: { code: 'delivery_failed', message: 'The carrier reported a failed delivery.' },
  returned: { code: 'shipment_returned', message: 'The carrier is returning the shipment to the sender.' },
}

const dateOf = (s: TrackingStatus): Date => {
  const d = new Date(s.status_date ?? s.object_created ?? Number.NaN)
  return Number.isNaN(d.getTime()) ? now() : d
}

const placeOf = (s: TrackingStatus): string | null =>
  [s.location?.city, s.location?.state, s.location?.zip, s.location?.country].filter(Boolean).join(', ') ||
  null

export type WebhookOutcome = { received: true; duplicate?: true; ignored?: string }

/** One `track_updated` (or any other Shippo event, acknowledged and ignored). */
export async function handleShippoEvent(db: Db, rawBody: string): Promise<WebhookOutcome> {
  let parsed: unknown
  try {
    parsed = JSON.parse(rawBody)
  } catch {
    throw badRequest('invalid_payload', 'The webhook body is not JSON.')
  }
  const r = ShippoTrackEvent.safeParse(parsed)
  if (!r.success) throw badRequest('invalid_payload', 'The webhook body is not a Shippo event.')
  const event = r.data
  if (event.event !== 'track_updated') return { received: true, ignored: `event ${event.event}` }
  const trackingNumber = event.data?.tracking_number?.trim()
  const current = event.data?.tracking_status
  if (!trackingNumber || !current) return { received: true, ignored: 'no tracking status' }

  const eventId = createHash('sha256')
    .update(`${trackingNumber}|${current.status}|${current.status_date ?? current.object_created ?? ''}`)
    .digest('hex')
  const scans = [...(event.data?.tracking_history ?? []), current]

  return db.transaction(async (tx) => {
    const [fresh] = await tx
      .insert(webhookEvents)
      .values({
        provider: 'shippo',
        eventId,
        type: event.event,
        payload: {
          tracking_number: trackingNumber,
          status: current.status,
          status_date: current.status_date,
        },
        processedAt: now(),
      })
      .onConflictDoNothing()
      .returning({ id: webhookEvents.id })
    if (!fresh) return { received: true as const, duplicate: true as const }

    const matches = await tx
      .select({ id: fulfillments.id, orderId: fulfillments.orderId })
      .from(fulfillments)
      .where(and(eq(fulfillments.trackingNumber, trackingNumber), ne(fulfillments.status, 'cancelled')))
    if (!matches.length) return { received: true as const, ignored: 'unknown tracking number' }
    const orderIds = [...new Set(matches.map((m) => m.orderId))].sort()
    for (const orderId of orderIds) {
      const order = await lockFullOrder(tx, orderId)
      for (const f of order.fulfillments.filter((x) => matches.some((m) => m.id === x.id))) {
        await applyScans(tx, order, f, scans, current)
      }
      await settleDelivery(tx, order, null, 'carrier reported delivery')
    }
    return { received: true as const }
  })
}

async function applyScans(
  tx: Runner,
  order: FullOrder,
  f: FullOrder['fulfillments'][number],
  scans: TrackingStatus[],
  current: TrackingStatus,
): Promise<void> {
  // only a shipment that has left is tracked (a label alone is not a shipment)
  if (!isShipped(f)) return
  const known = await tx
    .select({ status: trackingEvents.status, occurredAt: trackingEvents.occurredAt })
    .from(trackingEvents)
    .where(eq(trackingEvents.fulfillmentId, f.id))
  const seen = new Set(known.map((k) => `${k.status}|${k.occurredAt.getTime()}`))
  const newest = Math.max(0, ...known.map((k) => k.occurredAt.getTime()))
  const rows = []
  for (const s of scans) {
    const at = dateOf(s)
    const key = `${s.status}|${at.getTime()}`
    if (seen.has(key)) continue
    seen.add(key)
    rows.push({
      orderId: order.id,
      fulfillmentId: f.id,
      status: s.status,
      description: s.status_details ?? null,
      location: placeOf(s),
      occurredAt: at,
      raw: s,
    })
  }
  if (rows.length) await tx.insert(trackingEvents).values(rows)

  const next = SHIPMENT_STATUS[current.status]
  if (!next || next === f.status || FINAL.includes(f.status)) return
  if (dateOf(current).getTime() < newest) return // older news than a scan already recorded
  const at = now()
  const [updated] = await tx
    .update(fulfillments)
    .set({ status: next, ...(next === 'delivered' ? { deliveredAt: dateOf(current) } : {}), updatedAt: at })
    .where(eq(fulfillments.id, f.id))
    .returning()
  Object.assign(f, updated)
  const flag = FLAGS[next]
  if (flag) {
    await addFlag(tx, order.id, {
      ...flag,
      fulfillment_id: f.id,
      tracking_number: f.trackingNumber,
      details: current.status_details ?? null,
    })
  }
}

// --- GET /orders/{id}/tracking --------------------------------------------------------------------------

export const TrackingSchema = z.object({
  order_id: z.string(),
  carrier: z.string().nullable(),
  tracking_number: z.string().nullable(),
  tracking_url: z.string().nullable(),
  fulfillments: z.array(
    z.object({
      id: z.string(),
      status: z.string(),
      carrier: z.string().nullable(),
      service_level: z.string().nullable(),
      tracking_number: z.string().nullable(),
      tracking_url: z.string().nullable(),
      shipped_at: z.string().nullable(),
      delivered_at: z.string().nullable(),
      events: z.array(
        z.object({
          status: z.string(),
          description: z.string().nullable(),
          location: z.string().nullable(),
          occurred_at: z.string(),
        }),
      ),
    }),
  ),
})

const iso = (d: Date | null) => (d ? d.toISOString() : null)

/** The order's shipments with their scans, oldest first (one statement for the scans). */
export async function orderTracking(db: Db, order: FullOrder): Promise<z.output<typeof TrackingSchema>> {
  const ids = order.fulfillments.map((f) => f.id)
  const events = ids.length
    ? await db
        .select()
        .from(trackingEvents)
        .where(and(eq(trackingEvents.orderId, order.id), inArray(trackingEvents.fulfillmentId, ids)))
        .orderBy(asc(trackingEvents.occurredAt), asc(trackingEvents.createdAt))
    : []
  const latest = [...order.fulfillments].reverse().find((f) => f.trackingNumber || f.carrier || f.shippedAt)
  return {
    order_id: order.id,
    carrier: latest?.carrier ?? order.carrier,
    tracking_number: latest?.trackingNumber ?? order.trackingNumber,
    tracking_url: latest?.trackingUrl ?? order.trackingUrl,
    fulfillments: order.fulfillments.map((f) => ({
      id: f.id,
      status: f.status,
      carrier: f.carrier,
      service_level: f.service,
      tracking_number: f.trackingNumber,
      tracking_url: f.trackingUrl,
      shipped_at: iso(f.shippedAt),
      delivered_at: iso(f.deliveredAt),
      events: events
        .filter((e) => e.fulfillmentId === f.id)
        .map((e) => ({
          status: e.status,
          description: e.description,
          location: e.location,
          occurred_at: e.occurredAt.toISOString(),
        })),
    })),
  }
}
