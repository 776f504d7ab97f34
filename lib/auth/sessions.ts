import { and, eq, gt, isNull, ne, sql } from 'drizzle-orm'
import { userSessions, users } from '../../db/schema/index.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { env } from '../platform/env.js'
import { newId, randomToken, sha256 } from '../platform/ids.js'
import { log } from '../platform/logger.js'
import type { RequestMeta } from './activity.js'
import { recordActivity } from './activity.js'
import { forgetSessions } from './authenticate.js'
import { accessTokenTtlSeconds, signToken } from './tokens.js'

// Sessions: one row per sign-in. The refresh token is `<session id>.<256-bit secret>`, stored as the
// SHA-256 of the whole token and rotated on every use. Presenting the token it replaced is reuse: the
// session (its whole token family) ends at once.

export interface IssuedTokens {
  access_token: string
  refresh_token: string
  token_type: 'bearer'
  expires_in: number
  user_id: string
  requires_mfa: false
  session_id: string
}

const newRefreshToken = (sessionId: string) => `${sessionId}.${randomToken()}`
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

async function tokensFor(userId: string, sessionId: string, refresh: string): Promise<IssuedTokens> {
  const ttl = accessTokenTtlSeconds()
  return {
    access_token: await signToken('access', userId, sessionId, ttl),
    refresh_token: refresh,
    token_type: 'bearer',
    expires_in: ttl,
    user_id: userId,
    requires_mfa: false,
    session_id: sessionId,
  }
}

/** Open a session and issue its first token pair. */
export async function startSession(
  db: Db,
  userId: string,
  meta: Partial<RequestMeta> = {},
): Promise<IssuedTokens> {
  const id = newId()
  const refresh = newRefreshToken(id)
  const expiresAt = new Date(now().getTime() + env().REFRESH_TOKEN_EXPIRE_DAYS * 86_400_000)
  await db.insert(userSessions).values({
    id,
    userId,
    refreshTokenHash: sha256(refresh),
    ipAddress: meta.ip ?? null,
    userAgent: meta.userAgent ?? null,
    expiresAt,
  })
  return tokensFor(userId, id, refresh)
}

export type RefreshOutcome =
  | { ok: true; tokens: IssuedTokens }
  | { ok: false; reason: 'invalid' | 'reused' | 'inactive' }

/**
 * Rotate a refresh token. One conditional UPDATE: of two concurrent refreshes with the same token only
 * one matches; the other sees a replaced token, which is reuse, and ends the session.
 */
export async function rotateRefreshToken(db: Db, token: string, meta: RequestMeta): Promise<RefreshOutcome> {
  const sessionId = token.split('.')[0] ?? ''
  if (!UUID.test(sessionId) || token.length > 200) return { ok: false, reason: 'invalid' }
  const next = newRefreshToken(sessionId)
  const outcome = await db.transaction(async (tx): Promise<RefreshOutcome> => {
    // A suspended or erased user's session ends; a locked one is refused but survives the lockout.
    const [owner] = await tx
      .select({
        userId: users.id,
        active: sql<boolean>`${users.isActive} and ${users.deletedAt} is null`,
        locked: sql<boolean>`coalesce(${users.lockedUntil} > ${now()}, false)`,
      })
      .from(userSessions)
      .innerJoin(users, eq(users.id, userSessions.userId))
      .where(eq(userSessions.id, sessionId))
    if (owner && !owner.active) {
      await tx
        .update(userSessions)
        .set({ revokedAt: now(), revokedReason: 'user_inactive' })
        .where(and(eq(userSessions.id, sessionId), isNull(userSessions.revokedAt)))
      return { ok: false, reason: 'inactive' }
    }
    if (owner?.locked) return { ok: false, reason: 'inactive' }
    const [rotated] = await tx
      .update(userSessions)
      .set({
        refreshTokenHash: sha256(next),
        previousTokenHash: sha256(token),
        rotatedAt: now(),
        lastUsedAt: now(),
        ipAddress: meta.ip,
        userAgent: meta.userAgent,
      })
      .where(
        and(
          eq(userSessions.id, sessionId),
          eq(userSessions.refreshTokenHash, sha256(token)),
          isNull(userSessions.revokedAt),
          gt(userSessions.expiresAt, now()),
        ),
      )
      .returning({ userId: userSessions.userId })
    if (rotated) return { ok: true, tokens: await tokensFor(rotated.userId, sessionId, next) }
    // Not the current token. The one it replaced coming back is reuse (a copy is in someone else's hands,
    // or two clients raced): the family ends. Anything else is just invalid: knowing a session id must
    // not be enough to end that session.
    const [live] = await tx
      .update(userSessions)
      .set({ revokedAt: now(), revokedReason: 'refresh_token_reuse' })
      .where(
        and(
          eq(userSessions.id, sessionId),
          eq(userSessions.previousTokenHash, sha256(token)),
          isNull(userSessions.revokedAt),
          gt(userSessions.expiresAt, now()),
        ),
      )
      .returning({ userId: userSessions.userId })
    if (!live) return { ok: false, reason: 'invalid' }
    await recordActivity(tx, {
      userId: live.userId,
      action: 'auth.refresh_token_reused',
      resource: 'session',
      resourceId: sessionId,
      meta,
    })
    return { ok: false, reason: 'reused' }
  })
  if (!outcome.ok) await forgetSessions([sessionId]).catch(() => undefined)
  return outcome
}

