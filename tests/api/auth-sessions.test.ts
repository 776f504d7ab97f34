import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { and, eq, isNull } from 'drizzle-orm'
import { base64url, SignJWT } from 'jose'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { userSessions } from '../../db/schema/index.js'
import { AUDIENCE, ISSUER, signToken } from '../../lib/auth/tokens.js'
import { setClock } from '../../lib/platform/clock.js'
import { getDb } from '../../lib/platform/db.js'
import { jwtSecret, resetEnv } from '../../lib/platform/env.js'
import { resetRateLimits } from '../../lib/platform/ratelimit.js'
import { kv, resetKv, upstashClient } from '../../lib/platform/redis.js'
import { DEFAULT_PASSWORD, makeUser } from '../support/factories.js'
import { type CallOptions, call } from '../support/http.js'

// Issue 3: GET/DELETE /auth/sessions, revoke-all, the shared auth cases on the signed-in auth routes, and
// revocation that survives losing the Redis session cache.

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
  // All in-process calls share one client address; keep the per-IP limits out of the way.
  setEnv({ RATE_LIMIT_AUTH_LOGIN: '1000/60', RATE_LIMIT_AUTH_LOGIN_ACCOUNT: '1000/300' })
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

const sha256Hex = (s: string) => createHash('sha256').update(s).digest('hex')
const me = (token: string) => call('GET', '/api/v1/auth/me', { token })
const sessions = (token: string) => call('GET', '/api/v1/auth/sessions', { token })
const refresh = (refresh_token: string) => call('POST', '/api/v1/auth/refresh', { body: { refresh_token } })

/** A second session of the same user, through the real login route. */
async function signInAgain(email: string, userAgent = 'second-device') {
  const res = await call('POST', '/api/v1/auth/login', {
    body: { email, password: DEFAULT_PASSWORD },
    headers: { 'user-agent': userAgent },
  })
  expect(res.status).toBe(200)
  const payload = (res.body.access_token as string).split('.')[1]!
  const sid = JSON.parse(new TextDecoder().decode(base64url.decode(payload))).sid as string
  return { token: res.body.access_token as string, refreshToken: res.body.refresh_token as string, sid }
}

async function liveSessionIds(userId: string): Promise<string[]> {
  const rows = await (await getDb())
    .select({ id: userSessions.id })
    .from(userSessions)
    .where(and(eq(userSessions.userId, userId), isNull(userSessions.revokedAt)))
  return rows.map((r) => r.id).sort()
}

async function expectDead(token: string): Promise<void> {
  const res = await me(token)
  expect(res.status).toBe(401)
  expect(res.body.code).toBe('session_ended')
}

// =====================================================================================================

describe('GET /auth/sessions', () => {
  it('lists my live sessions, exactly one of them current, with no token material', async () => {
    const a = await makeUser()
    const b = await signInAgain(a.user.email)
    const stranger = await makeUser()

    const res = await sessions(a.token)
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const list = res.body.sessions as Array<Record<string, unknown>>
    expect(list.map((s) => s.id).sort()).toEqual([a.sessionId, b.sid].sort())
    for (const s of list) {
      expect(Object.keys(s).sort()).toEqual(
        ['created_at', 'current', 'expires_at', 'id', 'ip_address', 'last_used_at', 'user_agent'].sort(),
      )
      for (const k of ['created_at', 'last_used_at', 'expires_at']) {
        expect(Number.isNaN(Date.parse(s[k] as string)), k).toBe(false)
      }
    }
    expect(list.filter((s) => s.current)).toEqual([expect.objectContaining({ id: a.sessionId })])
    expect(list.find((s) => s.id === a.sessionId)).toMatchObject({
      user_agent: 'vitest',
      ip_address: '127.0.0.1',
    })
    expect(list.find((s) => s.id === b.sid)).toMatchObject({ user_agent: 'second-device' })

    expect(res.text).not.toMatch(/refresh|hash|token/i)
    expect(res.text).not.toMatch(/[0-9a-f]{64}/i)
    for (const secret of [a.refreshToken, b.refreshToken, a.token, b.token]) {
      expect(res.text).not.toContain(secret)
      expect(res.text).not.toContain(sha256Hex(secret))
      expect(res.text).not.toContain(secret.split('.').at(-1)!)
    }
    expect(res.text).not.toContain(stranger.sessionId)
    expect(res.text).not.toContain(stranger.user.id)

    // From the other session, that one is current.
    const fromB = await sessions(b.token)
    expect(fromB.body.sessions.filter((s: { current: boolean }) => s.current)).toEqual([
      expect.objectContaining({ id: b.sid }),
    ])
  })

  it('leaves out ended sessions', async () => {
    const a = await makeUser()
    const b = await signInAgain(a.user.email)
    expect((await call('POST', '/api/v1/auth/logout', { token: b.token })).status).toBe(204)
    const res = await sessions(a.token)
    expect(res.body.sessions.map((s: { id: string }) => s.id)).toEqual([a.sessionId])
  })
})

