import { randomBytes } from 'node:crypto'
import { HttpResponse, http } from 'msw'
import type { SetupServer } from 'msw/node'
import Stripe from 'stripe'
import { afterEach, beforeEach } from 'vitest'
import { resetStripeClient } from '../../lib/payments/stripe.js'
import { restoreEnv, setEnv } from './env.js'
import { KEYS, STRIPE_API } from './msw.js'

// A small, stateful Stripe for the payment tests: PaymentIntents (create with Idempotency-Key replay,
// retrieve, cancel), refunds (create with Idempotency-Key replay, list) and signed webhook events, all in
// the JSON shapes Stripe's API returns (API version 2025-x, as the `stripe` 23 SDK requests it). Requests
// arrive form-encoded, as the SDK sends them.

export const WEBHOOK_SECRET = 'whsec_test_payments_0000000000000000000000'

const rid = (prefix: string) => `${prefix}_3Q${randomBytes(11).toString('hex')}`
const now = () => Math.floor(Date.now() / 1000)

export type PiStatus =
  | 'requires_payment_method'
  | 'requires_confirmation'
  | 'requires_action'
  | 'processing'
  | 'requires_capture'
  | 'canceled'
  | 'succeeded'

export function paymentIntentShape(o: {
  id?: string
  amount: number
  currency: string
  status?: PiStatus
  metadata?: Record<string, string>
  latestCharge?: string | null
}) {
  const id = o.id ?? rid('pi')
  const status = o.status ?? 'requires_payment_method'
  return {
    id,
    object: 'payment_intent',
    amount: o.amount,
    amount_capturable: 0,
    amount_details: { tip: {} },
    amount_received: status === 'succeeded' ? o.amount : 0,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: { allow_redirects: 'always', enabled: true },
    canceled_at: status === 'canceled' ? now() : null,
    cancellation_reason: status === 'canceled' ? 'requested_by_customer' : null,
    capture_method: 'automatic_async',
    client_secret: `${id}_secret_${randomBytes(12).toString('hex')}`,
    confirmation_method: 'automatic',
    created: now(),
    currency: o.currency,
    customer: null,
    description: null as string | null,
    last_payment_error: null,
    latest_charge: o.latestCharge ?? (status === 'succeeded' ? rid('ch') : null),
    livemode: false,
    metadata: o.metadata ?? {},
    next_action: null,
    on_behalf_of: null,
    payment_method: status === 'succeeded' ? rid('pm') : null,
    payment_method_configuration_details: { id: 'pmc_1QtestConfig', parent: null },
    payment_method_options: {
      card: { installments: null, mandate_options: null, network: null, request_three_d_secure: 'automatic' },
      link: { persistent_token: null },
    },
    payment_method_types: ['card', 'link'],
    processing: null,
    receipt_email: null as string | null,
    review: null,
    setup_future_usage: null,
    shipping: null,
    source: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status,
    transfer_data: null,
    transfer_group: null,
  }
}
export type PaymentIntentJson = ReturnType<typeof paymentIntentShape>

export function refundShape(o: {
  id?: string
  amount: number
  currency: string
  paymentIntent: string
  charge: string
  status?: 'succeeded' | 'pending' | 'requires_action' | 'failed' | 'canceled'
  metadata?: Record<string, string>
}) {
  return {
    id: o.id ?? rid('re'),
    object: 'refund',
    amount: o.amount,
    balance_transaction: rid('txn'),
    charge: o.charge,
    created: now(),
    currency: o.currency,
    destination_details: {
      card: { reference_status: 'pending', reference_type: 'acquirer_reference_number', type: 'refund' },
      type: 'card',
    },
    metadata: o.metadata ?? {},
    payment_intent: o.paymentIntent,
    reason: null,
    receipt_number: null,
    source_transfer_reversal: null,
    status: (o.status ?? 'succeeded') as 'succeeded' | 'pending' | 'requires_action' | 'failed' | 'canceled',
    transfer_reversal: null,
  }
}
export type RefundJson = ReturnType<typeof refundShape>

