import { randomBytes, randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { userActivities, userSessions, users } from '../../db/schema/index.js'
import { setClock } from '../../lib/platform/clock.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { resetRateLimits } from '../../lib/platform/ratelimit.js'
import { kv, resetKv } from '../../lib/platform/redis.js'
import { DEFAULT_PASSWORD, makeUser } from '../support/factories.js'
import { type CallOptions, call } from '../support/http.js'
import { holdNextQuery } from '../support/query-hold.js'

// Security behaviour that must not quietly change: each test here fails when the guard it names is
// removed or loosened (lockout and sessions, client addresses, CORS, the limits of the auth routes).

const WRONG = 'Not-The-Password-93!'
// Low limits use day-long windows: right after a window boundary the sliding window weighs the previous
// window's hits down (rounding one away), so a short window crossed mid-test would let one more through.
const DAY = 86_400
const savedEnv = new Map<string, string | undefined>()

function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (!savedEnv.has(k)) savedEnv.set(k, process.env[k])
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  resetEnv()
}

let from: string
beforeEach(() => {
  // A client address of its own per test (limiter windows live in Redis for the whole file under
  // TEST_SERVICES); every limit generous unless the test is about it.
  from = `10.${[...randomBytes(3)].join('.')}`
  setEnv({
    VERCEL: undefined,
    CORS_ORIGINS: undefined,
    RATE_LIMIT_DEFAULT: '1000/60',
    RATE_LIMIT_AUTH_LOGIN: '1000/60',
    RATE_LIMIT_AUTH_LOGIN_ACCOUNT: '1000/300',
    RATE_LIMIT_AUTH_REFRESH: '1000/60',
    MAX_LOGIN_ATTEMPTS: '3',
    ACCOUNT_LOCKOUT_DURATION: '600',
  })
})

afterEach(() => {
  for (const [k, v] of savedEnv) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  savedEnv.clear()
  resetEnv()
  setClock(undefined)
  resetKv()
  resetRateLimits()
})

const api = (method: string, path: string, opts: CallOptions = {}) =>
  call(method, path, { socketAddress: from, ...opts })
const login = (email: string, password: string, opts: CallOptions = {}) =>
  api('POST', '/api/v1/auth/login', { body: { email, password }, ...opts })
const refresh = (refresh_token: string, opts: CallOptions = {}) =>
  api('POST', '/api/v1/auth/refresh', { body: { refresh_token }, ...opts })
const me = (token: string) => api('GET', '/api/v1/auth/me', { token })

async function lockByFailedLogins(email: string): Promise<void> {
  for (let i = 0; i < 3; i++) expect((await login(email, WRONG)).status).toBe(401)
  const [row] = await (await getDb()).select().from(users).where(eq(users.email, email))
  expect(row!.lockedUntil).not.toBeNull()
}

async function sessionRow(id: string) {
  const [s] = await (await getDb()).select().from(userSessions).where(eq(userSessions.id, id))
  return s!
}

describe('lockout and existing sessions', () => {
  it('refuses to refresh while the owner is locked, keeps the session, and refreshes again after the lock', async () => {
    const { user, refreshToken, sessionId } = await makeUser()
    await lockByFailedLogins(user.email)

    const refused = await refresh(refreshToken)
    expect(refused.status).toBe(401)
    expect(refused.body.code).toBe('invalid_refresh_token')
    expect(refused.text).not.toContain('access_token')
    // Refused, not ended: the lock is temporary and the token was not misused.
    expect((await sessionRow(sessionId)).revokedAt).toBeNull()

    const later = Date.now() + 601_000
    setClock(() => later)
    const again = await refresh(refreshToken)
    expect(again.status).toBe(200)
    expect((await me(again.body.access_token)).status).toBe(200)
  })

  it('ends the cached authority of a session the moment failed logins lock the account', async () => {
    const { user, token, sessionId } = await makeUser()
    expect((await me(token)).status).toBe(200)
    // The session's state is now cached (60 s): only the lockout's invalidation makes the next request see it.
    const cached = await kv().get<{ active?: boolean }>(`session:${sessionId}`)
    expect(cached?.active).toBe(true)

    await lockByFailedLogins(user.email)
    const after = await me(token)
    expect(after.status).toBe(401)
    expect(after.body.code).toBe('session_ended')

    // The lock ends, the session lives on.
    const later = Date.now() + 601_000
    setClock(() => later)
    expect((await me(token)).status).toBe(200)
  })
})

