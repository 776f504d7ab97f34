import { randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { base64url, SignJWT } from 'jose'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { userPermissions, userSessions, users } from '../../db/schema/index.js'
import { forgetSessions } from '../../lib/auth/authenticate.js'
import { AUDIENCE, ISSUER, signToken } from '../../lib/auth/tokens.js'
import { setSocketAddress } from '../../lib/http/client.js'
import { type AuthRequirement, json, route } from '../../lib/http/route.js'
import { setClock } from '../../lib/platform/clock.js'
import { getDb } from '../../lib/platform/db.js'
import { jwtSecret, resetEnv } from '../../lib/platform/env.js'
import { resetRateLimits } from '../../lib/platform/ratelimit.js'
import { resetKv } from '../../lib/platform/redis.js'
import { makeUser } from '../support/factories.js'
import { call } from '../support/http.js'

// The shared guard in route(): who the bearer token names, and what that person may do right now.

interface Problem {
  status: number
  code: string
  request_id: string
}

let saved: Record<string, string | undefined>

beforeEach(() => {
  saved = { ...process.env }
})

afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
  Object.assign(process.env, saved)
  setClock(undefined)
  resetEnv()
  resetKv()
  resetRateLimits()
})

const guarded = (path: string, auth: AuthRequirement) =>
  route({ path, summary: 'guarded', tags: ['test'], auth, rateLimit: false }, async ({ principal }) =>
    json({ user_id: principal?.userId ?? null, role: principal?.role ?? null }),
  )

const signedIn = guarded('/api/v1/guard/me', 'authenticated')
const adminOnly = guarded('/api/v1/guard/admin', { role: 'admin' })
const staffOrAdmin = guarded('/api/v1/guard/staff', { role: ['staff', 'admin'] })
const analytics = guarded('/api/v1/guard/analytics', { permission: 'analytics.view' })
const refunds = guarded('/api/v1/guard/refunds', { permission: 'orders.refund' })
const optional = guarded('/api/v1/guard/optional', 'optional')

type RouteFn = (request: Request) => Promise<Response>

function send(fn: RouteFn, opts: { token?: string; authorization?: string; query?: string } = {}) {
  const headers = new Headers()
  if (opts.token) headers.set('authorization', `Bearer ${opts.token}`)
  if (opts.authorization) headers.set('authorization', opts.authorization)
  const spec = (fn as RouteFn & { spec: { path: string } }).spec
  const r = new Request(new URL(`${spec.path}${opts.query ?? ''}`, 'http://localhost'), { headers })
  setSocketAddress(r, randomUUID())
  return fn(r)
}

async function expect401(res: Response, code?: string): Promise<void> {
  expect(res.status).toBe(401)
  expect(res.headers.get('www-authenticate')).toBe('Bearer')
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  const body = (await res.json()) as Problem
  expect(body.status).toBe(401)
  expect(body.request_id).toBe(res.headers.get('x-request-id'))
  if (code) expect(body.code).toBe(code)
}

async function expect403(res: Response): Promise<void> {
  expect(res.status).toBe(403)
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  expect(((await res.json()) as Problem).code).toBe('forbidden')
}

/** A token built by hand with jose, for what signToken would never produce. */
async function craft(
  claims: { sub: string; sid: string; typ?: string },
  opts: { secret?: string; alg?: string; iss?: string; aud?: string; exp?: number; iat?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ sid: claims.sid, typ: claims.typ ?? 'access' })
    .setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setJti(randomUUID())
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? AUDIENCE)
    .setIssuedAt(opts.iat ?? now)
    .setExpirationTime(opts.exp ?? now + 300)
    .sign(new TextEncoder().encode(opts.secret ?? jwtSecret()))
}

const revoke = async (sessionId: string) =>
  (await getDb()).update(userSessions).set({ revokedAt: new Date() }).where(eq(userSessions.id, sessionId))

async function grant(userId: string, permission: string, expiresAt: Date | null) {
  await (await getDb()).insert(userPermissions).values({ userId, permission, expiresAt })
}

