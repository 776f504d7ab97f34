import { and, eq, sql } from 'drizzle-orm'
import {
  type FinancialStatus,
  type FulfillmentStatus,
  type OrderItem,
  type OrderLineQuantity,
  type OrderStatus,
  orderItems,
  orders,
  payments,
  refunds,
} from '../../db/schema/index.js'
import { fieldError } from '../catalog/access.js'
import { enqueueEmail } from '../email/outbox.js'
import { ProblemError } from '../http/errors.js'
import { isStripeOrder } from '../payments/start.js'
import { StripeAmountError, stripe, toStripeAmount } from '../payments/stripe.js'
import type { Db } from '../platform/db.js'
import { log, safeError } from '../platform/logger.js'
import { amountStep, toMajor } from '../platform/money.js'
import { illegalTransition, lockOrder, recordTransitions, type Transition } from './history.js'
import { returnStock } from './stock.js'
import { type FullOrder, loadOrder, type Runner } from './view.js'

// One refund, with every rule of the /refund contract. The order row is locked first, so two refunds
// of one order run one after the other and the second sees the first's total: never above paid minus
// refunded (and the CHECK refunded <= paid backs it). Through Stripe the money moves between two
// transactions: the first reserves it (refund row `pending`, totals and line counters raised), Stripe is
// called outside any transaction with the refund row's id as idempotency key, and the second settles it
// (succeeded + provider id, cancelled units, restock, statuses, history, email) or gives the
// reservation back (failed). A refund without a provider (manual payment) is one transaction.

export interface RefundInput {
  amountCents?: number
  items?: OrderLineQuantity[]
  refundShipping?: boolean
  reason: string
  restock?: boolean
  /** a return received with a refund: its units were fulfilled, so none is cancelled */
  returnId?: string
}

export interface RefundHooks {
  /** runs inside the transaction that creates the refund (e.g. the Idempotency-Key's saver) */
  within?: (tx: Runner, refundId: string) => Promise<void>
}

interface PlannedLine {
  item: OrderItem
  quantity: number
  amountCents: number
}

interface Plan {
  lines: PlannedLine[]
  shippingCents: number
  totalCents: number
}

/** What is left to refund on the order: paid minus refunded. */
export const refundableCents = (o: { paidAmountCents: number; refundedAmountCents: number }) =>
  o.paidAmountCents - o.refundedAmountCents

/** The shipping still refundable: shipping (with its tax when taxes are added) minus shipping refunded. */
export function refundableShippingCents(o: FullOrder): number {
  const shipping = o.shippingAmountCents + (o.taxesIncluded ? 0 : o.shippingTaxAmountCents)
  const refunded = o.refunds
    .filter((r) => r.status !== 'failed')
    .reduce((s, r) => s + r.shippingAmountCents, 0)
  return Math.max(0, shipping - refunded)
}

/** A line's refund for q of its unrefunded units: unrefunded total x q / unrefunded quantity, rounded
 *  half-up to a whole number of the currency's steps (amountStep: 0.010 for KWD), the last unit taking the
 *  remainder (so the line's refunds add up to its total exactly). */
export function lineRefundCents(
  item: Pick<OrderItem, 'quantity' | 'refundedQuantity' | 'totalAmountCents' | 'refundedAmountCents'>,
  q: number,
  currency: string,
): number {
  const units = item.quantity - item.refundedQuantity
  const left = item.totalAmountCents - item.refundedAmountCents
  if (q >= units) return left
  // half-up in integers; never above what is left (q < units, and left is a whole number of steps)
  const step = amountStep(currency)
  return Math.floor((2 * left * q + units * step) / (2 * units * step)) * step
}

