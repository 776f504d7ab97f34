import { randomBytes } from 'node:crypto'
import { and, count, eq, isNull } from 'drizzle-orm'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { orderItems, orders, userActivities, userProfiles, users } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { resetRateLimits } from '../../lib/platform/ratelimit.js'
import { EXPORT_COLUMNS, ExportedUserSchema, exportUsers } from '../../lib/users/export.js'
import { makeUser } from '../support/factories.js'
import { call, request } from '../support/http.js'

// Issue 4: GET /users/analytics, GET /users/export (CSV/JSON, streamed) and GET /auth/me/export.

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
  // All in-process calls share one client address; the export policy (10/min) would get in the way.
  setEnv({ RATE_LIMIT_EXPORT: '1000/60' })
})

afterEach(() => {
  for (const [k, v] of savedEnv) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  savedEnv.clear()
  resetEnv()
  resetRateLimits()
})

let staff: Awaited<ReturnType<typeof makeUser>>
let customer: Awaited<ReturnType<typeof makeUser>>

beforeAll(async () => {
  staff = await makeUser({ role: 'staff', isVerified: true })
  customer = await makeUser({ role: 'customer' })
})

/** A minimal RFC 4180 parser (quoted fields, doubled quotes, CRLF records), for reading exports back. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"'
        i++
      } else if (c === '"') quoted = false
      else field += c
    } else if (c === '"') quoted = true
    else if (c === ',') {
      row.push(field)
      field = ''
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field)
      rows.push(row)
      row = []
      field = ''
      i++
    } else field += c
  }
  if (field !== '' || row.length) throw new Error('CSV does not end with CRLF')
  return rows
}

/** CSV rows as objects keyed by the header. */
function csvRecords(text: string): Record<string, string>[] {
  const [header, ...rows] = parseCsv(text)
  expect(header).toEqual([...EXPORT_COLUMNS])
  for (const r of rows) expect(r).toHaveLength(EXPORT_COLUMNS.length)
  return rows.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i]!])))
}

const tag = () => randomBytes(4).toString('hex')

async function insertUser(values: Partial<typeof users.$inferInsert>) {
  const db = await getDb()
  const [u] = await db
    .insert(users)
    .values({ email: `u-${tag()}@example.test`, ...values })
    .returning()
  return u!
}

// --- GET /users/analytics ---------------------------------------------------------------------------------