describe('DELETE /auth/sessions/{session_id}', () => {
  it('ends another session of mine: 204, and its token is refused on the next request', async () => {
    const a = await makeUser()
    const b = await signInAgain(a.user.email)
    expect((await me(b.token)).status).toBe(200) // cached as live

    const res = await call('DELETE', `/api/v1/auth/sessions/${b.sid}`, { token: a.token })
    expect(res.status).toBe(204)
    await expectDead(b.token)
    expect((await refresh(b.refreshToken)).status).toBe(401)
    expect((await me(a.token)).status).toBe(200)
    expect(await liveSessionIds(a.user.id)).toEqual([a.sessionId])

    const again = await call('DELETE', `/api/v1/auth/sessions/${b.sid}`, { token: a.token })
    expect(again.status).toBe(404)
  })

  it("answers 404 for another user's session and leaves it alive", async () => {
    const a = await makeUser()
    const victim = await makeUser()
    expect((await me(victim.token)).status).toBe(200)

    const res = await call('DELETE', `/api/v1/auth/sessions/${victim.sessionId}`, { token: a.token })
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect((await me(victim.token)).status).toBe(200)
    expect((await refresh(victim.refreshToken)).status).toBe(200)
    expect(await liveSessionIds(victim.user.id)).toEqual([victim.sessionId])

    const unknown = await call('DELETE', `/api/v1/auth/sessions/${randomUUID()}`, { token: a.token })
    expect(unknown.status).toBe(404)
    expect(unknown.body.code).toBe(res.body.code)
  })

  it('refuses an id that is not a uuid with 422', async () => {
    const a = await makeUser()
    for (const id of ['not-a-uuid', '123', `${a.sessionId}x`]) {
      const res = await call('DELETE', `/api/v1/auth/sessions/${id}`, { token: a.token })
      expect(res.status, id).toBe(422)
    }
    expect((await me(a.token)).status).toBe(200)
  })
})

describe('POST /auth/sessions/revoke-all', () => {
  it('ends every session of mine, the current one included', async () => {
    const a = await makeUser()
    const b = await signInAgain(a.user.email)
    const c = await signInAgain(a.user.email, 'third-device')
    const stranger = await makeUser()
    for (const t of [a.token, b.token, c.token]) expect((await me(t)).status).toBe(200)

    const res = await call('POST', '/api/v1/auth/sessions/revoke-all', { token: a.token })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ revoked: 3 })
    for (const t of [a.token, b.token, c.token]) await expectDead(t)
    for (const r of [a.refreshToken, b.refreshToken, c.refreshToken])
      expect((await refresh(r)).status).toBe(401)
    expect(await liveSessionIds(a.user.id)).toEqual([])
    expect((await me(stranger.token)).status).toBe(200)
  })

  it('keeps the current session with keep_current: true and ends the others', async () => {
    const a = await makeUser()
    const b = await signInAgain(a.user.email)
    const c = await signInAgain(a.user.email, 'third-device')
    for (const t of [a.token, b.token, c.token]) expect((await me(t)).status).toBe(200)

    const res = await call('POST', '/api/v1/auth/sessions/revoke-all', {
      token: b.token,
      body: { keep_current: true },
    })
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ revoked: 2 })
    expect((await me(b.token)).status).toBe(200)
    await expectDead(a.token)
    await expectDead(c.token)
    expect(await liveSessionIds(a.user.id)).toEqual([b.sid])
    expect((await refresh(b.refreshToken)).status).toBe(200)
  })
})

// =====================================================================================================

/** A token built by hand with jose, for what signToken would never produce. */
async function craft(
  claims: { sub: string; sid: string; typ?: string },
  opts: { aud?: string; iss?: string; exp?: number; iat?: number; secret?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ sid: claims.sid, typ: claims.typ ?? 'access' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setJti(randomUUID())
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? AUDIENCE)
    .setIssuedAt(opts.iat ?? now)
    .setExpirationTime(opts.exp ?? now + 300)
    .sign(new TextEncoder().encode(opts.secret ?? jwtSecret()))
}