/** Work out what the refund covers; 422 naming the field for anything the order does not allow. */
export function planRefund(order: FullOrder, input: RefundInput): Plan {
  const explicit = input.amountCents !== undefined
  const byLines = input.items !== undefined || input.refundShipping === true
  if (explicit && byLines) {
    throw fieldError(
      'amount',
      'Give either amount, or items and/or refund_shipping, not both.',
      'ambiguous_refund',
    )
  }
  const remaining = refundableCents(order)
  if (explicit) {
    const amount = input.amountCents!
    if (amount <= 0) throw fieldError('amount', 'The amount must be positive.', 'invalid')
    if (amount > remaining) {
      throw fieldError(
        'amount',
        `At most ${toMajor(remaining, order.currency)} can be refunded.`,
        'exceeds_refundable',
      )
    }
    return { lines: [], shippingCents: 0, totalCents: amount }
  }

  // no amount, no items: everything that is left (lines, shipping, any remainder), as a cancellation does
  const full = !byLines
  const wanted: OrderLineQuantity[] = full
    ? order.items
        .filter((i) => i.quantity > i.refundedQuantity)
        .map((i) => ({ order_item_id: i.id, quantity: i.quantity - i.refundedQuantity }))
    : (input.items ?? [])
  const byId = new Map(order.items.map((i) => [i.id, i]))
  const seen = new Set<string>()
  const lines: PlannedLine[] = wanted.map((w, n) => {
    const item = byId.get(w.order_item_id)
    if (!item)
      throw fieldError(`items.${n}.order_item_id`, 'This item is not part of the order.', 'not_in_order')
    if (seen.has(item.id))
      throw fieldError(`items.${n}.order_item_id`, 'This item is listed twice.', 'duplicate')
    seen.add(item.id)
    const units = item.quantity - item.refundedQuantity
    if (w.quantity > units) {
      throw fieldError(
        `items.${n}.quantity`,
        `At most ${units} of this item can be refunded.`,
        'exceeds_refundable',
      )
    }
    return { item, quantity: w.quantity, amountCents: lineRefundCents(item, w.quantity, order.currency) }
  })
  const shippingCents = full || input.refundShipping ? refundableShippingCents(order) : 0
  let totalCents = lines.reduce((s, l) => s + l.amountCents, 0) + shippingCents
  if (full) totalCents = remaining
  else if (totalCents > remaining) {
    throw fieldError(
      input.refundShipping && lines.length === 0 ? 'refund_shipping' : 'items',
      `At most ${toMajor(remaining, order.currency)} can be refunded.`,
      'exceeds_refundable',
    )
  }
  if (totalCents <= 0) {
    throw fieldError(
      input.refundShipping && lines.length === 0 ? 'refund_shipping' : 'items',
      'Nothing to refund.',
      'nothing_to_refund',
    )
  }
  return { lines, shippingCents, totalCents }
}

const paidLike: FinancialStatus[] = ['paid', 'partially_refunded']

/** Fulfilment status once some units were cancelled. */
function fulfillmentAfter(
  items: Array<Pick<OrderItem, 'quantity' | 'fulfilledQuantity' | 'cancelledQuantity'>>,
): FulfillmentStatus {
  const live = items.filter((i) => i.quantity - i.cancelledQuantity > 0)
  if (live.length > 0 && live.every((i) => i.fulfilledQuantity >= i.quantity - i.cancelledQuantity)) {
    return items.some((i) => i.fulfilledQuantity > 0) ? 'fulfilled' : 'unfulfilled'
  }
  return items.some((i) => i.fulfilledQuantity > 0) ? 'partial' : 'unfulfilled'
}

/** Reserve the refund: lock, check, insert the row, raise the order's and the lines' refunded figures. */
async function reserve(
  tx: Runner,
  orderId: string,
  input: RefundInput,
  actorId: string | null,
  viaStripe: boolean,
): Promise<{ order: FullOrder; plan: Plan; refundId: string; paymentId: string | null }> {
  const locked = await lockOrder(tx, orderId)
  if (!paidLike.includes(locked.financialStatus)) throw illegalTransition('refund', locked)
  const order = (await loadOrder(tx, orderId))!
  const plan = planRefund(order, input)
  if (viaStripe) {
    try {
      toStripeAmount(plan.totalCents, order.currency)
    } catch (err) {
      if (err instanceof StripeAmountError)
        throw fieldError('amount', err.message, 'not_refundable_by_provider')
      throw err
    }
  }
  const payment = [...order.payments].reverse().find((p) => p.status === 'succeeded') ?? null
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
      items: plan.lines.map((l) => ({ order_item_id: l.item.id, quantity: l.quantity })),
      status: viaStripe ? 'pending' : 'succeeded',
      actorId,
    })
    .returning({ id: refunds.id })
  await tx
    .update(orders)
    .set({
      refundedAmountCents: sql`${orders.refundedAmountCents} + ${plan.totalCents}`,
      updatedAt: new Date(),
    })
    .where(eq(orders.id, orderId))
  for (const l of plan.lines) {
    await tx
      .update(orderItems)
      .set({
        refundedQuantity: sql`${orderItems.refundedQuantity} + ${l.quantity}`,
        refundedAmountCents: sql`${orderItems.refundedAmountCents} + ${l.amountCents}`,
        updatedAt: new Date(),
      })
      .where(and(eq(orderItems.id, l.item.id), eq(orderItems.orderId, orderId)))
  }
  if (payment) {
    await tx
      .update(payments)
      .set({
        refundedAmountCents: sql`least(${payments.amountCents}, ${payments.refundedAmountCents} + ${plan.totalCents})`,
        updatedAt: new Date(),
      })
      .where(eq(payments.id, payment.id))
  }
  return { order, plan, refundId: refund!.id, paymentId: payment?.id ?? null }
}

