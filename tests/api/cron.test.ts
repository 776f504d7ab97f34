import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { and, eq, inArray, isNull, sql } from 'drizzle-orm'
import { HttpResponse, http } from 'msw'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  idempotencyKeys,
  outboxEmails,
  products,
  skus,
  stockAlerts,
  userSessions,
  users,
  userTokens,
} from '../../db/schema/index.js'
import { issueOneTimeToken } from '../../lib/auth/one-time-tokens.js'
import { runCleanup } from '../../lib/cron/cleanup.js'
import { enqueueEmail, MAX_ATTEMPTS, retryDelayMinutes } from '../../lib/email/outbox.js'
import { runLowStockAlerts } from '../../lib/inventory/low-stock-alerts.js'
import { setClock } from '../../lib/platform/clock.js'
import { getDb } from '../../lib/platform/db.js'
import { restoreEnv, setEnv } from '../support/env.js'
import { makeProductRow, makeUser, makeVariantRow, setStock } from '../support/factories.js'
import { allRoutes, call, ROOT } from '../support/http.js'
import {
  KEYS,
  outbound,
  RESEND_API,
  resendEmailSent,
  resendInvalidTo,
  resendRateLimited,
  resendServerError,
  useMsw,
} from '../support/msw.js'
import { countStatements } from '../support/statements.js'

// The Vercel cron jobs: who may run them, and what each run does.

const server = useMsw()
const SECRET = 'cron-secret-for-tests-0123456789abcdef'
const JOBS = [
  '/api/cron/low-stock',
  '/api/cron/outbox',
  '/api/cron/cleanup',
  '/api/cron/release-unpaid',
] as const

/** A run as Vercel's scheduler makes it. */
const run = (path: (typeof JOBS)[number]) => call('GET', path, { token: SECRET })

beforeEach(() => {
  setEnv({ CRON_SECRET: SECRET, RESEND_API_KEY: undefined, VERCEL: undefined, VERCEL_ENV: undefined })
})

afterEach(() => {
  restoreEnv()
  setClock(undefined)
})

// --- who may run a job -----------------------------------------------------------------------------------

describe('cron authentication', () => {
  it.each(JOBS)('%s answers 401 problem+json without the bearer secret', async (path) => {
    const res = await call('GET', path)
    expect(res.status).toBe(401)
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(res.headers.get('www-authenticate')).toBe('Bearer')
    expect(res.body).toMatchObject({ status: 401, code: 'unauthorized' })
  })

  it.each(JOBS)(
    '%s answers 401 to a wrong secret, a longer or shorter one, or another scheme',
    async (path) => {
      for (const authorization of [
        'Bearer wrong',
        `Bearer ${SECRET}x`,
        `Bearer ${SECRET.slice(0, -1)}`,
        `Basic ${SECRET}`,
        SECRET,
      ]) {
        const res = await call('GET', path, { headers: { authorization } })
        expect(res.status, authorization).toBe(401)
      }
    },
  )

  it.each(JOBS)('%s runs for the right secret and answers 200 JSON', async (path) => {
    const res = await run(path)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(res.headers.get('cache-control')).toBe('no-store')
  })

  it('with a secret set, a local caller still needs it', async () => {
    const res = await call('GET', '/api/cron/cleanup', { socketAddress: '127.0.0.1' })
    expect(res.status).toBe(401)
  })

  it('never reads a user token: a staff access token is not a cron secret', async () => {
    const { token } = await makeUser({ role: 'admin' })
    expect((await call('GET', '/api/cron/cleanup', { token })).status).toBe(401)
  })

  it('answers POST with 405 and Allow: GET, HEAD, OPTIONS', async () => {
    const res = await call('POST', '/api/cron/outbox', { token: SECRET })
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('GET, HEAD, OPTIONS')
  })

  describe('without CRON_SECRET (development)', () => {
    beforeEach(() => setEnv({ CRON_SECRET: undefined }))

    it.each(['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1'])(
      'runs for a caller on this machine (%s)',
      async (ip) => {
        const res = await call('GET', '/api/cron/cleanup', { socketAddress: ip })
        expect(res.status).toBe(200)
        expect(res.body).toHaveProperty('sessions')
      },
    )

    it.each(JOBS)('%s refuses any other caller with 401', async (path) => {
      for (const socketAddress of ['10.1.2.3', '192.168.0.7', '::ffff:10.0.0.1', '2001:db8::1', undefined]) {
        const res = await call('GET', path, { socketAddress })
        expect(res.status, String(socketAddress)).toBe(401)
        expect(res.body.detail).toMatch(/CRON_SECRET/)
      }
    })

    it('ignores forwarding headers outside Vercel', async () => {
      const res = await call('GET', '/api/cron/cleanup', {
        socketAddress: '10.1.2.3',
        headers: { 'x-forwarded-for': '127.0.0.1', 'x-real-ip': '127.0.0.1' },
      })
      expect(res.status).toBe(401)
    })

    it('is never open in a deployed environment, not even to a local caller', async () => {
      setEnv({ VERCEL_ENV: 'production' })
      const res = await call('GET', '/api/cron/cleanup', { socketAddress: '127.0.0.1' })
      expect(res.status).toBe(503)
      expect(res.body.missing_settings).toContain('CRON_SECRET')
    })
  })
})

