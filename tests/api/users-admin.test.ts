import { randomBytes, randomUUID } from 'node:crypto'
import { and, desc, eq } from 'drizzle-orm'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  outboxEmails,
  userActivities,
  userPermissions,
  userSessions,
  users,
  userTokens,
} from '../../db/schema/index.js'
import type { Permission, Role } from '../../lib/auth/permissions.js'
import { signToken } from '../../lib/auth/tokens.js'
import { setClock } from '../../lib/platform/clock.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { DEFAULT_PASSWORD, makeUser } from '../support/factories.js'
import { type CallResult, call } from '../support/http.js'

// Users administration (issue 4): list, create (password or invitation), read/update one user, the
// permission matrix and grants, and the activity log. Who may act on whom: users.view reads, users.manage
// writes; only admins change roles or act on admin accounts; nobody changes their own role or grants what
// they do not hold. Changes of authority apply on the affected user's very next request.

const STRONG = 'violet tram umbrella 42'
let saved: Record<string, string | undefined>

beforeEach(() => {
  saved = { ...process.env }
  process.env.RATE_LIMIT_DEFAULT = '100000/60'
  process.env.RATE_LIMIT_AUTH_LOGIN = '100000/60'
  process.env.RATE_LIMIT_AUTH_LOGIN_ACCOUNT = '100000/300'
  process.env.APP_URL = 'https://shop.example.com'
  delete process.env.RESEND_API_KEY
  resetEnv()
})

afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
  Object.assign(process.env, saved)
  setClock(undefined)
  resetEnv()
})

type Made = Awaited<ReturnType<typeof makeUser>>

const db = () => getDb()
const tag = () => randomBytes(5).toString('hex')
const newEmail = () => `admin-test-${tag()}@example.test`

const as = (token: string | undefined) => ({
  get: (path: string) => call('GET', path, { token }),
  post: (path: string, body: unknown) => call('POST', path, { token, body }),
  put: (path: string, body: unknown) => call('PUT', path, { token, body }),
})

async function withGrants(role: Role, grants: Permission[]): Promise<Made> {
  const u = await makeUser({ role })
  if (grants.length) {
    await (await db())
      .insert(userPermissions)
      .values(grants.map((permission) => ({ userId: u.user.id, permission })))
  }
  return u
}

function expectProblem(res: CallResult, status: number, code?: string) {
  expect(res.status, res.text).toBe(status)
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  if (code) expect(res.body.code).toBe(code)
}

async function userRow(id: string) {
  const [u] = await (await db()).select().from(users).where(eq(users.id, id))
  return u!
}

async function activitiesOf(userId: string, action?: string) {
  return (await db())
    .select()
    .from(userActivities)
    .where(and(eq(userActivities.userId, userId), action ? eq(userActivities.action, action) : undefined))
    .orderBy(desc(userActivities.createdAt))
}

const login = (email: string, password: string) =>
  call('POST', '/api/v1/auth/login', { body: { email, password } })

const metricsAs = (token: string) => call('GET', '/api/v1/metrics/business', { token })

/** Every endpoint of this file, for the shared refusal cases. */
function endpoints(targetId: string) {
  return [
    { method: 'GET', path: '/api/v1/users' },
    {
      method: 'POST',
      path: '/api/v1/users',
      body: { email: newEmail(), first_name: 'A', last_name: 'B', role: 'customer', password: STRONG },
    },
    { method: 'GET', path: `/api/v1/users/${targetId}` },
    { method: 'PUT', path: `/api/v1/users/${targetId}`, body: { first_name: 'Changed' } },
    { method: 'GET', path: `/api/v1/users/${targetId}/permissions` },
    {
      method: 'PUT',
      path: `/api/v1/users/${targetId}/permissions`,
      body: { permissions: [] },
    },
    { method: 'GET', path: `/api/v1/users/${targetId}/activity` },
  ] as Array<{ method: string; path: string; body?: unknown }>
}

// --- Authentication and authorization ----------------------------------------------------------------------