describe('session expiry', () => {
  it('ends a session at its expiry: the access token dies then, cached or not, and refresh is refused', async () => {
    const { token, refreshToken, sessionId } = await makeUser()
    const t = Date.now()
    setClock(() => t)
    await (await getDb())
      .update(userSessions)
      .set({ expiresAt: new Date(t + 30_000) })
      .where(eq(userSessions.id, sessionId))
    expect((await me(token)).status).toBe(200) // cached until the session's expiry, not for 60 s
    setClock(() => t + 31_000)
    const after = await me(token)
    expect(after.status).toBe(401)
    expect(after.body.code).toBe('session_ended')
    const refused = await refresh(refreshToken)
    expect(refused.status).toBe(401)
    expect(refused.body.code).toBe('invalid_refresh_token')
  })

  it('gives a new session REFRESH_TOKEN_EXPIRE_DAYS to live', async () => {
    setEnv({ REFRESH_TOKEN_EXPIRE_DAYS: '2' })
    const t = Date.now()
    setClock(() => t)
    const res = await login((await makeUser()).user.email, DEFAULT_PASSWORD)
    expect(res.status).toBe(200)
    const sid = res.body.refresh_token.split('.')[0]
    expect((await sessionRow(sid)).expiresAt.getTime()).toBe(t + 2 * 86_400_000)
    setClock(() => t + 2 * 86_400_000 - 1000)
    const rotated = await refresh(res.body.refresh_token)
    expect(rotated.status).toBe(200)
    setClock(() => t + 2 * 86_400_000 + 1000)
    expect((await refresh(rotated.body.refresh_token)).status).toBe(401)
  })
})

describe('session cache fill racing a revocation', () => {
  it('never writes state read before a logout over the logout’s invalidation (real request path)', async () => {
    const { token, sessionId } = await makeUser()
    const db = await getDb()
    // Request A reads the session from the database, then is slow to cache it: its result is held
    // until the logout below has committed and invalidated the cache.
    const hold = holdNextQuery(
      db,
      (sql, params) =>
        sql.includes('json_agg') && sql.includes('"user_sessions"') && params.includes(sessionId),
    )
    try {
      const slow = me(token)
      await hold.reached
      const out = await api('POST', '/api/v1/auth/logout', { token })
      expect(out.status).toBe(204)
      hold.release()
      // A read before the logout, so it still answers as the live session did...
      expect((await slow).status).toBe(200)
    } finally {
      hold.restore()
    }
    // ...but its late cache write must not resurrect the session.
    expect((await sessionRow(sessionId)).revokedAt).not.toBeNull()
    const after = await me(token)
    expect(after.status).toBe(401)
    expect(after.body.code).toBe('session_ended')
  })
})

describe('client address outside Vercel', () => {
  it('ignores x-forwarded-for: rotating it still counts every request in one per-IP window', async () => {
    setEnv({ RATE_LIMIT_AUTH_LOGIN: `3/${DAY}` })
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) {
      const res = await login(`nobody-${i}@example.test`, WRONG, {
        headers: { 'x-forwarded-for': `203.0.113.${i + 1}` },
      })
      statuses.push(res.status)
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429])
  })

  it('on Vercel takes the first x-forwarded-for value as the client, one window per client', async () => {
    setEnv({ RATE_LIMIT_AUTH_LOGIN: `1/${DAY}`, VERCEL: '1' })
    const a = randomUUID()
    const b = randomUUID()
    const send = (ip: string) =>
      login('nobody@example.test', WRONG, { headers: { 'x-forwarded-for': `${ip}, 10.0.0.1` } })
    expect((await send(a)).status).toBe(401)
    expect((await send(a)).status).toBe(429)
    expect((await send(b)).status).toBe(401)
  })
})

