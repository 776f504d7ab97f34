import { and, eq, inArray } from 'drizzle-orm'
import { type Address, fulfillments, orders, type ShipmentStatus } from '../../db/schema/index.js'
import { enqueueEmail } from '../email/outbox.js'
import { conflict, unprocessable } from '../http/errors.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { buysLabels, ensureLabel } from '../shipping/shippo.js'
import { fulfilLines, isShipped, isUnshipped, lockFullOrder, remaining } from './fulfilment.js'
import { illegalTransition, recordTransitions } from './history.js'
import { type FullOrder, loadOrderOr404, type Runner } from './view.js'

// Shipping and delivery: /ship sends one fulfilment (or every unshipped one, after fulfilling what
// remains), buying a Shippo label first when Shippo is configured and no tracking number was given;
// /deliver marks shipments delivered. The order is `shipped` once every unit has shipped and `delivered`
// once every shipped unit is delivered and none remain.

export interface ShipInput {
  fulfillment_id?: string
  carrier?: string
  tracking_number?: string
  tracking_url?: string
  service_level?: string
}

/** States from which a shipment can still be delivered. */
const DELIVERABLE: readonly ShipmentStatus[] = ['shipped', 'in_transit', 'out_for_delivery', 'failed']

const notOfOrder = (path: string) =>
  unprocessable([{ path, code: 'not_in_order', message: 'This is not a fulfilment of the order.' }])

const live = (o: FullOrder) => o.fulfillments.filter((f) => f.status !== 'cancelled')

/** Every non-cancelled unit is in a shipment that has left. */
export const everythingShipped = (o: FullOrder) =>
  o.items.every((i) => remaining(i) === 0) && live(o).length > 0 && live(o).every(isShipped)

/** Every shipped unit is delivered and none remain. */
export const everythingDelivered = (o: FullOrder) =>
  o.items.every((i) => remaining(i) === 0) &&
  live(o).length > 0 &&
  live(o).every((f) => f.status === 'delivered')

/**
 * Under the order's lock: check /ship may run and pick the fulfilments it ships. Without a
 * fulfillment_id the remaining units are fulfilled first, then every unshipped fulfilment ships.
 */
async function shipTargets(
  tx: Runner,
  order: FullOrder,
  input: ShipInput,
  actorId: string | null,
): Promise<{ order: FullOrder; targets: string[] }> {
  if (!['confirmed', 'processing', 'shipped'].includes(order.status)) throw illegalTransition('ship', order)
  if (input.fulfillment_id) {
    const f = order.fulfillments.find((x) => x.id === input.fulfillment_id)
    if (!f) throw notOfOrder('fulfillment_id')
    if (!isUnshipped(f)) {
      throw conflict('illegal_transition', `Cannot ship a fulfilment that is ${f.status}.`)
    }
    return { order, targets: [f.id] }
  }
  let current = order
  if (order.status !== 'shipped' && order.items.some((i) => remaining(i) > 0)) {
    await fulfilLines(tx, order, undefined, actorId)
    current = await loadOrderOr404(tx, order.id)
  }
  const targets = current.fulfillments.filter(isUnshipped).map((f) => f.id)
  if (!targets.length) throw conflict('nothing_to_ship', 'Every fulfilment of this order has shipped.')
  return { order: current, targets }
}

/** Under the order's lock: the targets leave; the order follows; the buyer is told. Returns outbox ids. */
async function markShipped(
  tx: Runner,
  order: FullOrder,
  targets: string[],
  input: ShipInput,
  actorId: string | null,
): Promise<string[]> {
  const at = now()
  const shipped = await tx
    .update(fulfillments)
    .set({
      status: 'shipped',
      shippedAt: at,
      ...(input.carrier ? { carrier: input.carrier } : {}),
      ...(input.tracking_number ? { trackingNumber: input.tracking_number } : {}),
      ...(input.tracking_url ? { trackingUrl: input.tracking_url } : {}),
      ...(input.service_level ? { service: input.service_level } : {}),
      actorId,
      updatedAt: at,
    })
    .where(
      and(
        eq(fulfillments.orderId, order.id),
        inArray(fulfillments.id, targets),
        inArray(fulfillments.status, ['pending', 'label_created']),
      ),
    )
    .returning()
  if (shipped.length !== targets.length) {
    throw conflict('illegal_transition', 'A shipment changed meanwhile; reload the order and try again.')
  }
  for (const s of shipped) {
    const f = order.fulfillments.find((x) => x.id === s.id)!
    Object.assign(f, s)
  }
  const latest = shipped.at(-1)!
  const done = everythingShipped(order)
  const status = done ? 'shipped' : order.status === 'confirmed' ? 'processing' : order.status
  await tx
    .update(orders)
    .set({
      status,
      carrier: latest.carrier,
      trackingNumber: latest.trackingNumber,
      trackingUrl: latest.trackingUrl,
      ...(done ? { shippedAt: at } : {}),
      updatedAt: at,
    })
    .where(eq(orders.id, order.id))
  await recordTransitions(tx, order.id, actorId, [{ type: 'order', from: order.status, to: status }])

  const address = order.shippingAddress as Address | null
  const emailId = await enqueueEmail(tx as Db, {
    to: order.email,
    userId: order.userId,
    template: 'order_shipped',
    data: {
      first_name: address?.first_name ?? null,
      order_number: order.orderNumber,
      shipments: shipped.map((s) => ({
        carrier: s.carrier,
        service_level: s.service,
        tracking_number: s.trackingNumber,
        tracking_url: s.trackingUrl,
      })),
    },
    dedupeKey: `order_shipped:${shipped
      .map((s) => s.id)
      .sort()
      .join(',')}`,
  })
  return [emailId]
}