describe('no or unusable credentials', () => {
  it('answers 401 problem+json with www-authenticate: Bearer when there is no token', async () => {
    await expect401(await send(signedIn), 'unauthorized')
  })

  it('refuses Basic credentials', async () => {
    const basic = `Basic ${Buffer.from('admin@example.test:password').toString('base64')}`
    await expect401(await send(signedIn, { authorization: basic }))
  })

  it('refuses a malformed token', async () => {
    for (const token of ['not-a-jwt', 'a.b.c', 'eyJhbGciOiJIUzI1NiJ9.e30.']) {
      await expect401(await send(signedIn, { token }), 'invalid_token')
    }
    await expect401(await send(signedIn, { authorization: 'Bearer two words' }), 'invalid_token')
    await expect401(await send(signedIn, { authorization: 'Bearer' }))
  })

  it('never accepts a token from the query string', async () => {
    const { token } = await makeUser({ role: 'admin' })
    await expect401(await send(signedIn, { query: `?access_token=${token}` }))
    await expect401(await send(signedIn, { query: `?token=${token}` }))
  })
})

describe('token verification', () => {
  let me: Awaited<ReturnType<typeof makeUser>>

  beforeEach(async () => {
    me = await makeUser({ role: 'customer' })
  })

  it('accepts the access token of a live session', async () => {
    const res = await send(signedIn, { token: me.token })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ user_id: me.user.id, role: 'customer' })
  })

  it('refuses an expired token', async () => {
    const now = Math.floor(Date.now() / 1000)
    const expired = await craft({ sub: me.user.id, sid: me.sessionId }, { iat: now - 120, exp: now - 60 })
    await expect401(await send(signedIn, { token: expired }), 'invalid_token')
    const viaSignToken = await signToken('access', me.user.id, me.sessionId, -60)
    await expect401(await send(signedIn, { token: viaSignToken }), 'invalid_token')
  })

  it('refuses an unsigned alg: none token', async () => {
    const now = Math.floor(Date.now() / 1000)
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))
    const payload = base64url.encode(
      JSON.stringify({
        sub: me.user.id,
        sid: me.sessionId,
        typ: 'access',
        jti: randomUUID(),
        iss: ISSUER,
        aud: AUDIENCE,
        iat: now,
        exp: now + 300,
      }),
    )
    await expect401(await send(signedIn, { token: `${header}.${payload}.` }), 'invalid_token')
  })

  it('refuses a token signed with another HMAC algorithm than HS256', async () => {
    const hs512 = await craft({ sub: me.user.id, sid: me.sessionId }, { alg: 'HS512' })
    await expect401(await send(signedIn, { token: hs512 }), 'invalid_token')
  })

  it('refuses a token whose payload was changed after signing', async () => {
    const other = await makeUser({ role: 'admin' })
    const [header, payload, signature] = me.token.split('.') as [string, string, string]
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload)))
    const forged = base64url.encode(JSON.stringify({ ...claims, sub: other.user.id, sid: other.sessionId }))
    await expect401(await send(adminOnly, { token: `${header}.${forged}.${signature}` }), 'invalid_token')
  })

  it('refuses a token signed with another secret', async () => {
    const token = await craft({ sub: me.user.id, sid: me.sessionId }, { secret: 'z'.repeat(48) })
    await expect401(await send(signedIn, { token }), 'invalid_token')
  })

  it('refuses a token for another audience or issuer', async () => {
    const claims = { sub: me.user.id, sid: me.sessionId }
    await expect401(
      await send(signedIn, { token: await craft(claims, { aud: 'another-api' }) }),
      'invalid_token',
    )
    await expect401(
      await send(signedIn, { token: await craft(claims, { iss: 'someone-else' }) }),
      'invalid_token',
    )
  })

  it('refuses an MFA token used as an access token', async () => {
    const mfa = await signToken('mfa', me.user.id, me.sessionId, 300)
    await expect401(await send(signedIn, { token: mfa }), 'invalid_token')
  })

  it('refuses a token that names a session of another user', async () => {
    const other = await makeUser({ role: 'admin' })
    const token = await signToken('access', me.user.id, other.sessionId, 300)
    await expect401(await send(signedIn, { token }), 'session_ended')
  })

  it('refuses a token for a session that does not exist', async () => {
    const token = await signToken('access', me.user.id, randomUUID(), 300)
    await expect401(await send(signedIn, { token }), 'session_ended')
  })
})