describe('schedules', () => {
  it('gives every cron route a schedule in vercel.json, and every schedule a route', async () => {
    const vercel = JSON.parse(readFileSync(join(ROOT, 'vercel.json'), 'utf8')) as {
      crons: Array<{ path: string; schedule: string }>
    }
    const schedules = Object.fromEntries(vercel.crons.map((c) => [c.path, c.schedule]))
    expect(schedules).toEqual({
      '/api/cron/low-stock': '0 * * * *',
      '/api/cron/outbox': '*/5 * * * *',
      '/api/cron/cleanup': expect.stringMatching(/^\d+ \d+ \* \* \*$/),
      '/api/cron/release-unpaid': '*/15 * * * *',
      '/api/cron/reconcile-payments': '*/10 * * * *',
    })
    const cronFiles = (await allRoutes()).filter((r) => r.path.startsWith('/api/cron/')).map((r) => r.path)
    expect(cronFiles.sort()).toEqual(Object.keys(schedules).sort())
  })
})

// --- low stock -------------------------------------------------------------------------------------------

describe('GET /api/cron/low-stock', () => {
  let staff: typeof users.$inferSelect
  let admin: typeof users.$inferSelect

  beforeEach(async () => {
    const db = await getDb()
    // A catalog and a staff list of this test's own (product deletes cascade to variants and alerts).
    await db.delete(products)
    await db.delete(skus)
    await db
      .update(users)
      .set({ isActive: false })
      .where(inArray(users.role, ['staff', 'admin']))
    staff = (await makeUser({ role: 'staff', firstName: 'Sam' })).user
    admin = (await makeUser({ role: 'admin', firstName: 'Ada' })).user
  })

  const lowStockEmails = async () =>
    (await getDb())
      .select()
      .from(outboxEmails)
      .where(and(eq(outboxEmails.template, 'low_stock'), inArray(outboxEmails.userId, [staff.id, admin.id])))
      .orderBy(outboxEmails.createdAt)

  const listedSkus = (email: { payload: Record<string, unknown> }) =>
    (email.payload.items as Array<{ sku: string }>).map((i) => i.sku).sort()

  it('emails active staff and admins once about every item at or below its threshold', async () => {
    const low = await makeProductRow({ inventoryQuantity: 3, lowStockThreshold: 10 })
    const atThreshold = await makeProductRow({ inventoryQuantity: 10, lowStockThreshold: 10 })
    const backorderable = await makeProductRow({ inventoryQuantity: 0, inventoryPolicy: 'continue' })
    await makeProductRow({ inventoryQuantity: 11, lowStockThreshold: 10 })
    await makeProductRow({ inventoryQuantity: 0, trackInventory: false })
    await makeProductRow({ inventoryQuantity: 0, status: 'draft' })
    await makeProductRow({ inventoryQuantity: 0, status: 'archived' })
    const shirt = await makeProductRow({ name: 'Linen shirt', lowStockThreshold: 5 })
    const small = await makeVariantRow(shirt.id, { title: 'S', inventoryQuantity: 2 })
    await makeVariantRow(shirt.id, { title: 'M', inventoryQuantity: 6 })
    await makeVariantRow(shirt.id, { title: 'L', inventoryQuantity: 0, isActive: false })
    await makeVariantRow(shirt.id, { title: 'XL', inventoryQuantity: 0, trackInventory: false })
    // Customers, suspended and erased staff get nothing.
    await makeUser({ role: 'customer' })
    const suspended = (await makeUser({ role: 'staff', isActive: false })).user
    const erased = (await makeUser({ role: 'staff', deletedAt: new Date() })).user

    const res = await run('/api/cron/low-stock')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ alerted: 4, cleared: 0, emails: 2 })

    const emails = await lowStockEmails()
    expect(emails.map((e) => e.toEmail).sort()).toEqual([staff.email, admin.email].sort())
    for (const email of emails) {
      expect(email.subject).toBe('4 items are low on stock')
      expect(listedSkus(email)).toEqual([low.sku, atThreshold.sku, backorderable.sku, small.sku].sort())
    }
    expect(emails.find((e) => e.userId === staff.id)!.payload.first_name).toBe('Sam')
    const variantLine = (emails[0]!.payload.items as Array<Record<string, unknown>>).find(
      (i) => i.sku === small.sku,
    )
    expect(variantLine).toEqual({ sku: small.sku, name: 'Linen shirt – S', quantity: 2, threshold: 5 })
    const others = await (await getDb())
      .select()
      .from(outboxEmails)
      .where(
        and(eq(outboxEmails.template, 'low_stock'), inArray(outboxEmails.userId, [suspended.id, erased.id])),
      )
    expect(others).toEqual([])

    const open = await (await getDb()).select().from(stockAlerts).where(isNull(stockAlerts.clearedAt))
    expect(open).toHaveLength(4)
    expect(open.find((a) => a.variantId === small.id)).toMatchObject({ productId: shirt.id, quantity: 2 })
  })

  it('stays quiet while an item stays low, and alerts again only after a restock and a new crossing', async () => {
    const product = await makeProductRow({ inventoryQuantity: 4, lowStockThreshold: 5 })
    expect((await run('/api/cron/low-stock')).body).toEqual({ alerted: 1, cleared: 0, emails: 2 })

    // Still low, even lower: no second email.
    await setStock({ productId: product.id }, 1)
    expect((await run('/api/cron/low-stock')).body).toEqual({ alerted: 0, cleared: 0, emails: 0 })
    expect(await lowStockEmails()).toHaveLength(2)

    // Restocked above the threshold: the alert is cleared, nothing is sent.
    await setStock({ productId: product.id }, 6)
    expect((await run('/api/cron/low-stock')).body).toEqual({ alerted: 0, cleared: 1, emails: 0 })

    // Sold down to the threshold again: a new crossing, a new email.
    await setStock({ productId: product.id }, 5)
    expect((await run('/api/cron/low-stock')).body).toEqual({ alerted: 1, cleared: 0, emails: 2 })
    expect(await lowStockEmails()).toHaveLength(4)

    const alerts = await (await getDb())
      .select()
      .from(stockAlerts)
      .where(eq(stockAlerts.productId, product.id))
    expect(alerts.filter((a) => a.clearedAt === null)).toHaveLength(1)
    expect(alerts.filter((a) => a.clearedAt !== null)).toHaveLength(1)
  })

  it('counts a restock that sold down again between two runs as a new crossing (from the ledger)', async () => {
    const product = await makeProductRow({ name: 'Wool coat', lowStockThreshold: 3 })
    const variant = await makeVariantRow(product.id, { title: 'M', inventoryQuantity: 2 })
    expect((await run('/api/cron/low-stock')).body).toMatchObject({ alerted: 1 })

    await setStock({ productId: product.id, variantId: variant.id }, 40)
    await setStock({ productId: product.id, variantId: variant.id }, 1)
    expect((await run('/api/cron/low-stock')).body).toEqual({ alerted: 1, cleared: 1, emails: 2 })
    // The restock happened before the new alert: it does not clear that one.
    expect((await run('/api/cron/low-stock')).body).toEqual({ alerted: 0, cleared: 0, emails: 0 })
  })

  it('sends nothing when nothing crossed, and lists at most 50 lines with a count of the rest', async () => {
    expect((await run('/api/cron/low-stock')).body).toEqual({ alerted: 0, cleared: 0, emails: 0 })
    for (let i = 0; i < 53; i++) await makeProductRow({ inventoryQuantity: 0 })
    expect((await run('/api/cron/low-stock')).body).toEqual({ alerted: 53, cleared: 0, emails: 2 })
    const [email] = await lowStockEmails()
    expect(email!.subject).toBe('53 items are low on stock')
    expect(email!.payload.items).toHaveLength(50)
    expect(email!.payload.more).toBe(3)
  })

  it('uses as many statements for 60 low items as for 1 (no query per item)', async () => {
    const db = await getDb()
    await makeProductRow({ inventoryQuantity: 0 })
    const one = await countStatements(db, () => runLowStockAlerts(db))
    for (let i = 0; i < 20; i++) {
      const p = await makeProductRow({ lowStockThreshold: 2 })
      await makeVariantRow(p.id, { inventoryQuantity: 1 })
      await makeVariantRow(p.id, { inventoryQuantity: 2 })
      await makeProductRow({ inventoryQuantity: 1 })
    }
    const many = await countStatements(db, () => runLowStockAlerts(db))
    expect(one.result.alerted).toBe(1)
    expect(many.result.alerted).toBe(60)
    expect(many.statements).toBe(one.statements)
  })
})

