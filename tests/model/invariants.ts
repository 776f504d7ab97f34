import type { FullOrder } from '../../lib/orders/view.js'
import { ModelStripe } from '../support/stripe-model.js'
import { type Books, itemKey } from './books.js'

// What must hold after every step of a model run, and what must hold once everything has settled. Each
// check returns sentences (empty when all is well) so a failure names the order and the numbers.

const SHIPPED = new Set(['shipped', 'in_transit', 'out_for_delivery', 'delivered', 'failed', 'returned'])
const LIVE_ROW = new Set(['pending', 'succeeded'])
const RESTOCK_REASONS = new Set(['cancel', 'refund_restock', 'return_restock'])

type Row = FullOrder['refunds'][number]
const kindOf = (r: Row) => (r as Row & { kind?: string }).kind ?? 'refund'
const short = (o: FullOrder) => `order ${o.orderNumber}`

function unitsIn(o: FullOrder, itemId: string, shippedOnly: boolean): number {
  return o.fulfillments
    .filter((f) => f.status !== 'cancelled' && (!shippedOnly || SHIPPED.has(f.status)))
    .flatMap((f) => f.items)
    .filter((i) => i.orderItemId === itemId)
    .reduce((s, i) => s + i.quantity, 0)
}

const linesOf = (r: { items: Array<{ order_item_id: string; quantity: number }> }, itemId: string) =>
  r.items.filter((l) => l.order_item_id === itemId).reduce((s, l) => s + l.quantity, 0)

/**
 * Units a refund took before they were fulfilled (worked out once, when its row is first seen, from the
 * order's timeline: fulfilments and other refunds made before it). Those units must never be packed or
 * shipped while the refund stands (pending or succeeded).
 */
export class Ledger {
  private beforeFulfilment = new Map<string, Map<string, number>>()

  observe(next: Books): void {
    for (const o of next.orders) {
      const rows = [...o.refunds].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
      for (const r of rows) {
        if (this.beforeFulfilment.has(r.id)) continue
        const units = new Map<string, number>()
        this.beforeFulfilment.set(r.id, units)
        if (kindOf(r) !== 'refund' || o.returns.some((x) => x.refundId === r.id)) continue
        const t = r.createdAt.getTime()
        const packedBefore = (itemId: string) =>
          o.fulfillments
            .filter((f) => f.createdAt.getTime() < t)
            .flatMap((f) => f.items)
            .filter((i) => i.orderItemId === itemId)
            .reduce((s, i) => s + i.quantity, 0)
        // refunds standing when this one was made: created before it and not failed before it
        const standing = o.refunds.filter(
          (x) =>
            x.id !== r.id &&
            x.createdAt.getTime() < t &&
            !(x.status === 'failed' && x.updatedAt.getTime() < t),
        )
        for (const item of o.items) {
          const asked = linesOf(r, item.id)
          if (asked === 0) continue
          const held = standing.reduce((s, x) => s + (this.beforeFulfilment.get(x.id)?.get(item.id) ?? 0), 0)
          units.set(item.id, Math.min(asked, Math.max(0, item.quantity - packedBefore(item.id) - held)))
        }
      }
    }
  }

  /** Units of the line held by refunds that stand, taken before fulfilment. */
  unitsHeld(o: FullOrder, itemId: string): number {
    return o.refunds
      .filter((r) => LIVE_ROW.has(r.status))
      .reduce((s, r) => s + (this.beforeFulfilment.get(r.id)?.get(itemId) ?? 0), 0)
  }
}