describe('JWT secret rotation', () => {
  it('still accepts a token signed with JWT_SECRET_PREVIOUS, and stops once rotation ends', async () => {
    const oldSecret = 'o'.repeat(40)
    const newSecret = 'n'.repeat(40)
    process.env.JWT_SECRET = oldSecret
    resetEnv()
    const me = await makeUser({ role: 'customer' })

    process.env.JWT_SECRET = newSecret
    process.env.JWT_SECRET_PREVIOUS = oldSecret
    resetEnv()
    expect((await send(signedIn, { token: me.token })).status).toBe(200)
    const fresh = await signToken('access', me.user.id, me.sessionId, 300)
    expect((await send(signedIn, { token: fresh })).status).toBe(200)

    delete process.env.JWT_SECRET_PREVIOUS
    resetEnv()
    await expect401(await send(signedIn, { token: me.token }), 'invalid_token')
    expect((await send(signedIn, { token: fresh })).status).toBe(200)
  })
})

describe('roles and permissions', () => {
  it('refuses a customer on a staff route and on an admin route', async () => {
    const { token } = await makeUser({ role: 'customer' })
    await expect403(await send(staffOrAdmin, { token }))
    await expect403(await send(adminOnly, { token }))
  })

  it('refuses staff on an admin route but lets them through a staff route', async () => {
    const { token } = await makeUser({ role: 'staff' })
    await expect403(await send(adminOnly, { token }))
    expect((await send(staffOrAdmin, { token })).status).toBe(200)
  })

  it('refuses staff a permission their role does not carry', async () => {
    const { token } = await makeUser({ role: 'staff' })
    expect((await send(analytics, { token })).status).toBe(200)
    await expect403(await send(refunds, { token }))
  })

  it('lets an admin through every guard', async () => {
    const { token, user } = await makeUser({ role: 'admin' })
    for (const fn of [signedIn, adminOnly, staffOrAdmin, analytics, refunds]) {
      const res = await send(fn, { token })
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ user_id: user.id, role: 'admin' })
    }
  })

  it('lets a customer with an analytics.view grant through the permission route, and no further', async () => {
    const { token, user } = await makeUser({ role: 'customer' })
    await grant(user.id, 'analytics.view', null)
    expect((await send(analytics, { token })).status).toBe(200)
    await expect403(await send(refunds, { token }))
    await expect403(await send(adminOnly, { token }))
  })

  it('ignores a grant that has already expired', async () => {
    const { token, user } = await makeUser({ role: 'customer' })
    await grant(user.id, 'analytics.view', new Date(Date.now() - 60_000))
    await expect403(await send(analytics, { token }))
  })

  it('stops honouring a grant the moment it expires, even while the session state is cached', async () => {
    const { token, user } = await makeUser({ role: 'customer' })
    const start = Date.now()
    await grant(user.id, 'analytics.view', new Date(start + 30_000))
    expect((await send(analytics, { token })).status).toBe(200)
    // 45 s later: the grant has expired but the cached state (60 s) has not.
    setClock(() => Date.now() + 45_000)
    await expect403(await send(analytics, { token }))
    expect((await send(signedIn, { token })).status).toBe(200)
  })
})

