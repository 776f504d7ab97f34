import { eq, inArray } from 'drizzle-orm'
import { delay, HttpResponse, http } from 'msw'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { outboxEmails, stockAlerts } from '../../db/schema/index.js'
import { enqueueEmail } from '../../lib/email/outbox.js'
import { getDb } from '../../lib/platform/db.js'
import { restoreEnv, setEnv } from '../support/env.js'
import { makeProductRow, makeUser } from '../support/factories.js'
import { call } from '../support/http.js'
import { KEYS, RESEND_API, resendEmailSent, useMsw } from '../support/msw.js'

// Overlapping cron runs on real PostgreSQL (PGlite runs one query at a time, so this proves nothing
// there): Vercel may start a run while the previous one is still going.

const server = useMsw()
const SECRET = 'cron-secret-for-services-0123456789abcdef'
const run = (path: string) => call('GET', path, { token: SECRET })

beforeEach(() => setEnv({ CRON_SECRET: SECRET, RESEND_API_KEY: KEYS.resend }))
afterEach(() => restoreEnv())

describe('overlapping outbox runs', () => {
  it('send every email exactly once between them', async () => {
    const db = await getDb()
    const ids: string[] = []
    for (let i = 0; i < 40; i++) {
      ids.push(
        await enqueueEmail(db, {
          to: `buyer-${i}@example.test`,
          userId: null,
          template: 'password_changed',
        }),
      )
    }
    const sends = new Map<string, number>()
    server.use(
      http.post(`${RESEND_API}/emails`, async ({ request }) => {
        const key = request.headers.get('idempotency-key') ?? 'none'
        sends.set(key, (sends.get(key) ?? 0) + 1)
        await delay(5) // long enough for the other runs to reach the same rows
        return HttpResponse.json(resendEmailSent(crypto.randomUUID()))
      }),
    )

    const reports = await Promise.all(Array.from({ length: 4 }, () => run('/api/cron/outbox')))
    expect(reports.map((r) => r.status)).toEqual([200, 200, 200, 200])
    const sentByRuns = reports.reduce((n, r) => n + r.body.sent, 0)

    expect(sentByRuns).toBe(ids.length)
    expect([...sends.keys()].sort()).toEqual(ids.map((id) => `outbox-${id}`).sort())
    expect([...sends.values()].every((n) => n === 1)).toBe(true)
    const rows = await db
      .select({ status: outboxEmails.status, attempts: outboxEmails.attempts })
      .from(outboxEmails)
      .where(inArray(outboxEmails.id, ids))
    expect(rows.every((r) => r.status === 'sent' && r.attempts === 1)).toBe(true)
  })
})

describe('overlapping low-stock runs', () => {
  it('alert and email once per item between them', async () => {
    setEnv({ RESEND_API_KEY: undefined })
    const staff = (await makeUser({ role: 'staff' })).user
    const items = await Promise.all(
      Array.from({ length: 10 }, () => makeProductRow({ inventoryQuantity: 1 })),
    )

    const reports = await Promise.all(Array.from({ length: 3 }, () => run('/api/cron/low-stock')))
    expect(reports.map((r) => r.status)).toEqual([200, 200, 200])

    const db = await getDb()
    const alerts = await db
      .select()
      .from(stockAlerts)
      .where(
        inArray(
          stockAlerts.productId,
          items.map((p) => p.id),
        ),
      )
    expect(alerts).toHaveLength(items.length)
    const emails = await db.select().from(outboxEmails).where(eq(outboxEmails.userId, staff.id))
    const listed = emails.flatMap((e) => (e.payload.items as Array<{ sku: string }>).map((i) => i.sku))
    expect(listed.sort()).toEqual(items.map((p) => p.sku).sort())
  })
})