function algNone(claims: { sub: string; sid: string }): string {
  const now = Math.floor(Date.now() / 1000)
  const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))
  const payload = base64url.encode(
    JSON.stringify({
      ...claims,
      typ: 'access',
      jti: randomUUID(),
      iss: ISSUER,
      aud: AUDIENCE,
      iat: now,
      exp: now + 300,
    }),
  )
  return `${header}.${payload}.`
}

/** Change the payload of a real token (to another user's session) and keep the original signature. */
function tampered(token: string, claims: { sub: string; sid: string }): string {
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const decoded = JSON.parse(new TextDecoder().decode(base64url.decode(payload)))
  return `${header}.${base64url.encode(JSON.stringify({ ...decoded, ...claims }))}.${signature}`
}

interface Target {
  name: string
  method: string
  path: (self: Awaited<ReturnType<typeof makeUser>>) => string
  body?: unknown
}

// Every signed-in auth route of issue 3 (the ones in this file and in auth.test.ts).
const TARGETS: Target[] = [
  { name: 'GET /auth/sessions', method: 'GET', path: () => '/api/v1/auth/sessions' },
  {
    name: 'DELETE /auth/sessions/{id}',
    method: 'DELETE',
    path: (self) => `/api/v1/auth/sessions/${self.sessionId}`,
  },
  {
    name: 'POST /auth/sessions/revoke-all',
    method: 'POST',
    path: () => '/api/v1/auth/sessions/revoke-all',
    body: {},
  },
  { name: 'GET /auth/me', method: 'GET', path: () => '/api/v1/auth/me' },
  { name: 'PUT /auth/me', method: 'PUT', path: () => '/api/v1/auth/me', body: { first_name: 'Mallory' } },
  { name: 'POST /auth/logout', method: 'POST', path: () => '/api/v1/auth/logout' },
  {
    name: 'POST /auth/change-password',
    method: 'POST',
    path: () => '/api/v1/auth/change-password',
    body: { current_password: DEFAULT_PASSWORD, new_password: 'Another-Strong-Phrase-55' },
  },
]

