import { randomBytes } from 'node:crypto'
import { and, desc, eq } from 'drizzle-orm'
import { HttpResponse, http } from 'msw'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { outboxEmails, userActivities, userSessions, users, userTokens } from '../../db/schema/index.js'
import { issueOneTimeToken } from '../../lib/auth/one-time-tokens.js'
import { verifyPassword } from '../../lib/auth/password.js'
import { sendUnlockEmail, sendVerificationEmail } from '../../lib/auth/recovery.js'
import { startSession } from '../../lib/auth/sessions.js'
import { renderEmail } from '../../lib/email/templates.js'
import { flushBackground } from '../../lib/platform/background.js'
import { setClock } from '../../lib/platform/clock.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { resetRateLimits } from '../../lib/platform/ratelimit.js'
import { makeUser } from '../support/factories.js'
import { type CallResult, call, request } from '../support/http.js'
import { KEYS, RESEND_API, useMsw } from '../support/msw.js'

// Account recovery: forgot/reset password (and invite links), verify email (sign-up and email change),
// resend verification, unlock. Links come by email (the outbox), are single use, stored hashed, and
// always point at APP_URL.

const server = useMsw()
const APP_URL = 'https://shop.example.com'
const STRONG = 'violet tram umbrella 42'

let saved: Record<string, string | undefined>
let ip: string

beforeEach(() => {
  saved = { ...process.env }
  // Each test is its own client IP (on Vercel the first x-forwarded-for value is the client), so per-IP
  // windows never leak between tests, also not through Redis in the service suite.
  process.env.VERCEL = '1'
  process.env.APP_URL = APP_URL
  delete process.env.RESEND_API_KEY
  resetEnv()
  ip = newIp()
})

afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
  Object.assign(process.env, saved)
  setClock(undefined)
  resetEnv()
  resetRateLimits()
})

const newIp = () => `10.${[...randomBytes(3)].join('.')}`
const newEmail = () => `someone-${randomBytes(6).toString('hex')}@example.test`

function post(path: string, body: unknown, opts: { ip?: string; headers?: Record<string, string> } = {}) {
  return call('POST', path, {
    body,
    headers: { 'x-forwarded-for': opts.ip ?? ip, 'user-agent': 'recovery-test', ...opts.headers },
  })
}

const forgot = (email: string, opts?: { ip?: string }) =>
  post('/api/v1/auth/forgot-password', { email }, opts)
const reset = (token: string, password = STRONG) => post('/api/v1/auth/reset-password', { token, password })
const verify = (token: string) => post('/api/v1/auth/verify-email', { token })
const resend = (email: string, opts?: { ip?: string }) =>
  post('/api/v1/auth/resend-verification', { email }, opts)
const unlock = (token: string) => post('/api/v1/auth/unlock', { token })

async function outbox(to: string, template?: string) {
  const db = await getDb()
  return db
    .select()
    .from(outboxEmails)
    .where(and(eq(outboxEmails.toEmail, to), template ? eq(outboxEmails.template, template) : undefined))
    .orderBy(desc(outboxEmails.createdAt))
}

/** The token of the newest email of that template sent to `to`. */
async function emailedToken(to: string, template: string): Promise<string> {
  const [row] = await outbox(to, template)
  expect(row, `no ${template} email to ${to}`).toBeDefined()
  const token = row!.payload.token
  expect(typeof token).toBe('string')
  return token as string
}

async function userRow(id: string) {
  const [u] = await (await getDb()).select().from(users).where(eq(users.id, id))
  return u!
}

async function activities(userId: string) {
  return (await getDb()).select().from(userActivities).where(eq(userActivities.userId, userId))
}

function expectProblem(res: CallResult, status: number, code: string) {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/)
  expect(res.body).toMatchObject({ status, code })
}

const metricsAs = (token: string) => call('GET', '/api/v1/metrics/business', { token })

// --- forgot-password ---------------------------------------------------------------------------------------