export function checkBooks(books: Books, stripe: ModelStripe, ledger: Ledger): string[] {
  const out: string[] = []
  const byRefundRow = new Map<string, number>()
  for (const r of stripe.refunds.values()) {
    const id = r.metadata.refund_id
    if (id) byRefundRow.set(id, (byRefundRow.get(id) ?? 0) + 1)
  }
  for (const [id, n] of byRefundRow) if (n > 1) out.push(`Stripe holds ${n} refunds for refund row ${id}`)

  for (const o of books.orders) {
    const net = o.paidAmountCents - o.refundedAmountCents
    if (o.refundedAmountCents < 0 || o.refundedAmountCents > o.paidAmountCents)
      out.push(`${short(o)}: refunded ${o.refundedAmountCents} outside 0..paid ${o.paidAmountCents}`)
    const atStripe = stripe.netOf(o.id)
    if (atStripe < net)
      out.push(
        `${short(o)}: Stripe holds ${atStripe} (captured - refunded) but the order counts ${net} (paid ${o.paidAmountCents} - refunded ${o.refundedAmountCents})`,
      )
    for (const pi of stripe.intentsOf(o.id)) {
      for (const r of stripe.refundsOf(pi.id)) {
        const rowId = r.metadata.refund_id
        if (!rowId) continue
        const row = o.refunds.find((x) => x.id === rowId)
        if (!row)
          out.push(`${short(o)}: Stripe refund ${r.id} names refund row ${rowId}, which the order lacks`)
        else if (row.amountCents !== r.amount)
          out.push(`${short(o)}: Stripe refund ${r.id} is ${r.amount}, its row ${row.amountCents}`)
      }
    }
    out.push(...checkUnits(o, ledger), ...checkStock(o, books))
  }
  for (const [key, onHand] of books.onHand) {
    const ledgerSum = books.ledger.filter((l) => l.key === key).reduce((s, l) => s + l.delta, 0)
    const initial = books.initial.get(key) ?? 0
    if (onHand !== initial + ledgerSum)
      out.push(`item ${key}: ${onHand} on hand, but initial ${initial} + ledger ${ledgerSum}`)
    if (onHand < 0) out.push(`item ${key}: ${onHand} on hand`)
  }
  return out
}

function checkUnits(o: FullOrder, ledger: Ledger): string[] {
  const out: string[] = []
  for (const i of o.items) {
    const shipped = unitsIn(o, i.id, true)
    const packed = unitsIn(o, i.id, false)
    const held = ledger.unitsHeld(o, i.id)
    const name = `${short(o)} line ${i.sku}`
    if (shipped + i.cancelledQuantity > i.quantity)
      out.push(`${name}: ${shipped} shipped and ${i.cancelledQuantity} cancelled of ${i.quantity}`)
    if (packed + held > i.quantity)
      out.push(
        `${name}: ${packed} packed or shipped although ${held} of ${i.quantity} were refunded before fulfilment`,
      )
    if (i.refundedQuantity > i.quantity) out.push(`${name}: ${i.refundedQuantity} refunded of ${i.quantity}`)
  }
  return out
}

function checkStock(o: FullOrder, books: Books): string[] {
  const out: string[] = []
  for (const i of o.items) {
    if (!i.productId) continue
    const key = itemKey(i.productId, i.variantId)
    const mine = books.ledger.filter((l) => l.orderId === o.id && l.key === key)
    // an order may hold two lines of one item; compare per item
    const lines = o.items.filter((x) => x.productId === i.productId && x.variantId === i.variantId)
    if (lines[0] !== i) continue
    const q = lines.reduce((s, x) => s + x.quantity, 0)
    const sold = -mine.filter((l) => l.reason === 'sale').reduce((s, l) => s + l.delta, 0)
    const back = mine.filter((l) => RESTOCK_REASONS.has(l.reason)).reduce((s, l) => s + l.delta, 0)
    const byReturn = mine.filter((l) => l.reason === 'return_restock').reduce((s, l) => s + l.delta, 0)
    const shipped = lines.reduce((s, x) => s + unitsIn(o, x.id, true), 0)
    const name = `${short(o)} item ${key}`
    if (sold !== q) out.push(`${name}: ${sold} units taken from stock for ${q} sold`)
    if (back > q) out.push(`${name}: ${back} units back in stock of ${q} sold`)
    if (back + shipped - byReturn > q)
      out.push(`${name}: ${back} back in stock (${byReturn} returned) and ${shipped} shipped of ${q}`)
    if (o.status === 'cancelled' && back !== q)
      out.push(`${name}: cancelled, but ${back} of ${q} units came back to stock`)
    if (o.status !== 'cancelled') {
      const restocking = o.refunds
        .filter((r) => r.status === 'succeeded' && r.restock && kindOf(r) === 'refund')
        .reduce((s, r) => s + lines.reduce((t, x) => t + linesOf(r, x.id), 0), 0)
      const byRefund = back - byReturn
      if (byRefund !== restocking)
        out.push(
          `${name}: ${byRefund} units restocked by refunds, but succeeded restocking refunds cover ${restocking}`,
        )
    }
  }
  return out
}