// --- outbox ----------------------------------------------------------------------------------------------

describe('GET /api/cron/outbox', () => {
  interface Seen {
    idempotencyKey: string | null
    body: Record<string, unknown>
  }
  let seen: Seen[]

  /** Resend's POST /emails answering each call with the next of `answers` (the last one repeats). */
  function resendAnswers(...answers: Array<'ok' | { status: number; body: Record<string, unknown> }>) {
    let n = 0
    server.use(
      http.post(`${RESEND_API}/emails`, async ({ request }) => {
        seen.push({
          idempotencyKey: request.headers.get('idempotency-key'),
          body: (await request.json()) as Record<string, unknown>,
        })
        const answer = answers[Math.min(n++, answers.length - 1)]!
        if (answer === 'ok')
          return HttpResponse.json(
            resendEmailSent(`4ef9a417-02e9-4d39-ad75-9611e0fcc${String(n).padStart(3, '0')}`),
          )
        return HttpResponse.json(answer.body, { status: answer.status })
      }),
    )
  }

  beforeEach(async () => {
    seen = []
    setEnv({ RESEND_API_KEY: KEYS.resend })
    // Only this test's emails are due.
    await (await getDb())
      .update(outboxEmails)
      .set({ status: 'failed' })
      .where(eq(outboxEmails.status, 'pending'))
  })

  const queue = async (to = 'buyer@example.test') =>
    enqueueEmail(await getDb(), {
      to,
      userId: null,
      template: 'password_changed',
      data: { first_name: 'Kim' },
    })

  const row = async (id: string) =>
    (await (await getDb()).select().from(outboxEmails).where(eq(outboxEmails.id, id)))[0]!

  const later = (minutes: number) => {
    const base = Date.now()
    setClock(() => base + minutes * 60_000)
  }

  it('sends a due email once, with its idempotency key, and records Resend’s id', async () => {
    resendAnswers('ok')
    const id = await queue()
    const res = await run('/api/cron/outbox')
    expect(res.body).toEqual({ configured: true, sent: 1, retrying: 0, failed: 0, expired: 0 })
    expect(seen).toHaveLength(1)
    expect(seen[0]!.idempotencyKey).toBe(`outbox-${id}`)
    expect(seen[0]!.body).toMatchObject({ to: 'buyer@example.test', subject: 'Your password was changed' })
    expect(await row(id)).toMatchObject({
      status: 'sent',
      attempts: 1,
      payload: {},
      providerMessageId: '4ef9a417-02e9-4d39-ad75-9611e0fcc001',
    })

    expect((await run('/api/cron/outbox')).body).toMatchObject({ sent: 0 })
    expect(outbound('resend')).toHaveLength(1)
  })

  it('retries a failure after its backoff, not before', async () => {
    resendAnswers({ status: 500, body: resendServerError }, { status: 429, body: resendRateLimited }, 'ok')
    const id = await queue()

    expect((await run('/api/cron/outbox')).body).toMatchObject({ sent: 0, retrying: 1 })
    const first = await row(id)
    expect(first).toMatchObject({ status: 'pending', attempts: 1 })
    expect(first.lastError).toMatch(/^application_error/)
    expect(first.payload).toEqual({ first_name: 'Kim' })
    expect(first.nextAttemptAt.getTime() - Date.now()).toBeGreaterThan(retryDelayMinutes(1) * 60_000 - 5_000)

    // Not due yet: nothing is sent.
    expect((await run('/api/cron/outbox')).body).toMatchObject({ sent: 0, retrying: 0 })
    expect(seen).toHaveLength(1)

    later(retryDelayMinutes(1) + 0.1)
    expect((await run('/api/cron/outbox')).body).toMatchObject({ retrying: 1 })
    const second = await row(id)
    expect(second).toMatchObject({ status: 'pending', attempts: 2 })
    expect(second.lastError).toMatch(/^rate_limit_exceeded/)

    // The second backoff is longer than the first.
    later(retryDelayMinutes(1) + 0.2)
    expect((await run('/api/cron/outbox')).body).toMatchObject({ sent: 0, retrying: 0 })
    later(retryDelayMinutes(1) + retryDelayMinutes(2) + 0.3)
    expect((await run('/api/cron/outbox')).body).toMatchObject({ sent: 1 })
    expect(await row(id)).toMatchObject({ status: 'sent', attempts: 3, payload: {} })
    expect(seen).toHaveLength(3)
    expect(new Set(seen.map((s) => s.idempotencyKey))).toEqual(new Set([`outbox-${id}`]))
  })

  it(`gives up after ${MAX_ATTEMPTS} attempts and drops the payload`, async () => {
    resendAnswers({ status: 429, body: resendRateLimited })
    const id = await queue()
    let minutes = 0
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const res = await run('/api/cron/outbox')
      expect(res.body, `attempt ${attempt}`).toMatchObject(
        attempt < MAX_ATTEMPTS ? { retrying: 1, failed: 0 } : { retrying: 0, failed: 1 },
      )
      minutes += retryDelayMinutes(attempt) + 0.1
      later(minutes)
    }
    expect(await row(id)).toMatchObject({ status: 'failed', attempts: MAX_ATTEMPTS, payload: {} })
    later(minutes + 24 * 60)
    expect((await run('/api/cron/outbox')).body).toMatchObject({ sent: 0, retrying: 0, failed: 0 })
    expect(seen).toHaveLength(MAX_ATTEMPTS)
  })

  it('gives up at once on an email Resend refuses as invalid', async () => {
    resendAnswers({ status: 422, body: resendInvalidTo })
    const id = await queue('not-an-address')
    expect((await run('/api/cron/outbox')).body).toMatchObject({ failed: 1, retrying: 0 })
    expect(await row(id)).toMatchObject({ status: 'failed', attempts: 1, payload: {} })
    expect((await row(id)).lastError).toMatch(/^validation_error: Invalid `to` field/)
  })

  it('retries after a network failure', async () => {
    server.use(http.post(`${RESEND_API}/emails`, () => HttpResponse.error()))
    const id = await queue()
    expect((await run('/api/cron/outbox')).body).toMatchObject({ retrying: 1 })
    expect(await row(id)).toMatchObject({ status: 'pending', attempts: 1 })
  })

  it('does not send an email that waited more than 24 hours', async () => {
    resendAnswers('ok')
    const id = await queue()
    later(24 * 60 + 1)
    expect((await run('/api/cron/outbox')).body).toMatchObject({ sent: 0, expired: 1 })
    expect(await row(id)).toMatchObject({ status: 'failed', payload: {} })
    expect(seen).toEqual([])
  })

  it('leaves everything pending without RESEND_API_KEY', async () => {
    setEnv({ RESEND_API_KEY: undefined })
    const id = await queue()
    expect((await run('/api/cron/outbox')).body).toEqual({
      configured: false,
      sent: 0,
      retrying: 0,
      failed: 0,
      expired: 0,
    })
    expect(await row(id)).toMatchObject({ status: 'pending', attempts: 0, payload: { first_name: 'Kim' } })
    expect(outbound()).toEqual([])
  })

  it('never sends an email twice: a run that starts while another is sending finds nothing to take', async () => {
    const ids = [await queue('a@example.test'), await queue('b@example.test')]
    const overlapping: unknown[] = []
    server.use(
      http.post(`${RESEND_API}/emails`, async ({ request }) => {
        seen.push({ idempotencyKey: request.headers.get('idempotency-key'), body: {} })
        // The next scheduled run arrives while this one is still sending.
        if (overlapping.length === 0) overlapping.push((await run('/api/cron/outbox')).body)
        return HttpResponse.json(resendEmailSent(`4ef9a417-02e9-4d39-ad75-9611e0fd${seen.length}000`))
      }),
    )
    expect((await run('/api/cron/outbox')).body).toMatchObject({ sent: 2 })
    expect(overlapping).toEqual([{ configured: true, sent: 0, retrying: 0, failed: 0, expired: 0 }])
    expect(seen.map((s) => s.idempotencyKey).sort()).toEqual(ids.map((id) => `outbox-${id}`).sort())
  })

  it('takes over an email whose sender died, with the same idempotency key, once its claim has lapsed', async () => {
    resendAnswers('ok')
    const id = await queue()
    // A sender claimed it (attempt counted, lease taken) and never came back.
    const db = await getDb()
    await db
      .update(outboxEmails)
      .set({ attempts: 1, nextAttemptAt: new Date(Date.now() + 10 * 60_000) })
      .where(eq(outboxEmails.id, id))
    expect((await run('/api/cron/outbox')).body).toMatchObject({ sent: 0 })
    later(10.5)
    expect((await run('/api/cron/outbox')).body).toMatchObject({ sent: 1 })
    expect(seen.map((s) => s.idempotencyKey)).toEqual([`outbox-${id}`])
    expect(await row(id)).toMatchObject({ status: 'sent', attempts: 2 })
  })

  it('does not overwrite an email cancelled while it was being sent (erasure)', async () => {
    const id = await queue()
    server.use(
      http.post(`${RESEND_API}/emails`, async () => {
        await (await getDb())
          .update(outboxEmails)
          .set({ status: 'failed', lastError: 'recipient erased', payload: {} })
          .where(eq(outboxEmails.id, id))
        return HttpResponse.json(resendEmailSent('4ef9a417-02e9-4d39-ad75-9611e0fe0001'))
      }),
    )
    await run('/api/cron/outbox')
    expect(await row(id)).toMatchObject({
      status: 'failed',
      lastError: 'recipient erased',
      providerMessageId: null,
    })
  })
})

