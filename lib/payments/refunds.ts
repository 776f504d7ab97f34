import { and, eq, sql } from 'drizzle-orm'
import type { Stripe } from 'stripe'
import { payments, type Refund, type RefundStatus, refunds } from '../../db/schema/index.js'
import { fieldError } from '../catalog/access.js'
import { ProblemError } from '../http/errors.js'
import { addFlag, lockOrder } from '../orders/history.js'
import { payingPayment } from '../orders/payments.js'
import type { RefundInput } from '../orders/refund-plan.js'
import { reserveRefund, settleRefundTx } from '../orders/refunds.js'
import { type FullOrder, loadOrder, type Runner } from '../orders/view.js'
import { now as clockNow } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { log, safeError } from '../platform/logger.js'
import { toMajor } from '../platform/money.js'
import { fromStripeAmount, StripeAmountError, stripe, toStripeAmount } from './stripe.js'

// Refunds through Stripe. The order's room records them (lib/orders/refunds.ts: reserve, then the one
// settle); this room decides from Stripe's answers:
//
//   Stripe's answer                                  the refund row
//   a refund object                                  settled with its status (succeeded; pending and
//                                                    requires_action stay pending; failed, canceled)
//   StripeInvalidRequestError (not an idempotency    failed: Stripe refused it, nothing moved; the
//   error), StripeCardError                          reservation is given back
//   anything else: timeout, connection error, 5xx,   pending: Stripe may have made it. The reconcile cron
//   401/403/409, idempotency errors                  settles it from Stripe's list, or retries it
//
// Attempt n of a row uses the Idempotency-Key `<refund id>` (n = 1) or `<refund id>:<n>`; each key is
// used by one attempt only (and the SDK's own retries of it, seconds apart), so a key is never sent again
// after Stripe may have forgotten it (24 h).

export type RefundResult = { refundId: string; status: RefundStatus }

/** Our status for a Stripe refund's status. */
export function refundStatusOf(status: Stripe.Refund['status']): RefundStatus {
  switch (status) {
    case 'succeeded':
      return 'succeeded'
    case 'failed':
      return 'failed'
    case 'canceled':
      return 'cancelled'
    default:
      // pending, requires_action, or a status newer than this code
      return 'pending'
  }
}

/** Whether Stripe definitely did not act: only then is a reservation given back. */
export function isDefiniteRefusal(err: unknown): boolean {
  const e = err as { type?: string; code?: string; rawType?: string } | null
  if (!e) return false
  if (e.type === 'StripeCardError') return true
  return (
    e.type === 'StripeInvalidRequestError' &&
    e.rawType !== 'idempotency_error' &&
    !String(e.code ?? '').includes('idempotency')
  )
}

export const refundKey = (refundId: string, attempt: number) =>
  attempt <= 1 ? refundId : `${refundId}:${attempt}`

/** The PaymentIntent a refund row goes back to (its payment's). */
async function intentOf(db: Runner, r: Refund): Promise<string | null> {
  if (!r.paymentId) return null
  const [p] = await db
    .select({ id: payments.providerPaymentId })
    .from(payments)
    .where(eq(payments.id, r.paymentId))
  return p?.id ?? null
}

/**
 * Send attempt `r.attempts` of a pending refund row to Stripe and settle it from the answer. Returns the
 * row's status afterwards; `pending` when Stripe's answer is unknown. Never throws for Stripe's sake.
 */
