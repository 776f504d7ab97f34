import { and, eq, sql } from 'drizzle-orm'
import {
  type FinancialStatus,
  type OrderStatus,
  orderItems,
  orders,
  payments,
  type Refund,
  type RefundKind,
  type RefundLine,
  type RefundStatus,
  refunds,
  returns,
} from '../../db/schema/index.js'
import { enqueueEmail } from '../email/outbox.js'
import { notFound } from '../http/errors.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { toMajor } from '../platform/money.js'
import { fulfillmentStatusOf, remaining } from './fulfilment.js'
import { addFlag, illegalTransition, lockOrder, recordTransitions, type Transition } from './history.js'
import { payingPayment } from './payments.js'
import { type Plan, planRefund, type RefundInput } from './refund-plan.js'
import { returnStock } from './stock.js'
import { type FullOrder, loadOrder, type Runner } from './view.js'

// A refund as the order records it. Which refunds move money, and through which provider, is decided in
// lib/payments; this room only writes what happened, in two steps that are each one transaction under the
// order's lock:
//
//   reserveRefund   the row is created `pending`: the order's and the lines' refunded figures go up and the
//                   units not yet fulfilled are cancelled at once, so while the provider answers nothing can
//                   refund them again, fulfil them or ship them;
//   settleRefund    the ONE way a row changes status afterwards (the API call's answer, Stripe's refund
//                   webhooks, the reconcile cron): pending -> succeeded (stock back when asked, statuses,
//                   history, the buyer's email), pending -> failed | cancelled (the reservation is given
//                   back), succeeded -> failed | cancelled (Stripe sent the money back after all: the totals
//                   are corrected, staff flagged, the buyer told). Anything else changes nothing, so a late
//                   or repeated answer is harmless.
//
// The financial status counts only refunds that succeeded; limits count those in flight as well.

export type { RefundInput } from './refund-plan.js'

const paidLike: FinancialStatus[] = ['paid', 'partially_refunded', 'refunded']
const TERMINAL: OrderStatus[] = ['cancelled', 'refunded', 'returned']

export interface ReserveOptions {
  actorId: string | null
  /** default `refund`; `dispute_lost` for a chargeback the shop lost (never sent to a provider) */
  kind?: RefundKind
  /** Under the order's lock, before anything is written: refuse what may not happen now. */
  check?: (order: FullOrder, plan: Plan) => void
}

export interface Reserved {
  order: FullOrder
  plan: Plan
  refund: Refund
}

/** Reserve a refund (row `pending`): lock, plan, write the reservation. */
export async function reserveRefund(
  tx: Runner,
  orderId: string,
  input: RefundInput,
  opts: ReserveOptions,
): Promise<Reserved> {
  const locked = await lockOrder(tx, orderId)
  if (!['paid', 'partially_refunded'].includes(locked.financialStatus))
    throw illegalTransition('refund', locked)
  const order = (await loadOrder(tx, orderId))!
  const plan = planRefund(order, input)
  opts.check?.(order, plan)
  const payment = payingPayment(order)
  const lines: RefundLine[] = plan.lines.map((l) => {
    // a return's units were delivered: none is cancelled
    const cancel = input.returnId ? 0 : Math.min(l.quantity, remaining(l.item))
    return {
      order_item_id: l.item.id,
      quantity: l.quantity,
      amount_cents: l.amountCents,
      ...(cancel > 0 ? { cancelled_quantity: cancel } : {}),
    }
  })
  const [refund] = await tx
    .insert(refunds)
    .values({
      orderId,
      paymentId: payment?.id ?? null,
      amountCents: plan.totalCents,
      shippingAmountCents: plan.shippingCents,
      currency: order.currency,
      reason: input.reason,
      restock: input.restock ?? false,
      items: lines,
      status: 'pending',
      kind: opts.kind ?? 'refund',
      actorId: opts.actorId,
      // the first attempt's time on the clock the reconcile cron measures its age with (not the
      // database's now()): a retry is decided from it
      attemptedAt: now(),
    })
    .returning()
  order.refunds.push(refund!)
  await shiftTotals(tx, order, refund!, +1, true)
  await syncStatuses(tx, order, opts.actorId, input.reason)
  return { order, plan, refund: refund! }
}

/**
 * Move the order's refunded figures by one refund, up (reserve) or down (give back): the order's total,
 * the lines' refunded units and amounts (and their cancelled units when `units`), the payment's refunded
 * amount. One statement for all the lines; `order` (read under the lock) follows in memory.
 */