export function chargeShape(o: {
  id: string
  amount: number
  amountRefunded: number
  currency: string
  paymentIntent: string
  refunds?: RefundJson[]
  metadata?: Record<string, string>
}) {
  return {
    id: o.id,
    object: 'charge',
    amount: o.amount,
    amount_captured: o.amount,
    amount_refunded: o.amountRefunded,
    application: null,
    application_fee: null,
    application_fee_amount: null,
    balance_transaction: rid('txn'),
    billing_details: {
      address: { city: null, country: null, line1: null, line2: null, postal_code: null, state: null },
      email: null,
      name: null,
      phone: null,
    },
    calculated_statement_descriptor: 'COMMERCE API',
    captured: true,
    created: now(),
    currency: o.currency,
    customer: null,
    description: null,
    disputed: false,
    failure_code: null,
    failure_message: null,
    fraud_details: {},
    livemode: false,
    metadata: o.metadata ?? {},
    outcome: {
      network_status: 'approved_by_network',
      reason: null,
      risk_level: 'normal',
      risk_score: 32,
      seller_message: 'Payment complete.',
      type: 'authorized',
    },
    paid: true,
    payment_intent: o.paymentIntent,
    payment_method: rid('pm'),
    payment_method_details: {
      card: {
        brand: 'visa',
        country: 'US',
        exp_month: 12,
        exp_year: 2030,
        funding: 'credit',
        last4: '4242',
        network: 'visa',
      },
      type: 'card',
    },
    receipt_email: null,
    receipt_url: `https://pay.stripe.com/receipts/payment/${randomBytes(16).toString('hex')}`,
    refunded: o.amountRefunded >= o.amount,
    ...(o.refunds
      ? {
          refunds: {
            object: 'list',
            data: o.refunds,
            has_more: false,
            total_count: o.refunds.length,
            url: `/v1/charges/${o.id}/refunds`,
          },
        }
      : {}),
    review: null,
    shipping: null,
    status: 'succeeded',
    transfer_data: null,
    transfer_group: null,
  }
}

export function disputeShape(o: { charge: string; paymentIntent: string; amount: number; currency: string }) {
  return {
    id: rid('du'),
    object: 'dispute',
    amount: o.amount,
    balance_transactions: [],
    charge: o.charge,
    created: now(),
    currency: o.currency,
    evidence_details: {
      due_by: now() + 7 * 86400,
      has_evidence: false,
      past_due: false,
      submission_count: 0,
    },
    is_charge_refundable: false,
    livemode: false,
    metadata: {},
    payment_intent: o.paymentIntent,
    reason: 'fraudulent',
    status: 'needs_response',
  }
}

const stripeError = (status: number, type: string, message: string, code?: string) =>
  HttpResponse.json({ error: { type, message, ...(code ? { code } : {}) } }, { status })

/** The fake Stripe's state: what it holds and what the tests asked it to do. */
export class FakeStripe {
  intents = new Map<string, PaymentIntentJson>()
  refunds = new Map<string, RefundJson>()
  /** idempotency key -> response body (Stripe replays the first answer) */
  idempotent = new Map<string, unknown>()
  calls: Array<{ method: string; path: string; params: URLSearchParams; idempotencyKey: string | null }> = []
  /** the status new refunds get (Stripe answers `pending` for some payment methods) */
  refundStatus: RefundJson['status'] = 'succeeded'

  /** when set, the next matching calls fail with Stripe's 500 api_error (before acting) */
  failNext: Partial<Record<'create' | 'retrieve' | 'cancel' | 'refund', number>> = {}
  /** when set, the next matching calls are refused with a 400 invalid_request_error (nothing done) */
  refuseNext: Partial<Record<'refund', number>> = {}
  /**
   * when set, the next matching calls act and then lose their answer (a network error). The SDK retries
   * twice with the same Idempotency-Key, so 3 loses the answer for good; 1 is healed by the retry.
   */
  loseNext: Partial<Record<'refund', number>> = {}

  /** Put a PaymentIntent in a state (as if the buyer paid in the browser). */
  setStatus(id: string, status: PiStatus): PaymentIntentJson {
    const pi = this.intents.get(id)
    if (!pi) throw new Error(`no PaymentIntent ${id}`)
    pi.status = status
    if (status === 'succeeded') {
      pi.amount_received = pi.amount
      pi.latest_charge ??= rid('ch')
    }
    return pi
  }

  only(path: RegExp) {
    return this.calls.filter((c) => path.test(c.path))
  }

