import { createHash, randomBytes } from 'node:crypto'
import { HttpResponse, http } from 'msw'
import { nowMs } from '../../lib/platform/clock.js'
import { KEYS, STRIPE_API } from './msw.js'
import {
  chargeShape,
  type PaymentIntentJson,
  paymentIntentShape,
  type RefundJson,
  refundShape,
  signedEvent,
} from './stripe.js'

// A Stripe for the model-based test of the money path: the objects of tests/support/stripe.ts, plus what
// real Stripe does under bad luck. Every request can be given a fault (per calling operation, in order):
// answer, refuse (400 invalid_request_error or 402 card_error), act and then lose the answer, time out
// before acting, or answer 5xx with or without acting. Idempotency is Stripe's: a key replays its first
// stored answer for 24 hours (errors included, a 500 after acting too; a front-door 503 or a network failure
// before acting stores nothing), and the same key with other parameters is a 400 idempotency_error. Every
// change queues the webhook events Stripe would send; the harness delivers them when it likes. Each request
// waits at a gate before Stripe acts, and a write waits at a second one before its answer travels back, so a
// scheduler decides what happens in between.

export const faults = [
  'ok',
  /** a refund created `pending` (settled later with settleRefund) */
  'pending',
  /** 400 invalid_request_error: nothing done */
  'refuse',
  /** 402 card_error: nothing done */
  'decline',
  /** network failure before Stripe acts: nothing done */
  'timeout',
  /** Stripe acts, the answer is lost on the way back (network failure) */
  'lost',
  /** Stripe acts and answers 500 api_error (the key replays the 500) */
  'error_acted',
  /** 503 before Stripe acts, nothing stored */
  'error',
] as const
export type Fault = (typeof faults)[number]

/** What the harness tells the fake about the request being served. */
export interface StripeContext {
  /** the next fault planned for the calling operation ('ok' when none is left) */
  nextFault(): Fault
  /** wait until the scheduler lets this request go on */
  gate(label: string): Promise<void>
  /** the test's clock in ms: only the test moves it, so a held request times out deterministically */
  clock(): number
}

export interface CallRecord {
  method: string
  path: string
  key: string | null
  fault: Fault
  /** what the caller received: an HTTP status, or 0 for a network failure */
  answered: number
  /** the Stripe error of the answer, if any */
  error?: { type?: string; code?: string }
  replayed: boolean
  /** the operation that made the call (the harness's label) */
  op?: string
  /** metadata[refund_id] of a refund request */
  refundId?: string
}

export interface QueuedEvent {
  id: string
  type: string
  object: unknown
  created: number
  /** deliveries our endpoint answered 2xx */
  acknowledged: number
  attempts: number
}

const DAY_MS = 24 * 3_600_000
const CLIENT_TIMEOUT_MS = 10_000
const rid = (prefix: string) => `${prefix}_3Q${randomBytes(11).toString('hex')}`
const clockSeconds = () => Math.floor(nowMs() / 1000)
const clone = <T>(o: T): T => structuredClone(o)

type Answer = { status: number; body: unknown }
const err = (status: number, type: string, message: string, code?: string): Answer => ({
  status,
  body: { error: { type, message, ...(code ? { code } : {}) } },
})

const metadataOf = (params: URLSearchParams) => {
  const out: Record<string, string> = {}
  for (const [k, v] of params) {
    const m = k.match(/^metadata\[(.+)\]$/)
    if (m) out[m[1]!] = v
  }
  return out
}

export class ModelStripe {
  intents = new Map<string, PaymentIntentJson>()
  refunds = new Map<string, RefundJson>()
  /** events not yet acknowledged by our endpoint, oldest first (Stripe retries until a 2xx) */
  queue: QueuedEvent[] = []
  /** events acknowledged at least once (Stripe may still send them again) */
  delivered: QueuedEvent[] = []
  calls: CallRecord[] = []
  /** requests to endpoints this fake does not know (the test fails on any) */
  unknown: string[] = []
  private idem = new Map<string, { at: number; params: string; answer: Answer }>()
  /**
   * When the client gave up on a request (operation, idempotency key), on the test's clock. The Stripe
   * client retries a request that failed on the network at once, with the same key: its retry left then,
   * however long the scheduler kept the failed request's gate shut meanwhile.
   */
  private gaveUp = new Map<string, number>()

  constructor(private readonly ctx: () => StripeContext & { op?: string }) {}

