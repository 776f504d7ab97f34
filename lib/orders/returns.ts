import { and, count, desc, eq, isNull, type SQL, sql } from 'drizzle-orm'
import { z } from 'zod'
import { orderItems, orders, type Return, refunds, returnStatuses, returns } from '../../db/schema/index.js'
import type { Principal } from '../auth/permissions.js'
import { conflict, forbidden, notFound, unprocessable } from '../http/errors.js'
import { offsetOf, PageQuery, PaginationSchema, pagination } from '../http/pagination.js'
import { Uuid } from '../http/validation.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { env } from '../platform/env.js'
import { checkLines, type LineQuantity, lockFullOrder } from './fulfilment.js'
import { illegalTransition, recordTransitions } from './history.js'
import { LineQuantities } from './schemas.js'
import { returnStock } from './stock.js'
import { type FullOrder, ReturnSchema, type Runner, returnView } from './view.js'

// Returns (RMA): the buyer (within RETURN_WINDOW_DAYS of delivery) or staff ask to return delivered
// units; staff approve or reject the request and receive the goods, restocking and refunding when asked.
// A unit is returnable once: delivered units minus those returned or in an open request. When every
// delivered unit has come back, the order is `returned`.

export const ReturnBody = z
  .object({ items: LineQuantities, reason: z.string().trim().min(1).max(1000) })
  .strict()
export const RejectBody = z.object({ reason: z.string().trim().min(1).max(1000).optional() }).strict()
export const ReceiveBody = z
  .object({
    restock: z.boolean().optional().describe('put the units back into stock (default false)'),
    refund: z.boolean().optional().describe('refund the returned units (needs orders.refund)'),
    refund_shipping: z.boolean().optional().describe('with refund: refund the shipping too'),
  })
  .strict()

export const ReturnsQuery = PageQuery.extend({
  status: z.enum(returnStatuses).optional(),
  order_id: Uuid.optional(),
})
export const ReturnListSchema = z.object({ returns: z.array(ReturnSchema), pagination: PaginationSchema })

const OPEN: readonly Return['status'][] = ['requested', 'approved']

/** Units of each line in delivered shipments. */
function deliveredUnits(order: FullOrder): Map<string, number> {
  const units = new Map<string, number>()
  for (const f of order.fulfillments) {
    if (f.status !== 'delivered') continue
    for (const i of f.items) units.set(i.orderItemId, (units.get(i.orderItemId) ?? 0) + i.quantity)
  }
  return units
}

/** Units of each line in open (requested or approved) returns. */
function requestedUnits(order: FullOrder): Map<string, number> {
  const units = new Map<string, number>()
  for (const r of order.returns) {
    if (!OPEN.includes(r.status)) continue
    for (const i of r.items) units.set(i.order_item_id, (units.get(i.order_item_id) ?? 0) + i.quantity)
  }
  return units
}

/** POST /orders/{id}/return: a `requested` RMA for delivered units not already returned or requested. */
export async function requestReturn(
  db: Db,
  orderId: string,
  input: { items: LineQuantity[]; reason: string },
  actor: { actorId: string | null; asStaff: boolean },
) {
  const row = await db.transaction(async (tx) => {
    const order = await lockFullOrder(tx, orderId)
    if (order.status !== 'delivered') throw illegalTransition('return', order)
    if (!actor.asStaff) {
      const days = env().RETURN_WINDOW_DAYS
      const deliveredAt = order.deliveredAt?.getTime() ?? 0
      if (now().getTime() > deliveredAt + days * 86_400_000) {
        throw conflict('return_window_closed', `Returns are accepted within ${days} days of delivery.`)
      }
    }
    const delivered = deliveredUnits(order)
    const requested = requestedUnits(order)
    const wanted = checkLines(
      order.items,
      input.items,
      (i) => Math.max(0, (delivered.get(i.id) ?? 0) - i.returnedQuantity - (requested.get(i.id) ?? 0)),
      'returned',
    )
    const [created] = await tx
      .insert(returns)
      .values({
        orderId: order.id,
        // unique: the order's number and the count of its returns, under the order's lock
        rmaNumber: `RMA-${order.orderNumber}-${order.returns.length + 1}`,
        status: 'requested',
        reason: input.reason,
        items: [...wanted].map(([order_item_id, quantity]) => ({ order_item_id, quantity })),
        actorId: actor.actorId,
      })
      .returning()
    return created!
  })
  return returnView(row)
}

/** GET /returns: filtered by status and order, newest first, paged. */
export async function listReturns(db: Db, q: z.output<typeof ReturnsQuery>) {
  const where: SQL[] = []
  if (q.status) where.push(eq(returns.status, q.status))
  if (q.order_id) where.push(eq(returns.orderId, q.order_id))
  const filter = where.length ? and(...where) : undefined
  const [rows, [total]] = await Promise.all([
    db
      .select()
      .from(returns)
      .where(filter)
      .orderBy(desc(returns.createdAt), desc(returns.id))
      .limit(q.limit)
      .offset(offsetOf(q.page, q.limit)),
    db.select({ n: count() }).from(returns).where(filter),
  ])
  return { returns: rows.map(returnView), pagination: pagination(q.page, q.limit, total?.n ?? 0) }
}

/** The return and its order, the order locked (every return change holds the order's lock). */
async function lockReturn(tx: Runner, returnId: string): Promise<{ order: FullOrder; ret: Return }> {
  const [found] = await tx.select({ orderId: returns.orderId }).from(returns).where(eq(returns.id, returnId))
  if (!found) throw notFound('return')
  const order = await lockFullOrder(tx, found.orderId)
  const ret = order.returns.find((r) => r.id === returnId)
  if (!ret) throw notFound('return')
  return { order, ret }
}