  private fail(
    kind: keyof FakeStripe['failNext'],
    from: 'failNext' | 'refuseNext' | 'loseNext' = 'failNext',
  ): boolean {
    const counters = this[from] as Partial<Record<string, number>>
    const n = counters[kind] ?? 0
    if (n <= 0) return false
    counters[kind] = n - 1
    return true
  }

  handlers() {
    const auth = (request: Request) => request.headers.get('authorization') === `Bearer ${KEYS.stripe}`
    const record = async (request: Request) => {
      const params = new URLSearchParams(
        request.method === 'GET' ? new URL(request.url).search : await request.text(),
      )
      const entry = {
        method: request.method,
        path: new URL(request.url).pathname,
        params,
        idempotencyKey: request.headers.get('idempotency-key'),
      }
      this.calls.push(entry)
      return entry
    }
    const replay = (key: string | null, scope: string) =>
      key ? this.idempotent.get(`${scope} ${key}`) : undefined
    const remember = (key: string | null, scope: string, body: unknown) => {
      if (key) this.idempotent.set(`${scope} ${key}`, body)
    }
    const unauthorized = () =>
      stripeError(401, 'invalid_request_error', 'Invalid API Key provided: sk_test_****')
    const serverError = () => stripeError(500, 'api_error', 'An unknown error occurred')

    return [
      http.post(`${STRIPE_API}/v1/payment_intents`, async ({ request }) => {
        if (!auth(request)) return unauthorized()
        const c = await record(request)
        if (this.fail('create')) return serverError()
        const prior = replay(c.idempotencyKey, 'pi')
        if (prior) return HttpResponse.json(prior, { headers: { 'idempotent-replayed': 'true' } })
        const metadata: Record<string, string> = {}
        for (const [k, v] of c.params) {
          const m = k.match(/^metadata\[(.+)\]$/)
          if (m) metadata[m[1]!] = v
        }
        const pi = paymentIntentShape({
          amount: Number(c.params.get('amount')),
          currency: c.params.get('currency') ?? 'usd',
          metadata,
        })
        pi.description = c.params.get('description')
        pi.receipt_email = c.params.get('receipt_email')
        this.intents.set(pi.id, pi)
        remember(c.idempotencyKey, 'pi', pi)
        return HttpResponse.json(pi)
      }),
      http.get(`${STRIPE_API}/v1/payment_intents/:id`, async ({ request, params }) => {
        if (!auth(request)) return unauthorized()
        await record(request)
        if (this.fail('retrieve')) return serverError()
        const pi = this.intents.get(String(params.id))
        if (!pi)
          return stripeError(
            404,
            'invalid_request_error',
            `No such payment_intent: '${params.id}'`,
            'resource_missing',
          )
        return HttpResponse.json(pi)
      }),
      http.post(`${STRIPE_API}/v1/payment_intents/:id/cancel`, async ({ request, params }) => {
        if (!auth(request)) return unauthorized()
        await record(request)
        if (this.fail('cancel')) return serverError()
        const pi = this.intents.get(String(params.id))
        if (!pi)
          return stripeError(
            404,
            'invalid_request_error',
            `No such payment_intent: '${params.id}'`,
            'resource_missing',
          )
        if (pi.status === 'succeeded' || pi.status === 'canceled')
          return stripeError(
            400,
            'invalid_request_error',
            `You cannot cancel this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.`,
            'payment_intent_unexpected_state',
          )
        pi.status = 'canceled'
        pi.canceled_at = now()
        pi.cancellation_reason = 'requested_by_customer'
        return HttpResponse.json(pi)
      }),
      http.post(`${STRIPE_API}/v1/refunds`, async ({ request }) => {
        if (!auth(request)) return unauthorized()
        const c = await record(request)
        if (this.fail('refund')) return serverError()
        if (this.fail('refund', 'refuseNext'))
          return stripeError(
            400,
            'invalid_request_error',
            'Refunds are not supported for this payment method.',
            'charge_not_refundable',
          )
        const prior = replay(c.idempotencyKey, 'refund')
        if (prior) {
          if (this.fail('refund', 'loseNext')) return HttpResponse.error()
          return HttpResponse.json(prior, { headers: { 'idempotent-replayed': 'true' } })
        }
        const pi = this.intents.get(c.params.get('payment_intent') ?? '')
        if (!pi)
          return stripeError(
            404,
            'invalid_request_error',
            `No such payment_intent: '${c.params.get('payment_intent')}'`,
            'resource_missing',
          )
        if (pi.status !== 'succeeded')
          return stripeError(
            400,
            'invalid_request_error',
            `This PaymentIntent (${pi.id}) does not have a successful charge to refund.`,
            'charge_not_refundable',
          )
        const already = [...this.refunds.values()]
          .filter((r) => r.payment_intent === pi.id && r.status !== 'failed')
          .reduce((s, r) => s + r.amount, 0)
        const amount = c.params.has('amount') ? Number(c.params.get('amount')) : pi.amount - already
        if (amount + already > pi.amount)
          return stripeError(
            400,
            'invalid_request_error',
            `Refund amount (${amount}) is greater than unrefunded amount on charge (${pi.amount - already})`,
            'amount_too_large',
          )
        const metadata: Record<string, string> = {}
        for (const [k, v] of c.params) {
          const m = k.match(/^metadata\[(.+)\]$/)
          if (m) metadata[m[1]!] = v
        }
        const refund = refundShape({
          amount,
          currency: pi.currency,
          paymentIntent: pi.id,
          charge: pi.latest_charge!,
          metadata,
        })
        refund.status = this.refundStatus
        this.refunds.set(refund.id, refund)
        remember(c.idempotencyKey, 'refund', refund)
        if (this.fail('refund', 'loseNext')) return HttpResponse.error()
        return HttpResponse.json(refund)
      }),
      http.get(`${STRIPE_API}/v1/refunds`, async ({ request }) => {
        if (!auth(request)) return unauthorized()
        const c = await record(request)
        const charge = c.params.get('charge')
        const pi = c.params.get('payment_intent')
        const data = [...this.refunds.values()].filter(
          (r) => (!charge || r.charge === charge) && (!pi || r.payment_intent === pi),
        )
        return HttpResponse.json({ object: 'list', data, has_more: false, url: '/v1/refunds' })
      }),
    ]
  }