describe('current session state', () => {
  it('refuses a revoked session although its token is still valid', async () => {
    const me = await makeUser({ role: 'customer' })
    await revoke(me.sessionId)
    await expect401(await send(signedIn, { token: me.token }), 'session_ended')
  })

  it('refuses a session revoked right after its state was cached, once the cache is told', async () => {
    const me = await makeUser({ role: 'staff' })
    expect((await send(signedIn, { token: me.token })).status).toBe(200)
    await revoke(me.sessionId)
    await forgetSessions([me.sessionId])
    await expect401(await send(signedIn, { token: me.token }), 'session_ended')
    await expect401(await send(analytics, { token: me.token }), 'session_ended')
  })

  it('refuses a suspended user on the next request', async () => {
    const me = await makeUser({ role: 'staff' })
    expect((await send(analytics, { token: me.token })).status).toBe(200)
    await (await getDb()).update(users).set({ isActive: false }).where(eq(users.id, me.user.id))
    await forgetSessions([me.sessionId])
    await expect401(await send(analytics, { token: me.token }), 'session_ended')
  })

  it('refuses a locked user until the lock ends', async () => {
    const me = await makeUser({ role: 'customer' })
    const lockedUntil = new Date(Date.now() + 600_000)
    await (await getDb()).update(users).set({ lockedUntil }).where(eq(users.id, me.user.id))
    await expect401(await send(signedIn, { token: me.token }), 'session_ended')
    setClock(() => lockedUntil.getTime() + 1000)
    expect((await send(signedIn, { token: me.token })).status).toBe(200)
  })

  it('takes a role change into account on the next request', async () => {
    const me = await makeUser({ role: 'staff' })
    expect((await send(staffOrAdmin, { token: me.token })).status).toBe(200)
    await (await getDb()).update(users).set({ role: 'customer' }).where(eq(users.id, me.user.id))
    await forgetSessions([me.sessionId])
    await expect403(await send(staffOrAdmin, { token: me.token }))
  })

  it('keeps other sessions of the same user working when one is revoked', async () => {
    const me = await makeUser({ role: 'customer' })
    const { startSession } = await import('../../lib/auth/sessions.js')
    const second = await startSession(await getDb(), me.user.id)
    await revoke(me.sessionId)
    await forgetSessions([me.sessionId])
    await expect401(await send(signedIn, { token: me.token }))
    expect((await send(signedIn, { token: second.access_token })).status).toBe(200)
  })
})

describe('optional auth', () => {
  it('sees the caller when the token is good and ignores a bad one', async () => {
    const me = await makeUser({ role: 'customer' })
    expect(await (await send(optional, { token: me.token })).json()).toEqual({
      user_id: me.user.id,
      role: 'customer',
    })
    const bad = await send(optional, { token: 'garbage' })
    expect(bad.status).toBe(200)
    expect(await bad.json()).toEqual({ user_id: null, role: null })
    expect(await (await send(optional)).json()).toEqual({ user_id: null, role: null })
  })
})

describe('order of checks', () => {
  it('answers 401, not 422, to an anonymous request with an invalid body', async () => {
    const POST = route(
      {
        path: '/api/v1/guard/orders',
        summary: 'guarded write',
        tags: ['test'],
        auth: 'authenticated',
        rateLimit: false,
        body: z.object({ quantity: z.number().int().min(1) }),
      },
      async () => json({ ok: true }),
    )
    const r = new Request('http://localhost/api/v1/guard/orders', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ quantity: 0 }),
    })
    await expect401(await POST(r))
  })
})

describe('GET /api/v1/metrics/business (real route)', () => {
  const path = '/api/v1/metrics/business'

  it('answers 401 with www-authenticate: Bearer without a token', async () => {
    const res = await call('GET', path)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer')
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(res.body.code).toBe('unauthorized')
  })

  it('answers 401 for Basic credentials, a bad token, or a token in the query string', async () => {
    const { token } = await makeUser({ role: 'admin' })
    expect((await call('GET', path, { headers: { authorization: 'Basic YTpi' } })).status).toBe(401)
    expect((await call('GET', path, { token: 'garbage' })).status).toBe(401)
    expect((await call('GET', `${path}?access_token=${token}`)).status).toBe(401)
  })

  it('answers 403 to a customer', async () => {
    const { token } = await makeUser({ role: 'customer' })
    const res = await call('GET', path, { token })
    expect(res.status).toBe(403)
    expect(res.body.code).toBe('forbidden')
  })

  it('answers staff and admins', async () => {
    for (const role of ['staff', 'admin'] as const) {
      const { token } = await makeUser({ role })
      const res = await call('GET', path, { token })
      expect(res.status, role).toBe(200)
      expect(res.body).toHaveProperty('revenue')
    }
  })

  it('answers a customer holding an analytics.view grant', async () => {
    const { token, user } = await makeUser({ role: 'customer' })
    await grant(user.id, 'analytics.view', null)
    expect((await call('GET', path, { token })).status).toBe(200)
  })

  it('refuses a revoked session that was cached a moment before', async () => {
    const me = await makeUser({ role: 'staff' })
    expect((await call('GET', path, { token: me.token })).status).toBe(200)
    await revoke(me.sessionId)
    await forgetSessions([me.sessionId])
    const res = await call('GET', path, { token: me.token })
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('session_ended')
  })
})