/**
 * POST /orders/{id}/ship. Without a label to buy: one transaction. With one: the fulfilment is made in
 * a first transaction, the label is bought with no transaction open (Shippo may take seconds; no lock
 * is held meanwhile), and the shipment leaves in a second transaction that checks the order again.
 * `save` stores the Idempotency-Key answer in the transaction that ships. Returns outbox ids.
 */
export async function shipOrder(
  db: Db,
  orderId: string,
  input: ShipInput,
  actorId: string | null,
  save?: (tx: Runner) => Promise<void>,
): Promise<string[]> {
  if (!buysLabels(input.tracking_number)) {
    return db.transaction(async (tx) => {
      const { order, targets } = await shipTargets(tx, await lockFullOrder(tx, orderId), input, actorId)
      const ids = await markShipped(tx, order, targets, input, actorId)
      await save?.(tx)
      return ids
    })
  }
  const { targets } = await db.transaction(async (tx) =>
    shipTargets(tx, await lockFullOrder(tx, orderId), input, actorId),
  )
  const packed = await loadOrderOr404(db, orderId)
  for (const id of targets) await ensureLabel(db, packed, id, input.service_level)
  return db.transaction(async (tx) => {
    const order = await lockFullOrder(tx, orderId)
    if (!['confirmed', 'processing', 'shipped'].includes(order.status)) throw illegalTransition('ship', order)
    const ready = targets.filter((id) => order.fulfillments.some((f) => f.id === id && isUnshipped(f)))
    if (!ready.length) throw conflict('nothing_to_ship', 'Every fulfilment of this order has shipped.')
    // the label's carrier and tracking are on the fulfilment already; only staff's carrier overrides
    const ids = await markShipped(tx, order, ready, { carrier: input.carrier }, actorId)
    await save?.(tx)
    return ids
  })
}

/**
 * Under the order's lock, after shipments changed: a shipped order whose every unit is delivered becomes
 * delivered (delivered_at, history).
 */
export async function settleDelivery(
  tx: Runner,
  order: FullOrder,
  actorId: string | null,
  reason?: string,
): Promise<void> {
  if (order.status !== 'shipped' || !everythingDelivered(order)) return
  const at = now()
  await tx
    .update(orders)
    .set({ status: 'delivered', deliveredAt: at, updatedAt: at })
    .where(eq(orders.id, order.id))
  await recordTransitions(tx, order.id, actorId, [
    { type: 'order', from: 'shipped', to: 'delivered', reason },
  ])
  order.status = 'delivered'
  order.deliveredAt = at
}

/** POST /orders/{id}/deliver: the named shipment (or every shipped one) delivered. */
export async function deliverOrder(
  db: Db,
  orderId: string,
  input: { fulfillment_id?: string },
  actorId: string | null,
): Promise<void> {
  await db.transaction(async (tx) => {
    const order = await lockFullOrder(tx, orderId)
    if (order.status !== 'shipped') throw illegalTransition('deliver', order)
    let targets: string[]
    if (input.fulfillment_id) {
      const f = order.fulfillments.find((x) => x.id === input.fulfillment_id)
      if (!f) throw notOfOrder('fulfillment_id')
      if (!DELIVERABLE.includes(f.status)) {
        throw conflict('illegal_transition', `Cannot deliver a fulfilment that is ${f.status}.`)
      }
      targets = [f.id]
    } else {
      targets = order.fulfillments.filter((f) => DELIVERABLE.includes(f.status)).map((f) => f.id)
      if (!targets.length) throw conflict('nothing_to_deliver', 'No shipment of this order is on its way.')
    }
    const at = now()
    const delivered = await tx
      .update(fulfillments)
      .set({ status: 'delivered', deliveredAt: at, updatedAt: at })
      .where(and(eq(fulfillments.orderId, order.id), inArray(fulfillments.id, targets)))
      .returning()
    for (const d of delivered) Object.assign(order.fulfillments.find((f) => f.id === d.id)!, d)
    await settleDelivery(tx, order, actorId)
  })
}
