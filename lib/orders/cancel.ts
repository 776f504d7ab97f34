import { and, eq, inArray, notInArray, sql } from 'drizzle-orm'
import {
  type FinancialStatus,
  fulfillments,
  type OrderStatus,
  orderItems,
  orders,
  payments,
} from '../../db/schema/index.js'
import type { Principal } from '../auth/permissions.js'
import { forbidden } from '../http/errors.js'
import { now } from '../platform/clock.js'
import { isShipped, isUnshipped } from './fulfilment.js'
import { illegalTransition, recordTransitions } from './history.js'
import { pendingRefunds, refundPending } from './refund-plan.js'
import { releaseDiscount } from './settings.js'
import { returnStock } from './stock.js'
import type { FullOrder, Runner } from './view.js'

// Cancelling an order, as the order records it: who may, from which states, and the goods side of it in
// the order's transaction (fulfilments, units, stock, discount, statuses, history). The money side (the
// PaymentIntent of an unpaid Stripe order, the refund of a paid one) is decided in lib/payments/cancel.ts,
// which calls these under the order's lock.

const CANCELLABLE: OrderStatus[] = ['pending', 'confirmed', 'processing']
const PAID: FinancialStatus[] = ['paid', 'partially_refunded', 'refunded']

export const isPaid = (o: Pick<FullOrder, 'financialStatus'>) => PAID.includes(o.financialStatus)

/**
 * Who may cancel: the buyer (the account that owns it, or the guest holding its order token) while it is
 * pending; orders.manage while it is unpaid; orders.refund once it is paid (cancelling refunds it). 403
 * otherwise. Called again under the order's lock, so a payment landing meanwhile is seen.
 */
export function checkMayCancel(order: FullOrder, principal: Principal | null, guest = false): void {
  const can = (p: 'orders.manage' | 'orders.refund') => principal?.permissions.has(p) ?? false
  const buyer = (principal !== null && order.userId === principal.userId) || (guest && order.userId === null)
  if (isPaid(order) ? can('orders.refund') : can('orders.manage')) return
  if (buyer && order.status === 'pending') return
  throw forbidden(
    isPaid(order)
      ? 'Cancelling a paid order refunds it: it needs orders.refund.'
      : 'Only a pending order can be cancelled by its buyer.',
  )
}

/** From pending, confirmed or processing with nothing shipped, and no refund in flight. */
export function checkCancellable(order: FullOrder): void {
  if (!CANCELLABLE.includes(order.status) || order.fulfillments.some(isShipped)) {
    throw illegalTransition('cancel', order)
  }
  if (pendingRefunds(order).length > 0) throw refundPending()
}

export interface CancelRecord {
  actorId: string | null
  reason: string
}

/**
 * Under the order's lock (`order` read under it): the goods side of a cancellation. Unshipped fulfilments
 * are cancelled, every unit is cancelled, stock comes back (less units a refund already returned), an
 * unpaid order's discount redemption is released and it ends `voided`; a paid one keeps its financial
 * status (its refund settles it). Returns the cancelled fulfilments holding a bought label, to void.
 */
export async function cancelInTx(tx: Runner, order: FullOrder, opts: CancelRecord): Promise<string[]> {
  const at = now()
  const paid = isPaid(order)
  // stock a succeeded restocking refund already gave back is not returned twice
  const restocked = new Map<string, number>()
  for (const r of order.refunds) {
    if (!r.stockReturnedAt) continue
    for (const l of r.items)
      restocked.set(l.order_item_id, (restocked.get(l.order_item_id) ?? 0) + l.quantity)
  }
  await returnStock(
    tx,
    order.items.map((i) => ({
      productId: i.productId,
      variantId: i.variantId,
      quantity: Math.max(0, i.quantity - (restocked.get(i.id) ?? 0)),
    })),
    { orderId: order.id, actorId: opts.actorId, reason: 'cancel' },
  )
  // a bought label, or a purchase claimed whose answer was lost: voided at Shippo after the commit
  const labelled = order.fulfillments.filter((f) => isUnshipped(f) && f.providerShipmentId).map((f) => f.id)
  await tx
    .update(fulfillments)
    .set({ status: 'cancelled', updatedAt: at })
    .where(
      and(eq(fulfillments.orderId, order.id), inArray(fulfillments.status, ['pending', 'label_created'])),
    )
  // nothing shipped: every unit is cancelled, none counts as fulfilled any more
  await tx
    .update(orderItems)
    .set({ fulfilledQuantity: 0, cancelledQuantity: sql`${orderItems.quantity}`, updatedAt: at })
    .where(eq(orderItems.orderId, order.id))
  let financial = order.financialStatus
  if (!paid) {
    await releaseDiscount(tx, order.id)
    financial = 'voided'
    await tx
      .update(payments)
      .set({ status: 'cancelled', updatedAt: at })
      .where(
        and(
          eq(payments.orderId, order.id),
          notInArray(payments.status, ['succeeded', 'failed', 'cancelled']),
        ),
      )
  }
  await tx
    .update(orders)
    .set({
      status: 'cancelled',
      financialStatus: financial,
      fulfillmentStatus: 'unfulfilled',
      cancelledAt: at,
      cancelReason: opts.reason,
      updatedAt: at,
    })
    .where(eq(orders.id, order.id))
  await recordTransitions(tx, order.id, opts.actorId, [
    { type: 'order', from: order.status, to: 'cancelled', reason: opts.reason },
    { type: 'financial', from: order.financialStatus, to: financial, reason: opts.reason },
    { type: 'fulfillment', from: order.fulfillmentStatus, to: 'unfulfilled', reason: opts.reason },
  ])
  return labelled
}