describe('shared auth cases on the signed-in auth routes', () => {
  /** Each bad credential is refused with 401 on every route, and nothing happened to the account. */
  async function expectRefusedEverywhere(
    label: string,
    make: (
      self: Awaited<ReturnType<typeof makeUser>>,
      victim: Awaited<ReturnType<typeof makeUser>>,
    ) => Promise<CallOptions> | CallOptions,
    code?: string,
  ) {
    const self = await makeUser()
    const victim = await makeUser()
    for (const t of TARGETS) {
      const opts = await make(self, victim)
      const res = await call(t.method, t.path(self), { ...opts, body: t.body })
      expect(res.status, `${label}: ${t.name}`).toBe(401)
      expect(res.headers.get('www-authenticate'), `${label}: ${t.name}`).toBe('Bearer')
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
      if (code) expect(res.body.code, `${label}: ${t.name}`).toBe(code)
    }
    setClock(undefined)
    // Nothing changed: both accounts' sessions live, names and passwords untouched.
    for (const u of [self, victim]) {
      const res = await me(u.token)
      expect(res.status, label).toBe(200)
      expect(res.body.first_name).toBe('Test')
      expect(await liveSessionIds(u.user.id)).toEqual([u.sessionId])
    }
    const login = await call('POST', '/api/v1/auth/login', {
      body: { email: self.user.email, password: DEFAULT_PASSWORD },
    })
    expect(login.status, label).toBe(200)
  }

  it('refuses a request without a token', async () => {
    await expectRefusedEverywhere('no token', () => ({}), 'unauthorized')
  })

  it('refuses malformed tokens and non-Bearer schemes', async () => {
    for (const authorization of [
      'Bearer not-a-jwt',
      'Bearer a.b.c',
      'Bearer two words',
      'Bearer',
      'Token abc',
    ]) {
      await expectRefusedEverywhere(authorization, () => ({ headers: { authorization } }))
    }
  })

  it('refuses a token whose exp is in the past', async () => {
    const now = Math.floor(Date.now() / 1000)
    await expectRefusedEverywhere(
      'expired',
      (self) =>
        craft({ sub: self.user.id, sid: self.sessionId }, { iat: now - 1000, exp: now - 60 }).then(
          (token) => ({ token }),
        ),
      'invalid_token',
    )
  })

  it('refuses an access token once ACCESS_TOKEN_EXPIRE_MINUTES have passed on the clock (+16 min)', async () => {
    const self = await makeUser()
    expect((await me(self.token)).status).toBe(200)
    const later = Date.now() + 16 * 60_000
    setClock(() => later)
    for (const t of TARGETS) {
      const res = await call(t.method, t.path(self), { token: self.token, body: t.body })
      expect(res.status, t.name).toBe(401)
      expect(res.body.code, t.name).toBe('invalid_token')
    }
  })

  it('refuses an unsigned alg: none token', async () => {
    await expectRefusedEverywhere(
      'alg none',
      (self) => ({ token: algNone({ sub: self.user.id, sid: self.sessionId }) }),
      'invalid_token',
    )
  })

  it('refuses a token whose payload was changed after signing', async () => {
    await expectRefusedEverywhere(
      'tampered',
      (self, victim) => ({ token: tampered(self.token, { sub: victim.user.id, sid: victim.sessionId }) }),
      'invalid_token',
    )
  })

  it('refuses a token signed for another audience, another issuer or with another secret', async () => {
    await expectRefusedEverywhere(
      'wrong audience',
      async (self) => ({
        token: await craft({ sub: self.user.id, sid: self.sessionId }, { aud: 'another-api' }),
      }),
      'invalid_token',
    )
    await expectRefusedEverywhere(
      'wrong issuer',
      async (self) => ({
        token: await craft({ sub: self.user.id, sid: self.sessionId }, { iss: 'elsewhere' }),
      }),
      'invalid_token',
    )
    await expectRefusedEverywhere(
      'wrong secret',
      async (self) => ({
        token: await craft(
          { sub: self.user.id, sid: self.sessionId },
          { secret: randomBytes(32).toString('hex') },
        ),
      }),
      'invalid_token',
    )
  })

  it('refuses an MFA token used as an access token', async () => {
    await expectRefusedEverywhere(
      'mfa token',
      async (self) => ({ token: await signToken('mfa', self.user.id, self.sessionId, 300) }),
      'invalid_token',
    )
  })

  it("refuses a validly signed token that names another user's session", async () => {
    await expectRefusedEverywhere(
      'foreign session',
      async (self, victim) => ({ token: await signToken('access', self.user.id, victim.sessionId, 300) }),
      'session_ended',
    )
  })
})

// =====================================================================================================

describe('losing the Redis session cache', () => {
  it('keeps revoked tokens dead and live ones working after the store is wiped', async () => {
    const a = await makeUser()
    const b = await signInAgain(a.user.email)
    const c = await signInAgain(a.user.email, 'third-device')
    // Warm the cache for all three sessions.
    for (const t of [a.token, b.token, c.token]) expect((await me(t)).status).toBe(200)
    for (const sid of [a.sessionId, b.sid, c.sid]) expect(await kv().get(`session:${sid}`)).not.toBeNull()

    // b logs out; c is ended from a, through the routes (both forget their cache entries).
    expect((await call('POST', '/api/v1/auth/logout', { token: b.token })).status).toBe(204)
    expect((await call('DELETE', `/api/v1/auth/sessions/${c.sid}`, { token: a.token })).status).toBe(204)
    await expectDead(b.token)
    await expectDead(c.token)

    // Wipe everything this file holds: the in-process store, and in the services suite every Redis key
    // under this file's prefix (other test files share the Redis server, so no FLUSHDB).
    const client = upstashClient()
    if (client) {
      const prefix = process.env.REDIS_PREFIX!
      expect(prefix).toMatch(/^test:[0-9a-f]+:$/)
      const keys = await client.keys(`${prefix}*`)
      expect(keys.length).toBeGreaterThan(0)
      await client.del(...keys)
      expect(await client.keys(`${prefix}*`)).toEqual([])
    }
    resetKv()
    for (const sid of [a.sessionId, b.sid, c.sid]) expect(await kv().get(`session:${sid}`)).toBeNull()

    await expectDead(b.token)
    await expectDead(c.token)
    expect((await refresh(b.refreshToken)).status).toBe(401)
    expect((await refresh(c.refreshToken)).status).toBe(401)
    const live = await me(a.token)
    expect(live.status).toBe(200)
    expect(live.body.id).toBe(a.user.id)
    expect((await sessions(a.token)).body.sessions.map((s: { id: string }) => s.id)).toEqual([a.sessionId])
    expect((await refresh(a.refreshToken)).status).toBe(200)
  })
})