async function shiftTotals(tx: Runner, order: FullOrder, r: Refund, sign: 1 | -1, units: boolean) {
  const at = now()
  if (r.kind !== 'unexpected_payment') {
    order.refundedAmountCents += sign * r.amountCents
    for (const l of r.items) {
      const item = order.items.find((i) => i.id === l.order_item_id)
      if (!item) continue
      item.refundedQuantity += sign * l.quantity
      item.refundedAmountCents += sign * (l.amount_cents ?? 0)
      if (units) item.cancelledQuantity += sign * (l.cancelled_quantity ?? 0)
    }
    await tx
      .update(orders)
      .set({
        refundedAmountCents: sql`${orders.refundedAmountCents} + ${sign * r.amountCents}`,
        updatedAt: at,
      })
      .where(eq(orders.id, order.id))
    const rows = r.items.map((l) => ({
      id: l.order_item_id,
      q: sign * l.quantity,
      a: sign * (l.amount_cents ?? 0),
      c: units ? sign * (l.cancelled_quantity ?? 0) : 0,
    }))
    if (rows.length > 0) {
      await tx.execute(sql`
        update ${orderItems} oi
        set refunded_quantity = oi.refunded_quantity + x.q, refunded_amount_cents = oi.refunded_amount_cents + x.a,
          cancelled_quantity = oi.cancelled_quantity + x.c, updated_at = now()
        from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(id uuid, q int, a bigint, c int)
        where oi.id = x.id and oi.order_id = ${order.id}`)
    }
  }
  if (r.paymentId) {
    await tx
      .update(payments)
      .set({
        refundedAmountCents: sql`least(${payments.amountCents}, greatest(0, ${payments.refundedAmountCents} + ${sign * r.amountCents}))`,
        updatedAt: at,
      })
      .where(eq(payments.id, r.paymentId))
  }
}

/**
 * Bring the order's statuses in line with its rows: financial from the refunds that succeeded (a refund in
 * flight does not make an order refunded), fulfilment from the lines, and `refunded` for an order refunded
 * in full with nothing left to ship. Writes the history of whatever changed. `order` is the order as it
 * now is (read under the lock, changes of this transaction applied).
 */
export async function syncStatuses(tx: Runner, order: FullOrder, actorId: string | null, reason: string) {
  const orderId = order.id
  let financial = order.financialStatus
  if (paidLike.includes(financial)) {
    const settled = order.refunds
      .filter((r) => r.kind !== 'unexpected_payment' && r.status === 'succeeded')
      .reduce((s, r) => s + r.amountCents, 0)
    financial = settled <= 0 ? 'paid' : settled >= order.paidAmountCents ? 'refunded' : 'partially_refunded'
  }
  const fulfillment =
    order.status === 'cancelled' ? order.fulfillmentStatus : fulfillmentStatusOf(order.items)
  const nothingToShip = order.items.every((i) => remaining(i) === 0)
  const status: OrderStatus =
    financial === 'refunded' && nothingToShip && !TERMINAL.includes(order.status) ? 'refunded' : order.status
  if (
    financial === order.financialStatus &&
    fulfillment === order.fulfillmentStatus &&
    status === order.status
  )
    return
  await tx
    .update(orders)
    .set({ financialStatus: financial, fulfillmentStatus: fulfillment, status, updatedAt: now() })
    .where(eq(orders.id, orderId))
  const transitions: Transition[] = [
    { type: 'financial', from: order.financialStatus, to: financial, reason },
    { type: 'fulfillment', from: order.fulfillmentStatus, to: fulfillment, reason },
    { type: 'order', from: order.status, to: status, reason },
  ]
  await recordTransitions(tx, orderId, actorId, transitions)
  Object.assign(order, { financialStatus: financial, fulfillmentStatus: fulfillment, status })
}

// ---------------------------------------------------------------------------------------------------
// Settling
// ---------------------------------------------------------------------------------------------------

export interface RefundOutcome {
  status: RefundStatus
  /** the provider's id for it (Stripe's `re_...`), when known */
  providerRefundId?: string | null
  failureReason?: string | null
  /**
   * The attempt (refunds.attempts) whose answer this is, when it is one attempt's answer to a call. A
   * refusal of an attempt the reconcile cron has since superseded (it claimed attempt N+1, which may be
   * making the refund right now) says nothing about the refund: it settles nothing, and the newer
   * attempt's answer or the cron's listing at Stripe settles the row.
   */
  attempt?: number
}

export interface Settled {
  refund: Refund
  /** the status before this call */
  from: RefundStatus
  /** whether the status moved */
  changed: boolean
}

/** settleRefundTx in a transaction of its own. */
export async function settleRefund(
  db: Db,
  refundId: string,
  outcome: RefundOutcome,
  actorId: string | null = null,
): Promise<Settled> {
  return db.transaction((tx) => settleRefundTx(tx, refundId, outcome, actorId))
}