/**
 * Once every event is delivered and reconcile has run: Stripe and the books agree exactly, except for a
 * payment the order could not keep whose refund Stripe refused (docs/orders.md: flagged
 * `unexpected_payment_refund_failed` for staff to send back by hand).
 */
export function checkQuiescent(books: Books, stripe: ModelStripe): string[] {
  const out: string[] = []
  if (stripe.queue.length) out.push(`${stripe.queue.length} webhook events still undelivered`)
  for (const o of books.orders) {
    const net = o.paidAmountCents - o.refundedAmountCents
    for (const r of o.refunds)
      if (r.status === 'pending') out.push(`${short(o)}: refund ${r.id} (${r.amountCents}) still pending`)
    const flagged = (piId: string) =>
      o.flags.some((f) => f.code === 'unexpected_payment' && f.payment_intent_id === piId)
    const stranded = (piId: string) =>
      o.refunds.some(
        (r) =>
          kindOf(r) === 'unexpected_payment' &&
          r.status === 'failed' &&
          o.payments.some((p) => p.id === r.paymentId && p.providerPaymentId === piId) &&
          o.flags.some((f) => f.code === 'unexpected_payment_refund_failed' && f.refund_id === r.id),
      )
    const kept: string[] = []
    let handBack = 0
    for (const pi of stripe.intentsOf(o.id)) {
      if (pi.status !== 'succeeded') continue
      const refunded = stripe
        .refundsOf(pi.id)
        .filter(ModelStripe.live)
        .reduce((s, r) => s + r.amount, 0)
      if (flagged(pi.id)) {
        if (refunded !== pi.amount_received && stranded(pi.id)) handBack += pi.amount_received - refunded
        else if (refunded !== pi.amount_received)
          out.push(`${short(o)}: unexpected payment ${pi.id} of ${pi.amount_received} refunded ${refunded}`)
      } else {
        kept.push(pi.id)
        const row = o.payments.find((p) => p.providerPaymentId === pi.id && p.status === 'succeeded')
        if (!row || row.amountCents !== pi.amount_received)
          out.push(
            `${short(o)}: payment ${pi.id} of ${pi.amount_received} is neither recorded as the order's payment nor flagged`,
          )
      }
      for (const r of stripe.refundsOf(pi.id))
        if (!r.metadata.refund_id && !flagged(pi.id))
          out.push(
            `${short(o)}: Stripe refund ${r.id} of ${r.amount} that no one asked for and no flag names`,
          )
    }
    const atStripe = stripe.netOf(o.id) - handBack
    if (atStripe !== net)
      out.push(
        `${short(o)}: Stripe holds ${atStripe}${handBack ? ` (besides ${handBack} flagged to send back by hand)` : ''}, the order counts ${net} (paid ${o.paidAmountCents} - refunded ${o.refundedAmountCents})`,
      )
    if (kept.length > 1)
      out.push(`${short(o)}: paid by ${kept.length} PaymentIntents, none flagged (${kept.join(', ')})`)
  }
  return out
}
