import { and, eq } from 'drizzle-orm'
import type { Stripe } from 'stripe'
import { webhookEvents } from '../../db/schema/index.js'
import { badRequest, notFound, ProblemError } from '../http/errors.js'
import { addFlag, lockOrder } from '../orders/history.js'
import { reserveRefund, settleRefundTx } from '../orders/refunds.js'
import type { Runner } from '../orders/view.js'
import type { Db } from '../platform/db.js'
import { env } from '../platform/env.js'
import { log, safeError } from '../platform/logger.js'
import { toMajor } from '../platform/money.js'
import { orderIdFor, reconcileIntent } from './intent.js'
import { reconcileStripeRefund } from './refunds.js'
import { fromStripeAmount, stripe } from './stripe.js'

// POST /api/webhooks/stripe. The signature is checked on the raw body before anything else; each event
// id is processed once: its webhook_events row is inserted in the same transaction as the change, so a
// duplicate (or a retry after a crash) either finds the row and changes nothing, or finds no change
// committed and does it. An event only tells us that something changed: PaymentIntents go through the
// one reconcile step (lib/payments/intent.ts) and refunds through the one settle (reconcileStripeRefund),
// so a late, repeated or out-of-order event brings the order to the same place as a timely one.

export type WebhookOutcome = { received: true; duplicate?: true; outcome?: string }

/** The events this endpoint acts on; enable these on the Stripe webhook endpoint (docs/operations.md). */
export const HANDLED_EVENTS = [
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'payment_intent.canceled',
  'charge.refunded',
  'refund.created',
  'refund.updated',
  'refund.failed',
  'charge.dispute.created',
  'charge.dispute.closed',
] as const

/** Verify the signature and return the event; 404 when no secret is configured, 400 when it fails. */
export async function verifyStripeEvent(rawBody: string, signature: string | null): Promise<Stripe.Event> {
  const secret = env().STRIPE_WEBHOOK_SECRET
  if (!secret) throw notFound('route')
  if (!signature) throw badRequest('invalid_signature', 'The Stripe-Signature header is missing.')
  const { default: StripeCtor } = await import('stripe')
  try {
    return StripeCtor.webhooks.constructEvent(rawBody, signature, secret) as Stripe.Event
  } catch {
    throw badRequest('invalid_signature', 'The Stripe signature does not match this body.')
  }
}

/** Record the event in the change's transaction; false when it was processed before. */
const firstTime =
  (event: Stripe.Event) =>
  async (tx: Runner): Promise<boolean> => {
    const rows = await tx
      .insert(webhookEvents)
      .values({
        provider: 'stripe',
        eventId: event.id,
        type: event.type,
        payload: { object_id: (event.data.object as { id?: string }).id ?? null },
        processedAt: new Date(),
      })
      .onConflictDoNothing()
      .returning({ id: webhookEvents.id })
    return rows.length > 0
  }

const idOf = (x: string | { id: string } | null | undefined) => (typeof x === 'string' ? x : (x?.id ?? null))
const duplicate: WebhookOutcome = { received: true, duplicate: true }

/** Process one verified event. */
export async function handleStripeEvent(db: Db, event: Stripe.Event): Promise<WebhookOutcome> {
  switch (event.type) {
    case 'payment_intent.succeeded':
    case 'payment_intent.payment_failed':
    case 'payment_intent.canceled':
      return intentEvent(db, event, event.data.object)
    case 'charge.refunded':
      return chargeRefunded(db, event, event.data.object)
    case 'refund.created':
    case 'refund.updated':
    case 'refund.failed':
      return refundEvent(db, event, event.data.object)
    case 'charge.dispute.created':
    case 'charge.dispute.closed':
      return disputeEvent(db, event, event.data.object)
    default:
      return recordOnly(db, event)
  }
}

async function recordOnly(db: Db, event: Stripe.Event, outcome = 'ignored'): Promise<WebhookOutcome> {
  const fresh = await db.transaction(firstTime(event))
  return fresh ? { received: true, outcome } : duplicate
}

async function intentEvent(db: Db, event: Stripe.Event, pi: Stripe.PaymentIntent): Promise<WebhookOutcome> {
  const { outcome } = await reconcileIntent(db, pi, { reason: event.type, first: firstTime(event) })
  return outcome === 'duplicate' ? duplicate : { received: true, outcome }
}

/** The order a refund or charge belongs to, by its PaymentIntent. */
async function orderOfIntent(db: Db, piId: string | null, metadata?: Record<string, string> | null) {
  return piId ? orderIdFor(db, { id: piId, metadata: metadata ?? null }) : null
}