  // --- what buyers and Stripe itself do -----------------------------------------------------------------

  /** The buyer pays a PaymentIntent in the browser (it succeeds, or the card is declined). */
  pay(piId: string, outcome: 'succeeded' | 'failed'): boolean {
    const pi = this.intents.get(piId)
    if (!pi || !['requires_payment_method', 'requires_confirmation', 'requires_action'].includes(pi.status))
      return false
    if (outcome === 'failed') {
      ;(pi as { last_payment_error: unknown }).last_payment_error = {
        type: 'card_error',
        code: 'card_declined',
        decline_code: 'insufficient_funds',
        message: 'Your card has insufficient funds.',
      }
      this.emit('payment_intent.payment_failed', pi)
      return true
    }
    pi.status = 'succeeded'
    pi.amount_received = pi.amount
    pi.latest_charge ??= rid('ch')
    pi.payment_method = rid('pm')
    ;(pi as { last_payment_error: unknown }).last_payment_error = null
    this.emit('payment_intent.succeeded', pi)
    return true
  }

  /** A payment made outside this API (another tab, a payment link): a second PaymentIntent, paid. */
  strayPayment(orderId: string, amount: number, currency: string): PaymentIntentJson {
    const pi = paymentIntentShape({ amount, currency, metadata: { order_id: orderId }, status: 'succeeded' })
    this.intents.set(pi.id, pi)
    this.emit('payment_intent.succeeded', pi)
    return pi
  }

  /** Stripe settles a refund it answered `pending` (the bank accepts it, or it fails). */
  settleRefund(refundId: string, outcome: 'succeeded' | 'failed'): boolean {
    const r = this.refunds.get(refundId)
    if (!r || (r.status !== 'pending' && r.status !== ('requires_action' as string))) return false
    r.status = outcome
    if (outcome === 'failed') (r as { failure_reason?: string }).failure_reason = 'expired_or_canceled_card'
    this.emit('refund.updated', r)
    if (outcome === 'failed') this.emit('refund.failed', r)
    return true
  }

  // --- truth for the checks --------------------------------------------------------------------------------

  /** PaymentIntents whose metadata names this order. */
  intentsOf(orderId: string): PaymentIntentJson[] {
    return [...this.intents.values()].filter((pi) => pi.metadata.order_id === orderId)
  }

  refundsOf(piId: string): RefundJson[] {
    return [...this.refunds.values()].filter((r) => r.payment_intent === piId)
  }

  /** Money that moves: refunds that are not failed or cancelled (pending ones are on their way). */
  static live = (r: RefundJson) => r.status !== 'failed' && r.status !== 'canceled'

  /** Captured minus refunded over every PaymentIntent of the order, in Stripe's units. */
  netOf(orderId: string): number {
    return this.intentsOf(orderId).reduce(
      (s, pi) =>
        s +
        (pi.status === 'succeeded' ? pi.amount_received : 0) -
        this.refundsOf(pi.id)
          .filter(ModelStripe.live)
          .reduce((t, r) => t + r.amount, 0),
      0,
    )
  }

  /** A signed delivery of a queued event, as Stripe would POST it now. */
  sign(e: QueuedEvent) {
    return signedEvent(e.type, e.object, { id: e.id, created: e.created })
  }

  // --- the HTTP side --------------------------------------------------------------------------------------

  private emit(type: string, object: unknown) {
    this.queue.push({
      id: `evt_${randomBytes(12).toString('hex')}`,
      type,
      object: clone(object),
      created: clockSeconds(),
      acknowledged: 0,
      attempts: 0,
    })
  }

  private chargeOf(pi: PaymentIntentJson) {
    const refunded = this.refundsOf(pi.id)
      .filter(ModelStripe.live)
      .reduce((s, r) => s + r.amount, 0)
    return chargeShape({
      id: pi.latest_charge!,
      amount: pi.amount,
      amountRefunded: refunded,
      currency: pi.currency,
      paymentIntent: pi.id,
      metadata: pi.metadata,
    })
  }

  private createIntent(params: URLSearchParams): Answer {
    const pi = paymentIntentShape({
      amount: Number(params.get('amount')),
      currency: params.get('currency') ?? 'usd',
      metadata: metadataOf(params),
    })
    pi.description = params.get('description')
    pi.receipt_email = params.get('receipt_email')
    this.intents.set(pi.id, pi)
    return { status: 200, body: clone(pi) }
  }

