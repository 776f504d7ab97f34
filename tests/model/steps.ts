import type fc from 'fast-check'
import { setClock } from '../../lib/platform/clock.js'
import { SHIP_TO } from '../support/fulfilment.js'
import { type CallOptions, type CallResult, call } from '../support/http.js'
import type { Fault } from '../support/stripe-model.js'
import { situation } from './coverage.js'
import type { Op, World } from './world.js'

// What buyers, staff, Stripe and the crons do, as commands a model run (or a plain regression test) runs.
// Each picks its target when it runs, from what the world knows then (the n-th of the orders it can act
// on, e.g. a paid one for a refund; the n-th queued event, the n-th return), so a command stays meaningful
// whatever ran before it; with nothing to act on it does nothing. The Stripe
// calls of a command's operation take its faults in order, retries included: ['lost', 'lost', 'lost']
// loses an answer and both of the client's retries of it.

export const CRON_SECRET = 'cron-secret-for-the-model-test-0123456789'

export class Step implements fc.AsyncCommand<World, World> {
  constructor(
    readonly name: string,
    readonly body: (w: World) => void | Promise<void>,
  ) {}
  check = () => true
  run = (_m: World, w: World) => w.command(this.name, () => this.body(w))
  toString = () => this.name
}

const clockOffset = { ms: 0 }
/** Move the one clock (lib/platform/clock.ts) forward; resetClock() at the start of every run. */
export function advanceClock(minutes: number): void {
  clockOffset.ms += minutes * 60_000
  const offset = clockOffset.ms
  setClock(() => Date.now() + offset)
}
/** How far the tests moved the clock: the model's time, untouched by how long a run really takes. */
export const modelTime = (): number => clockOffset.ms
export function resetClock(): void {
  clockOffset.ms = 0
  setClock(undefined)
}

const faultsText = (f: Fault[]) => (f.length ? ` faults=[${f.join(',')}]` : '')
const pick = <T>(list: T[], n: number): T | undefined => (list.length ? list[n % list.length] : undefined)

export type As = 'owner' | 'staff' | 'admin'
function auth(w: World, orderIndex: number, as: As): CallOptions {
  if (as === 'staff') return { token: w.shop.staff.token }
  if (as === 'admin') return { token: w.shop.admin.token }
  const o = w.orders[orderIndex]!
  return o.buyer === 'customer'
    ? { token: w.shop.customer.token }
    : { headers: { 'x-order-token': o.token! } }
}

type Book = NonNullable<World['books']>['orders'][number]

/**
 * The n-th order among those the command can act on (`fits`, from the books), or among all when none
 * fits: most commands then do something, and a few still try what the API must refuse.
 */
function orderAt(w: World, n: number, fits: (o: Book) => boolean = () => true) {
  const all = w.orders.map((known, i) => ({ i, known, book: w.books?.orders.find((o) => o.id === known.id) }))
  const fitting = all.filter((o) => o.book && fits(o.book))
  const list = fitting.length ? fitting : all
  return list.length ? list[n % list.length] : undefined
}
/** Refunds of the order's own money still in flight (a payment sent back as unexpected is not one). */
const pendingOfOrder = (o: Book) =>
  o.refunds.filter((r) => r.status === 'pending' && (r as { kind?: string }).kind !== 'unexpected_payment')
const paid = (o: Book) => ['paid', 'partially_refunded'].includes(o.financialStatus)
const unpaid = (o: Book) => o.financialStatus === 'pending'

/** The line of an order that sells shop item `item` (0: the plain product, 1: the variant). */
function lineOf<L extends { productId: string | null; variantId: string | null }>(
  w: World,
  order: { items: L[] },
  item: number,
) {
  const it = w.shop.items[item]!
  return order.items.find((i) => i.productId === it.productId && i.variantId === it.variantId)
}

function expectStatus(w: World, op: Op, r: CallResult, allowed: number[]): void {
  if (!allowed.includes(r.status)) w.fail(`${op.label} answered ${r.status}: ${r.text.slice(0, 300)}`)
}

/** This operation's last refund request to Stripe, and what it received, as the refund contract sorts it. */
export function refundOutcome(
  w: World,
  op: Op,
): { outcome: 'none' | 'ok' | 'definite' | 'ambiguous'; refundId?: string } {
  const last = w.stripe.calls
    .filter((c) => c.op === op.label && c.method === 'POST' && c.path === '/v1/refunds')
    .at(-1)
  if (!last) return { outcome: 'none' }
  if (last.answered === 200) return { outcome: 'ok', refundId: last.refundId }
  const type = last.error?.type
  const definite =
    (type === 'invalid_request_error' && [400, 404].includes(last.answered)) || type === 'card_error'
  return { outcome: definite ? 'definite' : 'ambiguous', refundId: last.refundId }
}