describe('who may call the users endpoints', () => {
  it('answers 401 without a token, with a malformed token and with an mfa token', async () => {
    const target = await makeUser()
    for (const e of endpoints(target.user.id)) {
      const res = await call(e.method, e.path, { body: e.body })
      expectProblem(res, 401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
    }
    expectProblem(await as('not-a-jwt').get('/api/v1/users'), 401, 'invalid_token')
    expectProblem(
      await call('GET', '/api/v1/users', { headers: { authorization: 'Basic abc' } }),
      401,
      'invalid_token',
    )
    const admin = await makeUser({ role: 'admin' })
    const mfa = await signToken('mfa', admin.user.id, admin.sessionId, 300)
    expectProblem(await as(mfa).get('/api/v1/users'), 401, 'invalid_token')
  })

  it('refuses a customer with 403 on every endpoint, its own record included (no users.view)', async () => {
    const customer = await makeUser({ role: 'customer' })
    const other = await makeUser({ role: 'customer' })
    for (const id of [customer.user.id, other.user.id]) {
      for (const e of endpoints(id)) {
        const res = await call(e.method, e.path, { token: customer.token, body: e.body })
        expectProblem(res, 403, 'forbidden')
      }
    }
    // Nothing changed.
    expect((await userRow(other.user.id)).firstName).toBe('Test')
  })

  it('lets staff read but not write (users.manage is not a staff default)', async () => {
    const staff = await makeUser({ role: 'staff' })
    const target = await makeUser()
    for (const e of endpoints(target.user.id)) {
      const res = await call(e.method, e.path, { token: staff.token, body: e.body })
      if (e.method === 'GET') expect(res.status, `${e.method} ${e.path}`).toBe(200)
      else expectProblem(res, 403, 'forbidden')
    }
    expect((await userRow(target.user.id)).firstName).toBe('Test')
    expect(await activitiesOf(target.user.id, 'user.updated')).toHaveLength(0)
  })

  it('answers 405 with Allow for a method the path does not serve', async () => {
    const admin = await makeUser({ role: 'admin' })
    const res = await call('PATCH', '/api/v1/users', { token: admin.token, body: {} })
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toContain('GET')
  })
})

// --- GET /users ----------------------------------------------------------------------------------------------

describe('GET /api/v1/users', () => {
  async function seed(t: string) {
    const mk = (first: string, last: string, role: Role, isActive = true) =>
      makeUser({
        role,
        isActive,
        firstName: first,
        lastName: `${last}${t}`,
        email: `${first.toLowerCase()}.${t}@example.test`,
      })
    const ann = await mk('Ann', 'Archer', 'customer')
    const bob = await mk('Bob', 'Baker', 'staff')
    const cat = await mk('Cat', 'Carter', 'customer', false)
    const dan = await mk('Dan', 'Dawson', 'admin')
    const eve = await mk('Eve', 'Evans', 'customer')
    return { ann, bob, cat, dan, eve }
  }

  it('lists users in the envelope, newest first by default, with AdminUser fields and no secrets', async () => {
    const staff = await makeUser({ role: 'staff' })
    const t = tag()
    const s = await seed(t)
    const res = await as(staff.token).get(`/api/v1/users?search=${t}`)
    expect(res.status).toBe(200)
    expect(res.body.pagination).toEqual({ page: 1, limit: 20, total: 5, pages: 1 })
    expect(res.body.users.map((u: { id: string }) => u.id)).toEqual(
      [s.eve, s.dan, s.cat, s.bob, s.ann].map((u) => u.user.id),
    )
    const ann = res.body.users.find((u: { id: string }) => u.id === s.ann.user.id)
    expect(ann).toMatchObject({
      email: s.ann.user.email,
      first_name: 'Ann',
      last_name: `Archer${t}`,
      role: 'customer',
      is_active: true,
      is_verified: false,
      mfa_enabled: false,
      created_at: expect.any(String),
    })
    expect(res.text).not.toMatch(/password|hash|secret|token/i)
  })

  it('pages with page and limit and reports totals', async () => {
    const admin = await makeUser({ role: 'admin' })
    const t = tag()
    await seed(t)
    const p1 = await as(admin.token).get(`/api/v1/users?search=${t}&limit=2&sort=email`)
    const p3 = await as(admin.token).get(`/api/v1/users?search=${t}&limit=2&page=3&sort=email`)
    const p4 = await as(admin.token).get(`/api/v1/users?search=${t}&limit=2&page=4&sort=email`)
    expect(p1.body.pagination).toEqual({ page: 1, limit: 2, total: 5, pages: 3 })
    expect(p1.body.users.map((u: { first_name: string }) => u.first_name)).toEqual(['Ann', 'Bob'])
    expect(p3.body.pagination).toEqual({ page: 3, limit: 2, total: 5, pages: 3 })
    expect(p3.body.users.map((u: { first_name: string }) => u.first_name)).toEqual(['Eve'])
    expect(p4.status).toBe(200)
    expect(p4.body).toEqual({ users: [], pagination: { page: 4, limit: 2, total: 5, pages: 3 } })
  })

  it('refuses limit above 100, page 0 and an unknown sort with 422', async () => {
    const admin = await makeUser({ role: 'admin' })
    const tooMany = await as(admin.token).get('/api/v1/users?limit=101')
    expectProblem(tooMany, 422, 'validation_failed')
    expect(tooMany.body.errors[0].path).toBe('query.limit')
    expect((await as(admin.token).get('/api/v1/users?limit=100')).status).toBe(200)
    expectProblem(await as(admin.token).get('/api/v1/users?page=0'), 422)
    const sort = await as(admin.token).get('/api/v1/users?sort=password_hash')
    expectProblem(sort, 422)
    expect(sort.body.errors[0].path).toBe('query.sort')
    expectProblem(await as(admin.token).get('/api/v1/users?is_active=maybe'), 422)
    expectProblem(await as(admin.token).get('/api/v1/users?role=root'), 422)
  })

  it('searches email, first name, last name and full name case-insensitively', async () => {
    const admin = await makeUser({ role: 'admin' })
    const t = tag()
    const s = await seed(t)
    const ids = async (q: string) =>
      (await as(admin.token).get(`/api/v1/users?search=${encodeURIComponent(q)}`)).body.users.map(
        (u: { id: string }) => u.id,
      )
    expect(await ids(`BOB.${t.toUpperCase()}@EXAMPLE`)).toEqual([s.bob.user.id])
    expect(await ids(`carter${t}`)).toEqual([s.cat.user.id])
    expect(await ids(`dan dawson${t}`)).toEqual([s.dan.user.id])
    const ann = await ids('aNn')
    expect(ann).toContain(s.ann.user.id)
    expect(ann).not.toContain(s.bob.user.id)
  })

  it('treats LIKE wildcards in search literally', async () => {
    const admin = await makeUser({ role: 'admin' })
    const t = tag()
    const literal = await makeUser({ lastName: `100%_${t}` })
    await makeUser({ lastName: `100ab${t}` })
    const res = await as(admin.token).get(`/api/v1/users?search=${encodeURIComponent(`100%_${t}`)}`)
    expect(res.body.users.map((u: { id: string }) => u.id)).toEqual([literal.user.id])
    const pct = await as(admin.token).get(`/api/v1/users?search=${encodeURIComponent(`%${t}`)}`)
    expect(pct.body.pagination.total).toBe(0)
  })

  it('filters by role and is_active, and sorts', async () => {
    const admin = await makeUser({ role: 'admin' })
    const t = tag()
    const s = await seed(t)
    const q = async (extra: string) =>
      (await as(admin.token).get(`/api/v1/users?search=${t}&${extra}`)).body.users.map(
        (u: { first_name: string }) => u.first_name,
      )
    expect(await q('role=customer&sort=email')).toEqual(['Ann', 'Cat', 'Eve'])
    expect(await q('role=staff')).toEqual(['Bob'])
    expect(await q('is_active=false')).toEqual(['Cat'])
    expect(await q('is_active=true&role=customer&sort=-email')).toEqual(['Eve', 'Ann'])
    expect(await q('sort=last_name')).toEqual(['Ann', 'Bob', 'Cat', 'Dan', 'Eve'])
    expect(await q('sort=-last_name')).toEqual(['Eve', 'Dan', 'Cat', 'Bob', 'Ann'])
    expect(await q('sort=created_at')).toEqual(['Ann', 'Bob', 'Cat', 'Dan', 'Eve'])
    expect(s.ann.user.id).toBeDefined()
  })

  it('never lists erased users', async () => {
    const admin = await makeUser({ role: 'admin' })
    const t = tag()
    const erased = await makeUser({ lastName: `Gone${t}`, deletedAt: new Date() })
    const kept = await makeUser({ lastName: `Kept${t}` })
    const res = await as(admin.token).get(`/api/v1/users?search=${t}`)
    expect(res.body.users.map((u: { id: string }) => u.id)).toEqual([kept.user.id])
    expect(res.body.users.map((u: { id: string }) => u.id)).not.toContain(erased.user.id)
  })
})

// --- POST /users ---------------------------------------------------------------------------------------------

describe('POST /api/v1/users', () => {
  it('creates a staff user with a password (201, verified), who can sign in; the activity names the actor', async () => {
    const admin = await makeUser({ role: 'admin' })
    const email = newEmail()
    const res = await as(admin.token).post('/api/v1/users', {
      email: `  ${email.toUpperCase()} `,
      first_name: 'New',
      last_name: 'Staffer',
      role: 'staff',
      password: STRONG,
      company: 'Acme',
      phone: '+1 555 0100',
    })
    expect(res.status, res.text).toBe(201)
    expect(res.body).toMatchObject({
      id: expect.any(String),
      email,
      first_name: 'New',
      last_name: 'Staffer',
      company: 'Acme',
      phone: '+1 555 0100',
      role: 'staff',
      is_active: true,
      is_verified: true,
      profile: { bio: null, preferences: {} },
    })
    expect(res.text).not.toContain(STRONG)
    const signIn = await login(email, STRONG)
    expect(signIn.status).toBe(200)
    expect((await as(signIn.body.access_token).get('/api/v1/users')).status).toBe(200)

    const [act] = await activitiesOf(res.body.id, 'user.created')
    expect(act).toMatchObject({ actorId: admin.user.id, userId: res.body.id, resourceId: res.body.id })
    expect(act!.metadata).toMatchObject({ role: 'staff', via: 'password' })
    expect(JSON.stringify(act!.metadata)).not.toContain(STRONG)
    // No invitation when a password was given.
    const mails = await (await db()).select().from(outboxEmails).where(eq(outboxEmails.toEmail, email))
    expect(mails).toHaveLength(0)
  })

  it('invites a user without a password: a single-use set-password link through reset-password', async () => {
    const admin = await makeUser({ role: 'admin' })
    const email = newEmail()
    const res = await as(admin.token).post('/api/v1/users', {
      email,
      first_name: 'Invited',
      last_name: 'Person',
      role: 'customer',
    })
    expect(res.status, res.text).toBe(201)
    expect(res.body).toMatchObject({ email, role: 'customer', is_verified: false })
    expect((await userRow(res.body.id)).passwordHash).toBeNull()

    const [mail] = await (await db())
      .select()
      .from(outboxEmails)
      .where(and(eq(outboxEmails.toEmail, email), eq(outboxEmails.template, 'invite')))
    expect(mail).toBeDefined()
    const token = mail!.payload.token as string
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const [stored] = await (await db()).select().from(userTokens).where(eq(userTokens.userId, res.body.id))
    expect(stored).toMatchObject({ purpose: 'invite', usedAt: null })
    const ttl = stored!.expiresAt.getTime() - stored!.createdAt.getTime()
    expect(Math.abs(ttl - 72 * 3600_000)).toBeLessThan(60_000)
    expect(stored!.tokenHash).not.toContain(token)

    // No password yet: nothing signs in.
    expect((await login(email, STRONG)).status).toBe(401)

    const set = await call('POST', '/api/v1/auth/reset-password', { body: { token, password: STRONG } })
    expect(set.status, set.text).toBe(200)
    const signIn = await login(email, STRONG)
    expect(signIn.status).toBe(200)
    expect(signIn.body.access_token).toEqual(expect.any(String))
    expect((await userRow(res.body.id)).isVerified).toBe(true)

    // Single use.
    const again = await call('POST', '/api/v1/auth/reset-password', {
      body: { token, password: 'another fine password 7' },
    })
    expectProblem(again, 400, 'invalid_token')
    const [act] = await activitiesOf(res.body.id, 'user.created')
    expect(act).toMatchObject({ actorId: admin.user.id })
    expect(act!.metadata).toMatchObject({ via: 'invite' })
  })

  it('refuses a taken email in any case with 409 email_taken', async () => {
    const admin = await makeUser({ role: 'admin' })
    const existing = await makeUser()
    const res = await as(admin.token).post('/api/v1/users', {
      email: existing.user.email.toUpperCase(),
      first_name: 'Dup',
      last_name: 'Licate',
      role: 'customer',
      password: STRONG,
    })
    expectProblem(res, 409, 'email_taken')
  })

  it('checks the password like registration and the fields with 422', async () => {
    const admin = await makeUser({ role: 'admin' })
    const weak = await as(admin.token).post('/api/v1/users', {
      email: newEmail(),
      first_name: 'A',
      last_name: 'B',
      role: 'customer',
      password: 'password',
    })
    expectProblem(weak, 422)
    expect(weak.body.errors).toEqual([expect.objectContaining({ path: 'password', code: 'weak_password' })])
    const short = await as(admin.token).post('/api/v1/users', {
      email: newEmail(),
      first_name: 'A',
      last_name: 'B',
      role: 'customer',
      password: 'x1',
    })
    expectProblem(short, 422)
    for (const body of [
      { email: 'not-an-email', first_name: 'A', last_name: 'B', role: 'customer', password: STRONG },
      { email: newEmail(), first_name: 'A', last_name: 'B', role: 'root', password: STRONG },
      { email: newEmail(), last_name: 'B', role: 'customer', password: STRONG },
      { email: newEmail(), first_name: 'A', last_name: 'B', role: 'customer', send_invite: false },
    ]) {
      expectProblem(await as(admin.token).post('/api/v1/users', body), 422)
    }
  })

  it('is for admins only: staff even with a users.manage grant cannot create accounts', async () => {
    const staff = await withGrants('staff', ['users.manage'])
    for (const role of ['customer', 'staff', 'admin']) {
      const email = newEmail()
      const res = await as(staff.token).post('/api/v1/users', {
        email,
        first_name: 'C',
        last_name: 'D',
        role,
        password: STRONG,
      })
      expectProblem(res, 403, 'forbidden')
      const rows = await (await db()).select().from(users).where(eq(users.email, email))
      expect(rows).toHaveLength(0)
    }
  })
})

// --- GET /users/{id} -----------------------------------------------------------------------------------------

describe('GET /api/v1/users/{user_id}', () => {
  it('returns the user with their profile', async () => {
    const staff = await makeUser({ role: 'staff' })
    const target = await makeUser({ company: 'Acme', phone: '+44 20 7946 0000' })
    const res = await as(staff.token).get(`/api/v1/users/${target.user.id}`)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      id: target.user.id,
      email: target.user.email,
      company: 'Acme',
      phone: '+44 20 7946 0000',
      role: 'customer',
      profile: { avatar_url: null, bio: null, preferences: {} },
    })
    expect(res.text).not.toMatch(/password|hash/i)
  })

  it('answers 404 for an unknown, an erased and a malformed id alike', async () => {
    const admin = await makeUser({ role: 'admin' })
    const erased = await makeUser({ deletedAt: new Date() })
    for (const id of [randomUUID(), erased.user.id, 'not-a-uuid', '1']) {
      expectProblem(await as(admin.token).get(`/api/v1/users/${id}`), 404, 'not_found')
      expectProblem(await as(admin.token).get(`/api/v1/users/${id}/permissions`), 404, 'not_found')
      expectProblem(await as(admin.token).get(`/api/v1/users/${id}/activity`), 404, 'not_found')
      expectProblem(await as(admin.token).put(`/api/v1/users/${id}`, { first_name: 'X' }), 404, 'not_found')
      expectProblem(
        await as(admin.token).put(`/api/v1/users/${id}/permissions`, { permissions: [] }),
        404,
        'not_found',
      )
    }
  })
})

