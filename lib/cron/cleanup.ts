import { inArray, isNotNull, lt, lte, or, type SQL } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import { z } from 'zod'
import { idempotencyKeys, userSessions, userTokens } from '../../db/schema/index.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'

// The daily purge of rows that no longer mean anything. Deletes go in small batches, each its own
// statement, so no run holds locks for long or grows with a backlog; what is left over is reported and
// the next run continues.

/**
 * Ended sessions are kept this long: their device, address and end reason help to look into a security
 * event (and appear in the owner's personal-data export) for a while; past that they are dead weight.
 */
export const SESSION_RETENTION_DAYS = 30

export const CleanupReportSchema = z.object({
  idempotency_keys: z.number().int().describe('Idempotency keys past their 24 hours.'),
  one_time_tokens: z.number().int().describe('Emailed tokens that were used or have expired.'),
  sessions: z
    .number()
    .int()
    .describe(`Sessions revoked or expired more than ${SESSION_RETENTION_DAYS} days ago.`),
  more: z.boolean().describe('A table had more than one run purges; the next run goes on.'),
})
export type CleanupReport = z.infer<typeof CleanupReportSchema>

export interface CleanupLimits {
  /** Rows per DELETE. */
  batchSize?: number
  /** DELETEs per table and run. */
  maxBatches?: number
}

export async function runCleanup(db: Db, limits: CleanupLimits = {}): Promise<CleanupReport> {
  const t = now()
  const retained = new Date(t.getTime() - SESSION_RETENTION_DAYS * 86_400_000)
  const keys = await purge(db, idempotencyKeys, idempotencyKeys.id, lte(idempotencyKeys.expiresAt, t), limits)
  const tokens = await purge(
    db,
    userTokens,
    userTokens.id,
    or(isNotNull(userTokens.usedAt), lte(userTokens.expiresAt, t))!,
    limits,
  )
  const sessions = await purge(
    db,
    userSessions,
    userSessions.id,
    or(lt(userSessions.revokedAt, retained), lt(userSessions.expiresAt, retained))!,
    limits,
  )
  return {
    idempotency_keys: keys.deleted,
    one_time_tokens: tokens.deleted,
    sessions: sessions.deleted,
    more: keys.more || tokens.more || sessions.more,
  }
}

async function purge(
  db: Db,
  table: PgTable,
  id: PgColumn,
  where: SQL,
  { batchSize = 1000, maxBatches = 10 }: CleanupLimits,
): Promise<{ deleted: number; more: boolean }> {
  let deleted = 0
  for (let batch = 0; batch < maxBatches; batch++) {
    // SKIP LOCKED: overlapping runs take different rows instead of queueing (or deadlocking) on the same.
    const pick = db
      .select({ id })
      .from(table)
      .where(where)
      .limit(batchSize)
      .for('update', { skipLocked: true })
    const rows = await db.delete(table).where(inArray(id, pick)).returning({ id })
    deleted += rows.length
    if (rows.length < batchSize) return { deleted, more: false }
  }
  // The last batch was full: whether anything is left is the next run's question.
  return { deleted, more: true }
}
