import { eq } from 'drizzle-orm'
import { generate } from 'otplib'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { outboxEmails, userActivities, userPermissions, userSessions, users } from '../../db/schema/index.js'
import { loadSessionState } from '../../lib/auth/authenticate.js'
import { startMfaChallenge } from '../../lib/auth/mfa.js'
import { nowMs } from '../../lib/platform/clock.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { resetRateLimits } from '../../lib/platform/ratelimit.js'
import { kv, resetKv } from '../../lib/platform/redis.js'
import { DEFAULT_PASSWORD, makeUser } from '../support/factories.js'
import { call } from '../support/http.js'

// Cases found in review: input that must be a 4xx, forged tokens, escalation paths, Redis outages.

let saved: NodeJS.ProcessEnv
beforeEach(() => {
  saved = { ...process.env }
  process.env.RATE_LIMITS = 'off'
  resetEnv()
})
afterEach(() => {
  process.env = saved
  resetEnv()
  resetKv()
  resetRateLimits()
})

describe('client input PostgreSQL cannot take', () => {
  it('refuses NUL characters anywhere with 422 invalid_character, never 500', async () => {
    const login = await call('POST', '/api/v1/auth/login', {
      body: { email: 'a\u0000@example.com', password: 'x' },
    })
    expect(login.status).toBe(422)
    expect(login.body.errors[0]).toMatchObject({ path: 'email', code: 'invalid_character' })

    const staff = await makeUser({ role: 'staff' })
    const search = await call('GET', '/api/v1/users?search=%00', { token: staff.token })
    expect(search.status).toBe(422)
    expect(search.body.errors[0].path).toBe('query.search')
  })

  it('answers dates outside what PostgreSQL stores with 422, never 500', async () => {
    const staff = await makeUser({ role: 'staff' })
    const res = await call(
      'GET',
      '/api/v1/users/analytics?from=-100000-01-01T00:00:00Z&to=-100000-01-02T00:00:00Z',
      { token: staff.token },
    )
    expect(res.status).toBe(422)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
  })
})

describe('failed sign-in for an unknown email', () => {
  it('is logged as a security event without the email or password', async () => {
    const email = `nobody-${Date.now()}@example.com`
    const res = await call('POST', '/api/v1/auth/login', { body: { email, password: 'not-the-password-42' } })
    expect(res.status).toBe(401)
    const rows = await (await getDb())
      .select()
      .from(userActivities)
      .where(eq(userActivities.action, 'auth.login_failed'))
    const row = rows.find((r) => (r.metadata as { reason?: string }).reason === 'unknown_account')
    expect(row).toBeDefined()
    expect(row!.userId).toBeNull()
    const text = JSON.stringify(row)
    expect(text).not.toContain(email)
    expect(text).not.toContain('not-the-password-42')
  })
})

describe('GDPR erasure and the outbox', () => {
  it('scrubs emails sent to any address the person had, not only the current one', async () => {
    const { token, user } = await makeUser()
    const pending = `pending-${Date.now()}@example.com`
    const change = await call('PUT', '/api/v1/auth/me', {
      token,
      body: { email: pending, current_password: DEFAULT_PASSWORD },
    })
    expect(change.status).toBe(200)
    const before = await (await getDb()).select().from(outboxEmails).where(eq(outboxEmails.toEmail, pending))
    expect(before).toHaveLength(1)
    expect(
      (await call('DELETE', '/api/v1/auth/me', { token, body: { password: DEFAULT_PASSWORD } })).status,
    ).toBe(204)
    const rows = await (await getDb()).select().from(outboxEmails).where(eq(outboxEmails.userId, user.id))
    expect(rows.length).toBeGreaterThanOrEqual(2)
    const text = JSON.stringify(rows)
    expect(text).not.toContain(pending)
    expect(text).not.toContain(user.email)
    expect(rows.every((r) => Object.keys(r.payload).length === 0)).toBe(true)
  })
})

describe('refresh tokens', () => {
  it('does not let someone who only knows a session id end that session', async () => {
    const { token, refreshToken, sessionId } = await makeUser()
    const forged = await call('POST', '/api/v1/auth/refresh', {
      body: { refresh_token: `${sessionId}.forged` },
    })
    expect(forged.status).toBe(401)
    expect(forged.body.code).toBe('invalid_refresh_token')
    expect((await call('GET', '/api/v1/auth/me', { token })).status).toBe(200)
    expect(
      (await call('POST', '/api/v1/auth/refresh', { body: { refresh_token: refreshToken } })).status,
    ).toBe(200)
  })
})