// --- PUT /users/{id} -----------------------------------------------------------------------------------------

describe('PUT /api/v1/users/{user_id}', () => {
  it('updates fields and profile, records the changed field names with the actor', async () => {
    const admin = await makeUser({ role: 'admin' })
    const target = await makeUser()
    const res = await as(admin.token).put(`/api/v1/users/${target.user.id}`, {
      first_name: 'Renamed',
      last_name: 'User',
      company: 'Globex',
      phone: null,
      marketing_consent: true,
      profile: { bio: 'Hello', timezone: 'Europe/Berlin', preferences: { newsletter: true } },
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({
      first_name: 'Renamed',
      company: 'Globex',
      phone: null,
      marketing_consent: true,
      profile: { bio: 'Hello', timezone: 'Europe/Berlin', preferences: { newsletter: true } },
    })
    expect((await as(admin.token).get(`/api/v1/users/${target.user.id}`)).body).toMatchObject({
      first_name: 'Renamed',
      profile: { bio: 'Hello' },
    })
    const [act] = await activitiesOf(target.user.id, 'user.updated')
    expect(act).toMatchObject({ actorId: admin.user.id, userId: target.user.id })
    expect((act!.metadata.fields as string[]).sort()).toEqual(
      [
        'first_name',
        'company',
        'marketing_consent',
        'profile.bio',
        'profile.timezone',
        'profile.preferences',
      ].sort(),
    )
  })

  it('refuses unknown fields and invalid values with 422 and changes nothing', async () => {
    const admin = await makeUser({ role: 'admin' })
    const target = await makeUser()
    for (const body of [
      { first_name: 'X', is_verified: true },
      { password_hash: 'x' },
      { mfa_enabled: true },
      { first_name: '' },
      { email: 'nope' },
      { phone: 'call me' },
      { role: 'root' },
      { profile: { website: 'not a url' } },
      { profile: { shoe_size: 44 } },
    ]) {
      expectProblem(await as(admin.token).put(`/api/v1/users/${target.user.id}`, body), 422)
    }
    const row = await userRow(target.user.id)
    expect(row).toMatchObject({ firstName: 'Test', isVerified: false, mfaEnabled: false, role: 'customer' })
  })

  it('changes the email lower-cased (409 if taken), unverified, and tells the old address', async () => {
    const admin = await makeUser({ role: 'admin' })
    const target = await makeUser({ isVerified: true })
    const other = await makeUser()
    expectProblem(
      await as(admin.token).put(`/api/v1/users/${target.user.id}`, { email: other.user.email.toUpperCase() }),
      409,
      'email_taken',
    )
    const email = newEmail()
    const res = await as(admin.token).put(`/api/v1/users/${target.user.id}`, { email: email.toUpperCase() })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ email, is_verified: false })
    const mails = await (await db()).select().from(outboxEmails)
    expect(mails.some((m) => m.toEmail === email && m.template === 'verify_email')).toBe(true)
    expect(mails.some((m) => m.toEmail === target.user.email && m.template === 'email_changed')).toBe(true)
    // The same email again is no change and no conflict.
    expect((await as(admin.token).put(`/api/v1/users/${target.user.id}`, { email })).status).toBe(200)
  })

  it('applies a role change on the next request: demoted staff lose the users list at once', async () => {
    const admin = await makeUser({ role: 'admin' })
    const staff = await makeUser({ role: 'staff' })
    expect((await as(staff.token).get('/api/v1/users')).status).toBe(200) // state now cached
    const res = await as(admin.token).put(`/api/v1/users/${staff.user.id}`, { role: 'customer' })
    expect(res.status, res.text).toBe(200)
    expect(res.body.role).toBe('customer')
    expectProblem(await as(staff.token).get('/api/v1/users'), 403, 'forbidden')
    const [act] = await activitiesOf(staff.user.id, 'user.updated')
    expect(act!.metadata).toMatchObject({ fields: ['role'], role_from: 'staff', role_to: 'customer' })
    expect(act!.actorId).toBe(admin.user.id)

    // And back up: promotion applies at once as well.
    await as(admin.token).put(`/api/v1/users/${staff.user.id}`, { role: 'admin' })
    expect((await as(staff.token).get('/api/v1/users')).status).toBe(200)
  })

  it('refuses role changes by non-admins and an admin changing their own role', async () => {
    const admin = await makeUser({ role: 'admin' })
    const manager = await withGrants('staff', ['users.manage'])
    const customer = await makeUser()
    expectProblem(
      await as(manager.token).put(`/api/v1/users/${customer.user.id}`, { role: 'staff' }),
      403,
      'role_change_forbidden',
    )
    expectProblem(
      await as(admin.token).put(`/api/v1/users/${admin.user.id}`, { role: 'staff' }),
      403,
      'self_action',
    )
    expect((await userRow(admin.user.id)).role).toBe('admin')
    expect((await userRow(customer.user.id)).role).toBe('customer')
    // Sending one's own unchanged role is no change, and other fields of one's own record are fine.
    const own = await as(admin.token).put(`/api/v1/users/${admin.user.id}`, {
      role: 'admin',
      first_name: 'Me',
    })
    expect(own.status, own.text).toBe(200)
    // Staff with users.manage edit a customer's other fields.
    expect(
      (await as(manager.token).put(`/api/v1/users/${customer.user.id}`, { first_name: 'Ok' })).status,
    ).toBe(200)
  })

  it('refuses staff acting on an admin account', async () => {
    const manager = await withGrants('staff', ['users.manage'])
    const admin = await makeUser({ role: 'admin' })
    expectProblem(
      await as(manager.token).put(`/api/v1/users/${admin.user.id}`, { first_name: 'Hacked' }),
      403,
      'admin_target',
    )
    expectProblem(
      await as(manager.token).put(`/api/v1/users/${admin.user.id}`, { is_active: false }),
      403,
      'admin_target',
    )
    expect(await userRow(admin.user.id)).toMatchObject({ firstName: 'Test', isActive: true })
  })

  it('suspends with is_active false (the token dies at once, login refused) and never oneself', async () => {
    const admin = await makeUser({ role: 'admin' })
    const target = await makeUser({ role: 'staff' })
    expect((await as(target.token).get('/api/v1/users')).status).toBe(200)
    const res = await as(admin.token).put(`/api/v1/users/${target.user.id}`, { is_active: false })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ is_active: false, suspended_at: expect.any(String) })
    expectProblem(await as(target.token).get('/api/v1/users'), 401)
    expect((await login(target.user.email, DEFAULT_PASSWORD)).status).toBe(403)
    const live = await (await db()).select().from(userSessions).where(eq(userSessions.userId, target.user.id))
    expect(live.every((s) => s.revokedAt !== null)).toBe(true)

    // Reactivation restores login, not the old session.
    const back = await as(admin.token).put(`/api/v1/users/${target.user.id}`, { is_active: true })
    expect(back.body).toMatchObject({ is_active: true, suspended_at: null })
    expectProblem(await as(target.token).get('/api/v1/users'), 401)
    expect((await login(target.user.email, DEFAULT_PASSWORD)).status).toBe(200)

    expectProblem(
      await as(admin.token).put(`/api/v1/users/${admin.user.id}`, { is_active: false }),
      403,
      'self_action',
    )
    expect((await userRow(admin.user.id)).isActive).toBe(true)
  })
})