/**
 * The refund contract: a definite refusal (invalid_request_error other than an idempotency error, or a
 * card_error) is 502 payment_provider_error; an answer that was lost or says nothing definite (network
 * failure, 5xx, idempotency error) leaves the refund pending: 202 with the order showing it (strict; a
 * webhook may have settled it meanwhile), never a 502.
 */
function expectRefundContract(w: World, op: Op, r: CallResult, strict: boolean): void {
  const { outcome, refundId } = refundOutcome(w, op)
  // The reconcile cron may have claimed a later attempt (key `<refund id>:<n>`) while this call's answer
  // was on its way: a refusal of the superseded attempt then says nothing about the refund, which stays
  // pending for the newer attempt (202, or settled by it meanwhile), never a 502.
  const superseded =
    refundId !== undefined && w.stripe.calls.some((c) => c.key?.startsWith(`${refundId}:`) === true)
  if (outcome === 'definite' && superseded) {
    if (r.status === 502)
      w.fail(`${op.label}: answered 502 for a refusal of an attempt the reconcile cron had superseded`)
  } else if (outcome === 'definite' && (r.status !== 502 || r.body?.code !== 'payment_provider_error'))
    w.fail(
      `${op.label}: Stripe refused the refund definitely, but the answer is ${r.status} ${r.text.slice(0, 200)}`,
    )
  if ((outcome === 'ok' || outcome === 'ambiguous') && r.status === 502)
    w.fail(`${op.label}: answered 502 although Stripe's answer was ${outcome} (the refund must stay pending)`)
  if (strict && outcome === 'ambiguous') {
    const row = (r.body?.refunds ?? []).find((x: { id: string }) => x.id === refundId)
    if (r.status !== 202 || !row)
      w.fail(
        `${op.label}: Stripe's answer was lost or ambiguous; expected 202 with refund ${refundId} pending, got ${r.status} ${r.text.slice(0, 200)}`,
      )
  }
}

function remember(w: World, buyer: 'customer' | 'guest', r: CallResult): void {
  w.orders.push({
    id: r.body.id,
    buyer,
    token: r.body.access_token,
    clientSecret: r.body.payment?.client_secret ?? null,
    paymentIntentId: r.body.payment?.payment_intent_id ?? null,
  })
}

function orderBody(w: World, buyer: string, lines: Array<{ item: number; qty: number }>) {
  return {
    items: lines.map((l) => {
      const item = w.shop.items[l.item]!
      return { product_id: item.productId, variant_id: item.variantId, quantity: l.qty }
    }),
    shipping_address: SHIP_TO,
    ...(buyer === 'customer'
      ? {}
      : { customer_email: `${buyer}-${w.shop.items[0]!.productId.slice(0, 8)}@example.test` }),
  }
}

/** Place an order outside any operation (no gate, no fault): the orders every run starts with. */
export async function placeOrder(
  w: World,
  buyer: 'customer' | 'guest',
  lines: Array<{ item: number; qty: number }>,
) {
  const guest = buyer === 'guest'
  const r = await call('POST', '/api/v1/orders', {
    body: orderBody(w, guest ? 'first' : 'customer', lines),
    ...(guest ? {} : { token: w.shop.customer.token }),
  })
  if (r.status !== 201) throw new Error(`the first orders of a run: ${r.status} ${r.text}`)
  remember(w, buyer, r)
}

// --- the commands ---------------------------------------------------------------------------------------

