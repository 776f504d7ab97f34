import { randomBytes, randomUUID } from 'node:crypto'
import { and, eq, isNull } from 'drizzle-orm'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { outboxEmails, userActivities, userSessions, users } from '../../db/schema/index.js'
import { nowMs, setClock } from '../../lib/platform/clock.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { resetRateLimits } from '../../lib/platform/ratelimit.js'
import { resetKv } from '../../lib/platform/redis.js'
import { DEFAULT_PASSWORD, makeUser } from '../support/factories.js'
import { type CallOptions, type CallResult, call as callRoute } from '../support/http.js'

// Issue 3 (docs/auth.md): register, login (lockout, MFA hand-off, limits), refresh rotation and reuse,
// logout, /auth/me and change-password — through the real router, database and Redis/in-process store.

const STRONG = 'Sturdy-Lantern-Orbit-42'
const NEW_STRONG = 'Quiet-Harbour-Mosaic-77'
const WRONG = 'Not-The-Password-93!'

// --- environment and clock, restored after every test ----------------------------------------------

const savedEnv = new Map<string, string | undefined>()

function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (!savedEnv.has(k)) savedEnv.set(k, process.env[k])
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  resetEnv()
}

let ip: string

beforeEach(() => {
  // Every test is its own client address, and the general limits sit out of the way: the tests that are
  // about limits set their own. (In the services suite limiter windows live in Redis for the whole file.)
  ip = `10.${randomOctets()}`
  setEnv({
    RATE_LIMIT_AUTH_LOGIN: '1000/60',
    RATE_LIMIT_AUTH_LOGIN_ACCOUNT: '1000/300',
    RATE_LIMIT_AUTH_REGISTER: '1000/3600',
    RATE_LIMIT_AUTH_REFRESH: '1000/60',
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

const randomOctets = () => [...randomBytes(3)].join('.')

// --- calls -----------------------------------------------------------------------------------------

/** tests/support/http call() from a given client address (the socket address route() sees). */
const callFrom = (from: string, method: string, path: string, opts: CallOptions = {}) =>
  callRoute(method, path, { ...opts, socketAddress: from })

const call = (method: string, path: string, opts: CallOptions = {}) => callFrom(ip, method, path, opts)

const uniqueEmail = (tag = 'user') => `${tag}-${randomBytes(5).toString('hex')}@example.test`

function registerBody(overrides: Record<string, unknown> = {}) {
  return {
    email: uniqueEmail('reg'),
    password: STRONG,
    first_name: 'Ada',
    last_name: 'Lovelace',
    ...overrides,
  }
}

const login = (email: string, password: string, from = ip) =>
  callFrom(from, 'POST', '/api/v1/auth/login', { body: { email, password } })
const me = (token: string) => call('GET', '/api/v1/auth/me', { token })
const refresh = (refresh_token: string) => call('POST', '/api/v1/auth/refresh', { body: { refresh_token } })

/** The parts of a problem body that must not differ between two refusals (request_id always does). */
const problemCore = (b: Record<string, unknown>) => ({
  type: b.type,
  title: b.title,
  status: b.status,
  detail: b.detail,
  code: b.code,
})

const tokenShape = {
  access_token: expect.any(String),
  refresh_token: expect.any(String),
  token_type: 'bearer',
  expires_in: 900,
  user_id: expect.any(String),
  requires_mfa: false,
}

async function userRow(id: string) {
  const [row] = await (await getDb()).select().from(users).where(eq(users.id, id))
  return row!
}

async function userByEmail(email: string) {
  const rows = await (await getDb()).select().from(users).where(eq(users.email, email))
  return rows
}

async function outboxTo(email: string, template?: string) {
  const rows = await (await getDb()).select().from(outboxEmails).where(eq(outboxEmails.toEmail, email))
  return template ? rows.filter((r) => r.template === template) : rows
}

async function activitiesOf(userId: string) {
  return (await getDb()).select().from(userActivities).where(eq(userActivities.userId, userId))
}

async function liveSessionsOf(userId: string) {
  return (await getDb())
    .select()
    .from(userSessions)
    .where(and(eq(userSessions.userId, userId), isNull(userSessions.revokedAt)))
}

async function setUser(id: string, values: Partial<typeof users.$inferInsert>) {
  await (await getDb()).update(users).set(values).where(eq(users.id, id))
}

// =====================================================================================================

describe('POST /auth/register', () => {
  it('creates an account and answers 201 with a bearer token pair that works on /auth/me', async () => {
    const body = registerBody()
    const res = await call('POST', '/api/v1/auth/register', { body })
    expect(res.status).toBe(201)
    expect(res.body).toEqual(tokenShape)
    expect(res.headers.get('cache-control')).toBe('no-store')

    const profile = await me(res.body.access_token)
    expect(profile.status).toBe(200)
    expect(profile.body).toMatchObject({
      id: res.body.user_id,
      email: body.email,
      first_name: 'Ada',
      last_name: 'Lovelace',
    })
  })

  it('never lets the body set role or is_verified', async () => {
    const res = await call('POST', '/api/v1/auth/register', {
      body: registerBody({ role: 'admin', is_verified: true, mfa_enabled: true, is_active: false }),
    })
    expect(res.status).toBe(201)
    const profile = await me(res.body.access_token)
    expect(profile.body).toMatchObject({ role: 'customer', is_verified: false, mfa_enabled: false })
    const row = await userRow(res.body.user_id)
    expect(row).toMatchObject({ role: 'customer', isVerified: false, mfaEnabled: false, isActive: true })
  })

  it('stores the email lower-cased', async () => {
    const local = `Mixed.Case-${randomBytes(4).toString('hex')}`
    const res = await call('POST', '/api/v1/auth/register', {
      body: registerBody({ email: `  ${local}@Example.TEST ` }),
    })
    expect(res.status).toBe(201)
    const lower = `${local.toLowerCase()}@example.test`
    expect((await userRow(res.body.user_id)).email).toBe(lower)
    expect((await me(res.body.access_token)).body.email).toBe(lower)
  })

  it('refuses an email that is already registered, in any case, with 409', async () => {
    const email = uniqueEmail('taken')
    expect((await call('POST', '/api/v1/auth/register', { body: registerBody({ email }) })).status).toBe(201)
    const again = await call('POST', '/api/v1/auth/register', {
      body: registerBody({ email: email.toUpperCase() }),
    })
    expect(again.status).toBe(409)
    expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(again.body.code).toBe('email_taken')
    expect(again.text).not.toContain('access_token')
    expect(await userByEmail(email)).toHaveLength(1)
  })

  it('refuses short and common passwords with 422 on the password field, creating nothing', async () => {
    for (const password of ['Ab1!xyz', 'password123', 'qwerty123']) {
      const body = registerBody({ password })
      const res = await call('POST', '/api/v1/auth/register', { body })
      expect(res.status, password).toBe(422)
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain('password')
      expect(res.text).not.toContain(password)
      expect(await userByEmail(body.email)).toHaveLength(0)
    }
  })

  it('refuses an invalid email with 422 on the email field', async () => {
    for (const email of ['not-an-email', 'a@', '@example.test', 'two words@example.test']) {
      const res = await call('POST', '/api/v1/auth/register', { body: registerBody({ email }) })
      expect(res.status, email).toBe(422)
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain('email')
    }
  })

  it('queues a verification email to the address, with no password in it', async () => {
    const body = registerBody()
    const res = await call('POST', '/api/v1/auth/register', { body })
    expect(res.status).toBe(201)
    const rows = await outboxTo(body.email)
    expect(rows.map((r) => r.template)).toEqual(['verify_email'])
    const raw = JSON.stringify(rows)
    expect(raw).not.toContain(STRONG)
    expect(raw).not.toContain(res.body.access_token)
    expect(raw).not.toContain(res.body.refresh_token)
  })

  it('rate-limits registration per IP: 429 with Retry-After, other addresses unaffected', async () => {
    setEnv({ RATE_LIMIT_AUTH_REGISTER: '2/3600' })
    const from = `172.16.${randomOctets()}`
    for (let i = 0; i < 2; i++) {
      expect((await callFrom(from, 'POST', '/api/v1/auth/register', { body: registerBody() })).status).toBe(
        201,
      )
    }
    const body = registerBody()
    const limited = await callFrom(from, 'POST', '/api/v1/auth/register', { body })
    expect(limited.status).toBe(429)
    expect(limited.body.code).toBe('rate_limited')
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(limited.headers.get('ratelimit-limit')).toBe('2')
    expect(await userByEmail(body.email)).toHaveLength(0)

    const other = await callFrom(`172.17.${randomOctets()}`, 'POST', '/api/v1/auth/register', { body })
    expect(other.status).toBe(201)
  })

  it('sends Cache-Control: no-store on auth responses, refusals included', async () => {
    const body = registerBody()
    const reg = await call('POST', '/api/v1/auth/register', { body })
    const responses = [
      reg,
      await call('POST', '/api/v1/auth/register', { body: registerBody({ password: 'qwerty123' }) }),
      await login(body.email, STRONG),
      await login(body.email, WRONG),
      await refresh(reg.body.refresh_token),
      await me(reg.body.access_token),
      await call('GET', '/api/v1/auth/me'),
    ]
    expect(responses.map((r) => r.status)).toEqual([201, 422, 200, 401, 200, 200, 401])
    for (const r of responses) expect(r.headers.get('cache-control')).toBe('no-store')
  })
})

// =====================================================================================================

describe('POST /auth/login', () => {
  it('signs in with 200 and the same token shape as register, whatever the email case', async () => {
    const { user } = await makeUser()
    const res = await login(user.email.toUpperCase(), DEFAULT_PASSWORD)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ ...tokenShape, user_id: user.id })
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect((await me(res.body.access_token)).body.id).toBe(user.id)
    expect(await liveSessionsOf(user.id)).toHaveLength(2)
  })

  it('answers a wrong password and an unknown email with the same 401', async () => {
    const { user } = await makeUser()
    const wrong = await login(user.email, WRONG)
    const unknown = await login(uniqueEmail('nobody'), WRONG)
    expect(wrong.status).toBe(401)
    expect(unknown.status).toBe(401)
    expect(wrong.body.code).toBe('invalid_credentials')
    expect(problemCore(unknown.body)).toEqual(problemCore(wrong.body))
    expect(Object.keys(unknown.body).sort()).toEqual(Object.keys(wrong.body).sort())
    for (const h of ['content-type', 'www-authenticate', 'cache-control']) {
      expect(unknown.headers.get(h), h).toBe(wrong.headers.get(h))
    }
  })

  it('locks the account after MAX_LOGIN_ATTEMPTS failures: the right password then gets the same 401', async () => {
    setEnv({ MAX_LOGIN_ATTEMPTS: '3' })
    const { user } = await makeUser()
    let lastFailure: CallResult | undefined
    for (let i = 0; i < 3; i++) {
      lastFailure = await login(user.email, WRONG)
      expect(lastFailure.status).toBe(401)
    }
    const row = await userRow(user.id)
    expect(row.failedLoginAttempts).toBe(3)
    expect(row.lockedUntil!.getTime()).toBeGreaterThan(nowMs())

    const right = await login(user.email, DEFAULT_PASSWORD)
    expect(right.status).toBe(401)
    expect(problemCore(right.body)).toEqual(problemCore(lastFailure!.body))
    expect(right.text).not.toContain('access_token')
    expect(await liveSessionsOf(user.id)).toHaveLength(1)

    // Failing on while locked sends no further emails: exactly one unlock email per lockout.
    expect((await login(user.email, WRONG)).status).toBe(401)
    expect((await login(user.email, DEFAULT_PASSWORD)).status).toBe(401)
    const locked = await outboxTo(user.email, 'account_locked')
    expect(locked).toHaveLength(1)
    expect(JSON.stringify(locked)).not.toContain(DEFAULT_PASSWORD)
  })

  it('lets the owner in again once ACCOUNT_LOCKOUT_DURATION has passed, counting failures from zero', async () => {
    setEnv({ MAX_LOGIN_ATTEMPTS: '3', ACCOUNT_LOCKOUT_DURATION: '600' })
    const { user } = await makeUser()
    for (let i = 0; i < 3; i++) expect((await login(user.email, WRONG)).status).toBe(401)
    expect((await login(user.email, DEFAULT_PASSWORD)).status).toBe(401)

    const later = Date.now() + 601_000
    setClock(() => later)
    // Two fresh failures do not re-lock (the count restarted at the lock's end, it did not continue at 4).
    expect((await login(user.email, WRONG)).status).toBe(401)
    expect((await userRow(user.id)).failedLoginAttempts).toBe(1)
    expect((await login(user.email, WRONG)).status).toBe(401)
    expect((await userRow(user.id)).failedLoginAttempts).toBe(2)
    const ok = await login(user.email, DEFAULT_PASSWORD)
    expect(ok.status).toBe(200)
    expect(ok.body).toEqual({ ...tokenShape, user_id: user.id })
    const row = await userRow(user.id)
    expect(row.failedLoginAttempts).toBe(0)
    expect(row.lockedUntil).toBeNull()
    expect(await outboxTo(user.email, 'account_locked')).toHaveLength(1)
  })

  it('resets the failure count on a successful sign-in', async () => {
    setEnv({ MAX_LOGIN_ATTEMPTS: '3' })
    const { user } = await makeUser()
    for (let i = 0; i < 2; i++) expect((await login(user.email, WRONG)).status).toBe(401)
    expect((await userRow(user.id)).failedLoginAttempts).toBe(2)
    expect((await login(user.email, DEFAULT_PASSWORD)).status).toBe(200)
    expect((await userRow(user.id)).failedLoginAttempts).toBe(0)
    for (let i = 0; i < 2; i++) expect((await login(user.email, WRONG)).status).toBe(401)
    expect((await login(user.email, DEFAULT_PASSWORD)).status).toBe(200)
    expect(await outboxTo(user.email, 'account_locked')).toHaveLength(0)
  })

  it('keeps the lockout with RATE_LIMITS=off', async () => {
    setEnv({ RATE_LIMITS: 'off', MAX_LOGIN_ATTEMPTS: '3' })
    const { user } = await makeUser()
    for (let i = 0; i < 3; i++) expect((await login(user.email, WRONG)).status).toBe(401)
    const right = await login(user.email, DEFAULT_PASSWORD)
    expect(right.status).toBe(401)
    expect(right.body.code).toBe('invalid_credentials')
    expect(await outboxTo(user.email, 'account_locked')).toHaveLength(1)
  })

  it('answers a suspended account with the right password 403 account_suspended, issuing nothing', async () => {
    const { user } = await makeUser({ isActive: false })
    const res = await login(user.email, DEFAULT_PASSWORD)
    expect(res.status).toBe(403)
    expect(res.body.code).toBe('account_suspended')
    expect(res.text).not.toContain('access_token')
    expect(res.text).not.toContain('refresh_token')
    expect(await liveSessionsOf(user.id)).toHaveLength(1)
  })

  it('gives an MFA user requires_mfa and an mfa_token, no tokens; the mfa_token is no access token', async () => {
    const { user } = await makeUser({ mfaEnabled: true })
    const res = await login(user.email, DEFAULT_PASSWORD)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ requires_mfa: true, mfa_token: expect.any(String) })
    expect(res.body).not.toHaveProperty('access_token')
    expect(res.body).not.toHaveProperty('refresh_token')
    expect(res.text).not.toContain('refresh_token')
    expect(await liveSessionsOf(user.id)).toHaveLength(1)

    const asAccess = await me(res.body.mfa_token)
    expect(asAccess.status).toBe(401)
    expect(asAccess.body.code).toBe('invalid_token')
    const asRefresh = await refresh(res.body.mfa_token)
    expect(asRefresh.status).toBe(401)
  })

  it('records sign-ins, failures with their reason and the lockout, never with a password', async () => {
    setEnv({ MAX_LOGIN_ATTEMPTS: '2' })
    const { user } = await makeUser()
    expect((await login(user.email, WRONG)).status).toBe(401)
    expect((await login(user.email, DEFAULT_PASSWORD)).status).toBe(200)
    expect((await login(user.email, WRONG)).status).toBe(401)
    expect((await login(user.email, WRONG)).status).toBe(401)
    expect((await login(user.email, DEFAULT_PASSWORD)).status).toBe(401)

    const rows = await activitiesOf(user.id)
    const actions = rows.map((r) => r.action)
    expect(actions.filter((a) => a === 'auth.login')).toHaveLength(1)
    expect(actions.filter((a) => a === 'auth.locked')).toHaveLength(1)
    const failures = rows.filter((r) => r.action === 'auth.login_failed')
    expect(failures.map((r) => r.metadata.reason).sort()).toEqual([
      'locked',
      'wrong_password',
      'wrong_password',
      'wrong_password',
    ])
    for (const r of rows.filter((r) => r.action.startsWith('auth.login') || r.action === 'auth.locked')) {
      expect(r.ipAddress).toBe(ip)
    }
    const raw = JSON.stringify(rows)
    expect(raw).not.toContain(WRONG)
    expect(raw).not.toContain(DEFAULT_PASSWORD)
    expect(raw).not.toContain('$argon2')
  })

  it('limits attempts per account across client addresses, leaving other accounts alone', async () => {
    setEnv({ RATE_LIMIT_AUTH_LOGIN_ACCOUNT: '2/300' })
    const { user } = await makeUser()
    const { user: other } = await makeUser()
    expect((await login(user.email, WRONG, `192.168.${randomOctets()}`)).status).toBe(401)
    expect((await login(user.email, WRONG, `192.168.${randomOctets()}`)).status).toBe(401)
    const third = `192.168.${randomOctets()}`
    const limited = await login(user.email, DEFAULT_PASSWORD, third)
    expect(limited.status).toBe(429)
    expect(limited.body.code).toBe('rate_limited')
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(limited.text).not.toContain('access_token')
    // The same email in another case is the same account.
    expect((await login(user.email.toUpperCase(), WRONG, third)).status).toBe(429)

    const otherAccount = await login(other.email, WRONG, third)
    expect(otherAccount.status).toBe(401)
    expect(otherAccount.body.code).toBe('invalid_credentials')
  })

  it('counts failed sign-ins by reason on /metrics', async () => {
    const sample = async () => {
      const res = await call('GET', '/api/v1/metrics')
      expect(res.status).toBe(200)
      const m = res.text.match(/^auth_failed_logins_total\{reason="wrong_password"\} (\d+)$/m)
      return m ? Number(m[1]) : 0
    }
    const before = await sample()
    const { user } = await makeUser()
    expect((await login(user.email, WRONG)).status).toBe(401)
    expect(await sample()).toBe(before + 1)
  })
})

