import { randomBytes } from 'node:crypto'
import { eq, inArray } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { orders } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { catalogTestEnv, expectProblem } from '../support/catalog.js'
import { makeProductRow, makeUser } from '../support/factories.js'
import { call } from '../support/http.js'

// Erasure and orders (issue 9): the account's orders are unlinked and scrubbed, their client IP included;
// guest orders under the account's email are scrubbed too, but only when that email was verified.

catalogTestEnv()
const tag = () => randomBytes(4).toString('hex')
const db = () => getDb()
const IL = {
  first_name: 'Ada',
  last_name: 'Buyer',
  line1: '1 Main St',
  city: 'Springfield',
  state: 'IL',
  country: 'US',
  phone: '+1 555 0100',
}

let admin: Awaited<ReturnType<typeof makeUser>>
beforeAll(async () => {
  admin = await makeUser({ role: 'admin' })
})

async function order(opts: { token?: string; email?: string }) {
  const p = await makeProductRow({ inventoryQuantity: 10 })
  const res = await call('POST', '/api/v1/orders', {
    token: opts.token,
    socketAddress: '203.0.113.9',
    body: {
      items: [{ product_id: p.id, quantity: 1 }],
      shipping_address: IL,
      billing_address: IL,
      customer_phone: '+1 555 0199',
      notes: 'personal note',
      ...(opts.email ? { customer_email: opts.email } : {}),
    },
  })
  expect(res.status, res.text).toBe(201)
  // closed, so the account may be erased
  await (await db()).update(orders).set({ status: 'delivered' }).where(eq(orders.id, res.body.id))
  return res.body.id as string
}

const rows = async (ids: string[]) => (await db()).select().from(orders).where(inArray(orders.id, ids))

describe('erasure and orders', () => {
  it('scrubs the account’s orders (client IP too) and its guest orders when the email is verified', async () => {
    const email = `erase-${tag()}@example.test`
    const u = await makeUser({ email, emailVerifiedAt: new Date() })
    const own = await order({ token: u.token })
    const guest = await order({ email: email.toUpperCase() })
    const stranger = await order({ email: `other-${tag()}@example.test` })
    const res = await call('DELETE', `/api/v1/users/${u.user.id}`, { token: admin.token })
    expect(res.status, res.text).toBe(204)
    const anon = `erased+${u.user.id}@erased.invalid`
    for (const o of await rows([own, guest])) {
      expect(o).toMatchObject({
        userId: null,
        email: anon,
        phone: null,
        notes: null,
        clientIp: null,
        shippingAddress: null,
      })
      expect(o.billingAddress).not.toHaveProperty('phone')
      expect(o.billingAddress).toMatchObject({ line1: '1 Main St' })
    }
    const [kept] = await rows([stranger])
    expect(kept).toMatchObject({ clientIp: '203.0.113.9', notes: 'personal note' })
  })

  it('leaves guest orders alone when the account’s email was never verified', async () => {
    const email = `unverified-${tag()}@example.test`
    const u = await makeUser({ email, emailVerifiedAt: null })
    const guest = await order({ email })
    expect((await call('DELETE', `/api/v1/users/${u.user.id}`, { token: admin.token })).status).toBe(204)
    const [g] = await rows([guest])
    expect(g).toMatchObject({ email, clientIp: '203.0.113.9', notes: 'personal note' })
  })

  it('refuses (409) while a guest order under the verified email is still open, changing nothing', async () => {
    const email = `open-${tag()}@example.test`
    const u = await makeUser({ email, emailVerifiedAt: new Date() })
    const guest = await order({ email })
    await (await db()).update(orders).set({ status: 'pending' }).where(eq(orders.id, guest))
    expectProblem(
      await call('DELETE', `/api/v1/users/${u.user.id}`, { token: admin.token }),
      409,
      'user_has_open_orders',
    )
    const [g] = await rows([guest])
    expect(g).toMatchObject({ email, clientIp: '203.0.113.9' })
  })

  it('a checkout after the erasure is refused for the erased account, even with a principal in hand', async () => {
    const u = await makeUser({ emailVerifiedAt: new Date() })
    expect((await call('DELETE', `/api/v1/users/${u.user.id}`, { token: admin.token })).status).toBe(204)
    const p = await makeProductRow()
    const body = { items: [{ product_id: p.id, quantity: 1 }], shipping_address: IL }
    // the ended session's token is not honoured: the caller is a guest, who must give an email
    expectProblem(await call('POST', '/api/v1/orders', { token: u.token, body }), 422, 'required')
    // a request authenticated just before the erasure committed meets the row check inside the transaction
    const { OrderInput } = await import('../../lib/orders/checkout.js')
    const { checkout } = await import('../../lib/payments/checkout.js')
    const principal = {
      userId: u.user.id,
      sessionId: u.sessionId,
      role: 'customer' as const,
      permissions: new Set<never>(),
    }
    const err = await checkout({
      db: await db(),
      request: new Request('http://localhost/api/v1/orders', { method: 'POST' }),
      principal,
      ip: 'unknown',
      body: OrderInput.parse(body),
    }).catch((e: unknown) => e)
    expect(err).toMatchObject({ status: 401, code: 'account_erased' })
    expect(await (await db()).select().from(orders).where(eq(orders.userId, u.user.id))).toHaveLength(0)
  })
})