/** The one way a refund row changes status (see the top of this file). Idempotent. */
export async function settleRefundTx(
  tx: Runner,
  refundId: string,
  outcome: RefundOutcome,
  actorId: string | null,
): Promise<Settled> {
  const [head] = await tx.select({ orderId: refunds.orderId }).from(refunds).where(eq(refunds.id, refundId))
  if (!head) throw notFound('refund')
  await lockOrder(tx, head.orderId)
  const order = (await loadOrder(tx, head.orderId))!
  const refund = order.refunds.find((r) => r.id === refundId)!
  const from = refund.status
  const at = now()
  if (outcome.providerRefundId && !refund.providerRefundId) {
    await tx
      .update(refunds)
      .set({ providerRefundId: outcome.providerRefundId, updatedAt: at })
      .where(eq(refunds.id, refundId))
    refund.providerRefundId = outcome.providerRefundId
  }
  const to = outcome.status
  const failing = to === 'failed' || to === 'cancelled'
  if (failing && outcome.attempt !== undefined && refund.attempts !== outcome.attempt) {
    return { refund, from, changed: false }
  }
  const moves = (from === 'pending' && (to === 'succeeded' || failing)) || (from === 'succeeded' && failing)
  if (!moves) return { refund, from, changed: false }

  await tx
    .update(refunds)
    .set({
      status: to,
      ...(failing ? { failureReason: (outcome.failureReason ?? to).slice(0, 500) } : {}),
      updatedAt: at,
    })
    .where(eq(refunds.id, refundId))
  refund.status = to
  if (failing) refund.failureReason = (outcome.failureReason ?? to).slice(0, 500)
  if (to === 'succeeded') await succeeded(tx, order, refund, actorId)
  else await failed(tx, order, refund, from, actorId)
  return { refund, from, changed: true }
}

/** pending -> succeeded: stock back when asked, statuses and history, the buyer's email, a return done. */
async function succeeded(tx: Runner, order: FullOrder, r: Refund, actorId: string | null) {
  if (r.kind === 'unexpected_payment') return
  // a cancelled order's units all came back when it was cancelled (less those a refund had returned)
  if (r.restock && r.items.length > 0 && !r.stockReturnedAt && order.status !== 'cancelled') {
    const byId = new Map(order.items.map((i) => [i.id, i]))
    await returnStock(
      tx,
      r.items.map((l) => ({
        productId: byId.get(l.order_item_id)?.productId ?? null,
        variantId: byId.get(l.order_item_id)?.variantId ?? null,
        quantity: l.quantity,
      })),
      { orderId: order.id, actorId, reason: 'refund_restock' },
    )
    await tx.update(refunds).set({ stockReturnedAt: now() }).where(eq(refunds.id, r.id))
  }
  // a return received with this refund is refunded now
  if (order.returns.some((x) => x.refundId === r.id)) {
    await tx
      .update(returns)
      .set({ status: 'refunded', updatedAt: now() })
      .where(and(eq(returns.refundId, r.id), eq(returns.status, 'received')))
  }
  await syncStatuses(tx, order, actorId, r.reason ?? 'refund')
  await enqueueEmail(tx as Db, {
    to: order.email,
    userId: order.userId,
    template: 'order_refunded',
    data: {
      order_number: order.orderNumber,
      amount: toMajor(r.amountCents, r.currency),
      currency: r.currency,
    },
    dedupeKey: `order_refunded:${r.id}`,
  })
}

/**
 * -> failed | cancelled: the money did not go back. Its figures come off the totals; the units it cancelled
 * become fulfillable again while the order is live (stock it returned stays returned); a return it was
 * refunding may be refunded again. After a success the buyer was told, so staff are flagged and the buyer
 * is emailed.
 */
async function failed(tx: Runner, order: FullOrder, r: Refund, from: RefundStatus, actorId: string | null) {
  const live = order.status !== 'cancelled'
  await shiftTotals(tx, order, r, -1, from === 'pending' && live)
  if (order.returns.some((x) => x.refundId === r.id)) {
    await tx
      .update(returns)
      .set({ refundId: null, status: 'received', updatedAt: now() })
      .where(eq(returns.refundId, r.id))
  }
  const reason = `refund ${r.status}${r.failureReason ? `: ${r.failureReason}` : ''}`
  if (r.kind === 'unexpected_payment') {
    await addFlag(tx, order.id, {
      code: 'unexpected_payment_refund_failed',
      message: 'A payment this order could not keep was not refunded: send it back by hand.',
      refund_id: r.id,
    })
    return
  }
  await syncStatuses(tx, order, actorId, reason)
  // a cancelled order keeps money it should not: staff act on it either way
  if (from !== 'succeeded' && live) return
  await addFlag(tx, order.id, {
    code: 'refund_failed',
    message: `A refund of ${toMajor(r.amountCents, r.currency)} ${r.currency} failed (${r.failureReason ?? r.status}); return the money another way or refund again.`,
    refund_id: r.id,
  })
  if (from !== 'succeeded') return
  await enqueueEmail(tx as Db, {
    to: order.email,
    userId: order.userId,
    template: 'order_refund_failed',
    data: {
      order_number: order.orderNumber,
      amount: toMajor(r.amountCents, r.currency),
      currency: r.currency,
    },
    dedupeKey: `order_refund_failed:${r.id}`,
  })
}