describe('GET /api/v1/users/analytics', () => {
  const analytics = (query: string, token = staff.token) =>
    call('GET', `/api/v1/users/analytics${query}`, { token })

  // The period 2024-03-01 .. 2024-03-08 (exclusive). Every other user of this file was created later, so
  // the numbers below are exact.
  beforeAll(async () => {
    const d = (s: string) => new Date(s)
    const a = {
      role: 'customer' as const,
      createdAt: d('2024-03-01T10:00:00Z'),
      isVerified: true,
      mfaEnabled: true,
      lastLoginAt: d('2024-03-02T08:00:00Z'),
    }
    await insertUser(a) // A: active, verified, MFA
    await insertUser({ role: 'customer', createdAt: d('2024-03-01T23:59:59Z') }) // B
    await insertUser({
      role: 'staff',
      createdAt: d('2024-03-03T00:00:00Z'),
      isVerified: true,
      mfaEnabled: true,
      lastLoginAt: d('2024-03-05T12:00:00Z'),
    }) // C: active
    await insertUser({
      role: 'admin',
      createdAt: d('2024-02-15T00:00:00Z'),
      isVerified: true,
      isActive: false,
      lastLoginAt: d('2024-03-04T00:00:00Z'),
    }) // D: signed in during the period but suspended: not active
    await insertUser({
      role: 'customer',
      createdAt: d('2024-03-06T00:00:00Z'),
      isVerified: true,
      mfaEnabled: true,
      lastLoginAt: d('2024-03-06T01:00:00Z'),
      deletedAt: d('2024-03-06T02:00:00Z'),
    }) // E: erased, counted nowhere
    const f = await insertUser({
      role: 'customer',
      createdAt: d('2024-02-20T00:00:00Z'),
      lastLoginAt: d('2024-04-01T00:00:00Z'),
    }) // F: last login after the period, but a login during it is in the activity log: active
    await (await getDb()).insert(userActivities).values({
      userId: f.id,
      actorId: f.id,
      action: 'auth.login',
      createdAt: d('2024-03-04T09:00:00Z'),
    })
    await insertUser({ role: 'customer', createdAt: d('2024-03-09T00:00:00Z') }) // G: after `to`
    await insertUser({ role: 'customer', createdAt: d('2024-03-07T23:59:59Z') }) // H: last day
  })

  it('counts signups per day, zero-filled, and the totals of the users existing at `to`', async () => {
    const res = await analytics('?from=2024-03-01T00:00:00Z&to=2024-03-08T00:00:00Z')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({
      period: { from: '2024-03-01T00:00:00.000Z', to: '2024-03-08T00:00:00.000Z', interval: 'day' },
      signups: [
        { period_start: '2024-03-01', count: 2 },
        { period_start: '2024-03-02', count: 0 },
        { period_start: '2024-03-03', count: 1 },
        { period_start: '2024-03-04', count: 0 },
        { period_start: '2024-03-05', count: 0 },
        { period_start: '2024-03-06', count: 0 },
        { period_start: '2024-03-07', count: 1 },
      ],
      // A B C D F H exist at `to`; E is erased, G came later.
      totals: {
        users: 6,
        active: 3, // A, C, F
        verified: 3, // A, C, D
        verified_pct: 50,
        mfa_enabled: 2, // A, C
        mfa_adoption_pct: 33.3,
        new_in_period: 4, // A B C H
      },
      by_role: { customer: 4, staff: 1, admin: 1 },
    })
  })

  it('buckets by ISO week (Monday, UTC), counting only signups inside the period', async () => {
    const res = await analytics('?from=2024-03-01T00:00:00Z&to=2024-03-15T00:00:00Z&interval=week')
    expect(res.status).toBe(200)
    expect(res.body.period.interval).toBe('week')
    expect(res.body.signups).toEqual([
      { period_start: '2024-02-26', count: 3 }, // A B C (from Friday 1 March)
      { period_start: '2024-03-04', count: 2 }, // H G (E erased)
      { period_start: '2024-03-11', count: 0 },
    ])
    expect(res.body.totals).toMatchObject({ users: 7, new_in_period: 5, verified_pct: 42.9 })
  })

  it('defaults to the last 30 days by day', async () => {
    const res = await analytics('')
    expect(res.status).toBe(200)
    const { from, to, interval } = res.body.period
    expect(interval).toBe('day')
    expect(Date.parse(to) - Date.parse(from)).toBe(30 * 86_400_000)
    expect(Math.abs(Date.parse(to) - Date.now())).toBeLessThan(60_000)
    expect([30, 31]).toContain(res.body.signups.length)
    const sum = res.body.signups.reduce((n: number, s: { count: number }) => n + s.count, 0)
    // This file's own users (staff, customer) signed up just now.
    expect(sum).toBe(res.body.totals.new_in_period)
    expect(sum).toBeGreaterThanOrEqual(2)
    expect(res.body.signups.at(-1).period_start).toBe(to.slice(0, 10))
  })

  it('answers 422 when `from` is not before `to`, for an invalid date or interval, or a too-long range', async () => {
    const same = await analytics('?from=2024-03-08T00:00:00Z&to=2024-03-08T00:00:00Z')
    expect(same.status).toBe(422)
    expect(same.body.errors[0]).toMatchObject({ path: 'query.from', code: 'invalid_range' })
    expect((await analytics('?from=2024-03-09&to=2024-03-08')).status).toBe(422)
    expect((await analytics('?from=yesterday')).status).toBe(422)
    expect((await analytics('?interval=month')).status).toBe(422)
    const long = await analytics('?from=2000-01-01&to=2024-01-01')
    expect(long.status).toBe(422)
    expect(long.body.errors[0].code).toBe('range_too_large')
    expect((await analytics('?from=2000-01-01&to=2010-01-01&interval=week')).status).toBe(200)
  })

  it('is refused to customers (403) and without a token (401)', async () => {
    expect((await analytics('', customer.token)).status).toBe(403)
    expect((await call('GET', '/api/v1/users/analytics')).status).toBe(401)
    expect((await analytics('', 'not-a-token')).status).toBe(401)
  })
})

// --- GET /users/export -------------------------------------------------------------------------------------