  private cancelIntent(id: string): Answer {
    const pi = this.intents.get(id)
    if (!pi) return err(404, 'invalid_request_error', `No such payment_intent: '${id}'`, 'resource_missing')
    if (pi.status === 'succeeded' || pi.status === 'canceled')
      return err(
        400,
        'invalid_request_error',
        `You cannot cancel this PaymentIntent because it has a status of ${pi.status}.`,
        'payment_intent_unexpected_state',
      )
    pi.status = 'canceled'
    pi.canceled_at = clockSeconds()
    pi.cancellation_reason = 'abandoned'
    this.emit('payment_intent.canceled', pi)
    return { status: 200, body: clone(pi) }
  }

  private createRefund(params: URLSearchParams, pending: boolean): Answer {
    const piId = params.get('payment_intent') ?? ''
    const pi =
      this.intents.get(piId) ??
      [...this.intents.values()].find((p) => p.latest_charge && p.latest_charge === params.get('charge'))
    if (!pi) return err(404, 'invalid_request_error', `No such payment_intent: '${piId}'`, 'resource_missing')
    if (pi.status !== 'succeeded')
      return err(
        400,
        'invalid_request_error',
        `This PaymentIntent (${pi.id}) does not have a successful charge to refund.`,
        'charge_not_refundable',
      )
    const already = this.refundsOf(pi.id)
      .filter(ModelStripe.live)
      .reduce((s, r) => s + r.amount, 0)
    if (already >= pi.amount_received)
      return err(
        400,
        'invalid_request_error',
        `Charge ${pi.latest_charge} has already been refunded.`,
        'charge_already_refunded',
      )
    const amount = params.has('amount') ? Number(params.get('amount')) : pi.amount_received - already
    if (amount <= 0 || amount + already > pi.amount_received)
      return err(
        400,
        'invalid_request_error',
        `Refund amount (${amount}) is greater than unrefunded amount on charge (${pi.amount_received - already})`,
        'amount_too_large',
      )
    const refund = refundShape({
      amount,
      currency: pi.currency,
      paymentIntent: pi.id,
      charge: pi.latest_charge!,
      metadata: metadataOf(params),
      status: pending ? 'pending' : 'succeeded',
    })
    refund.created = clockSeconds()
    this.refunds.set(refund.id, refund)
    this.emit('refund.created', refund)
    this.emit('charge.refunded', this.chargeOf(pi))
    return { status: 200, body: clone(refund) }
  }

  private listRefunds(params: URLSearchParams): Answer {
    const charge = params.get('charge')
    const pi = params.get('payment_intent')
    const data = [...this.refunds.values()]
      .filter((r) => (!charge || r.charge === charge) && (!pi || r.payment_intent === pi))
      .sort((a, b) => b.created - a.created)
    return { status: 200, body: { object: 'list', data: clone(data), has_more: false, url: '/v1/refunds' } }
  }

  private read(method: string, path: string, params: URLSearchParams): Answer | null {
    let m = path.match(/^\/v1\/payment_intents\/([^/]+)$/)
    if (m && method === 'GET') {
      const pi = this.intents.get(m[1]!)
      return pi
        ? { status: 200, body: clone(pi) }
        : err(404, 'invalid_request_error', `No such payment_intent: '${m[1]}'`, 'resource_missing')
    }
    m = path.match(/^\/v1\/refunds\/([^/]+)$/)
    if (m && method === 'GET') {
      const r = this.refunds.get(m[1]!)
      return r
        ? { status: 200, body: clone(r) }
        : err(404, 'invalid_request_error', `No such refund: '${m[1]}'`, 'resource_missing')
    }
    m = path.match(/^\/v1\/charges\/([^/]+)$/)
    if (m && method === 'GET') {
      const pi = [...this.intents.values()].find((p) => p.latest_charge === m![1])
      return pi
        ? { status: 200, body: this.chargeOf(pi) }
        : err(404, 'invalid_request_error', `No such charge: '${m[1]}'`, 'resource_missing')
    }
    if (path === '/v1/refunds' && method === 'GET') return this.listRefunds(params)
    return null
  }

  private write(path: string, params: URLSearchParams, fault: Fault): Answer | null {
    if (path === '/v1/payment_intents') return this.createIntent(params)
    const m = path.match(/^\/v1\/payment_intents\/([^/]+)\/cancel$/)
    if (m) return this.cancelIntent(m[1]!)
    if (path === '/v1/refunds') return this.createRefund(params, fault === 'pending')
    return null
  }

