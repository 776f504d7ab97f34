import { z } from 'zod'
import type { Principal } from '../auth/permissions.js'
import { deliverAfterResponse } from '../email/outbox.js'
import { withIdempotency } from '../http/idempotency.js'
import { json } from '../http/route.js'
import { Uuid } from '../http/validation.js'
import type { Db } from '../platform/db.js'
import { orderTracking } from '../shipping/tracking.js'
import { orderFor } from './access.js'
import { fulfillOrder, processOrder } from './fulfilment.js'
import { addNote, orderHistory, staffNotes } from './notes.js'
import { approveReturn, rejectReturn, requestReturn } from './returns.js'
import { LineQuantities } from './schemas.js'
import { deliverOrder, shipOrder } from './shipment.js'
import { loadOrderOr404, orderView } from './view.js'

// The order routes of fulfilment, shipping, tracking and returns: who may call them on this order (404
// when they cannot see it, 403 when they can but this is not theirs), the Idempotency-Key where the
// contract asks for one, then the domain call and the answer (the full order unless stated otherwise).

export const FulfillBody = z
  .object({ items: LineQuantities.optional().describe('default: every remaining unit') })
  .strict()

const text = (max: number) => z.string().trim().min(1).max(max)
export const ShipBody = z
  .object({
    fulfillment_id: Uuid.optional().describe(
      'default: fulfil what remains, then ship every unshipped fulfilment',
    ),
    carrier: text(100).optional(),
    tracking_number: text(100)
      .optional()
      .describe('without one (and with Shippo configured) a label is bought'),
    tracking_url: z.url().max(2000).optional(),
    service_level: text(100)
      .optional()
      .describe('Shippo service level token, e.g. usps_priority (default: cheapest)'),
  })
  .strict()

export const DeliverBody = z.object({ fulfillment_id: Uuid.optional() }).strict()

interface Req<B = undefined> {
  db: Db
  request: Request
  principal: Principal | null
  orderId: string
  body: B
}

const manage = { permission: 'orders.manage' } as const

/** The order as an action's answer: staff see flags and their notes. */
export async function orderAnswer(db: Db, orderId: string, staff: boolean, status = 200): Promise<Response> {
  const order = await loadOrderOr404(db, orderId)
  const notes = staff ? await staffNotes(db, orderId) : undefined
  return json(orderView(order, { staff, staffNotes: notes }), status)
}

const userCaller = (p: Principal | null) => `user:${p!.userId}`

export async function processRequest({ db, request, principal, orderId }: Req): Promise<Response> {
  const { order } = await orderFor(db, orderId, principal, request, manage)
  await processOrder(db, order.id, principal!.userId)
  return orderAnswer(db, order.id, true)
}

export async function fulfillRequest(r: Req<z.output<typeof FulfillBody>>): Promise<Response> {
  const { db, request, principal, orderId, body } = r
  const { order } = await orderFor(db, orderId, principal, request, manage)
  return withIdempotency(
    { db, request, caller: userCaller(principal), body },
    async (saver) => {
      await fulfillOrder(db, order.id, body.items, principal!.userId, (tx, fulfillmentId) =>
        saver.save(tx, { status: 200, body: { order_id: order.id, fulfillment_id: fulfillmentId } }),
      )
      return orderAnswer(db, order.id, true)
    },
    async () => orderAnswer(db, order.id, true),
  )
}

export async function shipRequest(r: Req<z.output<typeof ShipBody>>): Promise<Response> {
  const { db, request, principal, orderId, body } = r
  const { order } = await orderFor(db, orderId, principal, request, manage)
  return withIdempotency(
    { db, request, caller: userCaller(principal), body },
    async (saver) => {
      const emails = await shipOrder(db, order.id, body, principal!.userId, (tx) =>
        saver.save(tx, { status: 200, body: { order_id: order.id } }),
      )
      deliverAfterResponse(emails)
      return orderAnswer(db, order.id, true)
    },
    async () => orderAnswer(db, order.id, true),
  )
}

export async function deliverRequest(r: Req<z.output<typeof DeliverBody>>): Promise<Response> {
  const { db, request, principal, orderId, body } = r
  const { order } = await orderFor(db, orderId, principal, request, manage)
  await deliverOrder(db, order.id, body, principal!.userId)
  return orderAnswer(db, order.id, true)
}

export async function trackingRequest({ db, request, principal, orderId }: Req): Promise<Response> {
  const { order } = await orderFor(db, orderId, principal, request, { owner: true, guest: true })
  return json(await orderTracking(db, order))
}

export async function historyRequest({ db, request, principal, orderId }: Req): Promise<Response> {
  const { order } = await orderFor(db, orderId, principal, request, { permission: 'orders.view' })
  return json(await orderHistory(db, order.id))
}

export async function noteRequest(r: Req<{ body: string }>): Promise<Response> {
  const { db, request, principal, orderId, body } = r
  const { order } = await orderFor(db, orderId, principal, request, manage)
  return json(await addNote(db, order.id, body.body, principal!.userId), 201)
}

export async function returnRequest(
  r: Req<{ items: Array<{ order_item_id: string; quantity: number }>; reason: string }>,
): Promise<Response> {
  const { db, request, principal, orderId, body } = r
  const { order } = await orderFor(db, orderId, principal, request, {
    owner: true,
    permission: 'orders.manage',
  })
  const asStaff = principal?.permissions.has('orders.manage') ?? false
  return json(await requestReturn(db, order.id, body, { actorId: principal!.userId, asStaff }), 201)
}

// --- /returns/{return_id}/... (orders.manage, declared on the route) ----------------------------------

export async function approveReturnRequest(db: Db, principal: Principal, returnId: string) {
  return orderAnswer(db, await approveReturn(db, returnId, principal.userId), true)
}

export async function rejectReturnRequest(
  db: Db,
  principal: Principal,
  returnId: string,
  reason: string | undefined,
) {
  return orderAnswer(db, await rejectReturn(db, returnId, reason, principal.userId), true)
}