/** Settle a reserved (or manual) refund: cancelled units, restock, statuses, history, email. */
async function settle(
  tx: Runner,
  orderId: string,
  refundId: string,
  input: RefundInput,
  actorId: string | null,
  plan: Plan,
): Promise<void> {
  const order = (await loadOrder(tx, orderId))!
  const cancelled: Array<{ id: string; n: number }> = []
  if (!input.returnId) {
    for (const l of plan.lines) {
      const item = order.items.find((i) => i.id === l.item.id)!
      const unfulfilled = item.quantity - item.fulfilledQuantity - item.cancelledQuantity
      const n = Math.min(l.quantity, unfulfilled)
      if (n > 0) cancelled.push({ id: item.id, n })
    }
    for (const c of cancelled) {
      await tx
        .update(orderItems)
        .set({ cancelledQuantity: sql`${orderItems.cancelledQuantity} + ${c.n}`, updatedAt: new Date() })
        .where(eq(orderItems.id, c.id))
    }
  }
  if (input.restock && plan.lines.length > 0) {
    await returnStock(
      tx,
      plan.lines.map((l) => ({
        productId: l.item.productId,
        variantId: l.item.variantId,
        quantity: l.quantity,
      })),
      { orderId, actorId, reason: input.returnId ? 'return_restock' : 'refund_restock' },
    )
  }
  const items = order.items.map((i) => ({
    ...i,
    cancelledQuantity: i.cancelledQuantity + (cancelled.find((c) => c.id === i.id)?.n ?? 0),
  }))
  const financial: FinancialStatus =
    order.refundedAmountCents >= order.paidAmountCents ? 'refunded' : 'partially_refunded'
  const fulfillment = fulfillmentAfter(items)
  const nothingToShip = items.every((i) => i.fulfilledQuantity + i.cancelledQuantity >= i.quantity)
  const terminal: OrderStatus[] = ['cancelled', 'refunded', 'returned']
  const status: OrderStatus =
    financial === 'refunded' && nothingToShip && !terminal.includes(order.status) ? 'refunded' : order.status
  await tx
    .update(orders)
    .set({ financialStatus: financial, fulfillmentStatus: fulfillment, status, updatedAt: new Date() })
    .where(eq(orders.id, orderId))
  const reason = input.reason
  const transitions: Transition[] = [
    { type: 'financial', from: order.financialStatus, to: financial, reason },
    { type: 'fulfillment', from: order.fulfillmentStatus, to: fulfillment, reason },
    { type: 'order', from: order.status, to: status, reason },
  ]
  await recordTransitions(tx, orderId, actorId, transitions)
  const amount = order.refunds.find((r) => r.id === refundId)?.amountCents ?? plan.totalCents
  await enqueueEmail(tx as Db, {
    to: order.email,
    userId: order.userId,
    template: 'order_refunded',
    data: {
      order_number: order.orderNumber,
      amount: toMajor(amount, order.currency),
      currency: order.currency,
    },
    dedupeKey: `order_refunded:${refundId}`,
  })
}

/**
 * One refund (amount, items, shipping) with all the rules of the /refund contract, through Stripe when the
 * order was paid through Stripe; returns nothing, the caller reloads the order. Used by /refund, paid
 * cancellations and a return received with a refund.
 */
