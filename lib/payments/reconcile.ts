import { and, asc, eq, inArray, sql } from 'drizzle-orm'
import type { Stripe } from 'stripe'
import { z } from 'zod'
import { payments, type Refund, refunds } from '../../db/schema/index.js'
import { now as clock } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { log, safeError } from '../platform/logger.js'
import { reconcileStripeRefund, sendRefund } from './refunds.js'
import { stripe, stripeEnabled } from './stripe.js'

// GET /api/cron/reconcile-payments (every 10 minutes): refunds still `pending` are brought to Stripe's
// truth. For each, the PaymentIntent's refunds are listed at Stripe and matched by `metadata.refund_id`:
// - found: settled with Stripe's status (the one settle, lib/orders/refunds.ts);
// - absent, and its latest attempt at least RETRY_AFTER_MS ago: Stripe never made it (a timeout before
//   acting, a crash between the reservation and the call): sent again as attempt n+1 with the key
//   `<refund id>:<n+1>`. The attempt is claimed first (a conditional UPDATE), so two runs never send one
//   twice, and a key is only ever used by its own attempt: none is reused after Stripe forgot it (24 h);
// - absent but younger: left for the next run (its call may still be on its way).
// Oldest first, at most BATCH per run; one failing does not stop the rest.

export const RETRY_AFTER_MS = 10 * 60_000
export const BATCH = 50

export const ReconcileReportSchema = z.object({
  examined: z.number().int(),
  settled: z.number().int().describe('found at Stripe and settled (or still pending there)'),
  retried: z.number().int().describe('absent at Stripe after 10 minutes: sent again'),
  waiting: z.number().int().describe('absent, but their latest attempt is recent'),
  failed: z.number().int(),
})
export type ReconcileReport = z.infer<typeof ReconcileReportSchema>

export async function reconcilePayments(db: Db, at = clock()): Promise<ReconcileReport> {
  const report: ReconcileReport = { examined: 0, settled: 0, retried: 0, waiting: 0, failed: 0 }
  if (!stripeEnabled()) return report
  const due = await db
    .select({ refund: refunds, intent: payments.providerPaymentId })
    .from(refunds)
    .innerJoin(payments, eq(payments.id, refunds.paymentId))
    .where(
      and(
        eq(refunds.status, 'pending'),
        inArray(refunds.kind, ['refund', 'unexpected_payment']),
        eq(payments.provider, 'stripe'),
      ),
    )
    .orderBy(asc(refunds.attemptedAt))
    .limit(BATCH)
  report.examined = due.length
  const listed = new Map<string, Promise<Stripe.Refund[]>>()
  for (const { refund, intent } of due) {
    try {
      if (!intent) continue
      if (!listed.has(intent)) listed.set(intent, listRefunds(intent))
      report[await reconcileOne(db, refund, await listed.get(intent)!, at)]++
    } catch (err) {
      report.failed++
      log.warn('pending refund could not be reconciled', { refund_id: refund.id, err: safeError(err) })
    }
  }
  return report
}

async function listRefunds(paymentIntent: string): Promise<Stripe.Refund[]> {
  const client = await stripe()
  const all: Stripe.Refund[] = []
  for await (const r of client.refunds.list({ payment_intent: paymentIntent, limit: 100 })) all.push(r)
  return all
}

async function reconcileOne(
  db: Db,
  r: Refund,
  atStripe: Stripe.Refund[],
  at: Date,
): Promise<'settled' | 'retried' | 'waiting'> {
  const found =
    atStripe.find((x) => x.metadata?.refund_id === r.id) ??
    (r.providerRefundId ? atStripe.find((x) => x.id === r.providerRefundId) : undefined)
  if (found) {
    await reconcileStripeRefund(db, r.orderId, found)
    return 'settled'
  }
  if (at.getTime() - r.attemptedAt.getTime() < RETRY_AFTER_MS) return 'waiting'
  // claim the next attempt: of two runs, one sends it
  const [claimed] = await db
    .update(refunds)
    .set({ attempts: sql`${refunds.attempts} + 1`, attemptedAt: at, updatedAt: at })
    .where(and(eq(refunds.id, r.id), eq(refunds.status, 'pending'), eq(refunds.attempts, r.attempts)))
    .returning()
  if (!claimed) return 'waiting'
  await sendRefund(db, claimed)
  return 'retried'
}
