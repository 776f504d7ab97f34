import { eq, sql } from 'drizzle-orm'
import { userSessions, users } from '../../db/schema/index.js'
import { unauthorized } from '../http/errors.js'
import { afterResponse } from '../platform/background.js'
import { nowMs } from '../platform/clock.js'
import { type Db, preparedPerDb } from '../platform/db.js'
import { log } from '../platform/logger.js'
import type { ReadResult } from '../platform/ratelimit.js'
import { kv } from '../platform/redis.js'
import { RedisUnavailable, untrustedBefore, whenBreakerCloses } from '../platform/redis-breaker.js'
import { effectivePermissions, type Principal, type Role } from './permissions.js'
import { type AccessClaims, bearerToken, InvalidToken, verifyToken } from './tokens.js'

// Per-request authority from current state (docs/auth.md, "Authority on every request"): Postgres is the
// truth, Redis caches the session's state for at most 60 s and is deleted on every change. A cache miss
// costs one query.

export const SESSION_CACHE_TTL_SECONDS = 60
const cacheKey = (sessionId: string) => `session:${sessionId}`

export interface SessionState {
  userId: string
  active: boolean
  role: Role
  grants: Array<{ permission: string; expires_at: string | null }>
  /** The state is no longer valid after this instant (session expiry, lockout end). */
  validUntil: number
  /** When it was read from the database (ms); set on the cached copy, absent on entries of older code. */
  cachedAt?: number
}

// The session-state query runs on every cache miss: built once per database.
const sessionStateStatement = preparedPerDb((db) =>
  db
    .select({
      userId: users.id,
      role: users.role,
      isActive: users.isActive,
      lockedUntil: users.lockedUntil,
      deletedAt: users.deletedAt,
      revokedAt: userSessions.revokedAt,
      expiresAt: userSessions.expiresAt,
      grants: sql<SessionState['grants']>`coalesce((
        select json_agg(json_build_object('permission', p.permission, 'expires_at', p.expires_at))
        from user_permissions p
        where p.user_id = ${users.id} and (p.expires_at is null or p.expires_at > now())
      ), '[]'::json)`,
    })
    .from(userSessions)
    .innerJoin(users, eq(users.id, userSessions.userId))
    .where(eq(userSessions.id, sql.placeholder('sessionId')))
    .limit(1)
    .prepare('session_state'),
)

export async function loadSessionState(db: Db, sessionId: string): Promise<SessionState | null> {
  const rows = await sessionStateStatement(db).execute({ sessionId })
  const r = rows[0]
  if (!r) return null
  const t = nowMs()
  const locked = r.lockedUntil !== null && r.lockedUntil.getTime() > t
  const active = r.isActive && !locked && !r.deletedAt && !r.revokedAt && r.expiresAt.getTime() > t
  return {
    userId: r.userId,
    active,
    role: r.role,
    grants: r.grants,
    validUntil: locked ? r.lockedUntil!.getTime() : r.expiresAt.getTime(),
  }
}

// A forgotten session is marked for one cache lifetime instead of deleted: a request that read Postgres just
// before the change committed must not write its stale state back (cache writes are SET NX).
const TOMBSTONE = { forgotten: true } as const
type Cached = SessionState | typeof TOMBSTONE

/** The session state cache's key in the key-value store (route() reads it with the rate limit). */
export const sessionCacheKey = cacheKey

/** What the caller already read from the session cache (route() reads it with the rate limit). */
export type CachedRead = ReadResult<unknown>

/** Runs a task once the response is out (route() passes its own; default: afterResponse at once). */
export type Later = (task: () => Promise<unknown>) => void

async function sessionState(
  db: Db,
  sessionId: string,
  read?: CachedRead | null,
  later: Later = afterResponse,
): Promise<SessionState | null> {
  const got: CachedRead =
    read ??
    (await kv()
      .get<Cached>(cacheKey(sessionId))
      .then(
        (value): CachedRead => ({ ok: true, value }),
        (error: unknown): CachedRead => ({ ok: false, error }),
      ))
  // an open breaker logged once when it opened; every other failed read is worth a line
  if (!got.ok && !(got.error instanceof RedisUnavailable))
    log.warn('session cache read failed; using the database', { err: got.error })
  const cached = got.ok ? (got.value as Cached | null) : null
  if (
    cached &&
    !('forgotten' in cached) &&
    cached.validUntil > nowMs() &&
    // written before Redis came back from an outage: an invalidation may have been lost meanwhile
    (cached.cachedAt ?? 0) >= untrustedBefore()
  )
    return cached
  const state = await loadSessionState(db, sessionId)
  if (state && !cached) {
    const ttl = Math.min(SESSION_CACHE_TTL_SECONDS, Math.ceil((state.validUntil - nowMs()) / 1000))
    // After the response: the fill is SET NX, so a forget that lands first (a tombstone) still wins.
    if (ttl > 0)
      later(() =>
        kv()
          .setIfAbsent(cacheKey(sessionId), { ...state, cachedAt: nowMs() }, ttl)
          .catch(() => undefined),
      )
  }
  return state
}