describe('GET /api/v1/users/export', () => {
  const t = tag()
  const exportAs = (query: string, token = staff.token) =>
    call('GET', `/api/v1/users/export${query}`, { token })
  let ada: typeof users.$inferSelect
  let evil: typeof users.$inferSelect

  beforeAll(async () => {
    ada = (
      await makeUser({
        email: `ada-${t}@example.test`,
        firstName: 'Ada',
        lastName: `Lovelace${t}`,
        company: 'Analytical, "Engines" Ltd',
        phone: '+44 20 7946 0000',
        marketingConsent: true,
        isVerified: true,
      })
    ).user
    evil = (
      await makeUser({
        email: `evil-${t}@example.test`,
        firstName: "=cmd|' /C calc'!A0",
        lastName: `@SUM(1+1)${t}`,
        company: '-2+3',
        phone: '+1 555 0100',
      })
    ).user
    await makeUser({ email: `grace-${t}@example.test`, firstName: 'Grace', lastName: t, role: 'staff' })
    await makeUser({ email: `off-${t}@example.test`, firstName: 'Off', lastName: t, isActive: false })
    await makeUser({ email: `pct-${t}@example.test`, firstName: 'Hundred', lastName: `100%${t}` })
    await makeUser({ email: `under_score-${t}@example.test`, firstName: 'Under', lastName: t })
    await makeUser({
      email: `erased-${t}@example.test`,
      firstName: 'Erased',
      lastName: t,
      deletedAt: new Date(),
    })
  })

  it('streams CSV with a header row, RFC 4180 quoting and the user fields', async () => {
    const res = await exportAs(`?search=ada-${t}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8')
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="users-\d{4}-\d{2}-\d{2}\.csv"$/,
    )
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.text.startsWith(`${EXPORT_COLUMNS.join(',')}\r\n`)).toBe(true)
    expect(csvRecords(res.text)).toEqual([
      {
        id: ada.id,
        email: ada.email,
        first_name: 'Ada',
        last_name: `Lovelace${t}`,
        company: 'Analytical, "Engines" Ltd',
        phone: "'+44 20 7946 0000",
        role: 'customer',
        is_active: 'true',
        is_verified: 'true',
        mfa_enabled: 'false',
        marketing_consent: 'true',
        created_at: ada.createdAt.toISOString(),
        last_login_at: '',
      },
    ])
    expect(res.text).toContain('"Analytical, ""Engines"" Ltd"')
  })

  it('escapes formula injection in CSV cells', async () => {
    const res = await exportAs(`?search=evil-${t}`)
    expect(res.status).toBe(200)
    const [row] = csvRecords(res.text)
    expect(row).toMatchObject({
      id: evil.id,
      first_name: "'=cmd|' /C calc'!A0",
      last_name: `'@SUM(1+1)${t}`,
      company: "'-2+3",
      phone: "'+1 555 0100",
    })
    // No cell of the whole file starts with a formula character.
    for (const r of parseCsv(res.text)) for (const cell of r) expect(cell).not.toMatch(/^[=+\-@\t\r]/)
  })

  it('streams JSON as an array of admin users without profile, values unescaped', async () => {
    const res = await exportAs(`?format=json&search=${t}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="users-[\d-]+\.json"$/)
    expect(res.text.startsWith('[\n{')).toBe(true)
    expect(res.text.endsWith('}\n]\n')).toBe(true)
    const list = res.body as unknown[]
    for (const u of list) ExportedUserSchema.strict().parse(u)
    const byEmail = new Map(list.map((u: any) => [u.email, u]))
    // Everyone tagged except the erased user.
    expect([...byEmail.keys()].sort()).toEqual(
      ['ada', 'evil', 'grace', 'off', 'pct', 'under_score'].map((p) => `${p}-${t}@example.test`).sort(),
    )
    expect(byEmail.get(evil.email)).toMatchObject({ first_name: "=cmd|' /C calc'!A0", company: '-2+3' })
    expect(byEmail.get(ada.email)).toEqual({
      id: ada.id,
      email: ada.email,
      first_name: 'Ada',
      last_name: `Lovelace${t}`,
      company: 'Analytical, "Engines" Ltd',
      phone: '+44 20 7946 0000',
      role: 'customer',
      is_active: true,
      is_verified: true,
      mfa_enabled: false,
      marketing_consent: true,
      locked_until: null,
      suspended_at: null,
      suspension_reason: null,
      last_login_at: null,
      created_at: ada.createdAt.toISOString(),
      updated_at: ada.updatedAt.toISOString(),
    })
    // Ordered by id (keyset order).
    const ids = list.map((u: any) => u.id as string)
    expect(ids).toEqual([...ids].sort())
  })

  it('answers an empty export with the header only / an empty array', async () => {
    const csv = await exportAs('?search=nobody-matches-this')
    expect(csv.status).toBe(200)
    expect(csv.text).toBe(`${EXPORT_COLUMNS.join(',')}\r\n`)
    const json = await exportAs('?search=nobody-matches-this&format=json')
    expect(json.status).toBe(200)
    expect(json.body).toEqual([])
  })

  it('applies the list filters: search (case-insensitive, name or email), role, is_active', async () => {
    const emails = async (query: string) =>
      csvRecords((await exportAs(query)).text)
        .map((r) => r.email!.split('-')[0])
        .sort()
    expect(await emails(`?search=LOVELACE${t.toUpperCase()}`)).toEqual(['ada'])
    expect(await emails(`?search=${encodeURIComponent(`Ada Lovelace${t}`)}`)).toEqual(['ada'])
    expect(await emails(`?search=${t}&role=staff`)).toEqual(['grace'])
    expect(await emails(`?search=${t}&is_active=false`)).toEqual(['off'])
    expect(await emails(`?search=${t}&is_active=true&role=customer`)).toEqual([
      'ada',
      'evil',
      'pct',
      'under_score',
    ])
    // The erased user is never exported, whatever the filters.
    expect(await emails(`?search=erased-${t}`)).toEqual([])
  })

  it('treats LIKE wildcards in the search as plain characters', async () => {
    const emails = async (search: string) =>
      csvRecords((await exportAs(`?search=${encodeURIComponent(search)}`)).text).map((r) => r.email)
    expect(await emails('%')).toEqual([`pct-${t}@example.test`])
    expect(await emails('_')).toEqual([`under_score-${t}@example.test`])
    expect(await emails(`pct-${t}%`)).toEqual([])
  })

  it('never includes a password hash or other secret', async () => {
    for (const format of ['csv', 'json']) {
      const res = await exportAs(`?format=${format}`)
      expect(res.status).toBe(200)
      expect(res.text).toContain(ada.email)
      expect(res.text).not.toMatch(/password|argon2|hash|secret|token/i)
    }
  })

  it('writes a users.exported entry with the actor and the filters', async () => {
    const db = await getDb()
    await exportAs(`?format=json&role=staff&search=audit-${t}`)
    const [entry] = await db
      .select()
      .from(userActivities)
      .where(and(eq(userActivities.action, 'users.exported'), eq(userActivities.actorId, staff.user.id)))
      .orderBy(userActivities.createdAt)
      .then((rows) => rows.filter((r) => (r.metadata as any).filters?.search === `audit-${t}`))
    expect(entry).toMatchObject({
      userId: null,
      actorId: staff.user.id,
      resource: 'user',
      metadata: { format: 'json', filters: { role: 'staff', search: `audit-${t}` } },
    })
  })

  it('answers 422 for an unknown format or a bad is_active', async () => {
    expect((await exportAs('?format=xml')).status).toBe(422)
    expect((await exportAs('?is_active=yes')).status).toBe(422)
    expect((await exportAs('?role=superuser')).status).toBe(422)
  })

  it('is refused to customers (403) and without a token (401)', async () => {
    expect((await exportAs('', customer.token)).status).toBe(403)
    expect((await call('GET', '/api/v1/users/export')).status).toBe(401)
  })

  it('is rate limited by the export policy', async () => {
    setEnv({ RATE_LIMIT_EXPORT: '2/60' })
    resetRateLimits()
    const statuses: number[] = []
    let limited: Awaited<ReturnType<typeof exportAs>> | undefined
    for (let i = 0; i < 3; i++) {
      const res = await exportAs('?search=nobody')
      statuses.push(res.status)
      if (res.status === 429) limited = res
    }
    // In-process: 200, 200, 429. On Redis the window also holds this file's earlier exports.
    expect(statuses[2]).toBe(429)
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true)
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThan(0)
  })
})

// --- Streaming: thousands of users ---------------------------------------------------------------------

describe('the export streams', () => {
  const BULK = 3000
  let expected: number

  beforeAll(async () => {
    const db = await getDb()
    const t = tag()
    // One multi-row insert per 1000 users; no password hashes needed.
    for (let start = 0; start < BULK; start += 1000) {
      await db.insert(users).values(
        Array.from({ length: 1000 }, (_, i) => ({
          email: `bulk-${t}-${start + i}@export.test`,
          firstName: `Bulk${start + i}`,
          lastName: 'Row',
        })),
      )
    }
    const [{ n }] = (await db.select({ n: count() }).from(users).where(isNull(users.deletedAt))) as [
      { n: number },
    ]
    expected = Number(n)
    expect(expected).toBeGreaterThan(BULK)
  })

  const decoder = new TextDecoder()
  const records = (text: string) => text.split('\r\n').filter(Boolean)

  it('fetches one batch per read, only when the reader asks (no read-ahead)', async () => {
    const db = await getDb()
    const batches: number[] = []
    const stream = exportUsers(
      db,
      {},
      { format: 'csv', batchSize: 500, onBatch: (b) => batches.push(b.rows) },
    )
    // Nothing is fetched before the first read.
    await new Promise((r) => setTimeout(r, 20))
    expect(batches).toEqual([])

    const reader = stream.getReader()
    const first = await reader.read()
    expect(first.done).toBe(false)
    const firstLines = records(decoder.decode(first.value))
    // The header and the first batch, and nothing more: one query so far, even after a pause.
    expect(firstLines[0]).toBe(EXPORT_COLUMNS.join(','))
    expect(firstLines).toHaveLength(1 + 500)
    await new Promise((r) => setTimeout(r, 20))
    expect(batches).toEqual([500])

    const second = await reader.read()
    expect(records(decoder.decode(second.value))).toHaveLength(500)
    expect(batches).toEqual([500, 500])

    let rows = 1000
    let chunks = 2
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      chunks++
      rows += records(decoder.decode(value)).length
      // Never more than one batch per chunk, never more than one query ahead of the reader.
      expect(records(decoder.decode(value)).length).toBeLessThanOrEqual(500)
      expect(batches.length).toBeLessThanOrEqual(chunks + 1)
    }
    expect(rows).toBe(expected)
    expect(batches.reduce((a, b) => a + b, 0)).toBe(expected)
    // ceil(n / 500) queries, plus one empty one when n is a multiple of 500.
    expect(batches.length).toBe(Math.floor(expected / 500) + 1)
  })

  it('through the route: the first chunk is the header and the first batch, then the rest in batches', async () => {
    const res = await request('GET', '/api/v1/users/export', { token: staff.token })
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    const first = await reader.read()
    const firstLines = records(decoder.decode(first.value))
    expect(firstLines[0]).toBe(EXPORT_COLUMNS.join(','))
    expect(firstLines.length).toBe(1 + 500)
    let rows = firstLines.length - 1
    let chunks = 1
    let text = decoder.decode(first.value)
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      chunks++
      text += decoder.decode(value)
      rows += records(decoder.decode(value)).length
    }
    expect(rows).toBe(expected)
    expect(chunks).toBe(Math.ceil(expected / 500))
    expect(csvRecords(text)).toHaveLength(expected)
  })

  it('JSON through the route is one valid array of every user', async () => {
    const res = await call('GET', '/api/v1/users/export?format=json', { token: staff.token })
    expect(res.status).toBe(200)
    expect(res.body).toHaveLength(expected)
    expect(new Set(res.body.map((u: any) => u.id)).size).toBe(expected)
  })

  it('a reader that stops early leaves nothing running', async () => {
    const db = await getDb()
    const batches: number[] = []
    const stream = exportUsers(
      db,
      {},
      { format: 'json', batchSize: 100, onBatch: (b) => batches.push(b.rows) },
    )
    const reader = stream.getReader()
    const first = await reader.read()
    expect(decoder.decode(first.value).startsWith('[\n{')).toBe(true)
    await reader.cancel()
    await new Promise((r) => setTimeout(r, 20))
    expect(batches).toEqual([100])
  })
})

// --- GET /auth/me/export -----------------------------------------------------------------------------------

describe('GET /api/v1/auth/me/export', () => {
  it('returns the signed-in user’s own data, and nothing of anyone else', async () => {
    const db = await getDb()
    const me = await makeUser({ firstName: 'Mia', lastName: 'Self', phone: '+1 555 0199', isVerified: true })
    const other = await makeUser({ firstName: 'Otto', lastName: 'Other' })
    await db.insert(userProfiles).values({ userId: me.user.id, bio: 'my bio', timezone: 'Europe/Paris' })
    await db.insert(userActivities).values([
      { userId: me.user.id, actorId: me.user.id, action: 'auth.login', ipAddress: '203.0.113.9' },
      { userId: me.user.id, actorId: staff.user.id, action: 'user.updated', metadata: { fields: ['phone'] } },
      { userId: other.user.id, actorId: other.user.id, action: 'auth.login', ipAddress: '198.51.100.7' },
    ])
    const address = { line1: '1 Main St', city: 'Springfield', country: 'US', first_name: 'Mia' }
    const [mine] = await db
      .insert(orders)
      .values({
        userId: me.user.id,
        email: me.user.email,
        currency: 'USD',
        subtotalCents: 2500,
        taxAmountCents: 200,
        shippingAmountCents: 500,
        totalAmountCents: 3200,
        billingAddress: address,
        status: 'delivered',
      })
      .returning()
    await db.insert(orderItems).values({
      orderId: mine!.id,
      productName: 'Widget',
      sku: `W-${tag()}`,
      quantity: 2,
      unitPriceCents: 1250,
      subtotalCents: 2500,
      taxAmountCents: 200,
      totalAmountCents: 2700,
    })
    const [theirs] = await db
      .insert(orders)
      .values({
        userId: other.user.id,
        email: other.user.email,
        currency: 'USD',
        subtotalCents: 999,
        totalAmountCents: 999,
      })
      .returning()

    const res = await call('GET', '/api/v1/auth/me/export', { token: me.token })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="my-data-[\d-]+\.json"$/)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const body = res.body
    expect(body.user).toMatchObject({
      id: me.user.id,
      email: me.user.email,
      first_name: 'Mia',
      last_name: 'Self',
      phone: '+1 555 0199',
      role: 'customer',
      is_verified: true,
    })
    expect(body.profile).toMatchObject({ bio: 'my bio', timezone: 'Europe/Paris', preferences: {} })
    expect(body.sessions).toHaveLength(1)
    expect(body.sessions[0]).toMatchObject({ id: me.sessionId, user_agent: 'vitest', revoked_at: null })
    expect(body.activities.map((a: any) => [a.action, a.actor]).sort()).toEqual([
      ['auth.login', 'self'],
      ['user.updated', 'staff'],
    ])
    expect(body.orders).toEqual([
      expect.objectContaining({
        order_number: mine!.orderNumber,
        status: 'delivered',
        currency: 'USD',
        subtotal: 25,
        tax_amount: 2,
        shipping_amount: 5,
        discount_amount: 0,
        total_amount: 32,
        billing_address: address,
        items: [
          expect.objectContaining({
            product_name: 'Widget',
            quantity: 2,
            unit_price: 12.5,
            total_amount: 27,
          }),
        ],
      }),
    ])

    // Nothing of the other user, no secret or token material.
    for (const leak of [
      other.user.id,
      other.user.email,
      'Otto',
      '198.51.100.7',
      String(theirs!.orderNumber),
    ]) {
      expect(res.text).not.toContain(leak)
    }
    expect(res.text).not.toMatch(/password_hash|argon2|refresh_token|token_hash|family_id|secret/i)
    expect(res.text).not.toContain(me.refreshToken)
    expect(res.text).not.toContain(staff.user.id)

    // The other user sees their own order and not mine.
    const theirsRes = await call('GET', '/api/v1/auth/me/export', { token: other.token })
    expect(theirsRes.status).toBe(200)
    expect(theirsRes.body.user.id).toBe(other.user.id)
    expect(theirsRes.body.orders.map((o: any) => o.order_number)).toEqual([theirs!.orderNumber])
    expect(theirsRes.text).not.toContain(me.user.email)
  })

  it('answers an account without orders or profile with empty lists', async () => {
    const res = await call('GET', '/api/v1/auth/me/export', { token: customer.token })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({
      user: { id: customer.user.id },
      profile: null,
      orders: [],
      activities: [],
    })
  })

  it('needs a token (401)', async () => {
    expect((await call('GET', '/api/v1/auth/me/export')).status).toBe(401)
    expect((await call('GET', '/api/v1/auth/me/export', { token: 'garbage' })).status).toBe(401)
  })

  it('leaves GET /auth/me served by auth/me.ts', async () => {
    const res = await call('GET', '/api/v1/auth/me', { token: customer.token })
    expect(res.status).toBe(200)
    expect(res.body.id).toBe(customer.user.id)
  })
})