// =====================================================================================================

describe('POST /auth/refresh', () => {
  it('rotates the refresh token; the access token of the session keeps working', async () => {
    const { user, token, refreshToken } = await makeUser()
    const res = await refresh(refreshToken)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ ...tokenShape, user_id: user.id })
    expect(res.body.refresh_token).not.toBe(refreshToken)
    expect(res.body.access_token).not.toBe(token)
    expect((await me(res.body.access_token)).status).toBe(200)
    expect((await me(token)).status).toBe(200)
    expect(await liveSessionsOf(user.id)).toHaveLength(1)

    const again = await refresh(res.body.refresh_token)
    expect(again.status).toBe(200)
    expect(again.body.refresh_token).not.toBe(res.body.refresh_token)
  })

  it('treats a reused refresh token as theft: 401 refresh_token_reused and the whole family ends', async () => {
    const { user, token, refreshToken } = await makeUser()
    const rotated = await refresh(refreshToken)
    expect(rotated.status).toBe(200)
    expect((await me(rotated.body.access_token)).status).toBe(200) // cached as live

    const reused = await refresh(refreshToken)
    expect(reused.status).toBe(401)
    expect(reused.body.code).toBe('refresh_token_reused')

    const next = await refresh(rotated.body.refresh_token)
    expect(next.status).toBe(401)
    for (const t of [token, rotated.body.access_token]) {
      const res = await me(t)
      expect(res.status).toBe(401)
      expect(res.body.code).toBe('session_ended')
    }
    expect(await liveSessionsOf(user.id)).toHaveLength(0)
    const events = (await activitiesOf(user.id)).filter((a) => a.action === 'auth.refresh_token_reused')
    expect(events).toHaveLength(1)
    expect(JSON.stringify(events)).not.toContain(refreshToken.split('.')[1]!)
  })

  it('refuses garbage and made-up tokens with 401 invalid_refresh_token', async () => {
    const { token } = await makeUser()
    for (const t of [
      'garbage',
      'x'.repeat(300),
      `${randomUUID()}.${randomBytes(32).toString('base64url')}`,
      `${randomUUID()}`,
    ]) {
      const res = await refresh(t)
      expect(res.status, t).toBe(401)
      expect(res.body.code).toBe('invalid_refresh_token')
    }
    expect((await me(token)).status).toBe(200)
  })

  it('refuses the refresh token of a session that logged out', async () => {
    const { token, refreshToken } = await makeUser()
    expect((await call('POST', '/api/v1/auth/logout', { token })).status).toBe(204)
    const res = await refresh(refreshToken)
    expect(res.status).toBe(401)
    expect(res.text).not.toContain('access_token')
  })

  it('refuses a refresh for a suspended user', async () => {
    const { user, refreshToken } = await makeUser()
    await setUser(user.id, { isActive: false })
    const res = await refresh(refreshToken)
    expect(res.status).toBe(401)
    expect(res.text).not.toContain('access_token')
    // Reactivation does not bring that token back.
    await setUser(user.id, { isActive: true })
    expect((await refresh(refreshToken)).status).toBe(401)
  })
})

