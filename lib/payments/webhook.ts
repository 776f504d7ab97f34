import { and, eq, sql } from 'drizzle-orm'
import type { Stripe } from 'stripe'
import { orders, payments, refunds, webhookEvents } from '../../db/schema/index.js'
import { badRequest, notFound } from '../http/errors.js'
import { addFlag, lockOrder, recordTransitions } from '../orders/history.js'
import type { Runner } from '../orders/view.js'
import type { Db } from '../platform/db.js'
import { env } from '../platform/env.js'
import { log, safeError } from '../platform/logger.js'
import { applyPayment } from './apply.js'
import { fromStripeAmount, stripe, toStripeAmount } from './stripe.js'

// POST /api/webhooks/stripe. The signature is checked on the raw body before anything else; each event
// id is processed once: its webhook_events row is inserted in the same transaction as the change, so a
// duplicate (or a retry after a crash) either finds the row and changes nothing, or finds no change
// committed and does it. Stripe calls that a decision needs (refund a payment we cannot keep, list a
// charge's refunds) happen before that transaction and carry idempotency keys, so a replay repeats
// them harmlessly.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export type WebhookOutcome = { received: true; duplicate?: true; outcome?: string }

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
async function firstTime(tx: Runner, event: Stripe.Event): Promise<boolean> {
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

async function orderIdFor(db: Runner, pi: { id: string; metadata?: Record<string, string> | null } | string) {
  const id = typeof pi === 'string' ? pi : pi.id
  const meta = typeof pi === 'string' ? undefined : pi.metadata?.order_id
  if (meta && UUID.test(meta)) {
    const [row] = await db.select({ id: orders.id }).from(orders).where(eq(orders.id, meta))
    if (row) return row.id
  }
  const [row] = await db.select({ id: orders.id }).from(orders).where(eq(orders.paymentIntentId, id))
  return row?.id ?? null
}

const piOf = (x: string | { id: string } | null | undefined) => (typeof x === 'string' ? x : (x?.id ?? null))

/** Process one verified event. */
export async function handleStripeEvent(db: Db, event: Stripe.Event): Promise<WebhookOutcome> {
  switch (event.type) {
    case 'payment_intent.succeeded':
      return paymentSucceeded(db, event, event.data.object)
    case 'payment_intent.payment_failed':
      return paymentFailed(db, event, event.data.object)
    case 'charge.refunded':
      return chargeRefunded(db, event, event.data.object)
    case 'charge.dispute.created':
      return disputeCreated(db, event, event.data.object)
    default:
      return recordOnly(db, event)
  }
}

async function recordOnly(db: Db, event: Stripe.Event, outcome = 'ignored'): Promise<WebhookOutcome> {
  const fresh = await db.transaction((tx) => firstTime(tx, event))
  return fresh ? { received: true, outcome } : { received: true, duplicate: true }
}

type Verdict = 'apply' | 'refund' | 'none'

function verdictFor(
  o: { status: string; financialStatus: string; totalAmountCents: number; currency: string } | undefined,
  pi: Stripe.PaymentIntent,
): Verdict {
  if (!o) return 'none'
  const rightMoney =
    pi.currency.toUpperCase() === o.currency &&
    (() => {
      try {
        return (pi.amount_received || pi.amount) === toStripeAmount(o.totalAmountCents, o.currency)
      } catch {
        return false
      }
    })()
  return o.status === 'pending' && o.financialStatus === 'pending' && rightMoney ? 'apply' : 'refund'
}

class Changed extends Error {}

async function paymentSucceeded(
  db: Db,
  event: Stripe.Event,
  pi: Stripe.PaymentIntent,
): Promise<WebhookOutcome> {
  const orderId = await orderIdFor(db, pi)
  if (!orderId) return recordOnly(db, event, 'unknown_order')
  for (let attempt = 0; attempt < 2; attempt++) {
    const [peek] = await db.select().from(orders).where(eq(orders.id, orderId))
    const verdict = verdictFor(peek, pi)
    try {
      if (verdict === 'apply') {
        return await db.transaction(async (tx) => {
          if (!(await firstTime(tx, event))) return { received: true, duplicate: true } as const
          const o = await lockOrder(tx, orderId)
          if (verdictFor(o, pi) !== 'apply') throw new Changed()
          await applyPayment(tx, orderId, {
            provider: 'stripe',
            amountCents: o.totalAmountCents,
            currency: o.currency,
            providerPaymentId: pi.id,
            actorId: null,
            reason: 'payment_intent.succeeded',
          })
          return { received: true, outcome: 'paid' } as const
        })
      }
      return await refundUnexpected(db, event, pi, orderId)
    } catch (err) {
      if (!(err instanceof Changed)) throw err
    }
  }
  return refundUnexpected(db, event, pi, orderId)
}

/** A payment we cannot keep (cancelled or already paid order, wrong amount): refund it at once, flag it. */
async function refundUnexpected(
  db: Db,
  event: Stripe.Event,
  pi: Stripe.PaymentIntent,
  orderId: string,
): Promise<WebhookOutcome> {
  const [seen] = await db
    .select({ id: webhookEvents.id })
    .from(webhookEvents)
    .where(and(eq(webhookEvents.provider, 'stripe'), eq(webhookEvents.eventId, event.id)))
  if (seen) return { received: true, duplicate: true }
  const refund = await (await stripe()).refunds.create(
    { payment_intent: pi.id, metadata: { order_id: orderId, reason: 'unexpected_payment' } },
    { idempotencyKey: `unexpected-payment-${pi.id}` },
  )
  return db.transaction(async (tx) => {
    if (!(await firstTime(tx, event))) return { received: true, duplicate: true } as const
    const o = await lockOrder(tx, orderId)
    const amount = fromStripeAmount(pi.amount_received || pi.amount, pi.currency)
    const now = new Date()
    const [payment] = await tx
      .insert(payments)
      .values({
        orderId,
        provider: 'stripe',
        providerPaymentId: pi.id,
        amountCents: amount,
        refundedAmountCents: amount,
        currency: pi.currency.toUpperCase(),
        status: 'succeeded',
        paidAt: now,
        metadata: { refunded_at_once: true, provider_refund_id: refund.id },
      })
      .onConflictDoUpdate({
        target: payments.providerPaymentId,
        set: {
          status: 'succeeded',
          amountCents: amount,
          refundedAmountCents: amount,
          paidAt: now,
          updatedAt: now,
        },
      })
      .returning({ id: payments.id })
    const why =
      o.status === 'cancelled'
        ? 'a payment arrived for a cancelled order'
        : o.financialStatus !== 'pending'
          ? 'a second payment arrived for a paid order'
          : 'the payment did not match the order total or currency'
    if (o.status === 'cancelled' && o.currency === pi.currency.toUpperCase()) {
      // a late payment on a cancelled order: money in and straight back out, financial refunded, no revenue
      await tx
        .insert(refunds)
        .values({
          orderId,
          paymentId: payment!.id,
          amountCents: amount,
          currency: o.currency,
          reason: why,
          providerRefundId: refund.id,
          status: refund.status === 'failed' ? 'failed' : 'succeeded',
        })
        .onConflictDoNothing()
      await tx
        .update(orders)
        .set({
          paidAmountCents: sql`${orders.paidAmountCents} + ${amount}`,
          refundedAmountCents: sql`${orders.refundedAmountCents} + ${amount}`,
          financialStatus: 'refunded',
          updatedAt: now,
        })
        .where(eq(orders.id, orderId))
      await recordTransitions(tx, orderId, null, [
        { type: 'financial', from: o.financialStatus, to: 'refunded', reason: why },
      ])
    }
    await addFlag(tx, orderId, {
      code: 'unexpected_payment',
      message: `${why}; it was refunded at once.`,
      payment_intent_id: pi.id,
      refund_id: refund.id,
    })
    return { received: true, outcome: 'refunded' } as const
  })
}

async function paymentFailed(db: Db, event: Stripe.Event, pi: Stripe.PaymentIntent): Promise<WebhookOutcome> {
  return db.transaction(async (tx) => {
    if (!(await firstTime(tx, event))) return { received: true, duplicate: true } as const
    await tx
      .update(payments)
      .set({
        status: 'failed',
        failureCode: pi.last_payment_error?.code ?? pi.last_payment_error?.decline_code ?? null,
        failureMessage: pi.last_payment_error?.message ?? null,
        updatedAt: new Date(),
      })
      .where(and(eq(payments.providerPaymentId, pi.id), eq(payments.status, 'pending')))
    return { received: true, outcome: 'recorded' } as const
  })
}

async function chargeRefunded(db: Db, event: Stripe.Event, charge: Stripe.Charge): Promise<WebhookOutcome> {
  const piId = piOf(charge.payment_intent)
  const orderId = piId ? await orderIdFor(db, { id: piId, metadata: charge.metadata }) : null
  if (!orderId || !piId) return recordOnly(db, event, 'unknown_order')
  // the event's charge carries its refunds only on older API versions; otherwise ask Stripe
  const listed: Stripe.Refund[] =
    charge.refunds?.data ?? (await (await stripe()).refunds.list({ charge: charge.id, limit: 100 })).data
  return db.transaction(async (tx) => {
    if (!(await firstTime(tx, event))) return { received: true, duplicate: true } as const
    const o = await lockOrder(tx, orderId)
    if (o.paymentIntentId !== piId) return { received: true, outcome: 'other_payment' } as const
    const [payment] = await tx.select().from(payments).where(eq(payments.providerPaymentId, piId))
    for (const r of listed) {
      if (r.status !== 'succeeded' && r.status !== 'pending') continue
      const status = r.status === 'succeeded' ? 'succeeded' : 'pending'
      const byId = await tx
        .update(refunds)
        .set({ status, updatedAt: new Date() })
        .where(eq(refunds.providerRefundId, r.id))
        .returning({ id: refunds.id })
      if (byId.length > 0) continue
      // made through this API but not settled yet: our row id is in the metadata
      const ours = r.metadata?.refund_id
      if (ours && UUID.test(ours)) {
        const matched = await tx
          .update(refunds)
          .set({ providerRefundId: r.id, updatedAt: new Date() })
          .where(and(eq(refunds.id, ours), eq(refunds.orderId, orderId)))
          .returning({ id: refunds.id })
        if (matched.length > 0) continue
      }
      // made elsewhere (Stripe's dashboard): record it
      await tx
        .insert(refunds)
        .values({
          orderId,
          paymentId: payment?.id ?? null,
          amountCents: fromStripeAmount(r.amount, r.currency),
          currency: o.currency,
          reason: 'refunded in Stripe',
          providerRefundId: r.id,
          status,
        })
        .onConflictDoNothing()
    }
    // the charge's amount_refunded is the truth; a refund already counted here is not counted again
    const total = Math.min(o.paidAmountCents, fromStripeAmount(charge.amount_refunded, charge.currency))
    if (total > o.refundedAmountCents && ['paid', 'partially_refunded'].includes(o.financialStatus)) {
      const financial = total >= o.paidAmountCents ? 'refunded' : 'partially_refunded'
      await tx
        .update(orders)
        .set({ refundedAmountCents: total, financialStatus: financial, updatedAt: new Date() })
        .where(eq(orders.id, orderId))
      if (payment) {
        await tx
          .update(payments)
          .set({ refundedAmountCents: sql`least(${payments.amountCents}, ${total})` })
          .where(eq(payments.id, payment.id))
      }
      await recordTransitions(tx, orderId, null, [
        { type: 'financial', from: o.financialStatus, to: financial, reason: 'charge.refunded' },
      ])
    }
    return { received: true, outcome: 'reconciled' } as const
  })
}

async function disputeCreated(db: Db, event: Stripe.Event, dispute: Stripe.Dispute): Promise<WebhookOutcome> {
  const piId = piOf(dispute.payment_intent)
  const orderId = piId ? await orderIdFor(db, piId) : null
  if (!orderId) return recordOnly(db, event, 'unknown_order')
  return db.transaction(async (tx) => {
    if (!(await firstTime(tx, event))) return { received: true, duplicate: true } as const
    await lockOrder(tx, orderId)
    await addFlag(tx, orderId, {
      code: 'dispute',
      message: `The buyer disputed the payment (${dispute.reason}).`,
      dispute_id: dispute.id,
      amount: fromStripeAmount(dispute.amount, dispute.currency),
    })
    return { received: true, outcome: 'flagged' } as const
  })
}

export function logWebhookFailure(event: Stripe.Event, err: unknown): void {
  log.error('Stripe webhook failed; Stripe will retry it', {
    event_id: event.id,
    type: event.type,
    err: safeError(err),
  })
}