describe('POST /api/v1/auth/forgot-password', () => {
  it('answers known and unknown emails with the same status and the same bytes', async () => {
    const { user } = await makeUser()
    const unknown = newEmail()
    const known = await forgot(user.email.toUpperCase())
    const missing = await forgot(unknown)

    expect(known.status).toBe(202)
    expect(known.body).toEqual({
      message: 'If an account exists for that email, we sent a link to reset the password.',
    })
    expect(missing.status).toBe(known.status)
    expect(missing.text).toBe(known.text)
    expect(missing.headers.get('content-type')).toBe(known.headers.get('content-type'))
    expect(known.headers.get('cache-control')).toBe('no-store')

    // Only the real account gets mail; nothing is written for the unknown address.
    const [mail] = await outbox(user.email, 'reset_password')
    expect(mail).toMatchObject({ status: 'pending', template: 'reset_password' })
    expect(mail!.payload.token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(await outbox(unknown)).toHaveLength(0)

    // The token is stored hashed only.
    const tokens = await (await getDb()).select().from(userTokens).where(eq(userTokens.userId, user.id))
    expect(tokens).toHaveLength(1)
    expect(tokens[0]).toMatchObject({ purpose: 'reset_password', usedAt: null })
    expect(tokens[0]!.tokenHash).not.toContain(mail!.payload.token as string)
    const ttl = tokens[0]!.expiresAt.getTime() - tokens[0]!.createdAt.getTime()
    expect(Math.abs(ttl - 3600_000)).toBeLessThan(60_000)

    const acts = await activities(user.id)
    expect(acts.map((a) => a.action)).toEqual(['auth.password_reset_requested'])
    expect(acts[0]).toMatchObject({ ipAddress: ip, userAgent: 'recovery-test' })
  })

  it('sends nothing to suspended or erased accounts, with the same answer', async () => {
    const reference = await forgot(newEmail())
    const suspended = (await makeUser({ isActive: false, suspendedAt: new Date() })).user
    const erased = (await makeUser({ deletedAt: new Date() })).user
    for (const u of [suspended, erased]) {
      const res = await forgot(u.email)
      expect(res.status).toBe(202)
      expect(res.text).toBe(reference.text)
      expect(await outbox(u.email)).toHaveLength(0)
    }
  })

  it('links to APP_URL, never to the Host the request came with', async () => {
    const { user } = await makeUser()
    const res = await call('POST', 'http://evil.example/api/v1/auth/forgot-password', {
      body: { email: user.email },
      headers: {
        host: 'evil.example',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'http',
        'x-forwarded-for': ip,
      },
    })
    expect(res.status).toBe(202)
    const [mail] = await outbox(user.email, 'reset_password')
    const token = mail!.payload.token as string
    expect(JSON.stringify(mail!.payload)).not.toContain('evil')
    const rendered = renderEmail('reset_password', mail!.payload)
    expect(rendered.text).toContain(`${APP_URL}/reset-password?token=${token}`)
    expect(rendered.html).toContain(`${APP_URL}/reset-password?token=${token}`)
    expect(rendered.text + rendered.html).not.toContain('evil.example')
  })

  it('is limited per email across IPs, counting unknown emails alike', async () => {
    const { user } = await makeUser()
    for (const target of [user.email, newEmail()]) {
      for (let i = 0; i < 5; i++) expect((await forgot(target, { ip: newIp() })).status).toBe(202)
      const limited = await forgot(target.toUpperCase(), { ip: newIp() })
      expectProblem(limited, 429, 'rate_limited')
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    }
    // Five mails at most reached the account.
    expect(await outbox(user.email, 'reset_password')).toHaveLength(5)
    // Another address from a fresh IP is not affected.
    expect((await forgot(newEmail(), { ip: newIp() })).status).toBe(202)
  })

  it('is limited per IP', async () => {
    for (let i = 0; i < 5; i++) expect((await forgot(newEmail())).status).toBe(202)
    const limited = await forgot(newEmail())
    expectProblem(limited, 429, 'rate_limited')
    expect(limited.headers.get('retry-after')).toBeTruthy()
    expect(limited.headers.get('ratelimit-limit')).toBe('5')
  })

  it('validates the body', async () => {
    expectProblem(await post('/api/v1/auth/forgot-password', {}), 422, 'validation_failed')
    expectProblem(await forgot('not an email'), 422, 'validation_failed')
  })
})

// --- reset-password ------------------------------------------------------------------------------------

describe('POST /api/v1/auth/reset-password', () => {
  it('sets the password once; the same link then fails', async () => {
    const { user } = await makeUser()
    await forgot(user.email)
    const token = await emailedToken(user.email, 'reset_password')

    const ok = await reset(token)
    expect(ok.status).toBe(200)
    expect(ok.body).toEqual({ message: expect.any(String) })
    expect(ok.headers.get('cache-control')).toBe('no-store')

    const after = await userRow(user.id)
    expect(await verifyPassword(after.passwordHash!, STRONG)).toBe(true)
    expect(after.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
    expect(after.passwordChangedAt).not.toBeNull()

    const again = await reset(token, 'another fine passphrase 7')
    expectProblem(again, 400, 'invalid_token')
    expect(await verifyPassword((await userRow(user.id)).passwordHash!, STRONG)).toBe(true)

    // The owner is told.
    expect(await outbox(user.email, 'password_changed')).toHaveLength(1)
    expect((await activities(user.id)).map((a) => a.action)).toContain('auth.password_reset')
  })

  it('lets only one of two simultaneous resets with the same token through', async () => {
    const { user } = await makeUser()
    await forgot(user.email)
    const token = await emailedToken(user.email, 'reset_password')
    const results = await Promise.all([reset(token, STRONG), reset(token, 'another fine passphrase 7')])
    expect(results.map((r) => r.status).sort()).toEqual([200, 400])
    const winner = results[0]!.status === 200 ? STRONG : 'another fine passphrase 7'
    expect(await verifyPassword((await userRow(user.id)).passwordHash!, winner)).toBe(true)
    expect(await outbox(user.email, 'password_changed')).toHaveLength(1)
  })

  it('refuses unknown tokens with 400 invalid_token', async () => {
    expectProblem(await reset('nope'), 400, 'invalid_token')
    expectProblem(await reset(randomBytes(32).toString('base64url')), 400, 'invalid_token')
    expectProblem(await post('/api/v1/auth/reset-password', { password: STRONG }), 422, 'validation_failed')
  })

  it('expires after one hour', async () => {
    const { user } = await makeUser()
    await forgot(user.email)
    const token = await emailedToken(user.email, 'reset_password')
    const start = Date.now()
    setClock(() => start + 3600_000 + 5_000)
    expectProblem(await reset(token), 400, 'invalid_token')
    setClock(() => start + 3500_000)
    expect((await reset(token)).status).toBe(200)
  })

  it('kills the older link when a new one is requested', async () => {
    const { user } = await makeUser()
    await forgot(user.email)
    const first = await emailedToken(user.email, 'reset_password')
    await forgot(user.email)
    const second = await emailedToken(user.email, 'reset_password')
    expect(second).not.toBe(first)
    expectProblem(await reset(first), 400, 'invalid_token')
    expect((await reset(second)).status).toBe(200)
  })

  it('refuses weak and common passwords with 422 and keeps the token usable', async () => {
    const { user } = await makeUser()
    await forgot(user.email)
    const token = await emailedToken(user.email, 'reset_password')
    const before = (await userRow(user.id)).passwordHash

    for (const weak of ['short', 'password', 'password1', '123456789', 'x'.repeat(129)]) {
      const res = await reset(token, weak)
      expectProblem(res, 422, 'validation_failed')
      expect(res.body.errors).toEqual([
        { path: 'password', message: expect.any(String), code: 'weak_password' },
      ])
    }
    const common = await reset(token, 'password')
    expect(common.body.errors[0].message).toMatch(/common/)

    expect((await userRow(user.id)).passwordHash).toBe(before)
    expect((await reset(token)).status).toBe(200)
  })

  it('ends every session of the user: old access tokens are refused on the next request', async () => {
    const staff = await makeUser({ role: 'staff' })
    const other = await startSession(await getDb(), staff.user.id, { ip: '10.0.0.9', userAgent: 'phone' })
    expect((await metricsAs(staff.token)).status).toBe(200)
    expect((await metricsAs(other.access_token)).status).toBe(200)

    await forgot(staff.user.email)
    expect((await reset(await emailedToken(staff.user.email, 'reset_password'))).status).toBe(200)

    expectProblem(await metricsAs(staff.token), 401, 'session_ended')
    expectProblem(await metricsAs(other.access_token), 401, 'session_ended')
    const sessions = await (await getDb())
      .select()
      .from(userSessions)
      .where(eq(userSessions.userId, staff.user.id))
    expect(sessions).toHaveLength(2)
    for (const s of sessions) expect(s).toMatchObject({ revokedReason: 'password_reset' })
    expect(sessions.every((s) => s.revokedAt)).toBe(true)
  })

  it('clears a lockout', async () => {
    const { user } = await makeUser({ failedLoginAttempts: 5, lockedUntil: new Date(Date.now() + 1800_000) })
    await forgot(user.email)
    expect((await reset(await emailedToken(user.email, 'reset_password'))).status).toBe(200)
    expect(await userRow(user.id)).toMatchObject({ failedLoginAttempts: 0, lockedUntil: null })
  })

  it('accepts an invite link (72 h): sets the first password and verifies the email', async () => {
    const { user } = await makeUser({ passwordHash: null, isVerified: false })
    const db = await getDb()
    const { token } = await issueOneTimeToken(db, user.id, 'invite')
    const start = Date.now()
    setClock(() => start + 71 * 3600_000)
    expect((await reset(token)).status).toBe(200)
    setClock(undefined)
    const after = await userRow(user.id)
    expect(after.isVerified).toBe(true)
    expect(after.emailVerifiedAt).not.toBeNull()
    expect(await verifyPassword(after.passwordHash!, STRONG)).toBe(true)
    expectProblem(await reset(token), 400, 'invalid_token')

    const late = await issueOneTimeToken(db, user.id, 'invite')
    setClock(() => start + 73 * 3600_000)
    expectProblem(await reset(late.token), 400, 'invalid_token')
  })

  it('does not take tokens of another purpose', async () => {
    const { user } = await makeUser()
    const db = await getDb()
    const verifyToken = (await issueOneTimeToken(db, user.id, 'verify_email')).token
    const unlockToken = (await issueOneTimeToken(db, user.id, 'unlock')).token
    expectProblem(await reset(verifyToken), 400, 'invalid_token')
    expectProblem(await reset(unlockToken), 400, 'invalid_token')
    expect((await verify(verifyToken)).status).toBe(200)
  })

  it('writes activity rows without any token or password', async () => {
    const { user } = await makeUser()
    await forgot(user.email)
    const token = await emailedToken(user.email, 'reset_password')
    await reset(token, 'password')
    await reset(token)
    const acts = await activities(user.id)
    expect(acts.map((a) => a.action).sort()).toEqual(['auth.password_reset', 'auth.password_reset_requested'])
    const dump = JSON.stringify(acts)
    expect(dump).not.toContain(token)
    expect(dump).not.toContain(STRONG)
    expect(dump).not.toContain('$argon2')
    expect(acts.every((a) => a.ipAddress === ip && a.userAgent === 'recovery-test')).toBe(true)
  })
})

// --- verify-email ---------------------------------------------------------------------------------------

describe('POST /api/v1/auth/verify-email', () => {
  it('verifies the address once (the email register sends)', async () => {
    const { user } = await makeUser({ isVerified: false })
    const db = await getDb()
    const outboxId = await db.transaction((tx) => sendVerificationEmail(tx, user))
    expect(outboxId).toMatch(/^[0-9a-f-]{36}$/)
    const token = await emailedToken(user.email, 'verify_email')
    expect(
      renderEmail('verify_email', (await outbox(user.email, 'verify_email'))[0]!.payload).text,
    ).toContain(`${APP_URL}/verify-email?token=${token}`)

    const res = await verify(token)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ message: expect.any(String), is_verified: true })
    const after = await userRow(user.id)
    expect(after.isVerified).toBe(true)
    expect(after.emailVerifiedAt).not.toBeNull()

    expectProblem(await verify(token), 400, 'invalid_token')
    expectProblem(await verify('garbage'), 400, 'invalid_token')
    const acts = await activities(user.id)
    expect(acts.map((a) => a.action)).toEqual(['auth.email_verified'])
    expect(JSON.stringify(acts)).not.toContain(token)
  })

  it('expires after 48 hours', async () => {
    const { user } = await makeUser({ isVerified: false })
    const { token } = await issueOneTimeToken(await getDb(), user.id, 'verify_email')
    setClock(() => Date.now() + 48 * 3600_000 + 5_000)
    expectProblem(await verify(token), 400, 'invalid_token')
    expect((await userRow(user.id)).isVerified).toBe(false)
  })

  it('switches the account to the new address of an email change', async () => {
    const { user } = await makeUser({ isVerified: true })
    const target = newEmail()
    const { token } = await issueOneTimeToken(await getDb(), user.id, 'verify_email', { new_email: target })
    const res = await verify(token)
    expect(res.status).toBe(200)
    expect(res.body.is_verified).toBe(true)
    expect(await userRow(user.id)).toMatchObject({ email: target, isVerified: true })
    const [act] = await activities(user.id)
    expect(act).toMatchObject({ action: 'auth.email_verified', metadata: { email_changed: true } })
  })

  it('answers 409 email_taken when another account took the new address meanwhile, and changes nothing', async () => {
    const { user } = await makeUser()
    const target = newEmail()
    const { token } = await issueOneTimeToken(await getDb(), user.id, 'verify_email', { new_email: target })
    await makeUser({ email: target })
    expectProblem(await verify(token), 409, 'email_taken')
    expect((await userRow(user.id)).email).toBe(user.email)
  })
})

