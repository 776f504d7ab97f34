import { randomBytes } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { discountRedemptions, discounts, shippingRates, taxRates } from '../../db/schema/index.js'
import {
  findDiscount,
  loadPricingSettings,
  redeemDiscount,
  releaseDiscount,
} from '../../lib/orders/settings.js'
import { setClock } from '../../lib/platform/clock.js'
import { getDb } from '../../lib/platform/db.js'
import { expectProblem } from '../support/catalog.js'
import { makeOrderWithItems, makeUser } from '../support/factories.js'

// The checkout's reads of the pricing settings: active rates only, in one statement; discount codes
// refused with a 422 on `discount_code` for each reason; a redemption counted under its limit and given
// back on cancellation.

const tag = () => randomBytes(4).toString('hex')

async function problemOf(p: Promise<unknown>) {
  const err = (await p.then(
    () => null,
    (e: unknown) => e,
  )) as { status: number; code: string; extra: { errors?: Array<{ path: string; message: string }> } } | null
  expect(err, 'expected a refusal').not.toBeNull()
  return err!
}

describe('loadPricingSettings', () => {
  it('returns the active tax and shipping rates with numbers, not the inactive ones', async () => {
    const db = await getDb()
    const c = `Z${String.fromCharCode(65 + Math.floor(Math.random() * 26))}`
    await db.insert(taxRates).values([
      { name: `on-${tag()}`, country: c, state: null, rateBps: 700, appliesToShipping: true },
      { name: `off-${tag()}`, country: c, state: 'QQ', rateBps: 900, isActive: false },
    ])
    const m = `m-${tag()}`
    await db.insert(shippingRates).values([
      {
        name: 'A',
        method: m,
        countries: [c],
        amountCents: 500,
        freeAboveCents: 5000,
        minDays: 1,
        maxDays: 3,
      },
      { name: 'B', method: m, amountCents: 900, isActive: false },
    ])
    const s = await loadPricingSettings(db)
    const mine = s.taxRates.filter((r) => r.country === c)
    expect(mine).toEqual([
      expect.objectContaining({ country: c, state: null, rateBps: 700, appliesToShipping: true }),
    ])
    const ship = s.shippingRates.filter((r) => r.method === m)
    expect(ship).toEqual([
      expect.objectContaining({
        countries: [c],
        amountCents: 500,
        freeAboveCents: 5000,
        minDays: 1,
        maxDays: 3,
      }),
    ])
    expect(s.currency).toBe('USD')
    expect(s.taxesIncluded).toBe(false)
  })
})