describe('CORS', () => {
  const SHOP = 'https://shop.example.test'
  const EVIL = 'https://evil.example.test'

  it('answers an allowed origin with that origin, never a wildcard, and a refused one with no CORS headers', async () => {
    setEnv({ CORS_ORIGINS: `${SHOP}/, https://admin.example.test` })
    const { token } = await makeUser()
    const allowed = await api('GET', '/api/v1/auth/me', { token, headers: { origin: SHOP } })
    expect(allowed.status).toBe(200)
    expect(allowed.headers.get('access-control-allow-origin')).toBe(SHOP)
    expect(allowed.headers.get('vary')).toMatch(/origin/i)
    expect(allowed.headers.get('access-control-expose-headers')).toContain('retry-after')
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull()

    for (const origin of [EVIL, `${SHOP}.evil.test`, 'null']) {
      const refused = await api('GET', '/api/v1/auth/me', { token, headers: { origin } })
      expect(refused.status, origin).toBe(200)
      expect(refused.headers.get('access-control-allow-origin'), origin).toBeNull()
      expect(refused.headers.get('access-control-expose-headers'), origin).toBeNull()
    }
  })

  it('allows no origin at all when CORS_ORIGINS is unset, and any with `*`', async () => {
    const none = await login('nobody@example.test', WRONG, { headers: { origin: SHOP } })
    expect(none.headers.get('access-control-allow-origin')).toBeNull()
    setEnv({ CORS_ORIGINS: '*' })
    const any = await login('nobody@example.test', WRONG, { headers: { origin: EVIL } })
    expect(any.status).toBe(401)
    expect(any.headers.get('access-control-allow-origin')).toBe('*')
  })

  it('answers a preflight from an allowed origin with methods and headers, a refused one without', async () => {
    setEnv({ CORS_ORIGINS: SHOP })
    const ask = (origin: string) =>
      api('OPTIONS', '/api/v1/auth/login', {
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      })
    const ok = await ask(SHOP)
    expect(ok.status).toBe(204)
    expect(ok.headers.get('access-control-allow-origin')).toBe(SHOP)
    expect(ok.headers.get('access-control-allow-methods')).toContain('POST')
    expect(ok.headers.get('access-control-allow-headers')).toBe('content-type')
    expect(ok.headers.get('access-control-max-age')).toBe('600')
    expect(ok.headers.get('vary')).toMatch(/origin/i)

    const refused = await ask(EVIL)
    expect(refused.status).toBe(204)
    expect(refused.headers.get('allow')).toContain('POST')
    for (const h of ['allow-origin', 'allow-methods', 'allow-headers', 'max-age']) {
      expect(refused.headers.get(`access-control-${h}`), h).toBeNull()
    }
  })
})

describe('the auth routes’ own rate-limit policies', () => {
  it('/auth/login counts against RATE_LIMIT_AUTH_LOGIN, not the default policy', async () => {
    setEnv({ RATE_LIMIT_AUTH_LOGIN: `2/${DAY}`, RATE_LIMIT_DEFAULT: '1000/60' })
    const first = await login('nobody-1@example.test', WRONG)
    expect(first.status).toBe(401)
    expect((await login('nobody-2@example.test', WRONG)).status).toBe(401)
    const third = await login('nobody-3@example.test', WRONG)
    expect(third.status).toBe(429)
    expect(third.body.code).toBe('rate_limited')
    expect(third.headers.get('ratelimit-limit')).toBe('2')
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0)
  })

  it('/auth/refresh counts against RATE_LIMIT_AUTH_REFRESH, not the default policy', async () => {
    setEnv({ RATE_LIMIT_AUTH_REFRESH: `2/${DAY}`, RATE_LIMIT_DEFAULT: '1000/60' })
    let { refreshToken } = await makeUser()
    for (let i = 0; i < 2; i++) {
      const res = await refresh(refreshToken)
      expect(res.status).toBe(200)
      expect(res.headers.get('ratelimit-limit')).toBe('2')
      refreshToken = res.body.refresh_token
    }
    const third = await refresh(refreshToken)
    expect(third.status).toBe(429)
    // Refused before the token was looked at: it still works from another address.
    expect((await refresh(refreshToken, { socketAddress: '10.255.255.254' })).status).toBe(200)
  })
})