// --- resend-verification -----------------------------------------------------------------------------------

describe('POST /api/v1/auth/resend-verification', () => {
  it('gives the same answer for unverified, verified and unknown emails; only the unverified one gets mail', async () => {
    const unverified = (await makeUser({ isVerified: false })).user
    const verified = (await makeUser({ isVerified: true })).user
    const unknown = newEmail()
    const answers = [
      await resend(unverified.email, { ip: newIp() }),
      await resend(verified.email, { ip: newIp() }),
      await resend(unknown, { ip: newIp() }),
    ]
    for (const a of answers) {
      expect(a.status).toBe(202)
      expect(a.text).toBe(answers[0]!.text)
    }
    expect(answers[0]!.body).toEqual({ message: expect.any(String) })
    expect(await outbox(unverified.email, 'verify_email')).toHaveLength(1)
    expect(await outbox(verified.email)).toHaveLength(0)
    expect(await outbox(unknown)).toHaveLength(0)
  })

  it('sends a fresh link and kills the previous one', async () => {
    const { user } = await makeUser({ isVerified: false })
    await resend(user.email)
    const first = await emailedToken(user.email, 'verify_email')
    await resend(user.email)
    const second = await emailedToken(user.email, 'verify_email')
    expectProblem(await verify(first), 400, 'invalid_token')
    expect((await verify(second)).status).toBe(200)
  })

  it('is throttled per email and per IP', async () => {
    process.env.RATE_LIMIT_AUTH_RESEND = '2/3600'
    resetEnv()
    resetRateLimits()
    const { user } = await makeUser({ isVerified: false })
    // Per email, across IPs.
    expect((await resend(user.email, { ip: newIp() })).status).toBe(202)
    expect((await resend(user.email, { ip: newIp() })).status).toBe(202)
    const limited = await resend(user.email, { ip: newIp() })
    expectProblem(limited, 429, 'rate_limited')
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(await outbox(user.email, 'verify_email')).toHaveLength(2)
    // Per IP, across emails.
    const one = newIp()
    expect((await resend(newEmail(), { ip: one })).status).toBe(202)
    expect((await resend(newEmail(), { ip: one })).status).toBe(202)
    expectProblem(await resend(newEmail(), { ip: one }), 429, 'rate_limited')
  })
})