export async function sendRefund(db: Db, r: Refund): Promise<{ status: RefundStatus; error?: unknown }> {
  const pi = await intentOf(db, r)
  if (!pi) return { status: r.status }
  let answer: Stripe.Refund
  try {
    answer = await (await stripe()).refunds.create(
      {
        payment_intent: pi,
        // an unexpected payment goes back whole: Stripe works the amount out itself
        ...(r.kind === 'unexpected_payment' ? {} : { amount: toStripeAmount(r.amountCents, r.currency) }),
        reason: r.kind === 'unexpected_payment' ? 'duplicate' : 'requested_by_customer',
        metadata: { order_id: r.orderId, refund_id: r.id },
      },
      { idempotencyKey: refundKey(r.id, r.attempts) },
    )
  } catch (err) {
    if (!isDefiniteRefusal(err)) {
      log.warn('Stripe did not answer the refund; it stays pending for the reconcile cron', {
        order_id: r.orderId,
        refund_id: r.id,
        err: safeError(err),
      })
      return { status: 'pending', error: err }
    }
    log.warn('Stripe refused the refund; its reservation is given back', {
      order_id: r.orderId,
      refund_id: r.id,
      err: safeError(err),
    })
    const settled = await db.transaction((tx) =>
      settleRefundTx(
        tx,
        r.id,
        { status: 'failed', failureReason: (err as Error).message, attempt: r.attempts },
        null,
      ),
    )
    return { status: settled.refund.status, error: err }
  }
  const settled = await db.transaction((tx) =>
    settleRefundTx(
      tx,
      r.id,
      { status: refundStatusOf(answer.status), providerRefundId: answer.id, attempt: r.attempts },
      null,
    ),
  )
  return { status: settled.refund.status }
}

export interface RefundHooks {
  /** runs inside the transaction that reserves the refund (e.g. the Idempotency-Key's saver) */
  within?: (tx: Runner, refundId: string) => Promise<void>
  /** under the order's lock, before anything is written */
  check?: (order: FullOrder) => void
}

/** Whether the order's money came through Stripe (then its refunds go back through Stripe). */
export const paidThroughStripe = (order: FullOrder) => {
  const p = payingPayment(order)
  return p !== null && p.provider === 'stripe' && p.providerPaymentId !== null
}

/** A refund amount Stripe cannot take for this currency is the client's 422 on `amount`. */
export function checkStripeAmount(cents: number, currency: string): void {
  try {
    toStripeAmount(cents, currency)
  } catch (err) {
    if (err instanceof StripeAmountError)
      throw fieldError('amount', err.message, 'not_refundable_by_provider')
    throw err
  }
}

/**
 * One refund (amount, items, shipping) with every rule of the /refund contract. Paid through Stripe: the
 * reservation commits, Stripe is called outside any transaction, and its answer settles the row (502
 * `payment_provider_error` when Stripe refused: nothing was refunded). Paid manually: reserved and settled
 * in one transaction. Returns the row's status: `pending` when Stripe's answer is still unknown.
 */
export async function refundOrder(
  db: Db,
  orderId: string,
  input: RefundInput,
  actor: { actorId: string | null },
  hooks: RefundHooks = {},
): Promise<RefundResult> {
  const head = await loadOrder(db, orderId)
  const viaStripe = head !== undefined && paidThroughStripe(head)
  const reserved = await db.transaction(async (tx) => {
    const r = await reserveRefund(tx, orderId, input, {
      actorId: actor.actorId,
      check: (order, plan) => {
        hooks.check?.(order)
        if (viaStripe) checkStripeAmount(plan.totalCents, order.currency)
      },
    })
    // the key is saved with the reservation: a retry with the same key while Stripe is being called
    // replays this refund instead of starting a second one
    await hooks.within?.(tx, r.refund.id)
    if (!viaStripe) await settleRefundTx(tx, r.refund.id, { status: 'succeeded' }, actor.actorId)
    return r.refund
  })
  if (!viaStripe) return { refundId: reserved.id, status: 'succeeded' }
  const sent = await sendRefund(db, reserved)
  if (sent.status === 'failed' || sent.status === 'cancelled') throw refusedProblem(reserved.id)
  return { refundId: reserved.id, status: sent.status }
}

export const refusedProblem = (refundId: string) =>
  new ProblemError(
    502,
    'payment_provider_error',
    'The payment provider did not accept the refund; nothing was refunded.',
    { refund_id: refundId },
  )

