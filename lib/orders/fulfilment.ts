import { and, eq, sql } from 'drizzle-orm'
import {
  type Fulfillment,
  type FulfillmentStatus,
  fulfillmentItems,
  fulfillments,
  type Order,
  type OrderItem,
  orderItems,
  orders,
  type ShipmentStatus,
} from '../../db/schema/index.js'
import { conflict, type FieldError, unprocessable } from '../http/errors.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { illegalTransition, lockOrder, recordTransitions, type Transition } from './history.js'
import { type FullOrder, loadOrderOr404, type Runner } from './view.js'

// Picking and packing: /process (confirmed -> processing) and /fulfill (a fulfilment of some or all
// remaining units, its shipment `pending`). Remaining units of a line are those neither fulfilled nor
// cancelled (refunded before fulfilment). Every change locks the order row first, so two fulfilments of
// one order never count the same units, and reads the lines again under that lock.

export type LineQuantity = { order_item_id: string; quantity: number }

/** Shipment states of a fulfilment that has left the warehouse. */
export const SHIPPED_STATES: readonly ShipmentStatus[] = [
  'shipped',
  'in_transit',
  'out_for_delivery',
  'delivered',
  'failed',
  'returned',
]
/** Shipment states of a fulfilment still in the warehouse (a label may be bought). */
export const UNSHIPPED_STATES: readonly ShipmentStatus[] = ['pending', 'label_created']

export const isShipped = (f: Pick<Fulfillment, 'status'>) => SHIPPED_STATES.includes(f.status)
export const isUnshipped = (f: Pick<Fulfillment, 'status'>) => UNSHIPPED_STATES.includes(f.status)

/** Units of a line still to fulfil. */
export const remaining = (i: Pick<OrderItem, 'quantity' | 'fulfilledQuantity' | 'cancelledQuantity'>) =>
  Math.max(0, i.quantity - i.fulfilledQuantity - i.cancelledQuantity)

/** The order's fulfilment status from its lines: nothing, some or every non-cancelled unit fulfilled. */
export function fulfillmentStatusOf(items: OrderItem[]): FulfillmentStatus {
  const fulfilled = items.reduce((s, i) => s + i.fulfilledQuantity, 0)
  if (fulfilled === 0) return 'unfulfilled'
  return items.every((i) => remaining(i) === 0) ? 'fulfilled' : 'partial'
}

/** The order row locked for this transaction, then everything nested read under that lock. */
export async function lockFullOrder(tx: Runner, orderId: string): Promise<FullOrder> {
  await lockOrder(tx, orderId)
  return loadOrderOr404(tx, orderId)
}

/**
 * Check `lines` against the order: every id is one of its lines (422 `items.N.order_item_id`), no line
 * asks for more than `available(item)` units (422 `items.N.quantity`). Lines naming one item twice are
 * added up. Returns the quantities per order item id.
 */
export function checkLines(
  items: OrderItem[],
  lines: LineQuantity[],
  available: (item: OrderItem) => number,
  what: string,
): Map<string, number> {
  const byId = new Map(items.map((i) => [i.id, i]))
  const errors: FieldError[] = []
  const wanted = new Map<string, number>()
  lines.forEach((l, n) => {
    const id = l.order_item_id
    const item = byId.get(id)
    if (!item) {
      errors.push({
        path: `items.${n}.order_item_id`,
        code: 'not_in_order',
        message: 'This is not a line of the order.',
      })
      return
    }
    const total = (wanted.get(id) ?? 0) + l.quantity
    wanted.set(id, total)
    const max = available(item)
    if (total > max) {
      errors.push({
        path: `items.${n}.quantity`,
        code: 'exceeds_remaining',
        message: `Only ${max} unit(s) of this line can be ${what}.`,
      })
    }
  })
  if (errors.length) throw unprocessable(errors)
  return wanted
}