export async function refundOrder(
  db: Db,
  orderId: string,
  input: RefundInput,
  actor: { actorId: string | null },
  hooks: RefundHooks = {},
): Promise<{ refundId: string }> {
  const head = await loadOrder(db, orderId)
  const viaStripe = head !== undefined && isStripeOrder(head) && head.paymentIntentId !== null
  if (!viaStripe) {
    return db.transaction(async (tx) => {
      const r = await reserve(tx, orderId, input, actor.actorId, false)
      await settle(tx, orderId, r.refundId, input, actor.actorId, r.plan)
      await hooks.within?.(tx, r.refundId)
      return { refundId: r.refundId }
    })
  }

  const r = await db.transaction(async (tx) => {
    const reserved = await reserve(tx, orderId, input, actor.actorId, true)
    // the key is saved with the reservation: a retry with the same key while Stripe is being called
    // replays this refund instead of starting a second one
    await hooks.within?.(tx, reserved.refundId)
    return reserved
  })
  let providerRefundId: string
  try {
    const refund = await (await stripe()).refunds.create(
      {
        payment_intent: head.paymentIntentId!,
        amount: toStripeAmount(r.plan.totalCents, r.order.currency),
        reason: 'requested_by_customer',
        metadata: { order_id: orderId, refund_id: r.refundId },
      },
      { idempotencyKey: r.refundId },
    )
    if (refund.status === 'failed' || refund.status === 'canceled') throw new Error(`refund ${refund.status}`)
    providerRefundId = refund.id
  } catch (err) {
    log.warn('Stripe refused or failed the refund; the reservation is given back', {
      order_id: orderId,
      refund_id: r.refundId,
      err: safeError(err),
    })
    await giveBack(db, orderId, r.refundId, r.plan, r.paymentId, err)
    throw new ProblemError(
      502,
      'payment_provider_error',
      'The payment provider did not accept the refund; nothing was refunded.',
      {
        refund_id: r.refundId,
      },
    )
  }
  await db.transaction(async (tx) => {
    await lockOrder(tx, orderId)
    // charge.refunded may have recorded this refund already (matched by its id in the metadata)
    await tx
      .update(refunds)
      .set({ status: 'succeeded', providerRefundId, updatedAt: new Date() })
      .where(eq(refunds.id, r.refundId))
    await settle(tx, orderId, r.refundId, input, actor.actorId, r.plan)
  })
  return { refundId: r.refundId }
}

/** Stripe did not refund: mark the refund failed and take the reservation off the totals. */
async function giveBack(
  db: Db,
  orderId: string,
  refundId: string,
  plan: Plan,
  paymentId: string | null,
  err: unknown,
): Promise<void> {
  await db.transaction(async (tx) => {
    await lockOrder(tx, orderId)
    await tx
      .update(refunds)
      .set({
        status: 'failed',
        failureReason: (err as Error)?.message?.slice(0, 500) ?? 'failed',
        updatedAt: new Date(),
      })
      .where(eq(refunds.id, refundId))
    await tx
      .update(orders)
      .set({
        refundedAmountCents: sql`greatest(0, ${orders.refundedAmountCents} - ${plan.totalCents})`,
        // another refund settled meanwhile may have counted this one's reservation in its status
        financialStatus: sql`case
          when ${orders.financialStatus} not in ('partially_refunded', 'refunded') then ${orders.financialStatus}
          when ${orders.refundedAmountCents} - ${plan.totalCents} <= 0 then 'paid'
          when ${orders.refundedAmountCents} - ${plan.totalCents} < ${orders.paidAmountCents} then 'partially_refunded'
          else ${orders.financialStatus} end`,
        updatedAt: new Date(),
      })
      .where(eq(orders.id, orderId))
    for (const l of plan.lines) {
      await tx
        .update(orderItems)
        .set({
          refundedQuantity: sql`greatest(0, ${orderItems.refundedQuantity} - ${l.quantity})`,
          refundedAmountCents: sql`greatest(0, ${orderItems.refundedAmountCents} - ${l.amountCents})`,
          updatedAt: new Date(),
        })
        .where(eq(orderItems.id, l.item.id))
    }
    if (paymentId) {
      await tx
        .update(payments)
        .set({ refundedAmountCents: sql`greatest(0, ${payments.refundedAmountCents} - ${plan.totalCents})` })
        .where(eq(payments.id, paymentId))
    }
  })
}
