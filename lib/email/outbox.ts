import { and, asc, eq, inArray, lt, lte, sql } from 'drizzle-orm'
import type { Resend } from 'resend'
import { z } from 'zod'
import { type OutboxEmail, outboxEmails, users } from '../../db/schema/index.js'
import { afterResponse } from '../platform/background.js'
import { now, nowMs } from '../platform/clock.js'
import { type Db, getDb } from '../platform/db.js'
import { env } from '../platform/env.js'
import { log } from '../platform/logger.js'
import { type EmailTemplate, renderEmail } from './templates.js'

// Outbound email is a fact written with the change that caused it (outbox row, same transaction),
// delivered after the response through Resend when configured, and retried by cron. Without
// RESEND_API_KEY rows stay pending and readable (development). Sent rows drop their payload, which
// may hold a single-use link.

export async function enqueueEmail(
  db: Db,
  email: {
    to: string
    /** Whose email this is (null only for mail to no account); erasure scrubs by it. */
    userId: string | null
    template: EmailTemplate
    data?: Record<string, unknown>
    dedupeKey?: string
  },
): Promise<string> {
  const rendered = renderEmail(email.template, email.data ?? {})
  const [row] = await db
    .insert(outboxEmails)
    .values({
      toEmail: email.to,
      userId: email.userId,
      template: email.template,
      subject: rendered.subject,
      payload: { ...(email.data ?? {}) },
      dedupeKey: email.dedupeKey ?? null,
    })
    .onConflictDoNothing()
    .returning({ id: outboxEmails.id })
  return row?.id ?? ''
}

/** Attempts per email; the last failure marks it `failed` for good. */
export const MAX_ATTEMPTS = 8
/** Minutes to wait after the n-th failed attempt: 1, 2, 4 ... 64 (about two hours in all). */
export const retryDelayMinutes = (attempts: number): number => 2 ** (attempts - 1)
/**
 * A claimed row belongs to its sender for this long; a sender that died mid-way leaves it to the next
 * run after that. Far longer than one batch can take (SEND_TIMEOUT_MS per email).
 */
const CLAIM_LEASE_MS = 10 * 60_000
const SEND_TIMEOUT_MS = 10_000
/**
 * An email that could not go out within a day is not sent late: its links have expired, and Resend
 * keeps an idempotency key for 24 hours, so a later attempt could no longer be recognised as a repeat.
 */
const MAX_AGE_MS = 24 * 3600_000

// The `resend` package is imported at the first send, not at import (ADR 009: cold start), so functions
// that only enqueue or never email do not load it.
let client: Resend | undefined
let clientKey: string | undefined
async function resend(): Promise<Resend | undefined> {
  const key = env().RESEND_API_KEY
  if (!key) return undefined
  if (!client || clientKey !== key) {
    const { Resend: ResendCtor } = await import('resend')
    client = new ResendCtor(key, { baseUrl: env().RESEND_API_BASE })
    clientKey = key
  }
  return client
}

export interface DeliveryReport {
  /** Accepted by Resend. */
  sent: number
  /** Failed this time, tried again after the backoff. */
  retrying: number
  /** Given up: the attempts are used up or Resend refused the email as invalid. */
  failed: number
}

type Claimed = Pick<OutboxEmail, 'id' | 'toEmail' | 'template' | 'payload' | 'attempts'>

/**
 * Take up to `limit` due rows for this sender alone. One statement: rows another sender holds are
 * skipped (SKIP LOCKED), the outer conditions are checked again on the locked row, and the claim pushes
 * next_attempt_at past the lease, so a concurrent or later run cannot take the same row while it is
 * being sent. The attempt is counted here, so an email that crashes its sender still reaches the cap.
 */
async function claimDue(db: Db, limit: number, ids?: string[]): Promise<Claimed[]> {
  const t = now()
  const due = and(eq(outboxEmails.status, 'pending'), lte(outboxEmails.nextAttemptAt, t))
  const pick = db
    .select({ id: outboxEmails.id })
    .from(outboxEmails)
    .where(and(due, ids ? inArray(outboxEmails.id, ids) : undefined))
    .orderBy(asc(outboxEmails.nextAttemptAt))
    .limit(limit)
    .for('update', { skipLocked: true })
  return db
    .update(outboxEmails)
    .set({
      attempts: sql`${outboxEmails.attempts} + 1`,
      nextAttemptAt: new Date(t.getTime() + CLAIM_LEASE_MS),
    })
    .where(and(inArray(outboxEmails.id, pick), due))
    .returning({
      id: outboxEmails.id,
      toEmail: outboxEmails.toEmail,
      template: outboxEmails.template,
      payload: outboxEmails.payload,
      attempts: outboxEmails.attempts,
    })
}

/** Give up pending rows older than a day (see MAX_AGE_MS). Returns how many. */
async function expireStale(db: Db): Promise<number> {
  const rows = await db
    .update(outboxEmails)
    .set({ status: 'failed', lastError: 'not delivered within 24 hours', payload: {} })
    .where(
      and(
        eq(outboxEmails.status, 'pending'),
        lt(outboxEmails.createdAt, new Date(now().getTime() - MAX_AGE_MS)),
      ),
    )
    .returning({ id: outboxEmails.id })
  return rows.length
}