/**
 * Inside the order's transaction (order locked, `order` read under the lock): create one fulfilment of
 * `lines` (all remaining units when absent), raise the lines' fulfilled quantities, set the order's
 * fulfilment status and move a confirmed order to processing. Returns the new fulfilment's id.
 */
export async function fulfilLines(
  tx: Runner,
  order: FullOrder,
  lines: LineQuantity[] | undefined,
  actorId: string | null,
): Promise<string> {
  if (order.status !== 'confirmed' && order.status !== 'processing') throw illegalTransition('fulfil', order)
  const wanted = lines
    ? checkLines(order.items, lines, remaining, 'fulfilled')
    : new Map(order.items.filter((i) => remaining(i) > 0).map((i) => [i.id, remaining(i)]))
  if (wanted.size === 0)
    throw conflict('nothing_to_fulfill', 'Every unit of this order is already fulfilled.')

  const [fulfilment] = await tx
    .insert(fulfillments)
    .values({ orderId: order.id, status: 'pending', actorId })
    .returning({ id: fulfillments.id })
  const rows = [...wanted].map(([orderItemId, quantity]) => ({
    fulfillmentId: fulfilment!.id,
    orderItemId,
    quantity,
  }))
  await tx.insert(fulfillmentItems).values(rows)
  // one statement whatever the number of lines; the CHECK (fulfilled + cancelled <= quantity) backs
  // the remaining-units check above
  await tx.execute(sql`
    update ${orderItems} oi
    set fulfilled_quantity = oi.fulfilled_quantity + x.quantity, updated_at = now()
    from jsonb_to_recordset(${JSON.stringify(rows.map((r) => ({ id: r.orderItemId, quantity: r.quantity })))}::jsonb)
      as x(id uuid, quantity int)
    where oi.id = x.id and oi.order_id = ${order.id}
  `)
  for (const item of order.items) item.fulfilledQuantity += wanted.get(item.id) ?? 0

  const fulfillmentStatus = fulfillmentStatusOf(order.items)
  const status = 'processing' as const
  const at = now()
  await tx
    .update(orders)
    .set({ status, fulfillmentStatus, processedAt: order.processedAt ?? at, updatedAt: at })
    .where(eq(orders.id, order.id))
  const transitions: Transition[] = [
    { type: 'order', from: order.status, to: status },
    { type: 'fulfillment', from: order.fulfillmentStatus, to: fulfillmentStatus },
  ]
  await recordTransitions(tx, order.id, actorId, transitions)
  order.status = status
  order.fulfillmentStatus = fulfillmentStatus
  order.processedAt ??= at
  return fulfilment!.id
}

/** POST /orders/{id}/process inside a transaction of its own: confirmed -> processing. */
export async function processOrder(db: Db, orderId: string, actorId: string | null): Promise<void> {
  await db.transaction(async (tx) => processLocked(tx, await lockOrder(tx, orderId), actorId))
}

async function processLocked(tx: Runner, order: Order, actorId: string | null): Promise<void> {
  if (order.status !== 'confirmed') throw illegalTransition('process', order)
  const at = now()
  await tx
    .update(orders)
    .set({ status: 'processing', processedAt: order.processedAt ?? at, updatedAt: at })
    .where(and(eq(orders.id, order.id), eq(orders.status, 'confirmed')))
  await recordTransitions(tx, order.id, actorId, [{ type: 'order', from: order.status, to: 'processing' }])
}

/** POST /orders/{id}/fulfill inside a transaction of its own; `save` stores the Idempotency-Key answer. */
export async function fulfillOrder(
  db: Db,
  orderId: string,
  lines: LineQuantity[] | undefined,
  actorId: string | null,
  save?: (tx: Runner, fulfillmentId: string) => Promise<void>,
): Promise<string> {
  return db.transaction(async (tx) => {
    const order = await lockFullOrder(tx, orderId)
    const id = await fulfilLines(tx, order, lines, actorId)
    await save?.(tx, id)
    return id
  })
}