describe('account takeover through an email change', () => {
  it('lets only admins change an account email, and nobody their own through /users', async () => {
    const staff = await makeUser({ role: 'staff' })
    await (await getDb()).insert(userPermissions).values({
      userId: staff.user.id,
      permission: 'users.manage',
    })
    const victim = await makeUser()
    const byStaff = await call('PUT', `/api/v1/users/${victim.user.id}`, {
      token: staff.token,
      body: { email: 'attacker@example.com' },
    })
    expect(byStaff.status).toBe(403)
    expect(byStaff.body.code).toBe('email_change_forbidden')
    const [row] = await (await getDb()).select().from(users).where(eq(users.id, victim.user.id))
    expect(row!.email).toBe(victim.user.email)

    const admin = await makeUser({ role: 'admin' })
    const own = await call('PUT', `/api/v1/users/${admin.user.id}`, {
      token: admin.token,
      body: { email: 'elsewhere@example.com' },
    })
    expect(own.status).toBe(403)
    expect(own.body.code).toBe('self_action')
  })

  it('refuses bulk grants on your own account', async () => {
    const admin = await makeUser({ role: 'admin' })
    const res = await call('POST', '/api/v1/users/bulk-update', {
      token: admin.token,
      body: { user_ids: [admin.user.id], changes: { grants: { permissions: ['users.manage'] } } },
    })
    expect(res.status).toBe(422)
    expect(JSON.stringify(res.body.results)).toContain('self_action')
  })
})

describe('MFA login guessing', () => {
  it('spends an mfa_token after 5 wrong codes, even with rate limits off', async () => {
    const { user, token } = await makeUser()
    const enable = await call('POST', '/api/v1/auth/mfa/enable', {
      token,
      body: { password: DEFAULT_PASSWORD },
    })
    expect(enable.status).toBe(200)
    const secret = enable.body.secret as string
    const code = await generate({ secret, epoch: Math.floor(nowMs() / 1000) })
    expect((await call('POST', '/api/v1/auth/mfa/verify', { token, body: { code } })).status).toBe(200)

    const mfaToken = await startMfaChallenge(await getDb(), user.id)
    const near = new Set<string>()
    for (const d of [-30, 0, 30]) near.add(await generate({ secret, epoch: Math.floor(nowMs() / 1000) + d }))
    const wrong = ['000000', '111111', '222222', '333333', '444444', '555555', '666666'].filter(
      (c) => !near.has(c),
    )
    for (const c of wrong.slice(0, 5)) {
      const res = await call('POST', '/api/v1/auth/mfa/verify', { body: { mfa_token: mfaToken, code: c } })
      expect(res.status).toBe(401)
    }
    // The right code no longer helps: the challenge is spent.
    const right = await generate({ secret, epoch: Math.floor(nowMs() / 1000) + 30 })
    const late = await call('POST', '/api/v1/auth/mfa/verify', { body: { mfa_token: mfaToken, code: right } })
    expect(late.status).toBe(401)
    expect(late.body.code).toBe('invalid_mfa_token')
  })
})

describe('session cache invalidation', () => {
  it('keeps a revoked session dead even when a request that read Postgres earlier writes its state late', async () => {
    const { token, user, sessionId } = await makeUser()
    const db = await getDb()
    // What a slow request read from Postgres just before the logout committed:
    const stale = await loadSessionState(db, sessionId)
    expect(stale?.active).toBe(true)
    expect((await call('POST', '/api/v1/auth/logout', { token })).status).toBe(204)
    // ...and then tries to cache, after the logout's invalidation ran: refused (SET NX over a tombstone).
    expect(await kv().setIfAbsent(`session:${sessionId}`, stale, 60)).toBe(false)
    expect((await call('GET', '/api/v1/auth/me', { token })).status).toBe(401)
    expect(user.id).toBe(stale?.userId)
  })
})

describe('Redis unreachable', () => {
  it('still logs out (204, never 500) and the token is dead on the next request', async () => {
    const { token, sessionId } = await makeUser()
    process.env.UPSTASH_REDIS_REST_URL = 'http://127.0.0.1:9'
    process.env.UPSTASH_REDIS_REST_TOKEN = 'nothing-listens-here'
    resetEnv()
    resetKv()
    const out = await call('POST', '/api/v1/auth/logout', { token })
    expect(out.status).toBe(204)
    const [s] = await (await getDb()).select().from(userSessions).where(eq(userSessions.id, sessionId))
    expect(s!.revokedAt).not.toBeNull()
    expect((await call('GET', '/api/v1/auth/me', { token })).status).toBe(401)
  })
})