// --- permissions -------------------------------------------------------------------------------------------

describe('GET/PUT /api/v1/users/{user_id}/permissions', () => {
  it('shows role defaults, grants with expiry and the effective set', async () => {
    const staff = await makeUser({ role: 'staff' })
    const admin = await makeUser({ role: 'admin' })
    const target = await makeUser({ role: 'staff' })
    const past = new Date(Date.now() - 60_000)
    await (await db()).insert(userPermissions).values([
      { userId: target.user.id, permission: 'orders.refund', grantedBy: admin.user.id },
      { userId: target.user.id, permission: 'settings.manage', expiresAt: past },
    ])
    const res = await as(staff.token).get(`/api/v1/users/${target.user.id}/permissions`)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      user_id: target.user.id,
      role: 'staff',
      role_permissions: [
        'products.read',
        'products.write',
        'inventory.write',
        'orders.view',
        'orders.manage',
        'users.view',
        'analytics.view',
      ],
    })
    expect(res.body.grants).toEqual([
      {
        permission: 'orders.refund',
        granted_by: admin.user.id,
        granted_at: expect.any(String),
        expires_at: null,
        expired: false,
      },
      {
        permission: 'settings.manage',
        granted_by: null,
        granted_at: expect.any(String),
        expires_at: past.toISOString(),
        expired: true,
      },
    ])
    expect(res.body.effective).toContain('orders.refund')
    expect(res.body.effective).not.toContain('settings.manage')
    expect(res.body.effective).not.toContain('users.manage')
  })

  it("an admin's grant works on the target's very next request, even with its state cached", async () => {
    const admin = await makeUser({ role: 'admin' })
    const customer = await makeUser()
    expectProblem(await metricsAs(customer.token), 403) // caches the customer's session state
    const res = await as(admin.token).put(`/api/v1/users/${customer.user.id}/permissions`, {
      permissions: ['analytics.view'],
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body.grants).toEqual([
      expect.objectContaining({ permission: 'analytics.view', granted_by: admin.user.id, expired: false }),
    ])
    expect(res.body.effective).toEqual(['analytics.view'])
    expect((await metricsAs(customer.token)).status).toBe(200)

    const [act] = await activitiesOf(customer.user.id, 'user.permissions_updated')
    expect(act).toMatchObject({ actorId: admin.user.id, userId: customer.user.id })
    expect(act!.metadata).toMatchObject({ permissions: ['analytics.view'], previous: [] })

    // Replacing with the empty set revokes it, also at once.
    const cleared = await as(admin.token).put(`/api/v1/users/${customer.user.id}/permissions`, {
      permissions: [],
    })
    expect(cleared.body.grants).toEqual([])
    expectProblem(await metricsAs(customer.token), 403)
  })

  it('replaces the explicit grants with exactly the given set', async () => {
    const admin = await makeUser({ role: 'admin' })
    const target = await makeUser()
    const put = (permissions: string[]) =>
      as(admin.token).put(`/api/v1/users/${target.user.id}/permissions`, { permissions })
    await put(['orders.view', 'analytics.view'])
    const res = await put(['analytics.view', 'products.read', 'products.read'])
    expect(res.body.grants.map((g: { permission: string }) => g.permission)).toEqual([
      'analytics.view',
      'products.read',
    ])
    const rows = await (await db())
      .select()
      .from(userPermissions)
      .where(eq(userPermissions.userId, target.user.id))
    expect(rows.map((r) => r.permission).sort()).toEqual(['analytics.view', 'products.read'])
  })

  it('refuses unknown permissions and an expiry not in the future with 422', async () => {
    const admin = await makeUser({ role: 'admin' })
    const target = await makeUser()
    const url = `/api/v1/users/${target.user.id}/permissions`
    const bad = await as(admin.token).put(url, { permissions: ['analytics.view', 'root.everything'] })
    expectProblem(bad, 422)
    expect(bad.body.errors[0].path).toBe('permissions.1')
    const past = await as(admin.token).put(url, {
      permissions: ['analytics.view'],
      expires_at: new Date(Date.now() - 1000).toISOString(),
    })
    expectProblem(past, 422)
    expect(past.body.errors[0].path).toBe('expires_at')
    expectProblem(await as(admin.token).put(url, { permissions: 'analytics.view' }), 422)
    expectProblem(await as(admin.token).put(url, { permissions: [], expires_at: 'tomorrow' }), 422)
    expect(
      await (await db()).select().from(userPermissions).where(eq(userPermissions.userId, target.user.id)),
    ).toHaveLength(0)
  })

  it('nobody grants what they do not hold; staff not on admins; nobody on themselves', async () => {
    const manager = await withGrants('staff', ['users.manage'])
    const admin = await makeUser({ role: 'admin' })
    const customer = await makeUser()
    const url = (id: string) => `/api/v1/users/${id}/permissions`

    const above = await as(manager.token).put(url(customer.user.id), { permissions: ['settings.manage'] })
    expectProblem(above, 403, 'grant_forbidden')
    const mixed = await as(manager.token).put(url(customer.user.id), {
      permissions: ['analytics.view', 'orders.refund'],
    })
    expectProblem(mixed, 403, 'grant_forbidden')
    expect(
      await (await db()).select().from(userPermissions).where(eq(userPermissions.userId, customer.user.id)),
    ).toHaveLength(0)

    // What the manager holds may be granted.
    const ok = await as(manager.token).put(url(customer.user.id), { permissions: ['analytics.view'] })
    expect(ok.status, ok.text).toBe(200)
    expect((await metricsAs(customer.token)).status).toBe(200)

    expectProblem(await as(manager.token).put(url(admin.user.id), { permissions: [] }), 403, 'admin_target')
    expectProblem(
      await as(manager.token).put(url(manager.user.id), { permissions: ['users.manage'] }),
      403,
      'self_action',
    )
    expectProblem(
      await as(admin.token).put(url(admin.user.id), { permissions: ['analytics.view'] }),
      403,
      'self_action',
    )
  })

  it('an expired grant stops working on its own, without any invalidation', async () => {
    const admin = await makeUser({ role: 'admin' })
    const customer = await makeUser()
    const expiresAt = new Date(Date.now() + 60_000).toISOString()
    const res = await as(admin.token).put(`/api/v1/users/${customer.user.id}/permissions`, {
      permissions: ['analytics.view'],
      expires_at: expiresAt,
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body.grants[0]).toMatchObject({ expires_at: expiresAt, expired: false })
    expect((await metricsAs(customer.token)).status).toBe(200) // state (with the grant) cached

    const start = Date.now()
    setClock(() => start + 120_000)
    expectProblem(await metricsAs(customer.token), 403)
    const matrix = await as(admin.token).get(`/api/v1/users/${customer.user.id}/permissions`)
    expect(matrix.body.grants[0]).toMatchObject({ permission: 'analytics.view', expired: true })
    expect(matrix.body.effective).toEqual([])
  })

  it('a grant expired in the database no longer counts', async () => {
    const admin = await makeUser({ role: 'admin' })
    const customer = await makeUser()
    await as(admin.token).put(`/api/v1/users/${customer.user.id}/permissions`, {
      permissions: ['analytics.view'],
    })
    expect((await metricsAs(customer.token)).status).toBe(200) // cached with a never-expiring grant
    await (await db())
      .update(userPermissions)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(userPermissions.userId, customer.user.id))
    // The cache still holds the old state for up to 60 s; a fresh session reads the database.
    const fresh = await login(customer.user.email, DEFAULT_PASSWORD)
    expectProblem(await metricsAs(fresh.body.access_token), 403)
  })
})

