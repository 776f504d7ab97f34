import { randomBytes } from 'node:crypto'
import { eq, sql } from 'drizzle-orm'
import { beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  discountRedemptions,
  discounts,
  inventoryLedger,
  orderItems,
  orders,
  products,
  productVariants,
  users,
} from '../../db/schema/index.js'
import { driverKind, getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { IL_ADDRESS as IL } from '../support/addresses.js'
import { catalogTestEnv } from '../support/catalog.js'
import { makeProductRow, makeUser, makeVariantRow } from '../support/factories.js'
import { call } from '../support/http.js'
import { holdNextQuery } from '../support/query-hold.js'
import { countStatements } from '../support/statements.js'

// Issue 9's checkout races on real PostgreSQL through the Neon driver (PGlite runs one query at a time, so
// these prove nothing there): racing buyers never oversell, one variant on two lines takes both, a
// discount's usage limit holds, one buyer's checkouts are serialised at the unpaid cap (an account's and
// a guest's under its email on one lock, issue 15 defect 10), and the transaction's size does not grow
// with the cart.

catalogTestEnv()
beforeEach(() => {
  process.env.MAX_UNPAID_ORDERS_PER_IP = '100000'
  resetEnv()
})

const tag = () => randomBytes(4).toString('hex')
const guestOrder = (items: unknown[], extra: Record<string, unknown> = {}) =>
  call('POST', '/api/v1/orders', {
    body: { items, shipping_address: IL, customer_email: `race-${tag()}@example.test`, ...extra },
  })

let db: Awaited<ReturnType<typeof getDb>>
beforeAll(async () => {
  db = await getDb()
})

describe('checkout races', () => {
  it('runs on the production driver', async () => {
    expect(await driverKind()).toBe('neon')
  })

  it('50 buyers for 5 units: exactly 5 orders, the rest 409 out_of_stock, stock 0', async () => {
    const p = await makeProductRow({ inventoryQuantity: 5, priceCents: 1000 })
    const results = await Promise.all(
      Array.from({ length: 50 }, () => guestOrder([{ product_id: p.id, quantity: 1 }])),
    )
    const statuses = results.map((r) => r.status)
    expect(statuses.filter((s) => s === 201)).toHaveLength(5)
    expect(statuses.filter((s) => s === 409)).toHaveLength(45)
    for (const r of results.filter((x) => x.status === 409)) {
      expect(r.body.code).toBe('out_of_stock')
      expect(r.body.errors[0].path).toBe('items.0')
    }
    const [row] = await db.select().from(products).where(eq(products.id, p.id))
    expect(row!.inventoryQuantity).toBe(0)
    const lines = await db.select().from(orderItems).where(eq(orderItems.productId, p.id))
    expect(lines).toHaveLength(5)
    const sales = await db.select().from(inventoryLedger).where(eq(inventoryLedger.productId, p.id))
    expect(
      sales
        .filter((l) => l.reason === 'sale')
        .map((l) => l.quantityAfter)
        .sort(),
    ).toEqual([0, 1, 2, 3, 4])
  })

  it('carts naming the same items in different orders queue instead of deadlocking', async () => {
    const plain = await Promise.all(
      Array.from({ length: 3 }, () => makeProductRow({ inventoryQuantity: 100, priceCents: 100 })),
    )
    const parent = await makeProductRow({ priceCents: 100 })
    const variants = await Promise.all(
      Array.from({ length: 3 }, () => makeVariantRow(parent.id, { inventoryQuantity: 100 })),
    )
    const lines = [
      ...plain.map((p) => ({ product_id: p.id, quantity: 1 })),
      ...variants.map((v) => ({ product_id: parent.id, variant_id: v.id, quantity: 1 })),
    ]
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) => {
        // every buyer its own rotation, half of them reversed
        const rotated = [...lines.slice(i % lines.length), ...lines.slice(0, i % lines.length)]
        return guestOrder(i % 2 ? rotated.reverse() : rotated)
      }),
    )
    expect(results.map((r) => r.status)).toEqual(Array(24).fill(201))
    for (const p of plain) {
      const [row] = await db.select().from(products).where(eq(products.id, p.id))
      expect(row!.inventoryQuantity).toBe(76)
    }
    for (const v of variants) {
      const [row] = await db.select().from(productVariants).where(eq(productVariants.id, v.id))
      expect(row!.inventoryQuantity).toBe(76)
    }
  })

  it('one variant on two lines takes both: 10 racing carts of 2+1 units for 9 units sell exactly 3', async () => {
    const parent = await makeProductRow({ priceCents: 1000 })
    const v = await makeVariantRow(parent.id, { inventoryQuantity: 9 })
    const cart = [
      { product_id: parent.id, variant_id: v.id, quantity: 2 },
      { product_id: parent.id, variant_id: v.id, quantity: 1 },
    ]
    const results = await Promise.all(Array.from({ length: 10 }, () => guestOrder(cart)))
    expect(results.filter((r) => r.status === 201)).toHaveLength(3)
    expect(results.filter((r) => r.status === 409)).toHaveLength(7)
    const [row] = await db.select().from(productVariants).where(eq(productVariants.id, v.id))
    expect(row!.inventoryQuantity).toBe(0)
    const sales = await db.select().from(inventoryLedger).where(eq(inventoryLedger.variantId, v.id))
    // one ledger row per order for the summed quantity
    expect(sales.filter((l) => l.reason === 'sale').map((l) => l.delta)).toEqual([-3, -3, -3])
  })

  it('a discount limited to 3 with 20 racing checkouts: exactly 3 redemptions', async () => {
    const p = await makeProductRow({ inventoryQuantity: 1000, priceCents: 5000 })
    const code = `RACE${tag()}`.toUpperCase()
    const [d] = await db
      .insert(discounts)
      .values({ code, type: 'percentage', percentBps: 1000, usageLimit: 3 })
      .returning()
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        guestOrder([{ product_id: p.id, quantity: 1 }], { discount_code: code }),
      ),
    )
    const created = results.filter((r) => r.status === 201)
    expect(created).toHaveLength(3)
    for (const r of created) expect(r.body.discount_amount).toBe(5)
    for (const r of results.filter((x) => x.status !== 201)) {
      expect(r.status).toBe(422)
      expect(r.body.errors[0].path).toBe('discount_code')
    }
    const redemptions = await db
      .select()
      .from(discountRedemptions)
      .where(eq(discountRedemptions.discountId, d!.id))
    expect(redemptions).toHaveLength(3)
    const [after] = await db.select().from(discounts).where(eq(discounts.id, d!.id))
    expect(after!.timesUsed).toBe(3)
    // the refused checkouts took no stock
    const [row] = await db.select().from(products).where(eq(products.id, p.id))
    expect(row!.inventoryQuantity).toBe(997)
  })

  it('two concurrent checkouts of one buyer at the cap: one is refused with 429', async () => {
    process.env.MAX_UNPAID_ORDERS_PER_BUYER = '3'
    resetEnv()
    const p = await makeProductRow({ inventoryQuantity: 100, priceCents: 1000 })
    const buyer = await makeUser({ role: 'customer' })
    const order = () =>
      call('POST', '/api/v1/orders', {
        token: buyer.token,
        body: { items: [{ product_id: p.id, quantity: 1 }], shipping_address: IL },
      })
    for (let i = 0; i < 2; i++) expect((await order()).status).toBe(201)
    const [a, b] = await Promise.all([order(), order()])
    expect([a!.status, b!.status].sort()).toEqual([201, 429])
    expect([a, b].find((r) => r!.status === 429)!.body.code).toBe('too_many_unpaid_orders')
    const mine = await db.select().from(orders).where(eq(orders.userId, buyer.user.id))
    expect(mine).toHaveLength(3)
    // the same for a guest email (serialised on the lower-cased email)
    const email = `cap-${tag()}@example.test`
    const guest = (e: string) =>
      call('POST', '/api/v1/orders', {
        body: { items: [{ product_id: p.id, quantity: 1 }], shipping_address: IL, customer_email: e },
      })
    for (let i = 0; i < 2; i++) expect((await guest(email)).status).toBe(201)
    const [c, d] = await Promise.all([guest(email), guest(email.toUpperCase())])
    expect([c!.status, d!.status].sort()).toEqual([201, 429])
    const r = await db.execute(sql`select count(*)::int as n from orders where lower(email) = ${email}`)
    expect(Number((r as unknown as { rows: Array<{ n: number }> }).rows[0]!.n)).toBe(3)
  })

  it('an account checkout and a guest checkout under its email queue on one lock: the cap holds across them', async () => {
    // Both count the orders under the email from this address (the guest cap counts the account's
    // too), so they must not interleave: the account's checkout is held after its counts, inside its
    // transaction, and the guest's must wait for it, then see its order. With a lock per account id and
    // another per guest email, the guest would pass the cap on the count before the account's commit.
    process.env.MAX_UNPAID_ORDERS_PER_BUYER = '2'
    resetEnv()
    const buyer = await makeUser({ role: 'customer', email: `one-lock-${tag()}@example.test` })
    const [a, b, c] = await Promise.all(
      Array.from({ length: 3 }, () => makeProductRow({ inventoryQuantity: 10, priceCents: 1000 })),
    )
    const from = '198.51.100.77'
    const order = (productId: string, who: { token?: string; customer_email?: string }) =>
      call('POST', '/api/v1/orders', {
        socketAddress: from,
        token: who.token,
        body: {
          items: [{ product_id: productId, quantity: 1 }],
          shipping_address: IL,
          ...(who.customer_email ? { customer_email: who.customer_email } : {}),
        },
      })
    expect((await order(a!.id, { token: buyer.token })).status).toBe(201)
    const held = holdNextQuery(
      db,
      (text, params) =>
        text.includes("from orders where status = 'pending'") && params.includes(buyer.user.id),
    )
    try {
      const account = order(b!.id, { token: buyer.token })
      await held.reached
      const guest = order(c!.id, { customer_email: buyer.user.email.toUpperCase() })
      const early = await Promise.race([guest, new Promise<null>((r) => setTimeout(() => r(null), 1500))])
      expect(early, 'the guest checkout did not wait for the account’s').toBeNull()
      held.release()
      const [mine, theirs] = await Promise.all([account, guest])
      expect(mine.status, mine.text).toBe(201)
      expect(theirs.status, theirs.text).toBe(429)
      expect(theirs.body.code).toBe('too_many_unpaid_orders')
    } finally {
      held.restore()
    }
    const r = await db.execute(
      sql`select count(*)::int as n from orders where lower(email) = ${buyer.user.email} and client_ip = ${from} and status = 'pending'`,
    )
    expect(Number((r as unknown as { rows: Array<{ n: number }> }).rows[0]!.n)).toBe(2)
  })

  it('order creation sends the same number of statements for 1 and 20 lines', async () => {
    const items = await Promise.all(
      Array.from({ length: 20 }, () => makeProductRow({ priceCents: 100, inventoryQuantity: 5 })),
    )
    const count = async (n: number) =>
      (
        await countStatements(db, async () => {
          const res = await guestOrder(items.slice(0, n).map((p) => ({ product_id: p.id, quantity: 1 })))
          expect(res.status, res.text).toBe(201)
        })
      ).statements
    const one = await count(1)
    const twenty = await count(20)
    expect(twenty).toBe(one)
  })

  it('erasure racing a checkout never leaves an order with the erased person’s data', async () => {
    const admin = await makeUser({ role: 'admin' })
    const p = await makeProductRow({ inventoryQuantity: 1000, priceCents: 1000 })
    const outcomes: string[] = []
    for (let round = 0; round < 12; round++) {
      const email = `erase-race-${tag()}@example.test`
      const buyer = await makeUser({ role: 'customer', email, emailVerifiedAt: new Date() })
      const checkoutCall = call('POST', '/api/v1/orders', {
        token: buyer.token,
        body: { items: [{ product_id: p.id, quantity: 1 }], shipping_address: IL, notes: 'ring twice' },
      })
      const guestCall = call('POST', '/api/v1/orders', {
        body: { items: [{ product_id: p.id, quantity: 1 }], shipping_address: IL, customer_email: email },
      })
      const eraseCall = call('DELETE', `/api/v1/users/${buyer.user.id}`, { token: admin.token })
      const [own, guest, erased] = await Promise.all(
        round % 2 ? [checkoutCall, guestCall, eraseCall] : [checkoutCall, Promise.resolve(null), eraseCall],
      )
      outcomes.push(`${own!.status}/${guest?.status ?? '-'}/${erased!.status}`)
      const left = await db
        .select()
        .from(orders)
        .where(sql`${orders.userId} = ${buyer.user.id} or lower(${orders.email}) = ${email}`)
      if (erased!.status === 204) {
        // erased: any order placed before it was scrubbed, none placed for the account after it
        expect(own!.status).not.toBe(201)
        // a guest order that waited for the erasure is a new order by whoever gives that email now:
        // written after the erasure (its lines are stamped once the checkout holds the email's lock; the
        // order's created_at is its transaction's start, which may come before it waited)
        const [u] = await db.select().from(users).where(eq(users.id, buyer.user.id))
        for (const o of left) {
          expect(o.userId).toBeNull()
          const lines = await db.select().from(orderItems).where(eq(orderItems.orderId, o.id))
          for (const l of lines) expect(l.createdAt.getTime()).toBeGreaterThanOrEqual(u!.deletedAt!.getTime())
        }
      } else {
        // an order won the race: erasure refused while it is open, nothing scrubbed
        expect(erased!.status).toBe(409)
        expect(erased!.body.code).toBe('user_has_open_orders')
        expect(left.length).toBeGreaterThan(0)
        for (const o of left) expect(o.email).toBe(email)
      }
    }
    expect(outcomes).toHaveLength(12)
  })
})
