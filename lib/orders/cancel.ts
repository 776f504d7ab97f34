import { and, eq, inArray, notInArray, sql } from 'drizzle-orm'
import type { Stripe } from 'stripe'
import {
  type FinancialStatus,
  fulfillments,
  type OrderStatus,
  orderItems,
  orders,
  payments,
  type ShipmentStatus,
} from '../../db/schema/index.js'
import type { Principal } from '../auth/permissions.js'
import { conflict, forbidden, ProblemError } from '../http/errors.js'
import { applyPayment } from '../payments/apply.js'
import { fromStripeAmount, stripe, toStripeAmount } from '../payments/stripe.js'
import type { Db } from '../platform/db.js'
import { log, safeError } from '../platform/logger.js'
import { illegalTransition, lockOrder, recordTransitions } from './history.js'
import { refundableCents, refundOrder } from './refunds.js'
import { releaseDiscount } from './settings.js'
import { returnStock } from './stock.js'
import { type FullOrder, loadOrder, type Runner } from './view.js'

// Cancelling an order (DELETE /orders/{order_id}, the unpaid-order cron). Allowed from pending, confirmed,
// or processing with nothing shipped. Unshipped fulfilments are cancelled, the stock comes back, an unpaid
// order's discount redemption is released and it ends `voided` (a pending Stripe order's PaymentIntent is
// cancelled first, so the buyer cannot pay for a cancelled order); a paid one is refunded in full first
// (through Stripe when paid there), then cancelled.

const CANCELLABLE: OrderStatus[] = ['pending', 'confirmed', 'processing']
const UNSHIPPED: ShipmentStatus[] = ['pending', 'label_created', 'cancelled']
const PAID: FinancialStatus[] = ['paid', 'partially_refunded', 'refunded']

export const isPaid = (o: Pick<FullOrder, 'financialStatus'>) => PAID.includes(o.financialStatus)

/** Who may cancel: the owner while pending; orders.manage when unpaid; orders.refund when paid. 403 otherwise. */
export function checkMayCancel(order: FullOrder, principal: Principal | null): void {
  const can = (p: 'orders.manage' | 'orders.refund') => principal?.permissions.has(p) ?? false
  const owner = principal !== null && order.userId === principal.userId
  if (isPaid(order) ? can('orders.refund') : can('orders.manage')) return
  if (owner && order.status === 'pending') return
  throw forbidden(
    isPaid(order)
      ? 'Cancelling a paid order refunds it: it needs orders.refund.'
      : 'Only a pending order can be cancelled by its buyer.',
  )
}

function checkCancellable(order: Pick<FullOrder, 'status' | 'financialStatus'>, shipped: boolean): void {
  if (!CANCELLABLE.includes(order.status) || shipped) throw illegalTransition('cancel', order)
}

const anyShipped = (o: FullOrder) => o.fulfillments.some((f) => !UNSHIPPED.includes(f.status))

export interface CancelOptions {
  actorId: string | null
  reason: string
  /** the unpaid-order cron: leave the order alone (false) unless it is still pending and unpaid */
  onlyUnpaid?: boolean
}

/** Cancel the PaymentIntent of a pending Stripe order; when it turns out paid, apply the payment and 409. */
async function cancelIntent(db: Db, order: FullOrder, actorId: string | null): Promise<void> {
  const client = await stripe()
  let pi: Stripe.PaymentIntent
  try {
    pi = await client.paymentIntents.retrieve(order.paymentIntentId!)
    if (pi.status === 'succeeded') {
      // a payment of another amount is refunded by its webhook; the order is cancelled all the same
      if (!paysInFull(order, pi)) return
      await recordSucceeded(db, order, pi, actorId)
      throw conflict('payment_succeeded', 'The order was paid meanwhile; it was not cancelled.')
    }
    if (pi.status !== 'canceled')
      await client.paymentIntents.cancel(pi.id, { cancellation_reason: 'abandoned' })
  } catch (err) {
    if (err instanceof ProblemError) throw err
    log.warn('PaymentIntent could not be cancelled; the order stays pending', {
      order_id: order.id,
      err: safeError(err),
    })
    throw new ProblemError(
      502,
      'payment_provider_error',
      'The payment provider could not cancel the payment; try again.',
    )
  }
}

/** Whether a succeeded PaymentIntent pays exactly this order (Stripe's units, same currency). */
export function paysInFull(
  order: Pick<FullOrder, 'totalAmountCents' | 'currency'>,
  pi: Stripe.PaymentIntent,
): boolean {
  if (pi.currency.toUpperCase() !== order.currency) return false
  try {
    return pi.amount_received === toStripeAmount(order.totalAmountCents, order.currency)
  } catch {
    return false
  }
}

async function recordSucceeded(db: Db, order: FullOrder, pi: Stripe.PaymentIntent, actorId: string | null) {
  await db.transaction(async (tx) => {
    const locked = await lockOrder(tx, order.id)
    if (locked.status !== 'pending' || locked.financialStatus !== 'pending') return
    await applyPayment(tx, order.id, {
      provider: 'stripe',
      amountCents: fromStripeAmount(pi.amount_received, pi.currency),
      currency: order.currency,
      providerPaymentId: pi.id,
      actorId,
      reason: 'payment succeeded at Stripe',
    })
  })
}

/** Cancel the order (rights already checked); 409 illegal_transition when it is past cancelling. */
export async function cancelOrder(db: Db, orderId: string, opts: CancelOptions): Promise<boolean> {
  const order = await loadOrder(db, orderId)
  if (!order) return false
  if (opts.onlyUnpaid && (order.status !== 'pending' || order.financialStatus !== 'pending')) return false
  checkCancellable(order, anyShipped(order))
  if (!isPaid(order) && order.paymentIntentId) await cancelIntent(db, order, opts.actorId)
  const paidBefore = isPaid(order)
  if (paidBefore && refundableCents(order) > 0) {
    await refundOrder(db, orderId, { reason: opts.reason || 'order cancelled' }, { actorId: opts.actorId })
  }
  await db.transaction(async (tx) => {
    const locked = await lockOrder(tx, orderId)
    const now = (await loadOrder(tx, orderId))!
    // the full refund just made may have ended the order `refunded`; that is this cancellation's own step
    const status = paidBefore && locked.status === 'refunded' ? 'processing' : locked.status
    checkCancellable({ status, financialStatus: locked.financialStatus }, anyShipped(now))
    if (!paidBefore && isPaid(locked))
      throw conflict('payment_succeeded', 'The order was paid meanwhile; it was not cancelled.')
    await cancelInTx(tx, now, opts, paidBefore)
  })
  return true
}

async function cancelInTx(tx: Runner, order: FullOrder, opts: CancelOptions, paid: boolean): Promise<void> {
  const at = new Date()
  // stock already given back by refunds with restock is not returned twice
  const restocked = new Map<string, number>()
  for (const r of order.refunds) {
    if (!r.restock || r.status === 'failed') continue
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
}
