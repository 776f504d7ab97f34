import { type SQL, sql } from 'drizzle-orm'
import {
  check,
  customType,
  index,
  integer,
  jsonb,
  type PgColumn,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core'

// ---------------------------------------------------------------------------
// Shared column helpers (used by every schema file)
// ---------------------------------------------------------------------------

/** `id uuid primary key default gen_random_uuid()` */
export const id = () => uuid('id').primaryKey().defaultRandom()

/** timestamptz column (every timestamp in this schema is timestamptz). */
export const tstz = (name: string) => timestamp(name, { withTimezone: true })

/** `created_at` / `updated_at`, both timestamptz not null default now(); updated_at bumps on update. */
export const timestamps = () => ({
  createdAt: tstz('created_at').notNull().defaultNow(),
  updatedAt: tstz('updated_at')
    .notNull()
    .defaultNow()
    .$onUpdate(() => new Date()),
})

/** Postgres `tsvector` (only read through SQL; the TS side sees it as an opaque string). */
export const tsvector = customType<{ data: string }>({
  dataType() {
    return 'tsvector'
  },
})

/** SQL fragment `col in ('a', 'b', ...)` for text "enum" CHECK constraints. */
export const oneOf = (column: PgColumn, values: readonly string[]): SQL =>
  sql`${column} in (${sql.join(
    values.map((v) => sql.raw(`'${v.replaceAll("'", "''")}'`)),
    sql`, `,
  )})`

// ---------------------------------------------------------------------------
// outbox_emails: outbound email written in the same transaction as its cause
// ---------------------------------------------------------------------------

export const outboxEmailStatuses = ['pending', 'sent', 'failed'] as const

export const outboxEmails = pgTable(
  'outbox_emails',
  {
    id: id(),
    toEmail: text('to_email').notNull(),
    /** Whose email it is (no FK: users.ts builds on this file); lets erasure find every row of a person. */
    userId: uuid('user_id'),
    template: text('template').notNull(),
    subject: text('subject'),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull().default({}),
    status: text('status', { enum: outboxEmailStatuses }).notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    nextAttemptAt: tstz('next_attempt_at').notNull().defaultNow(),
    sentAt: tstz('sent_at'),
    providerMessageId: text('provider_message_id'),
    dedupeKey: text('dedupe_key'),
    ...timestamps(),
  },
  (t) => [
    check('outbox_emails_status_check', oneOf(t.status, outboxEmailStatuses)),
    check('outbox_emails_attempts_check', sql`${t.attempts} >= 0`),
    uniqueIndex('outbox_emails_dedupe_key_unique').on(t.dedupeKey),
    index('outbox_emails_status_next_attempt_idx').on(t.status, t.nextAttemptAt),
    index('outbox_emails_to_email_lower_idx').on(sql`lower(${t.toEmail})`),
    index('outbox_emails_user_id_idx').on(t.userId),
  ],
)

// ---------------------------------------------------------------------------
// webhook_events: processed inbound webhook ids (dedupe)
// ---------------------------------------------------------------------------

export const webhookEvents = pgTable(
  'webhook_events',
  {
    id: id(),
    provider: text('provider').notNull(),
    eventId: text('event_id').notNull(),
    type: text('type').notNull(),
    payload: jsonb('payload').$type<unknown>(),
    processedAt: tstz('processed_at'),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('webhook_events_provider_event_id_unique').on(t.provider, t.eventId),
    index('webhook_events_created_at_idx').on(t.createdAt),
  ],
)

// ---------------------------------------------------------------------------
// idempotency_keys: Idempotency-Key replay store (purged after 24 h)
// ---------------------------------------------------------------------------

export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    id: id(),
    key: text('key').notNull(),
    /** who + what, e.g. `<user id or 'anon'> POST /api/v1/orders` */
    scope: text('scope').notNull(),
    requestHash: text('request_hash').notNull(),
    /** null while the first request is still in flight (if a caller claims the key before answering) */
    responseStatus: integer('response_status'),
    responseBody: jsonb('response_body').$type<unknown>(),
    responseHeaders: jsonb('response_headers').$type<Record<string, string>>(),
    expiresAt: tstz('expires_at').notNull(),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('idempotency_keys_scope_key_unique').on(t.scope, t.key),
    index('idempotency_keys_expires_at_idx').on(t.expiresAt),
  ],
)

export type OutboxEmail = typeof outboxEmails.$inferSelect
export type NewOutboxEmail = typeof outboxEmails.$inferInsert
export type WebhookEvent = typeof webhookEvents.$inferSelect
export type IdempotencyKey = typeof idempotencyKeys.$inferSelect