// --- cleanup ---------------------------------------------------------------------------------------------

describe('GET /api/cron/cleanup', () => {
  const DAY = 86_400_000

  beforeEach(async () => {
    // Start from nothing to purge, so the counts are this test's own.
    const db = await getDb()
    while ((await runCleanup(db)).more) {}
  })

  async function idempotencyKey(expiresInMs: number): Promise<string> {
    const [row] = await (await getDb())
      .insert(idempotencyKeys)
      .values({
        key: `key-${Math.random()}`,
        scope: 'anon POST /api/v1/orders',
        requestHash: 'hash',
        responseStatus: 201,
        expiresAt: new Date(Date.now() + expiresInMs),
      })
      .returning({ id: idempotencyKeys.id })
    return row!.id
  }

  it('purges expired idempotency keys, used or expired tokens and long-dead sessions, and nothing else', async () => {
    const db = await getDb()
    const expiredKey = await idempotencyKey(-1000)
    const liveKey = await idempotencyKey(DAY)

    const { user } = await makeUser()
    const used = await issueOneTimeToken(db, user.id, 'verify_email')
    await db.update(userTokens).set({ usedAt: new Date() }).where(eq(userTokens.id, used.id))
    const expired = await issueOneTimeToken(db, user.id, 'reset_password', {}, 1)
    await db
      .update(userTokens)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(userTokens.id, expired.id))
    const live = await issueOneTimeToken(db, user.id, 'unlock')

    const session = async (set: Partial<typeof userSessions.$inferInsert>) => {
      const { sessionId } = await makeUser()
      if (Object.keys(set).length) {
        await db.update(userSessions).set(set).where(eq(userSessions.id, sessionId))
      }
      return sessionId
    }
    const old = new Date(Date.now() - 31 * DAY)
    const recent = new Date(Date.now() - 1 * DAY)
    const revokedLongAgo = await session({ revokedAt: old, revokedReason: 'logout' })
    const expiredLongAgo = await session({ expiresAt: old })
    const revokedRecently = await session({ revokedAt: recent, revokedReason: 'logout' })
    const expiredRecently = await session({ expiresAt: recent })
    const active = await session({})

    const res = await run('/api/cron/cleanup')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ idempotency_keys: 1, one_time_tokens: 2, sessions: 2, more: false })

    const keys = await db.select({ id: idempotencyKeys.id }).from(idempotencyKeys)
    expect(keys.map((k) => k.id)).toContain(liveKey)
    expect(keys.map((k) => k.id)).not.toContain(expiredKey)
    const tokens = await db
      .select({ id: userTokens.id })
      .from(userTokens)
      .where(eq(userTokens.userId, user.id))
    expect(tokens.map((t) => t.id)).toEqual([live.id])
    const sessions = await db
      .select({ id: userSessions.id })
      .from(userSessions)
      .where(
        inArray(userSessions.id, [revokedLongAgo, expiredLongAgo, revokedRecently, expiredRecently, active]),
      )
    expect(sessions.map((s) => s.id).sort()).toEqual([revokedRecently, expiredRecently, active].sort())
  })

  it('deletes in bounded batches and says when the next run has more to do', async () => {
    const db = await getDb()
    const made = [] as string[]
    for (let i = 0; i < 5; i++) made.push(await idempotencyKey(-1000))
    const left = async () =>
      (
        await db
          .select({ n: sql<number>`count(*)::int` })
          .from(idempotencyKeys)
          .where(inArray(idempotencyKeys.id, made))
      )[0]!.n

    const first = await runCleanup(db, { batchSize: 2, maxBatches: 2 })
    expect(first).toMatchObject({ idempotency_keys: 4, more: true })
    expect(await left()).toBe(1)
    const second = await runCleanup(db, { batchSize: 2, maxBatches: 2 })
    expect(second).toMatchObject({ idempotency_keys: 1, more: false })
    expect(await left()).toBe(0)
  })
})