describe('findDiscount and redemptions', () => {
  const buyer = () => ({ userId: null, email: `Buyer-${tag()}@Example.test` })

  it('finds a code case-insensitively and refuses unknown, inactive, future and past codes', async () => {
    const db = await getDb()
    const code = `Save-${tag()}`
    await db.insert(discounts).values({ code, type: 'percentage', percentBps: 1250 })
    const d = await findDiscount(db, code.toUpperCase(), buyer())
    expect(d).toMatchObject({ code, type: 'percentage', percentBps: 1250, amountCents: null })

    const cases: Array<[Partial<typeof discounts.$inferInsert>, string, string]> = [
      [{ isActive: false }, 'invalid_discount_code', 'This discount code does not exist.'],
      [
        { startsAt: new Date(Date.now() + 3_600_000) },
        'discount_not_started',
        'This discount code is not valid yet.',
      ],
      [{ endsAt: new Date(Date.now() - 1000) }, 'discount_expired', 'This discount code has expired.'],
      [
        { usageLimit: 1, timesUsed: 1 },
        'discount_usage_limit_reached',
        'This discount code has been used up.',
      ],
      [
        { usageLimitPerCustomer: 2 },
        'sign_in_required',
        'Sign in to use this discount code: it is limited per customer.',
      ],
    ]
    for (const [fields, expected, message] of cases) {
      const c = `C-${tag()}`
      await db.insert(discounts).values({ code: c, type: 'fixed_amount', amountCents: 500, ...fields })
      const err = await problemOf(findDiscount(db, c, buyer()))
      expect(err.status).toBe(422)
      expect(err.code).toBe(expected)
      expect(err.extra.errors?.[0]).toMatchObject({ path: 'discount_code', message })
    }
    const err = await problemOf(findDiscount(db, `nope-${tag()}`, buyer()))
    expect(err.code).toBe('invalid_discount_code')
  })

  it('is usable from its start to just before its end, by the one clock; a fixed code keeps its amounts', async () => {
    const db = await getDb()
    const startsAt = new Date('2030-03-01T00:00:00Z')
    const endsAt = new Date('2030-04-01T00:00:00Z')
    const code = `Window-${tag()}`
    await db.insert(discounts).values({
      code,
      type: 'fixed_amount',
      amountCents: 500,
      minSubtotalCents: 2000,
      startsAt,
      endsAt,
    })
    const at = async (ms: number) => {
      setClock(() => ms)
      try {
        return await findDiscount(db, code, buyer()).then(
          (d) => d,
          (e: { code: string }) => e.code,
        )
      } finally {
        setClock(undefined)
      }
    }
    expect(await at(startsAt.getTime() - 1)).toBe('discount_not_started')
    expect(await at(startsAt.getTime())).toMatchObject({ amountCents: 500, minSubtotalCents: 2000 })
    expect(await at(endsAt.getTime() - 1)).toMatchObject({ type: 'fixed_amount', percentBps: null })
    expect(await at(endsAt.getTime())).toBe('discount_expired')
  })

  it('counts a redemption under the limit, refuses past it, and gives it back on release', async () => {
    const db = await getDb()
    const code = `Once-${tag()}`
    const [row] = await db
      .insert(discounts)
      .values({ code, type: 'fixed_amount', amountCents: 500, usageLimit: 1, usageLimitPerCustomer: 1 })
      .returning()
    const account = await makeUser()
    const b = { userId: account.user.id, email: account.user.email }
    const d = await findDiscount(db, code, b)
    const first = await makeOrderWithItems({ items: [{ productId: null }] })
    // an older guest order under the account's email (before codes like this one needed an account)
    await db.transaction((tx) =>
      redeemDiscount(tx, d, { orderId: first.order.id, userId: null, email: b.email.toUpperCase() }),
    )
    const [after] = await db.select().from(discounts).where(eq(discounts.id, row!.id))
    expect(after!.timesUsed).toBe(1)

    // the limit is checked by the UPDATE itself, not only by findDiscount
    const second = await makeOrderWithItems({ items: [{ productId: null }] })
    const err = await problemOf(
      db.transaction((tx) => redeemDiscount(tx, d, { orderId: second.order.id, ...b })),
    )
    expect(err.code).toBe('discount_usage_limit_reached')

    // the account has used it up: its redemptions count by account and under its email
    await db.update(discounts).set({ usageLimit: 5 }).where(eq(discounts.id, row!.id))
    const mine = await problemOf(findDiscount(db, code, b))
    expect(mine.code).toBe('discount_customer_limit_reached')
    expect(mine.extra.errors?.[0]?.message).toBe(
      'You have already used this discount code as often as it allows.',
    )
    // the account's email is compared lower-cased
    const shouted = await problemOf(findDiscount(db, code, { ...b, email: b.email.toUpperCase() }))
    expect(shouted.code).toBe('discount_customer_limit_reached')

    await db.transaction((tx) => releaseDiscount(tx, first.order.id))
    const [released] = await db.select().from(discounts).where(eq(discounts.id, row!.id))
    expect(released!.timesUsed).toBe(0)
    expect(
      await db.select().from(discountRedemptions).where(eq(discountRedemptions.orderId, first.order.id)),
    ).toEqual([])
    await expect(findDiscount(db, code, b)).resolves.toMatchObject({ id: row!.id })
  })
})

describe('problem shape', () => {
  it('is a ProblemError the route layer turns into 422 problem+json', async () => {
    const { errorToResponse } = await import('../../lib/http/errors.js')
    const db = await getDb()
    const err = await problemOf(findDiscount(db, `missing-${tag()}`, { userId: null, email: 'a@b.test' }))
    const res = errorToResponse(err, 'req-1')
    const body = await res.json()
    expectProblem(
      { status: res.status, headers: res.headers, body, text: JSON.stringify(body) } as never,
      422,
      'invalid_discount_code',
    )
  })
})