// Resend answers 400/422 for an email it will never accept (bad address, missing field); anything else
// (rate limits, outages, timeouts, a key being rotated) may pass on a later attempt.
const isPermanent = (status: number | null) => status === 400 || status === 422

/** Send one claimed row and record the outcome, unless someone else changed the row meanwhile. */
async function sendClaimed(db: Db, api: Resend, row: Claimed): Promise<keyof DeliveryReport> {
  const rendered = renderEmail(row.template as EmailTemplate, row.payload)
  const { data, error } = await api.emails.send(
    {
      from: env().FROM_EMAIL,
      to: row.toEmail,
      subject: rendered.subject,
      text: rendered.text,
      html: rendered.html,
    },
    // Resend treats a repeated key as the same email: a retry after a send whose answer was lost (or
    // whose sender died before recording it) is not delivered a second time.
    { idempotencyKey: `outbox-${row.id}`, signal: AbortSignal.timeout(SEND_TIMEOUT_MS) },
  )
  // Only the holder of this claim records its outcome: erasure may have cancelled the row meanwhile,
  // or, past the lease, another run may hold a newer claim.
  const stillOurs = and(
    eq(outboxEmails.id, row.id),
    eq(outboxEmails.status, 'pending'),
    eq(outboxEmails.attempts, row.attempts),
  )
  if (data?.id && !error) {
    await db
      .update(outboxEmails)
      .set({ status: 'sent', sentAt: now(), providerMessageId: data.id, payload: {}, lastError: null })
      .where(stillOurs)
    return 'sent'
  }
  const giveUp = row.attempts >= MAX_ATTEMPTS || isPermanent(error?.statusCode ?? null)
  await db
    .update(outboxEmails)
    .set({
      lastError: `${error?.name ?? 'unknown_error'}: ${error?.message ?? 'no answer'}`.slice(0, 500),
      ...(giveUp
        ? // A failed row keeps no payload: it may hold a single-use link.
          { status: 'failed' as const, payload: {} }
        : { nextAttemptAt: new Date(now().getTime() + retryDelayMinutes(row.attempts) * 60_000) }),
    })
    .where(stillOurs)
  log.warn('email delivery failed', {
    outbox_id: row.id,
    attempts: row.attempts,
    reason: error?.name,
    gave_up: giveUp,
  })
  return giveUp ? 'failed' : 'retrying'
}

/**
 * Send due rows (all of them, or just `ids`), claiming `batchSize` at a time, until none is left, `max`
 * were handled or `budgetMs` has passed (the next run takes the rest). Without RESEND_API_KEY nothing is
 * sent and rows stay pending.
 */
export async function deliverOutbox(
  db: Db,
  ids?: string[],
  opts: { batchSize?: number; max?: number; budgetMs?: number } = {},
): Promise<DeliveryReport & { expired: number }> {
  const report = { sent: 0, retrying: 0, failed: 0, expired: 0 }
  const api = await resend()
  if (!api) return report
  const { batchSize = 10, max = 200, budgetMs = 30_000 } = opts
  const started = nowMs()
  if (!ids) report.expired = await expireStale(db)
  let handled = 0
  while (handled < max && nowMs() - started < budgetMs) {
    const batch = await claimDue(db, Math.min(batchSize, max - handled), ids)
    if (!batch.length) break
    for (const row of batch) report[await sendClaimed(db, api, row)]++
    handled += batch.length
  }
  return report
}

export const OutboxReportSchema = z.object({
  configured: z.boolean().describe('false without RESEND_API_KEY: nothing is sent, rows stay pending.'),
  sent: z.number().int().describe('Emails Resend accepted.'),
  retrying: z.number().int().describe('Emails that failed this time and wait for their next attempt.'),
  failed: z.number().int().describe('Emails given up: attempts used up, or refused by Resend as invalid.'),
  expired: z.number().int().describe('Emails still unsent after 24 hours, given up unsent.'),
})
export type OutboxReport = z.infer<typeof OutboxReportSchema>

/** The cron run: every due email, within one run's budget. */
export async function runOutboxDelivery(db: Db): Promise<OutboxReport> {
  return { configured: Boolean(env().RESEND_API_KEY), ...(await deliverOutbox(db)) }
}

/** Deliver freshly enqueued rows after the response; cron picks up whatever this misses. */
export function deliverAfterResponse(ids: string[]): void {
  const wanted = ids.filter(Boolean)
  if (!wanted.length || !env().RESEND_API_KEY) return
  afterResponse(async () => deliverOutbox(await getDb(), wanted))
}

/**
 * One email to every member of staff who can act on it (staff and admins, active, not erased), in one
 * statement whatever their number. Returns the outbox ids.
 */
export async function enqueueEmailToStaff(
  db: Db,
  template: EmailTemplate,
  data: Record<string, unknown>,
): Promise<string[]> {
  const { subject } = renderEmail(template, data)
  const result = (await db.execute(sql`
    insert into ${outboxEmails} (to_email, user_id, template, subject, payload)
    select u.email, u.id, ${template}, ${subject},
           ${JSON.stringify(data)}::jsonb || jsonb_build_object('first_name', u.first_name)
    from ${users} u
    where u.role in ('staff', 'admin') and u.is_active and u.deleted_at is null
    returning id
  `)) as unknown as { rows: Array<{ id: string }> }
  return result.rows.map((r) => r.id)
}