// Invalidations this instance could not write (Redis failing, or skipped by the open breaker): written
// again as soon as Redis answers, so that a cached state another instance reads cannot outlive a
// revocation made here. Bounded: past the bound the oldest are dropped (their entries expire in 60 s).
const lostInvalidations = new Set<string>()
const LOST_MAX = 50_000
const REPLAY_BATCH = 1_000

async function replayLostInvalidations(): Promise<void> {
  if (!lostInvalidations.size) return
  const ids = [...lostInvalidations].slice(0, LOST_MAX)
  lostInvalidations.clear()
  await kv()
    .setMany(ids.map(cacheKey), TOMBSTONE, SESSION_CACHE_TTL_SECONDS)
    .then(() => log.info('session cache invalidations replayed', { sessions: ids.length }))
    .catch(() => {
      for (const id of ids) rememberLost(id)
    })
}
whenBreakerCloses(replayLostInvalidations)

function rememberLost(id: string): void {
  lostInvalidations.add(id)
  if (lostInvalidations.size > LOST_MAX) lostInvalidations.delete(lostInvalidations.values().next().value!)
}

/** Tests: invalidations waiting to be written again. */
export const lostInvalidationCount = (): number => lostInvalidations.size

/**
 * Forget cached state after any change to a session or its user (write-through invalidation), by
 * marking it for one cache lifetime, in one round trip. Never throws: an invalidation that cannot be
 * written is kept and written again once Redis answers (with the breaker closing, or with the next
 * invalidation that succeeds); meanwhile this instance reads the database (a failing Redis cannot be
 * read either).
 */
export async function forgetSessions(sessionIds: readonly string[]): Promise<void> {
  if (!sessionIds.length) return
  // with up to REPLAY_BATCH lost ones riding along
  const ids = [...new Set([...sessionIds, ...[...lostInvalidations].slice(0, REPLAY_BATCH)])]
  await kv()
    .setMany(ids.map(cacheKey), TOMBSTONE, SESSION_CACHE_TTL_SECONDS)
    .then(() => {
      for (const id of ids) lostInvalidations.delete(id)
    })
    .catch((err) => {
      for (const id of ids) rememberLost(id)
      if (!(err instanceof RedisUnavailable))
        log.warn('session cache invalidation failed', { err, sessions: sessionIds.length })
    })
}

/** The verified claims of the request's bearer access token (CPU only), null without one; 401 if bad. */
export async function readAccessToken(request: Request): Promise<AccessClaims | null> {
  const token = bearerToken(request)
  if (token === null) return null
  if (token === '') throw unauthorized('The Authorization header must be "Bearer <token>".', 'invalid_token')
  try {
    return await verifyToken(token, 'access')
  } catch (err) {
    if (err instanceof InvalidToken)
      throw unauthorized('The access token is invalid or expired.', 'invalid_token')
    throw err
  }
}

/**
 * Authority of a verified token from the current session state; 401 when the session is over. `cached`
 * is the session cache entry when the caller has read it already (route() reads it in the same Redis
 * request as the rate limit); without it the cache is read here.
 */
export async function principalFor(
  db: Db,
  claims: AccessClaims,
  cached?: CachedRead | null,
  later?: Later,
): Promise<Principal> {
  const state = await sessionState(db, claims.sid, cached, later)
  if (!state?.active || state.userId !== claims.sub) {
    throw unauthorized('The session has ended.', 'session_ended')
  }
  const t = nowMs()
  const grants = state.grants.filter((g) => g.expires_at === null || Date.parse(g.expires_at) > t)
  return {
    userId: state.userId,
    sessionId: claims.sid,
    role: state.role,
    permissions: effectivePermissions(
      state.role,
      grants.map((g) => g.permission),
    ),
  }
}

/**
 * The principal behind the request's bearer token, or null when there is none.
 * Throws 401 for a token that is malformed, expired, of another type, or whose session is dead.
 */
export async function authenticate(request: Request, db: Db): Promise<Principal | null> {
  const claims = await readAccessToken(request)
  return claims ? principalFor(db, claims) : null
}
