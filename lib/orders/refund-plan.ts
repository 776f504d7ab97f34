import type { OrderItem, OrderLineQuantity, Refund } from '../../db/schema/index.js'
import { fieldError } from '../catalog/access.js'
import { conflict } from '../http/errors.js'
import { amountStep, toMajor } from '../platform/money.js'
import type { FullOrder } from './view.js'

// What a refund covers, worked out from the order as it is under its lock: pure, no database. A refund
// still in flight at the payment provider (`pending`) counts as refunded for every limit here, so nothing is
// refunded twice while its answer is awaited; asking for money or units that only such a refund holds is a
// 409 `refund_pending` (try again once it settled), not a 422.

export interface RefundInput {
  amountCents?: number
  items?: OrderLineQuantity[]
  refundShipping?: boolean
  reason: string
  restock?: boolean
  /** a return received with a refund: its units were fulfilled, so none is cancelled */
  returnId?: string
}

export interface PlannedLine {
  item: OrderItem
  quantity: number
  amountCents: number
}

export interface Plan {
  lines: PlannedLine[]
  shippingCents: number
  totalCents: number
}

/** Refunds that are the order's own money back (not an unexpected payment sent straight back). */
export const ofOrder = (r: Pick<Refund, 'kind'>) => r.kind !== 'unexpected_payment'
/** Refunds that hold money: made, or still being made. */
export const holdsMoney = (r: Pick<Refund, 'status'>) => r.status === 'pending' || r.status === 'succeeded'

/** The order's refunds still in flight at the payment provider. */
export const pendingRefunds = (o: Pick<FullOrder, 'refunds'>) =>
  o.refunds.filter((r) => ofOrder(r) && r.status === 'pending')

export const refundPending = () =>
  conflict(
    'refund_pending',
    'A refund of this order is still being made at the payment provider; try again once it has settled.',
  )

/** What is left to refund on the order: paid minus refunded (refunds in flight included). */
export const refundableCents = (o: { paidAmountCents: number; refundedAmountCents: number }) =>
  o.paidAmountCents - o.refundedAmountCents

/** The shipping still refundable: shipping (with its tax when taxes are added) minus shipping refunded. */
export function refundableShippingCents(o: FullOrder): number {
  const shipping = o.shippingAmountCents + (o.taxesIncluded ? 0 : o.shippingTaxAmountCents)
  const refunded = o.refunds
    .filter((r) => ofOrder(r) && holdsMoney(r))
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

function pendingUnits(order: FullOrder, itemId: string): number {
  let n = 0
  for (const r of pendingRefunds(order))
    for (const l of r.items) if (l.order_item_id === itemId) n += l.quantity
  return n
}

const pendingCents = (order: FullOrder) => pendingRefunds(order).reduce((s, r) => s + r.amountCents, 0)

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
  const tooMuch = (path: string) => {
    // what only a refund still in flight holds may come free again: 409, not 422
    if (pendingRefunds(order).length > 0) return refundPending()
    return fieldError(
      path,
      `At most ${toMajor(remaining, order.currency)} can be refunded.`,
      'exceeds_refundable',
    )
  }
  if (explicit) {
    const amount = input.amountCents!
    if (amount <= 0) throw fieldError('amount', 'The amount must be positive.', 'invalid')
    if (amount > remaining) {
      if (amount <= remaining + pendingCents(order)) throw refundPending()
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
      if (w.quantity <= units + pendingUnits(order, item.id)) throw refundPending()
      throw fieldError(
        `items.${n}.quantity`,
        `At most ${units} of this item can be refunded.`,
        'exceeds_refundable',
      )
    }
    return { item, quantity: w.quantity, amountCents: lineRefundCents(item, w.quantity, order.currency) }
  })
  const shippingCents = full || input.refundShipping ? refundableShippingCents(order) : 0
  const field = input.refundShipping && lines.length === 0 ? 'refund_shipping' : 'items'
  let totalCents = lines.reduce((s, l) => s + l.amountCents, 0) + shippingCents
  if (full) totalCents = remaining
  else if (totalCents > remaining) throw tooMuch(field)
  if (totalCents <= 0) {
    if (pendingRefunds(order).length > 0) throw refundPending()
    throw fieldError(field, 'Nothing to refund.', 'nothing_to_refund')
  }
  return { lines, shippingCents, totalCents }
}