// =====================================================================================================

describe('POST /auth/logout', () => {
  it('answers 204 and kills the access and refresh token at once, even after the session was cached', async () => {
    const { user, token, refreshToken } = await makeUser()
    const other = await login(user.email, DEFAULT_PASSWORD)
    expect((await me(token)).status).toBe(200) // warms the session cache
    expect((await me(token)).status).toBe(200)

    const res = await call('POST', '/api/v1/auth/logout', { token })
    expect(res.status).toBe(204)
    expect(res.text).toBe('')

    const after = await me(token)
    expect(after.status).toBe(401)
    expect(after.body.code).toBe('session_ended')
    expect((await call('POST', '/api/v1/auth/logout', { token })).status).toBe(401)
    expect((await refresh(refreshToken)).status).toBe(401)
    // Only that session ended.
    expect((await me(other.body.access_token)).status).toBe(200)
    expect((await activitiesOf(user.id)).map((a) => a.action)).toContain('auth.logout')
  })
})

// =====================================================================================================

describe('/auth/me', () => {
  it('GET shows the profile and never a hash, secret or token', async () => {
    const { user, token, refreshToken } = await makeUser({
      company: 'Analytical Engines',
      phone: '+44 20 7946 0000',
    })
    const res = await me(token)
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.body).toMatchObject({
      id: user.id,
      email: user.email,
      first_name: 'Test',
      last_name: 'User',
      company: 'Analytical Engines',
      phone: '+44 20 7946 0000',
      role: 'customer',
      is_verified: false,
      mfa_enabled: false,
      created_at: user.createdAt.toISOString(),
    })
    expect(res.text).not.toMatch(/hash/i)
    expect(res.text).not.toContain('$argon2')
    expect(res.text).not.toMatch(/secret|password|refresh/i)
    expect(res.text).not.toContain(refreshToken)
    expect(res.text).not.toContain(token)
  })

  it('PUT updates name, phone and profile fields', async () => {
    const { token } = await makeUser()
    const res = await call('PUT', '/api/v1/auth/me', {
      token,
      body: {
        first_name: 'Grace',
        last_name: 'Hopper',
        phone: '+1 555 010 9999',
        company: 'Navy',
        profile: { bio: 'Compilers', timezone: 'America/New_York', website: 'https://example.test/grace' },
      },
    })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      first_name: 'Grace',
      last_name: 'Hopper',
      phone: '+1 555 010 9999',
      company: 'Navy',
      profile: { bio: 'Compilers', timezone: 'America/New_York', website: 'https://example.test/grace' },
    })
    const after = await me(token)
    expect(after.body).toMatchObject({
      first_name: 'Grace',
      phone: '+1 555 010 9999',
      profile: { bio: 'Compilers', timezone: 'America/New_York' },
    })
  })

  it('PUT refuses role, is_verified and mfa_enabled with 422 and changes nothing', async () => {
    const { user, token } = await makeUser()
    for (const field of [{ role: 'admin' }, { is_verified: true }, { mfa_enabled: true }]) {
      const res = await call('PUT', '/api/v1/auth/me', { token, body: { first_name: 'Mallory', ...field } })
      expect(res.status, JSON.stringify(field)).toBe(422)
      expect(res.body.code).toBe('validation_failed')
    }
    const row = await userRow(user.id)
    expect(row).toMatchObject({ firstName: 'Test', role: 'customer', isVerified: false, mfaEnabled: false })
    expect((await me(token)).body).toMatchObject({ first_name: 'Test', role: 'customer', is_verified: false })
  })

  it('PUT changes the email only with the current password, and only after re-verification', async () => {
    const { user, token } = await makeUser()
    const newEmail = uniqueEmail('new')

    const missing = await call('PUT', '/api/v1/auth/me', { token, body: { email: newEmail } })
    expect(missing.status).toBe(422)
    expect(missing.body.errors.map((e: { path: string }) => e.path)).toContain('current_password')

    const wrong = await call('PUT', '/api/v1/auth/me', {
      token,
      body: { email: newEmail, current_password: WRONG },
    })
    // ADR 006: a failed re-authentication on a signed-in route is 422 invalid_password (a 401 would tell
    // clients the session is over); the session indeed lives on.
    expect(wrong.status).toBe(422)
    expect(wrong.body.code).toBe('invalid_password')
    expect(wrong.body.errors.map((e: { path: string }) => e.path)).toContain('current_password')
    expect((await me(token)).status).toBe(200)
    expect(await outboxTo(newEmail)).toHaveLength(0)

    const ok = await call('PUT', '/api/v1/auth/me', {
      token,
      body: { email: newEmail.toUpperCase(), current_password: DEFAULT_PASSWORD },
    })
    expect(ok.status).toBe(200)
    expect(ok.body.email).toBe(user.email)
    expect(ok.body.pending_email).toBe(newEmail)
    expect(ok.text).not.toContain(DEFAULT_PASSWORD)
    expect((await me(token)).body.email).toBe(user.email)
    expect((await userRow(user.id)).email).toBe(user.email)

    expect((await outboxTo(newEmail)).map((r) => r.template)).toEqual(['verify_email'])
    expect((await outboxTo(user.email)).map((r) => r.template)).toEqual(['email_changed'])
    expect(JSON.stringify(await outboxTo(newEmail))).not.toContain(DEFAULT_PASSWORD)
    // The old address still signs in until the new one is confirmed.
    expect((await login(user.email, DEFAULT_PASSWORD)).status).toBe(200)
  })

  it('PUT refuses an email that belongs to another account with 409', async () => {
    const { user, token } = await makeUser()
    const { user: other } = await makeUser()
    const res = await call('PUT', '/api/v1/auth/me', {
      token,
      body: { email: other.email.toUpperCase(), current_password: DEFAULT_PASSWORD },
    })
    expect(res.status).toBe(409)
    expect(res.body.code).toBe('email_taken')
    expect(await outboxTo(other.email)).toHaveLength(0)
    expect((await userRow(user.id)).email).toBe(user.email)
  })
})