  private async serve(request: Request): Promise<Response> {
    const url = new URL(request.url)
    const method = request.method
    const body = method === 'GET' ? url.search.slice(1) : await request.text()
    const params = new URLSearchParams(body)
    const key = request.headers.get('idempotency-key')
    const ctx = this.ctx()
    const fault = ctx.nextFault()
    const label = `stripe ${method} ${url.pathname}`
    const record: CallRecord = {
      refundId: params.get('metadata[refund_id]') ?? undefined,
      method,
      path: url.pathname,
      key,
      fault,
      answered: 0,
      replayed: false,
      op: ctx.op,
    }
    this.calls.push(record)
    const reply = (a: Answer, headers: Record<string, string> = {}) => {
      record.answered = a.status
      record.error = (a.body as { error?: { type?: string; code?: string } }).error
      return HttpResponse.json(a.body as never, { status: a.status, headers })
    }
    // a retry of a request the client gave up on left when it gave up (the client retries at once): a
    // retry that reaches Stripe minutes later, after the clock moved, would be one no real client sends
    // (lib/payments/stripe.ts: a 10 s timeout and 2 retries, all over in well under a minute), so it is
    // timed from then and times out too
    const attempt = key ? `${ctx.op ?? ''}|${method} ${url.pathname}|${key}` : undefined
    const retryLeft = attempt ? this.gaveUp.get(attempt) : undefined
    const sent = retryLeft ?? ctx.clock()
    const networkFailure = () => {
      record.answered = 0
      if (attempt) this.gaveUp.set(attempt, Math.min(ctx.clock(), sent + CLIENT_TIMEOUT_MS))
      return HttpResponse.error()
    }

    if (request.headers.get('authorization') !== `Bearer ${KEYS.stripe}`)
      return reply(err(401, 'invalid_request_error', 'Invalid API Key provided: sk_test_****'))
    // a request held while the clock moved past the client's timeout (10 s, stripe.ts) is one the client
    // gave up on: it never reached Stripe, or Stripe's answer found no one listening
    await ctx.gate(`${label} (request)`)
    if (fault === 'timeout' || ctx.clock() - sent > CLIENT_TIMEOUT_MS) return networkFailure()
    if (fault === 'error') return reply(err(503, 'api_error', 'Stripe is temporarily unavailable.'))

    if (method === 'GET') {
      const a = this.read(method, url.pathname, params)
      if (!a) {
        this.unknown.push(`${method} ${url.pathname}`)
        return reply(
          err(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${url.pathname}).`),
        )
      }
      if (fault === 'lost') return networkFailure()
      if (fault === 'error_acted') return reply(err(500, 'api_error', 'An unknown error occurred'))
      return reply(a)
    }

    // a write: Stripe's idempotency layer first
    // keys are the account's, whatever the endpoint: the path is part of what must match
    const fingerprint = createHash('sha256').update(`${url.pathname}?${body}`).digest('hex')
    const stored = key ? this.idem.get(key) : undefined
    let answer: Answer
    let replayed = false
    if (stored && nowMs() - stored.at < DAY_MS) {
      replayed = true
      answer =
        stored.params === fingerprint
          ? stored.answer
          : err(
              400,
              'idempotency_error',
              `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
            )
    } else if (fault === 'refuse') {
      answer = err(400, 'invalid_request_error', 'This request was refused.', 'parameter_invalid_integer')
    } else if (fault === 'decline') {
      answer = err(402, 'card_error', 'The refund could not be made to this card.', 'card_declined')
    } else {
      const made = this.write(url.pathname, params, fault)
      if (!made) {
        this.unknown.push(`${method} ${url.pathname}`)
        return reply(
          err(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${url.pathname}).`),
        )
      }
      answer =
        fault === 'error_acted' && made.status === 200
          ? err(500, 'api_error', 'An unknown error occurred')
          : made
    }
    record.replayed = replayed
    if (key && !replayed) this.idem.set(key, { at: nowMs(), params: fingerprint, answer })
    const answered = ctx.clock()
    await ctx.gate(`${label} (answer)`)
    if (fault === 'lost' || ctx.clock() - answered > CLIENT_TIMEOUT_MS) return networkFailure()
    return reply(answer, replayed ? { 'idempotent-replayed': 'true' } : {})
  }

  handlers() {
    return [http.all(`${STRIPE_API}/v1/*`, ({ request }) => this.serve(request))]
  }
}