// --- unlock ---------------------------------------------------------------------------------------------------

describe('POST /api/v1/auth/unlock', () => {
  it('ends the lockout once with the token from the account_locked email', async () => {
    const me = await makeUser({
      role: 'staff',
      failedLoginAttempts: 5,
      lockedUntil: new Date(Date.now() + 1800_000),
    })
    const db = await getDb()
    expectProblem(await metricsAs(me.token), 401, 'session_ended')

    await db.transaction((tx) => sendUnlockEmail(tx, me.user))
    const [mail] = await outbox(me.user.email, 'account_locked')
    const token = mail!.payload.token as string
    expect(renderEmail('account_locked', mail!.payload).text).toContain(`${APP_URL}/unlock?token=${token}`)

    const res = await unlock(token)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ message: expect.any(String) })
    expect(await userRow(me.user.id)).toMatchObject({ failedLoginAttempts: 0, lockedUntil: null })
    // The cached "locked" state is forgotten: the live session works at once.
    expect((await metricsAs(me.token)).status).toBe(200)

    expectProblem(await unlock(token), 400, 'invalid_token')
    expectProblem(await unlock('nope'), 400, 'invalid_token')
    const acts = await activities(me.user.id)
    expect(acts.map((a) => a.action)).toEqual(['auth.unlocked'])
    expect(JSON.stringify(acts)).not.toContain(token)
  })
})

