import { and, eq, inArray, lte, sql } from 'drizzle-orm'
import { Resend } from 'resend'
import { outboxEmails } from '../../db/schema/index.js'
import { afterResponse } from '../platform/background.js'
import { now } from '../platform/clock.js'
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

const MAX_ATTEMPTS = 8

let client: Resend | undefined
function resend(): Resend | undefined {
  const key = env().RESEND_API_KEY
  if (!key) return undefined
  client ??= new Resend(key, { baseUrl: env().RESEND_API_BASE })
  return client
}

/** Send pending rows (all due ones, or just `ids`). Returns how many were sent and failed. */
export async function deliverOutbox(db: Db, ids?: string[]): Promise<{ sent: number; failed: number }> {
  const api = resend()
  if (!api) return { sent: 0, failed: 0 }
  const due = await db
    .select()
    .from(outboxEmails)
    .where(
      and(
        eq(outboxEmails.status, 'pending'),
        lte(outboxEmails.nextAttemptAt, now()),
        ids ? inArray(outboxEmails.id, ids) : undefined,
      ),
    )
    .limit(50)
  let sent = 0
  let failed = 0
  for (const row of due) {
    const rendered = renderEmail(row.template as EmailTemplate, row.payload)
    const { data, error } = await api.emails.send(
      {
        from: env().FROM_EMAIL,
        to: row.toEmail,
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
      },
      { idempotencyKey: `outbox-${row.id}` },
    )
    if (data?.id && !error) {
      sent++
      await db
        .update(outboxEmails)
        .set({
          status: 'sent',
          sentAt: now(),
          providerMessageId: data.id,
          payload: {},
          attempts: row.attempts + 1,
        })
        .where(eq(outboxEmails.id, row.id))
    } else {
      failed++
      const attempts = row.attempts + 1
      await db
        .update(outboxEmails)
        .set({
          attempts,
          lastError: (error?.message ?? 'unknown error').slice(0, 500),
          status: attempts >= MAX_ATTEMPTS ? 'failed' : 'pending',
          // Exponential backoff: 1, 2, 4 ... minutes.
          nextAttemptAt: sql`now() + ${`${2 ** (attempts - 1)} minutes`}::interval`,
        })
        .where(eq(outboxEmails.id, row.id))
      log.warn('email delivery failed', { outbox_id: row.id, attempts })
    }
  }
  return { sent, failed }
}

/** Deliver freshly enqueued rows after the response; cron picks up whatever this misses. */
export function deliverAfterResponse(ids: string[]): void {
  const wanted = ids.filter(Boolean)
  if (!wanted.length || !env().RESEND_API_KEY) return
  afterResponse(async () => deliverOutbox(await getDb(), wanted))
}
