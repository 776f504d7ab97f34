import { and, eq, isNull } from 'drizzle-orm'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { outboxEmails, userActivities, userSessions, users } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { resetRateLimits } from '../../lib/platform/ratelimit.js'
import { resetKv } from '../../lib/platform/redis.js'
import { DEFAULT_PASSWORD, makeUser } from '../support/factories.js'
import { call } from '../support/http.js'

// Issue 3's races, on real PostgreSQL through the Neon driver (PGlite runs one query at a time, so these
// prove nothing there): concurrent refreshes with one token, and concurrent failures around the lockout.

const savedEnv = new Map<string, string | undefined>()

function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (!savedEnv.has(k)) savedEnv.set(k, process.env[k])
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  resetEnv()
}

beforeEach(() => {
  setEnv({
    RATE_LIMIT_AUTH_LOGIN: '1000/60',
    RATE_LIMIT_AUTH_LOGIN_ACCOUNT: '1000/60',
    RATE_LIMIT_AUTH_REFRESH: '1000/60',
    RATE_LIMIT_DEFAULT: '1000/60',
  })
})

afterEach(() => {
  for (const [k, v] of savedEnv) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  savedEnv.clear()
  resetEnv()
  resetKv()
  resetRateLimits()
})

const refresh = (refresh_token: string) => call('POST', '/api/v1/auth/refresh', { body: { refresh_token } })
const me = (token: string) => call('GET', '/api/v1/auth/me', { token })

async function liveSessions(userId: string) {
  return (await getDb())
    .select()
    .from(userSessions)
    .where(and(eq(userSessions.userId, userId), isNull(userSessions.revokedAt)))
}

describe('concurrent refreshes with one refresh token', () => {
  it('rotate exactly once, and the others, presenting the replaced token, end the whole family', async () => {
    // Of the conditional UPDATEs on one row exactly one matches the current token; every other one
    // waits for it to commit, then finds the token replaced: reuse, which ends the session. So always
    // exactly one 200 and no live session, whatever the interleaving. Several rounds, so a race that is
    // lost once in a while still shows up.
    for (let round = 0; round < 5; round++) {
      const { user, token, refreshToken } = await makeUser()
      const results = await Promise.all(Array.from({ length: 10 }, () => refresh(refreshToken)))

      for (const r of results) expect([200, 401], r.text).toContain(r.status)
      const winners = results.filter((r) => r.status === 200)
      expect(winners, `round ${round}`).toHaveLength(1)
      expect(
        results.filter((r) => r.body?.code === 'refresh_token_reused').length,
        `round ${round}`,
      ).toBeGreaterThanOrEqual(1)
      expect(await liveSessions(user.id), `round ${round}`).toHaveLength(0)

      // Nothing of the family works any more: the old pair, the new pair, the original refresh token.
      const winner = winners[0]!
      expect((await me(winner.body.access_token)).status).toBe(401)
      expect((await me(token)).status).toBe(401)
      expect((await refresh(winner.body.refresh_token)).status).toBe(401)
      expect((await refresh(refreshToken)).status).toBe(401)
    }
  })
})

describe('concurrent wrong-password logins around the lockout threshold', () => {
  it('lock the account once, with exactly one unlock email', async () => {
    setEnv({ MAX_LOGIN_ATTEMPTS: '5' })
    const db = await getDb()
    const { user } = await makeUser()

    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        call('POST', '/api/v1/auth/login', { body: { email: user.email, password: 'Wrong-Guess-4711' } }),
      ),
    )
    for (const r of results) {
      expect(r.status).toBe(401)
      expect(r.body.code).toBe('invalid_credentials')
    }

    const [row] = await db.select().from(users).where(eq(users.id, user.id))
    expect(row!.failedLoginAttempts).toBeGreaterThanOrEqual(5)
    expect(row!.lockedUntil).not.toBeNull()
    expect(row!.lockedUntil!.getTime()).toBeGreaterThan(Date.now())

    const mails = await db
      .select()
      .from(outboxEmails)
      .where(and(eq(outboxEmails.toEmail, user.email), eq(outboxEmails.template, 'account_locked')))
    expect(mails).toHaveLength(1)
    const locks = await db
      .select()
      .from(userActivities)
      .where(and(eq(userActivities.userId, user.id), eq(userActivities.action, 'auth.locked')))
    expect(locks).toHaveLength(1)

    const right = await call('POST', '/api/v1/auth/login', {
      body: { email: user.email, password: DEFAULT_PASSWORD },
    })
    expect(right.status).toBe(401)
    expect(right.body.code).toBe('invalid_credentials')
    expect(right.text).not.toContain('access_token')
  })

  it('cannot be raced: a right password among parallel wrong ones never clears the lock they set', async () => {
    // Whatever order the database serialises them in, 20 failures against a threshold of 5 lock the account
    // exactly once and leave it locked: a success serialised before the fifth failure is followed by at
    // least 15 more (one lock, after it); a success serialised after the fifth must itself be refused.
    // A sign-in that read "not locked" before the lock and then resets the counter breaks both.
    setEnv({ MAX_LOGIN_ATTEMPTS: '5' })
    const db = await getDb()
    for (let round = 0; round < 3; round++) {
      const { user } = await makeUser()
      const attempt = (password: string) =>
        call('POST', '/api/v1/auth/login', { body: { email: user.email, password } })
      const passwords: string[] = Array.from({ length: 20 }, () => 'Wrong-Guess-4711')
      passwords.splice(10, 0, DEFAULT_PASSWORD)
      const results = await Promise.all(passwords.map(attempt))
      const right = results[10]!
      expect([200, 401]).toContain(right.status)
      expect(results.filter((r) => r.status === 401)).toHaveLength(right.status === 200 ? 20 : 21)

      const [row] = await db.select().from(users).where(eq(users.id, user.id))
      const locks = await db
        .select()
        .from(userActivities)
        .where(and(eq(userActivities.userId, user.id), eq(userActivities.action, 'auth.locked')))
      const mails = await db
        .select()
        .from(outboxEmails)
        .where(and(eq(outboxEmails.toEmail, user.email), eq(outboxEmails.template, 'account_locked')))
      const seen = `round ${round}: right password ${right.status}, ${locks.length} lock(s), locked_until ${row!.lockedUntil?.toISOString() ?? null}`
      expect(locks.length, seen).toBe(1)
      expect(mails.length, seen).toBe(1)
      expect(row!.lockedUntil, seen).not.toBeNull()
      expect(row!.lockedUntil!.getTime(), seen).toBeGreaterThan(Date.now())
      const after = await attempt(DEFAULT_PASSWORD)
      expect(after.status, seen).toBe(401)
      expect(after.text).not.toContain('access_token')
    }
  })
})