// --- delivery through Resend --------------------------------------------------------------------------------

describe('delivery through Resend', () => {
  it('sends the email after the response and scrubs the outbox row', async () => {
    process.env.RESEND_API_KEY = KEYS.resend
    resetEnv()
    const sent: Array<{ auth: string | null; body: Record<string, unknown> }> = []
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    server.use(
      http.post(`${RESEND_API}/emails`, async ({ request: req }) => {
        sent.push({
          auth: req.headers.get('authorization'),
          body: (await req.json()) as Record<string, unknown>,
        })
        await gate
        return HttpResponse.json({ id: '49a3999c-0ce1-4ea6-ab68-afcd6dc2e794' })
      }),
    )
    const { user } = await makeUser()

    const res = await request('POST', '/api/v1/auth/forgot-password', {
      body: { email: user.email },
      headers: { 'x-forwarded-for': ip },
    })
    expect(res.status).toBe(202)
    // The response is out; delivery has not finished.
    const [pending] = await outbox(user.email, 'reset_password')
    expect(pending).toMatchObject({ status: 'pending' })
    expect(pending!.payload.token).toBeTruthy()

    release()
    await flushBackground()
    expect(sent).toHaveLength(1)
    expect(sent[0]!.auth).toBe(`Bearer ${KEYS.resend}`)
    const to = sent[0]!.body.to
    expect(Array.isArray(to) ? to : [to]).toEqual([user.email])
    const text = String(sent[0]!.body.text)
    const link = text.match(/https:\/\/shop\.example\.com\/reset-password\?token=([A-Za-z0-9_-]+)/)
    expect(link).not.toBeNull()
    expect(link![1]).toBe(pending!.payload.token)

    const [row] = await outbox(user.email, 'reset_password')
    expect(row).toMatchObject({
      status: 'sent',
      payload: {},
      providerMessageId: '49a3999c-0ce1-4ea6-ab68-afcd6dc2e794',
      attempts: 1,
    })
    expect(row!.sentAt).not.toBeNull()

    // The emailed link works; the "password changed" notice goes out the same way.
    expect((await reset(link![1]!)).status).toBe(200)
    expect(sent.map((s) => s.body.subject)).toEqual(['Reset your password', 'Your password was changed'])
    const [notice] = await outbox(user.email, 'password_changed')
    expect(notice).toMatchObject({ status: 'sent', payload: {} })
  })
})