// =====================================================================================================

describe('POST /auth/change-password', () => {
  it('refuses a wrong current password with 422 invalid_password (ADR 006) and keeps the old one', async () => {
    const { user, token } = await makeUser()
    const res = await call('POST', '/api/v1/auth/change-password', {
      token,
      body: { current_password: WRONG, new_password: NEW_STRONG },
    })
    expect(res.status).toBe(422)
    expect(res.body.code).toBe('invalid_password')
    expect(res.body.errors.map((e: { path: string }) => e.path)).toContain('current_password')
    expect(res.text).not.toContain(WRONG)
    expect((await me(token)).status).toBe(200)
    expect((await login(user.email, NEW_STRONG)).status).toBe(401)
    expect((await login(user.email, DEFAULT_PASSWORD)).status).toBe(200)
  })

  it('refuses a weak new password with 422 on new_password', async () => {
    const { user, token } = await makeUser()
    for (const weak of ['Ab1!xyz', 'password123']) {
      const res = await call('POST', '/api/v1/auth/change-password', {
        token,
        body: { current_password: DEFAULT_PASSWORD, new_password: weak },
      })
      expect(res.status, weak).toBe(422)
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain('new_password')
    }
    expect((await login(user.email, DEFAULT_PASSWORD)).status).toBe(200)
  })

  it('changes the password, ends the other sessions, keeps this one and tells the owner', async () => {
    const { user, token, refreshToken } = await makeUser()
    const other = await login(user.email, DEFAULT_PASSWORD)
    expect(other.status).toBe(200)
    expect((await me(other.body.access_token)).status).toBe(200) // cached as live

    const res = await call('POST', '/api/v1/auth/change-password', {
      token,
      body: { current_password: DEFAULT_PASSWORD, new_password: NEW_STRONG },
    })
    expect(res.status).toBe(200)
    expect(res.text).not.toContain(NEW_STRONG)

    const otherNow = await me(other.body.access_token)
    expect(otherNow.status).toBe(401)
    expect(otherNow.body.code).toBe('session_ended')
    expect((await refresh(other.body.refresh_token)).status).toBe(401)
    expect((await me(token)).status).toBe(200)
    expect((await refresh(refreshToken)).status).toBe(200)

    expect((await login(user.email, DEFAULT_PASSWORD)).status).toBe(401)
    expect((await login(user.email, NEW_STRONG)).status).toBe(200)

    const mails = await outboxTo(user.email, 'password_changed')
    expect(mails).toHaveLength(1)
    const raw = JSON.stringify(mails)
    expect(raw).not.toContain(NEW_STRONG)
    expect(raw).not.toContain(DEFAULT_PASSWORD)
    const activity = JSON.stringify(await activitiesOf(user.id))
    expect(activity).toContain('auth.password_changed')
    expect(activity).not.toContain(NEW_STRONG)
    expect(activity).not.toContain(DEFAULT_PASSWORD)
  })
})