/** End one session of a user (no-op if it is not theirs or already ended). Returns whether it ended. */
export async function endSession(
  db: Db,
  userId: string,
  sessionId: string,
  reason: string,
  activity?: { action: string; meta: RequestMeta },
): Promise<boolean> {
  if (!UUID.test(sessionId)) return false
  const ended = await db.transaction(async (tx) => {
    const rows = await tx
      .update(userSessions)
      .set({ revokedAt: now(), revokedReason: reason })
      .where(
        and(eq(userSessions.id, sessionId), eq(userSessions.userId, userId), isNull(userSessions.revokedAt)),
      )
      .returning({ id: userSessions.id })
    if (rows.length && activity) {
      await recordActivity(tx, {
        userId,
        action: activity.action,
        resource: 'session',
        resourceId: sessionId,
        meta: activity.meta,
      })
    }
    return rows.length > 0
  })
  await forgetSessions([sessionId])
  return ended
}

/**
 * End every live session of a user, optionally keeping one. Returns the ended ids. Call
 * `forgetSessions(ids)` AFTER the surrounding transaction commits: forgetting earlier lets a concurrent
 * request re-cache the still-live state for up to a minute.
 */
export async function endUserSessions(
  db: Db,
  userId: string,
  reason: string,
  keepSessionId?: string,
): Promise<string[]> {
  const rows = await db
    .update(userSessions)
    .set({ revokedAt: now(), revokedReason: reason })
    .where(
      and(
        eq(userSessions.userId, userId),
        isNull(userSessions.revokedAt),
        keepSessionId ? ne(userSessions.id, keepSessionId) : undefined,
      ),
    )
    .returning({ id: userSessions.id })
  return rows.map((r) => r.id)
}

/**
 * Forget cached state of all of a user's live sessions (after a role, grant, status or lock change). Runs
 * after a commit, so it never throws: a failure is logged and the cached state expires within 60 s.
 */
export async function forgetUserSessions(db: Db, userId: string): Promise<void> {
  try {
    const rows = await db
      .select({ id: userSessions.id })
      .from(userSessions)
      .where(and(eq(userSessions.userId, userId), isNull(userSessions.revokedAt)))
    await forgetSessions(rows.map((r) => r.id))
  } catch (err) {
    log.warn('session cache invalidation failed', { err })
  }
}

export async function listSessions(db: Db, userId: string, currentSessionId: string) {
  const rows = await db
    .select({
      id: userSessions.id,
      ip_address: userSessions.ipAddress,
      user_agent: userSessions.userAgent,
      created_at: userSessions.createdAt,
      last_used_at: userSessions.lastUsedAt,
      expires_at: userSessions.expiresAt,
    })
    .from(userSessions)
    .where(
      and(eq(userSessions.userId, userId), isNull(userSessions.revokedAt), gt(userSessions.expiresAt, now())),
    )
    .orderBy(sql`${userSessions.lastUsedAt} desc`)
  return rows.map((r) => ({ ...r, current: r.id === currentSessionId }))
}