async function refundEvent(db: Db, event: Stripe.Event, r: Stripe.Refund): Promise<WebhookOutcome> {
  const orderId = await orderOfIntent(db, idOf(r.payment_intent), r.metadata)
  if (!orderId) return recordOnly(db, event, 'unknown_order')
  const outcome = await reconcileStripeRefund(db, orderId, r, firstTime(event))
  return outcome === 'duplicate' ? duplicate : { received: true, outcome }
}

async function chargeRefunded(db: Db, event: Stripe.Event, charge: Stripe.Charge): Promise<WebhookOutcome> {
  const orderId = await orderOfIntent(db, idOf(charge.payment_intent), charge.metadata)
  if (!orderId) return recordOnly(db, event, 'unknown_order')
  const [seen] = await db
    .select({ id: webhookEvents.id })
    .from(webhookEvents)
    .where(and(eq(webhookEvents.provider, 'stripe'), eq(webhookEvents.eventId, event.id)))
  if (seen) return duplicate
  // the event's charge carries its refunds only on older API versions; otherwise ask Stripe. Stripe out of
  // reach: a 503 (nothing recorded), and Stripe delivers the event again later
  let listed: Stripe.Refund[]
  try {
    listed =
      charge.refunds?.data ?? (await (await stripe()).refunds.list({ charge: charge.id, limit: 100 })).data
  } catch (err) {
    log.warn('charge.refunded: Stripe could not list the refunds; the event will come again', {
      event_id: event.id,
      err: safeError(err),
    })
    throw new ProblemError(
      503,
      'payment_provider_unavailable',
      'Stripe could not be reached; retry the event.',
      {
        headers: { 'retry-after': '60' },
      },
    )
  }
  // each refund settles on its own (idempotent); the event is recorded with the last one
  for (const r of listed) await reconcileStripeRefund(db, orderId, r)
  return recordOnly(db, event, 'reconciled')
}

/**
 * A dispute opened: the order is flagged (amount in major units, like every amount of the API). Closed:
 * the outcome is recorded; a lost dispute's amount counts as refunded (a `dispute_lost` refund row, never
 * sent to Stripe) and staff are flagged.
 */
async function disputeEvent(db: Db, event: Stripe.Event, dispute: Stripe.Dispute): Promise<WebhookOutcome> {
  const orderId = await orderOfIntent(db, idOf(dispute.payment_intent))
  if (!orderId) return recordOnly(db, event, 'unknown_order')
  return db.transaction(async (tx) => {
    if (!(await firstTime(event)(tx))) return duplicate
    const order = await lockOrder(tx, orderId)
    const amount = fromStripeAmount(dispute.amount, dispute.currency)
    const major = toMajor(amount, dispute.currency.toUpperCase())
    if (event.type === 'charge.dispute.created') {
      await addFlag(tx, orderId, {
        code: 'dispute',
        message: `The buyer disputed the payment (${dispute.reason}).`,
        dispute_id: dispute.id,
        amount: major,
      })
      return { received: true, outcome: 'flagged' } as const
    }
    const lost = dispute.status === 'lost'
    if (lost) await recordLostDispute(tx, order, dispute, amount)
    await addFlag(tx, orderId, {
      code: lost ? 'dispute_lost' : 'dispute_closed',
      message: lost
        ? `The dispute was lost: ${major} ${order.currency} went back to the buyer.`
        : `The dispute was closed: ${dispute.status}.`,
      dispute_id: dispute.id,
      status: dispute.status,
      amount: major,
    })
    return { received: true, outcome: lost ? 'dispute_lost' : 'dispute_closed' } as const
  })
}

async function recordLostDispute(
  tx: Runner,
  order: { id: string; financialStatus: string; paidAmountCents: number; refundedAmountCents: number },
  dispute: Stripe.Dispute,
  amount: number,
) {
  const counted = Math.min(amount, Math.max(0, order.paidAmountCents - order.refundedAmountCents))
  if (counted <= 0 || !['paid', 'partially_refunded'].includes(order.financialStatus)) return
  const { refund } = await reserveRefund(
    tx,
    order.id,
    { amountCents: counted, reason: `dispute ${dispute.id} lost (${dispute.reason})` },
    { actorId: null, kind: 'dispute_lost' },
  )
  await settleRefundTx(tx, refund.id, { status: 'succeeded' }, null)
}

export function logWebhookFailure(event: Stripe.Event, err: unknown): void {
  log.error('Stripe webhook failed; Stripe will retry it', {
    event_id: event.id,
    type: event.type,
    err: safeError(err),
  })
}