export const step = {
  checkout: (
    buyer: 'customer' | 'guest-a' | 'guest-b',
    lines: Array<{ item: number; qty: number }>,
    f: Fault[] = [],
  ) =>
    new Step(
      `checkout(${buyer}, ${lines.map((l) => `item${l.item}x${l.qty}`).join('+')})${faultsText(f)}`,
      (w) => {
        const guest = buyer !== 'customer'
        const opts = { body: orderBody(w, buyer, lines), ...(guest ? {} : { token: w.shop.customer.token }) }
        w.request('checkout', f, 'POST', '/api/v1/orders', opts, (r, op) => {
          expectStatus(w, op, r, [201, 409, 422, 429])
          if (r.status === 201) remember(w, guest ? 'guest' : 'customer', r)
        })
      },
    ),

  payment: (order: number, f: Fault[] = []) =>
    new Step(`payment(order ${order})${faultsText(f)}`, (w) => {
      const o = orderAt(w, order, unpaid)
      if (!o) return
      w.request(
        'payment',
        f,
        'POST',
        `/api/v1/orders/${o.known.id}/payment`,
        auth(w, o.i, 'owner'),
        (r, op) => {
          expectStatus(w, op, r, [200, 409, 502])
          if (r.status === 200 && r.body.payment?.client_secret) {
            o.known.clientSecret = r.body.payment.client_secret
            o.known.paymentIntentId = r.body.payment.payment_intent_id
          }
        },
      )
    }),

  /** The buyer pays in the browser (with the client secret an answer gave them). */
  pay: (order: number, outcome: 'succeeded' | 'failed' = 'succeeded') =>
    new Step(`pay at Stripe(order ${order}, ${outcome})`, (w) => {
      const o = orderAt(w, order, unpaid)
      if (!o?.known.clientSecret) return
      const pi = [...w.stripe.intents.values()].find((p) => p.client_secret === o.known.clientSecret)
      if (pi) w.stripe.pay(pi.id, outcome)
    }),

  /** A second PaymentIntent for the order, paid (a payment link, another tab); possibly the wrong amount. */
  strayPayment: (order: number, wrongAmount: boolean) =>
    new Step(`second PaymentIntent paid(order ${order}${wrongAmount ? ', wrong amount' : ''})`, (w) => {
      const o = orderAt(w, order)
      if (o?.book) w.stripe.strayPayment(o.known.id, o.book.totalAmountCents + (wrongAmount ? 100 : 0), 'usd')
    }),

  /**
   * Stripe sends the n-th queued event (or the first of a type); with lostReply our 2xx never reaches
   * Stripe, which sends it again later.
   */
  deliver: (event: number | { type: string }, mode: 'ok' | 'lostReply' = 'ok', f: Fault[] = []) => {
    const which = typeof event === 'number' ? String(event) : event.type
    return new Step(`deliver webhook(${which}${mode === 'ok' ? '' : `, ${mode}`})${faultsText(f)}`, (w) => {
      const e =
        typeof event === 'number'
          ? pick(w.stripe.queue, event)
          : w.stripe.queue.find((x) => x.type === event.type)
      if (e) w.deliver(e, mode, f)
    })
  },

  redeliver: (event: number, f: Fault[] = []) =>
    new Step(`deliver a delivered webhook again(${event})${faultsText(f)}`, (w) => {
      const e = pick(w.stripe.delivered, event)
      if (e) w.deliver(e, 'again', f)
    }),

  settleAtStripe: (refund: number, outcome: 'succeeded' | 'failed') =>
    new Step(`Stripe settles a pending refund(${refund}, ${outcome})`, (w) => {
      const r = pick(
        [...w.stripe.refunds.values()].filter((x) => x.status === 'pending'),
        refund,
      )
      if (r) w.stripe.settleRefund(r.id, outcome)
    }),

  clock: (minutes: number) => new Step(`clock +${minutes} min`, () => advanceClock(minutes)),

  cron: (name: 'release-unpaid' | 'reconcile', f: Fault[] = []) =>
    new Step(`${name}${faultsText(f)}`, (w) => {
      if (name === 'reconcile' && !w.reconcile) return
      const path = name === 'reconcile' ? '/api/cron/reconcile-payments' : '/api/cron/release-unpaid'
      w.request(name, f, 'GET', path, { headers: { authorization: `Bearer ${CRON_SECRET}` } }, (r, op) =>
        expectStatus(w, op, r, [200]),
      )
    }),

  cancel: (order: number, as: As, f: Fault[] = []) =>
    new Step(`cancel(order ${order} as ${as})${faultsText(f)}`, (w) => {
      const o = orderAt(w, order)
      if (!o) return
      const pendingBefore = o.book ? pendingOfOrder(o.book).length > 0 : false
      if (pendingBefore) situation('cancel while a refund of the order is pending')
      w.request('cancel', f, 'DELETE', `/api/v1/orders/${o.known.id}`, auth(w, o.i, as), (r, op) => {
        expectStatus(w, op, r, [200, 202, 403, 409, 502])
        if (pendingBefore && r.status < 300)
          w.fail(
            `${op.label}: cancelled (${r.status}) while a refund of the order was pending; expected 409 refund_pending`,
          )
        expectRefundContract(w, op, r, false)
      })
    }),

  refund: (
    order: number,
    what: { amountPercent: number } | { item: number; qty: number; shipping?: boolean } | 'all',
    restock = false,
    f: Fault[] = [],
  ) => {
    const desc =
      what === 'all'
        ? 'all'
        : 'amountPercent' in what
          ? `${what.amountPercent}%`
          : `item${what.item}x${what.qty}${what.shipping ? '+shipping' : ''}`
    // staff restock only units that never left (not packed, not shipped): a unit with the buyer comes back
    // to stock through a return, and the stock invariants hold the API to that
    const label = `refund(order ${order}, ${desc}${restock ? ', restock unpacked units' : ''})${faultsText(f)}`
    return new Step(label, (w) => {
      const o = orderAt(w, order, paid)
      if (!o?.book) return
      const unpacked = (
        l: { quantity: number; fulfilledQuantity: number; cancelledQuantity: number },
        q: number,
      ) => q <= l.quantity - l.fulfilledQuantity - l.cancelledQuantity
      const body: Record<string, unknown> = { reason: 'model test', restock: false }
      // units only a refund still in flight holds: 409 refund_pending (they may come free), not a 422
      let heldByPending = false
      if (what === 'all') {
        body.restock = restock && o.book.items.every((l) => l.fulfilledQuantity === 0)
      } else if ('amountPercent' in what) {
        const left = o.book.paidAmountCents - o.book.refundedAmountCents
        body.amount = (Math.max(1, Math.floor((left * what.amountPercent) / 100)) / 100).toFixed(2)
      } else {
        const line = lineOf(w, o.book, what.item)
        if (!line) return
        body.items = [{ order_item_id: line.id, quantity: what.qty }]
        body.restock = restock && unpacked(line, what.qty)
        if (what.shipping) body.refund_shipping = true
        const pending = pendingOfOrder(o.book)
          .flatMap((r) => r.items)
          .filter((l) => l.order_item_id === line.id)
          .reduce((n, l) => n + l.quantity, 0)
        const left = line.quantity - line.refundedQuantity
        heldByPending =
          ['paid', 'partially_refunded'].includes(o.book.financialStatus) &&
          what.qty > left &&
          what.qty <= left + pending
        if (heldByPending) situation('refund of units only a pending refund holds')
      }
      const opts = { token: w.shop.admin.token, body }
      w.request('refund', f, 'POST', `/api/v1/orders/${o.known.id}/refund`, opts, (r, op) => {
        expectStatus(w, op, r, [200, 202, 409, 422, 502])
        if (heldByPending && r.body?.code !== 'refund_pending')
          w.fail(
            `${op.label}: units only a pending refund holds, expected 409 refund_pending, got ${r.status} ${r.text.slice(0, 200)}`,
          )
        expectRefundContract(w, op, r, true)
      })
    })
  },

  staff: (action: 'fulfill' | 'ship' | 'deliver', order: number, oneUnit = false) =>
    new Step(`${action}(order ${order}${oneUnit ? ', one unit' : ''})`, (w) => {
      const o = orderAt(w, order, (b) =>
        action === 'deliver'
          ? b.status === 'shipped'
          : ['confirmed', 'processing', 'shipped'].includes(b.status),
      )
      if (!o?.book) return
      if (pendingOfOrder(o.book).length) situation(`${action} while a refund is pending`)
      let body: Record<string, unknown> = {}
      if (action === 'ship')
        body = { carrier: 'UPS', tracking_number: `1Z${o.book.orderNumber}X${w.ops.length}` }
      if (action === 'fulfill' && oneUnit) {
        // lines in the shop's item order (rows made in one statement share created_at: their order is random)
        const line = [0, 1]
          .map((k) => lineOf(w, o.book!, k))
          .find((i) => i && i.quantity > i.fulfilledQuantity + i.cancelledQuantity)
        if (line) body = { items: [{ order_item_id: line.id, quantity: 1 }] }
      }
      const opts = { token: w.shop.staff.token, body }
      const name = action === 'deliver' ? 'mark delivered' : action
      w.request(name, [], 'POST', `/api/v1/orders/${o.known.id}/${action}`, opts, (r, op) =>
        expectStatus(w, op, r, [200, 409, 422]),
      )
    }),

  requestReturn: (order: number, item: number) =>
    new Step(`return(order ${order}, item${item})`, (w) => {
      const o = orderAt(w, order, (b) => b.status === 'delivered')
      const line = o?.book && lineOf(w, o.book, item)
      if (!o || !line) return
      const body = { items: [{ order_item_id: line.id, quantity: 1 }], reason: 'does not fit' }
      w.request(
        'return',
        [],
        'POST',
        `/api/v1/orders/${o.known.id}/return`,
        { token: w.shop.staff.token, body },
        (r, op) => expectStatus(w, op, r, [201, 409, 422]),
      )
    }),

  receive: (ret: number, restock: boolean, refund: boolean, f: Fault[] = []) =>
    new Step(
      `receive return(${ret}${restock ? ', restock' : ''}${refund ? ', refund' : ''})${faultsText(f)}`,
      (w) => {
        const all = (w.books?.orders ?? []).flatMap((o) => o.returns)
        const open = all.filter((x) => ['requested', 'approved', 'received'].includes(x.status))
        const r0 = pick(open.length ? open : all, ret)
        if (!r0) return
        const opts = { token: w.shop.admin.token, body: { restock, refund } }
        w.request('receive', f, 'POST', `/api/v1/returns/${r0.id}/receive`, opts, (r, op) => {
          expectStatus(w, op, r, [200, 202, 409, 502])
          expectRefundContract(w, op, r, false)
        })
      },
    ),
}