const illegalReturn = (action: string, ret: Return) =>
  conflict('illegal_transition', `Cannot ${action} a return that is ${ret.status}.`)

/** POST /returns/{id}/approve: requested -> approved. Returns the order id. */
export async function approveReturn(db: Db, returnId: string, actorId: string | null): Promise<string> {
  return db.transaction(async (tx) => {
    const { order, ret } = await lockReturn(tx, returnId)
    if (ret.status !== 'requested') throw illegalReturn('approve', ret)
    await tx
      .update(returns)
      .set({ status: 'approved', actorId, updatedAt: now() })
      .where(eq(returns.id, ret.id))
    return order.id
  })
}

/** POST /returns/{id}/reject: requested or approved -> rejected (the units become returnable again). */
export async function rejectReturn(
  db: Db,
  returnId: string,
  reason: string | undefined,
  actorId: string | null,
): Promise<string> {
  return db.transaction(async (tx) => {
    const { order, ret } = await lockReturn(tx, returnId)
    if (!OPEN.includes(ret.status)) throw illegalReturn('reject', ret)
    await tx
      .update(returns)
      .set({ status: 'rejected', notes: reason ?? ret.notes, actorId, updatedAt: now() })
      .where(eq(returns.id, ret.id))
    return order.id
  })
}

/** Under the order's lock: a delivered order whose every delivered unit came back becomes returned. */
async function settleReturned(tx: Runner, order: FullOrder, actorId: string | null, rma: string) {
  if (order.status !== 'delivered') return
  const delivered = deliveredUnits(order)
  const all = order.items.every((i) => i.returnedQuantity >= (delivered.get(i.id) ?? 0))
  if (!all) return
  await tx.update(orders).set({ status: 'returned', updatedAt: now() }).where(eq(orders.id, order.id))
  await recordTransitions(tx, order.id, actorId, [
    { type: 'order', from: 'delivered', to: 'returned', reason: `return ${rma} received` },
  ])
}

/**
 * POST /returns/{id}/receive, the goods side (lib/payments/returns.ts adds the refund): in one
 * transaction the lines' returned quantities rise, the units go back into stock when asked, the return is
 * `received`, and the order becomes `returned` when every delivered unit has come back. A return received
 * before whose refund did not go through may be received again with `refund`: then only the refund is
 * made (nothing is counted or restocked twice). Returns whether a refund is still to be made.
 */
export async function receiveGoods(
  db: Db,
  returnId: string,
  input: z.output<typeof ReceiveBody>,
  principal: Principal,
): Promise<{ orderId: string; ret: Return; refund: boolean }> {
  if (input.refund && !principal.permissions.has('orders.refund')) {
    throw forbidden('Refunding a return needs the orders.refund permission.')
  }
  if (input.refund_shipping && !input.refund) {
    throw unprocessable([
      { path: 'refund_shipping', code: 'refund_required', message: 'refund_shipping needs refund: true.' },
    ])
  }
  const actorId = principal.userId
  return db.transaction(async (tx) => {
    const { order, ret } = await lockReturn(tx, returnId)
    if (input.refund && !['paid', 'partially_refunded'].includes(order.financialStatus)) {
      throw illegalTransition('refund', order)
    }
    if (ret.status === 'received' && input.refund) {
      // a refund that did not go through before: refund only (a refund in flight is settled by its own
      // answer, the refund webhooks or the reconcile cron, never made twice)
      if (ret.refundId) {
        const [prior] = await tx
          .select({ status: refunds.status })
          .from(refunds)
          .where(eq(refunds.id, ret.refundId))
        if (prior?.status === 'pending' || prior?.status === 'succeeded') {
          throw conflict('refund_in_progress', 'The refund of this return is still being made.')
        }
      }
      return { orderId: order.id, ret, refund: true }
    }
    if (!OPEN.includes(ret.status)) throw illegalReturn('receive', ret)
    const lines = ret.items
    await tx.execute(sql`
      update ${orderItems} oi
      set returned_quantity = oi.returned_quantity + x.quantity, updated_at = now()
      from jsonb_to_recordset(${JSON.stringify(lines)}::jsonb) as x(order_item_id uuid, quantity int)
      where oi.id = x.order_item_id and oi.order_id = ${order.id}
    `)
    for (const l of lines) {
      const item = order.items.find((i) => i.id === l.order_item_id)
      if (item) item.returnedQuantity += l.quantity
    }
    if (input.restock) {
      await returnStock(
        tx,
        lines.map((l) => {
          const item = order.items.find((i) => i.id === l.order_item_id)
          return {
            productId: item?.productId ?? null,
            variantId: item?.variantId ?? null,
            quantity: l.quantity,
          }
        }),
        { orderId: order.id, actorId, reason: 'return_restock' },
      )
    }
    const at = now()
    await tx
      .update(returns)
      .set({ status: 'received', restock: input.restock ?? false, receivedAt: at, actorId, updatedAt: at })
      .where(eq(returns.id, ret.id))
    await settleReturned(tx, order, actorId, ret.rmaNumber)
    return { orderId: order.id, ret, refund: input.refund === true }
  })
}

/**
 * Inside the refund's reserving transaction: claim the return for this refund (refund_id), so one return
 * is never refunded twice; settling the refund marks the return `refunded` (or frees it when it fails).
 */
export async function claimReturnRefund(tx: Runner, returnId: string, refundId: string): Promise<void> {
  const claimed = await tx
    .update(returns)
    .set({ refundId, updatedAt: now() })
    .where(
      and(
        eq(returns.id, returnId),
        eq(returns.status, 'received'),
        // a refund that failed freed it when it settled
        isNull(returns.refundId),
      ),
    )
    .returning({ id: returns.id })
  if (!claimed.length) throw conflict('refund_in_progress', 'This return is being refunded already.')
}