  /** The charge behind a succeeded PaymentIntent, with its refunds so far. */
  charge(piId: string, opts: { includeRefunds?: boolean } = {}) {
    const pi = this.intents.get(piId)
    if (!pi?.latest_charge) throw new Error(`no charge for ${piId}`)
    const refunds = [...this.refunds.values()].filter(
      (r) => r.payment_intent === piId && r.status !== 'failed',
    )
    return chargeShape({
      id: pi.latest_charge,
      amount: pi.amount,
      amountRefunded: refunds.reduce((s, r) => s + r.amount, 0),
      currency: pi.currency,
      paymentIntent: pi.id,
      metadata: pi.metadata,
      ...(opts.includeRefunds ? { refunds } : {}),
    })
  }
}

/**
 * For every test of the file: a fresh fake Stripe on its MSW server (handed to `use`), STRIPE_SECRET_KEY
 * and `env` set, the client rebuilt; all undone after the test.
 */
export function withFakeStripe(
  server: SetupServer,
  use: (fake: FakeStripe) => void,
  env: Record<string, string | undefined> = {},
): void {
  beforeEach(() => {
    use(useFakeStripe(server))
    setEnv({ STRIPE_SECRET_KEY: KEYS.stripe, ...env })
    resetStripeClient()
  })
  afterEach(() => {
    restoreEnv()
    resetStripeClient()
  })
}

/** Install a fresh fake Stripe on the file's MSW server (call in beforeEach after useMsw()). */
export function useFakeStripe(server: SetupServer): FakeStripe {
  const fake = new FakeStripe()
  server.use(...fake.handlers())
  return fake
}

/** A webhook event as Stripe sends it, with a valid Stripe-Signature header for WEBHOOK_SECRET. */
export function signedEvent(
  type: string,
  object: unknown,
  opts: { id?: string; secret?: string; created?: number } = {},
) {
  const event = {
    id: opts.id ?? `evt_${randomBytes(12).toString('hex')}`,
    object: 'event',
    api_version: '2025-11-17.clover',
    created: opts.created ?? now(),
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: `req_${randomBytes(7).toString('hex')}`, idempotency_key: null },
    type,
  }
  const payload = JSON.stringify(event)
  const signature = Stripe.webhooks.generateTestHeaderString({
    payload,
    secret: opts.secret ?? WEBHOOK_SECRET,
  })
  return { event, payload, signature }
}