// ---------------------------------------------------------------------------------------------------
// Stripe's truth about one refund (refund.* and charge.refunded webhooks, the reconcile cron)
// ---------------------------------------------------------------------------------------------------

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Bring our row for a Stripe refund to Stripe's status: found by Stripe's id or by `metadata.refund_id`
 * (ours, even before its answer arrived). A refund made elsewhere (Stripe's dashboard) is recorded: for
 * the order's own payment it counts in the order's refunded total; for a payment sent back as unexpected it
 * does not. `first` runs in the same transaction (a webhook event's once-only row): false means done before.
 */
export async function reconcileStripeRefund(
  db: Db,
  orderId: string,
  r: Stripe.Refund,
  first?: (tx: Runner) => Promise<boolean>,
): Promise<'duplicate' | 'settled' | 'recorded' | 'unchanged'> {
  return db.transaction(async (tx) => {
    if (first && !(await first(tx))) return 'duplicate'
    await lockOrder(tx, orderId)
    const ours = r.metadata?.refund_id
    const [row] = await tx
      .select({ id: refunds.id })
      .from(refunds)
      .where(
        and(
          eq(refunds.orderId, orderId),
          ours && UUID.test(ours)
            ? sql`(${refunds.providerRefundId} = ${r.id} or ${refunds.id} = ${ours.toLowerCase()})`
            : eq(refunds.providerRefundId, r.id),
        ),
      )
      // Stripe's own id first: a row we once marked failed may carry the same refund_id
      .orderBy(sql`${refunds.providerRefundId} = ${r.id} desc nulls last`)
      .limit(1)
    const outcome = { status: refundStatusOf(r.status), providerRefundId: r.id }
    if (row) {
      const s = await settleRefundTx(tx, row.id, outcome, null)
      return s.changed ? 'settled' : 'unchanged'
    }
    await recordForeignRefund(tx, orderId, r)
    return 'recorded'
  })
}

/** A refund made outside this API: a row of its own, reserved and settled like ours. */
async function recordForeignRefund(tx: Runner, orderId: string, r: Stripe.Refund): Promise<void> {
  const order = (await loadOrder(tx, orderId))!
  const piId = typeof r.payment_intent === 'string' ? r.payment_intent : (r.payment_intent?.id ?? null)
  const payment = order.payments.find((p) => p.providerPaymentId === piId) ?? null
  const status = refundStatusOf(r.status)
  if (payment?.metadata?.unexpected === true) {
    // a payment we sent back anyway: outside the order's totals
    const [row] = await tx
      .insert(refunds)
      .values({
        orderId,
        paymentId: payment.id,
        kind: 'unexpected_payment',
        amountCents: fromStripeAmount(r.amount, r.currency),
        currency: r.currency.toUpperCase(),
        reason: 'refunded in Stripe',
        providerRefundId: r.id,
        status: 'pending',
        attemptedAt: clockNow(),
      })
      .onConflictDoNothing()
      .returning({ id: refunds.id })
    if (row) await settleRefundTx(tx, row.id, { status }, null)
    return
  }
  // never above what is left to refund: more than that is flagged for staff instead
  const amount = fromStripeAmount(r.amount, r.currency)
  const left = order.paidAmountCents - order.refundedAmountCents
  const counted = Math.min(amount, left)
  const paid = ['paid', 'partially_refunded'].includes(order.financialStatus)
  if (!paid || counted < amount || status === 'failed' || status === 'cancelled') {
    await addFlag(tx, orderId, {
      code: 'refund_outside_api',
      message: `Stripe refunded ${toMajor(amount, order.currency)} ${order.currency} outside this API; check the order's figures.`,
      provider_refund_id: r.id,
    })
  }
  if (!paid || counted <= 0 || status === 'failed' || status === 'cancelled') return
  const { refund } = await reserveRefund(
    tx,
    orderId,
    { amountCents: counted, reason: 'refunded in Stripe' },
    {
      actorId: null,
    },
  )
  await settleRefundTx(tx, refund.id, { status, providerRefundId: r.id }, null)
}