describe('self-erasure password guessing', () => {
  it('limits wrong passwords per account: then even the right one is refused and nothing is erased', async () => {
    setEnv({ RATE_LIMIT_AUTH_LOGIN_ACCOUNT: `3/${DAY}` })
    const target = await makeUser()
    const other = await makeUser()
    const eraseMe = (token: string, password: string) =>
      api('DELETE', '/api/v1/auth/me', { token, body: { password } })
    for (let i = 0; i < 3; i++) expect((await eraseMe(target.token, WRONG)).status).toBe(422)
    const limited = await eraseMe(target.token, DEFAULT_PASSWORD)
    expect(limited.status).toBe(429)
    expect(limited.body.code).toBe('rate_limited')
    const [row] = await (await getDb()).select().from(users).where(eq(users.id, target.user.id))
    expect(row!.deletedAt).toBeNull()
    expect((await me(target.token)).status).toBe(200)
    // The window is the account's, not the address's.
    expect((await eraseMe(other.token, WRONG)).status).toBe(422)
  })
})

describe('what refresh and sign-in record', () => {
  const activities = async (userId: string, action: string) =>
    (await getDb())
      .select()
      .from(userActivities)
      .where(eq(userActivities.userId, userId))
      .then((rows) => rows.filter((r) => r.action === action))

  it('a refresh records where and when the session was last used (what the owner sees in their sessions)', async () => {
    const { refreshToken, sessionId } = await makeUser()
    const t = Date.now() + 3_600_000
    setClock(() => t)
    const res = await refresh(refreshToken, { headers: { 'user-agent': 'ShopApp/3.1 (Android)' } })
    expect(res.status).toBe(200)
    const list = await api('GET', '/api/v1/auth/sessions', { token: res.body.access_token })
    expect(list.body.sessions).toEqual([
      expect.objectContaining({
        id: sessionId,
        ip_address: from,
        user_agent: 'ShopApp/3.1 (Android)',
        last_used_at: new Date(t).toISOString(),
      }),
    ])
  })

  it('the replaced token presented again ends the family once; after that it is merely invalid', async () => {
    const { user, refreshToken, sessionId } = await makeUser()
    expect((await refresh(refreshToken)).status).toBe(200)
    const first = await refresh(refreshToken)
    expect(first.body.code).toBe('refresh_token_reused')
    expect((await sessionRow(sessionId)).revokedReason).toBe('refresh_token_reuse')
    const second = await refresh(refreshToken)
    expect(second.status).toBe(401)
    expect(second.body.code).toBe('invalid_refresh_token')
    const events = await activities(user.id, 'auth.refresh_token_reused')
    expect(events).toEqual([expect.objectContaining({ resource: 'session', resourceId: sessionId })])
  })

  it('a refresh for a suspended owner ends the session, saying why', async () => {
    const { user, refreshToken, sessionId } = await makeUser()
    await (await getDb()).update(users).set({ isActive: false }).where(eq(users.id, user.id))
    expect((await refresh(refreshToken)).status).toBe(401)
    const s = await sessionRow(sessionId)
    expect(s.revokedAt).not.toBeNull()
    expect(s.revokedReason).toBe('user_inactive')
  })

  it('counts every failed sign-in under its reason on /metrics', async () => {
    const sample = async () => {
      const res = await call('GET', '/api/v1/metrics')
      expect(res.status).toBe(200)
      const out: Record<string, number> = {}
      for (const m of res.text.matchAll(/^auth_failed_logins_total\{reason="([a-z_]+)"\} (\d+)$/gm))
        out[m[1]!] = Number(m[2])
      return out
    }
    const before = await sample()
    const { user } = await makeUser()
    const suspended = await makeUser({ isActive: false })
    expect((await login('nobody-at-all@example.test', WRONG)).status).toBe(401)
    await lockByFailedLogins(user.email) // two wrong_password, then the one that locks: locked_now
    expect((await login(user.email, DEFAULT_PASSWORD)).status).toBe(401)
    expect((await login(suspended.user.email, DEFAULT_PASSWORD)).status).toBe(403)
    const after = await sample()
    const delta = (reason: string) => (after[reason] ?? 0) - (before[reason] ?? 0)
    expect({
      unknown_email: delta('unknown_email'),
      wrong_password: delta('wrong_password'),
      locked_now: delta('locked_now'),
      locked: delta('locked'),
      suspended: delta('suspended'),
    }).toEqual({ unknown_email: 1, wrong_password: 2, locked_now: 1, locked: 1, suspended: 1 })
  })

  it('records when the lock ends, and the time of a successful sign-in', async () => {
    const t = Date.now()
    setClock(() => t)
    const { user } = await makeUser()
    await lockByFailedLogins(user.email)
    const [lock] = await activities(user.id, 'auth.locked')
    expect(lock!.metadata).toEqual({ until: new Date(t + 600_000).toISOString() })

    setClock(() => t + 601_000)
    expect((await login(user.email, DEFAULT_PASSWORD)).status).toBe(200)
    const [row] = await (await getDb()).select().from(users).where(eq(users.id, user.id))
    expect(row).toMatchObject({
      failedLoginAttempts: 0,
      lockedUntil: null,
      lastLoginAt: new Date(t + 601_000),
    })
  })

  it('counts refresh refusals by reason on /metrics', async () => {
    const sample = async () => {
      const res = await call('GET', '/api/v1/metrics')
      const out: Record<string, number> = {}
      for (const m of res.text.matchAll(/^auth_events_total\{event="(refresh(?:_[a-z]+)?)"\} (\d+)$/gm))
        out[m[1]!] = Number(m[2])
      return out
    }
    const before = await sample()
    expect((await refresh('garbage')).status).toBe(401)
    const reused = await makeUser()
    expect((await refresh(reused.refreshToken)).status).toBe(200)
    expect((await refresh(reused.refreshToken)).body.code).toBe('refresh_token_reused')
    const suspended = await makeUser()
    await (await getDb()).update(users).set({ isActive: false }).where(eq(users.id, suspended.user.id))
    expect((await refresh(suspended.refreshToken)).status).toBe(401)
    const locked = await makeUser()
    await lockByFailedLogins(locked.user.email)
    expect((await refresh(locked.refreshToken)).status).toBe(401)
    const after = await sample()
    const delta = (event: string) => (after[event] ?? 0) - (before[event] ?? 0)
    expect({
      refresh: delta('refresh'),
      refresh_invalid: delta('refresh_invalid'),
      refresh_reused: delta('refresh_reused'),
      refresh_inactive: delta('refresh_inactive'),
    }).toEqual({ refresh: 1, refresh_invalid: 1, refresh_reused: 1, refresh_inactive: 2 })
  })

  it('a reused refresh token ends the cached authority of its session at once', async () => {
    const { refreshToken } = await makeUser()
    const t = Date.now()
    setClock(() => t)
    const rotated = await refresh(refreshToken)
    expect(rotated.status).toBe(200)
    // Past the rotation's own cache mark (60 s, on the shop's clock in the in-process store), so the
    // next request caches the session as live.
    setClock(() => t + 61_000)
    expect((await me(rotated.body.access_token)).status).toBe(200)
    expect((await refresh(refreshToken)).body.code).toBe('refresh_token_reused')
    const after = await me(rotated.body.access_token)
    expect(after.status).toBe(401)
    expect(after.body.code).toBe('session_ended')
  })

  it('records a sign-in refused for suspension, and the hand-off to MFA', async () => {
    const suspended = await makeUser({ isActive: false })
    expect((await login(suspended.user.email, DEFAULT_PASSWORD)).status).toBe(403)
    expect(await activities(suspended.user.id, 'auth.login_failed')).toEqual([
      expect.objectContaining({ metadata: { reason: 'suspended' }, ipAddress: from }),
    ])
    const mfa = await makeUser({ mfaEnabled: true })
    const res = await login(mfa.user.email, DEFAULT_PASSWORD)
    expect(res.body.requires_mfa).toBe(true)
    expect(await activities(mfa.user.id, 'auth.login_mfa_required')).toHaveLength(1)
    expect(await activities(mfa.user.id, 'auth.login')).toHaveLength(0)
  })

  it('ends a lock at exactly its end time', async () => {
    const t = Date.now()
    setClock(() => t)
    const { user } = await makeUser()
    await lockByFailedLogins(user.email)
    setClock(() => t + 600_000 - 1)
    expect((await login(user.email, DEFAULT_PASSWORD)).status).toBe(401)
    setClock(() => t + 600_000)
    expect((await login(user.email, DEFAULT_PASSWORD)).status).toBe(200)
  })

  it('refuses an erased account even if a password hash were left on it', async () => {
    const { user } = await makeUser({ deletedAt: new Date() })
    const res = await login(user.email, DEFAULT_PASSWORD)
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('invalid_credentials')
    expect(res.text).not.toContain('access_token')
  })
})