// --- activity ------------------------------------------------------------------------------------------------

describe('GET /api/v1/users/{user_id}/activity', () => {
  it('lists the user’s activity newest first, filtered by action and paged', async () => {
    const admin = await makeUser({ role: 'admin' })
    const staff = await makeUser({ role: 'staff' })
    const target = await makeUser()
    await as(admin.token).put(`/api/v1/users/${target.user.id}`, { first_name: 'One' })
    await as(admin.token).put(`/api/v1/users/${target.user.id}/permissions`, { permissions: ['orders.view'] })
    await as(admin.token).put(`/api/v1/users/${target.user.id}`, { first_name: 'Two' })

    const all = await as(staff.token).get(`/api/v1/users/${target.user.id}/activity`)
    expect(all.status).toBe(200)
    expect(all.body.activities.map((a: { action: string }) => a.action)).toEqual([
      'user.updated',
      'user.permissions_updated',
      'user.updated',
    ])
    expect(all.body.pagination).toEqual({ page: 1, limit: 20, total: 3, pages: 1 })
    expect(all.body.activities[0]).toEqual({
      id: expect.any(String),
      action: 'user.updated',
      resource: 'user',
      resource_id: target.user.id,
      actor_id: admin.user.id,
      ip_address: expect.any(String),
      user_agent: null,
      metadata: { fields: ['first_name'] },
      created_at: expect.any(String),
    })

    const filtered = await as(staff.token).get(
      `/api/v1/users/${target.user.id}/activity?action=user.updated&limit=1&page=2`,
    )
    expect(filtered.body.pagination).toEqual({ page: 2, limit: 1, total: 2, pages: 2 })
    expect(filtered.body.activities).toHaveLength(1)
    expect(filtered.body.activities[0].metadata).toEqual({ fields: ['first_name'] })
    expect(filtered.body.activities[0].id).toBe(all.body.activities[2].id)

    expectProblem(await as(staff.token).get(`/api/v1/users/${target.user.id}/activity?limit=101`), 422)
  })

  it("shows only the target's record, not other users' entries", async () => {
    const admin = await makeUser({ role: 'admin' })
    const a = await makeUser()
    const b = await makeUser()
    await as(admin.token).put(`/api/v1/users/${b.user.id}`, { first_name: 'Bee' })
    const res = await as(admin.token).get(`/api/v1/users/${a.user.id}/activity`)
    expect(res.body.activities).toEqual([])
    expect(res.body.pagination.total).toBe(0)
  })
})
