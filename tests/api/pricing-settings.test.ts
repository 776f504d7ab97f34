import { randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { discountRedemptions, discounts, orders, userPermissions } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { as, callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
import { makeOrderWithItems, makeUser } from '../support/factories.js'
import { type CallResult, call } from '../support/http.js'
import { badCredentials } from '../support/token-cases.js'

// The pricing settings' CRUD: /tax-rates, /shipping-rates, /discounts and their /{id}. Writes need
// settings.manage (admins), reads orders.view (staff). Money in major units of the shop currency (USD).

catalogTestEnv()

let admin: Awaited<ReturnType<typeof makeUser>>
let staff: Awaited<ReturnType<typeof makeUser>>
let customer: Awaited<ReturnType<typeof makeUser>>
beforeAll(async () => {
  ;({ admin, staff, customer } = await callers())
})

const A = () => as(admin.token)
const fieldPaths = (res: CallResult) => (res.body.errors ?? []).map((e: { path: string }) => e.path)
function expectInvalid(res: CallResult, path: string) {
  expectProblem(res, 422)
  expect(fieldPaths(res), res.text).toContain(path)
}

let letter = 0
/** A fresh two-letter country per test, so the one-active-rate-per-place rule never meets other tests. */
const country = () => {
  const n = letter++
  return `${'QX'[Math.floor(n / 26)]}${String.fromCharCode(65 + (n % 26))}`
}

// --- tax rates ------------------------------------------------------------------------------------------

describe('/api/v1/tax-rates', () => {
  it('creates a rate (201, defaults), reads it back, lists it and filters by country', async () => {
    const c = country()
    const res = await A().post('/api/v1/tax-rates', { name: 'VAT', country: c.toLowerCase(), rate_bps: 825 })
    expect(res.status, res.text).toBe(201)
    expect(res.body).toMatchObject({
      name: 'VAT',
      country: c,
      state: null,
      rate_bps: 825,
      applies_to_shipping: false,
      is_active: true,
    })
    const got = await as(staff.token).get(`/api/v1/tax-rates/${res.body.id}`)
    expect(got.status).toBe(200)
    expect(got.body).toEqual(res.body)
    const list = await as(staff.token).get(`/api/v1/tax-rates?country=${c}`)
    expect(list.status).toBe(200)
    expect(list.body.tax_rates).toEqual([res.body])
    expect(list.body.pagination).toEqual({ page: 1, limit: 20, total: 1, pages: 1 })
  })

  it('pages the list with a total and filters by is_active', async () => {
    const c = 'US'
    const made = []
    for (const state of ['AL', 'AK', 'AZ']) {
      const r = await A().post('/api/v1/tax-rates', { name: `US ${state}`, country: c, state, rate_bps: 500 })
      expect(r.status, r.text).toBe(201)
      made.push(r.body)
    }
    await A().put(`/api/v1/tax-rates/${made[2].id}`, { is_active: false })
    const p2 = await A().get('/api/v1/tax-rates?country=US&limit=2&page=2')
    expect(p2.body.pagination).toEqual({ page: 2, limit: 2, total: 3, pages: 2 })
    expect(p2.body.tax_rates).toHaveLength(1)
    const past = await A().get('/api/v1/tax-rates?country=US&limit=2&page=5')
    expect(past.body).toMatchObject({ tax_rates: [], pagination: { total: 3, pages: 2 } })
    const inactive = await A().get('/api/v1/tax-rates?country=US&is_active=false')
    expect(inactive.body.tax_rates.map((r: { id: string }) => r.id)).toEqual([made[2].id])
  })

  it('refuses each invalid field with a 422 naming it, and creates nothing', async () => {
    const c = country()
    const ok = { name: 'Tax', country: c, rate_bps: 100 }
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...ok, name: '' }, 'name'],
      [{ ...ok, name: undefined }, 'name'],
      [{ ...ok, country: 'USA' }, 'country'],
      [{ ...ok, country: '1A' }, 'country'],
      [{ ...ok, state: 'TOOLONG' }, 'state'],
      [{ ...ok, state: 'I-L' }, 'state'],
      [{ ...ok, country: 'US', state: 'ZZ' }, 'state'],
      [{ ...ok, country: 'CA', state: 'XX' }, 'state'],
      [{ ...ok, rate_bps: -1 }, 'rate_bps'],
      [{ ...ok, rate_bps: 10_001 }, 'rate_bps'],
      [{ ...ok, rate_bps: 8.25 }, 'rate_bps'],
      [{ ...ok, rate_bps: '825' }, 'rate_bps'],
      [{ ...ok, rate_bps: undefined }, 'rate_bps'],
      [{ ...ok, applies_to_shipping: 'yes' }, 'applies_to_shipping'],
      [{ ...ok, is_active: 1 }, 'is_active'],
      [{ ...ok, extra: true }, ''],
    ]
    for (const [body, path] of cases) expectInvalid(await A().post('/api/v1/tax-rates', body), path)
    const list = await A().get(`/api/v1/tax-rates?country=${c}`)
    expect(list.body.tax_rates).toEqual([])
  })

  it('accepts a US state code in any case and any subdivision code elsewhere', async () => {
    const us = await A().post('/api/v1/tax-rates', { name: 'IL', country: 'us', state: 'il', rate_bps: 625 })
    expect(us.status, us.text).toBe(201)
    expect(us.body).toMatchObject({ country: 'US', state: 'IL' })
    const c = country()
    const other = await A().post('/api/v1/tax-rates', { name: 'X', country: c, state: '75', rate_bps: 1 })
    expect(other.status, other.text).toBe(201)
  })

  it('refuses a second active rate for the same place (409 tax_rate_exists), allows an inactive one', async () => {
    const c = country()
    const first = await A().post('/api/v1/tax-rates', { name: 'A', country: c, rate_bps: 100 })
    expect(first.status).toBe(201)
    expectProblem(
      await A().post('/api/v1/tax-rates', { name: 'B', country: c, rate_bps: 200 }),
      409,
      'tax_rate_exists',
    )
    // a state of that country is another place
    const state = await A().post('/api/v1/tax-rates', { name: 'S', country: c, state: 'N1', rate_bps: 300 })
    expect(state.status).toBe(201)
    expectProblem(
      await A().post('/api/v1/tax-rates', { name: 'S2', country: c, state: 'n1', rate_bps: 1 }),
      409,
      'tax_rate_exists',
    )
    const inactive = await A().post('/api/v1/tax-rates', {
      name: 'old',
      country: c,
      rate_bps: 50,
      is_active: false,
    })
    expect(inactive.status).toBe(201)
    // activating it while the other is active is the same conflict; after deactivating the other it works
    expectProblem(
      await A().put(`/api/v1/tax-rates/${inactive.body.id}`, { is_active: true }),
      409,
      'tax_rate_exists',
    )
    expect((await A().put(`/api/v1/tax-rates/${first.body.id}`, { is_active: false })).status).toBe(200)
    const swapped = await A().put(`/api/v1/tax-rates/${inactive.body.id}`, { is_active: true })
    expect(swapped.status, swapped.text).toBe(200)
    expect(swapped.body.is_active).toBe(true)
  })

  it('updates part of a rate, checks the result (US state), and a new country means the whole country', async () => {
    const made = await A().post('/api/v1/tax-rates', {
      name: 'NY',
      country: 'US',
      state: 'NY',
      rate_bps: 400,
    })
    const id = made.body.id
    const up = await A().put(`/api/v1/tax-rates/${id}`, { rate_bps: 888, applies_to_shipping: true })
    expect(up.status, up.text).toBe(200)
    expect(up.body).toMatchObject({ name: 'NY', state: 'NY', rate_bps: 888, applies_to_shipping: true })
    expectInvalid(await A().put(`/api/v1/tax-rates/${id}`, { state: 'QQ' }), 'state')
    expectInvalid(await A().put(`/api/v1/tax-rates/${id}`, { rate_bps: 10_001 }), 'rate_bps')
    const c = country()
    const moved = await A().put(`/api/v1/tax-rates/${id}`, { country: c })
    expect(moved.body).toMatchObject({ country: c, state: null, rate_bps: 888 })
    expect((await A().get(`/api/v1/tax-rates/${id}`)).body.country).toBe(c)
  })

  it('deletes (204), then 404 for get, put and delete; a malformed id is a 422', async () => {
    const made = await A().post('/api/v1/tax-rates', { name: 'D', country: country(), rate_bps: 1 })
    const path = `/api/v1/tax-rates/${made.body.id}`
    const del = await A().del(path)
    expect(del.status).toBe(204)
    expect(del.text).toBe('')
    expectProblem(await A().get(path), 404)
    expectProblem(await A().put(path, { rate_bps: 2 }), 404)
    expectProblem(await A().del(path), 404)
    expectInvalid(await A().get('/api/v1/tax-rates/not-a-uuid'), 'params.tax_rate_id')
  })
})

// --- shipping rates -------------------------------------------------------------------------------------

describe('/api/v1/shipping-rates', () => {
  it('creates a rate with amounts in major units and reads them back the same', async () => {
    const res = await A().post('/api/v1/shipping-rates', {
      name: 'Standard',
      method: 'standard',
      countries: ['us', 'CA', 'US'],
      amount: 4.99,
      free_above: '50.00',
      min_days: 2,
      max_days: 5,
    })
    expect(res.status, res.text).toBe(201)
    expect(res.body).toMatchObject({
      name: 'Standard',
      method: 'standard',
      countries: ['CA', 'US'],
      amount: 4.99,
      free_above: 50,
      min_days: 2,
      max_days: 5,
      is_active: true,
    })
    const everywhere = await A().post('/api/v1/shipping-rates', {
      name: 'World',
      method: 'world-wide',
      amount: 20,
    })
    expect(everywhere.body).toMatchObject({ countries: [], free_above: null, min_days: null })
    const got = await as(staff.token).get(`/api/v1/shipping-rates/${res.body.id}`)
    expect(got.body).toEqual(res.body)
    const list = await as(staff.token).get('/api/v1/shipping-rates?method=standard')
    expect(list.body.shipping_rates.map((r: { id: string }) => r.id)).toContain(res.body.id)
    expect(list.body.shipping_rates.every((r: { method: string }) => r.method === 'standard')).toBe(true)
  })

  it('refuses each invalid field with a 422 naming it', async () => {
    const ok = { name: 'R', method: 'express', amount: 10 }
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...ok, name: ' ' }, 'name'],
      [{ ...ok, method: 'Express Mail' }, 'method'],
      [{ ...ok, method: '' }, 'method'],
      [{ ...ok, countries: ['USA'] }, 'countries.0'],
      [{ ...ok, countries: 'US' }, 'countries'],
      [{ ...ok, amount: 1.999 }, 'amount'],
      [{ ...ok, amount: -1 }, 'amount'],
      [{ ...ok, amount: 'ten' }, 'amount'],
      [{ ...ok, amount: undefined }, 'amount'],
      [{ ...ok, free_above: 0.001 }, 'free_above'],
      [{ ...ok, min_days: -1 }, 'min_days'],
      [{ ...ok, max_days: 1.5 }, 'max_days'],
      [{ ...ok, min_days: 5, max_days: 2 }, 'max_days'],
      [{ ...ok, is_active: 'no' }, 'is_active'],
      [{ ...ok, price: 3 }, ''],
    ]
    for (const [body, path] of cases) expectInvalid(await A().post('/api/v1/shipping-rates', body), path)
    const list = await A().get('/api/v1/shipping-rates?method=express')
    expect(list.body.shipping_rates).toEqual([])
  })

  it('updates part of a rate, clears free_above with null and checks min_days against the stored max', async () => {
    const made = await A().post('/api/v1/shipping-rates', {
      name: 'Next day',
      method: 'next-day',
      amount: 15,
      free_above: 100,
      min_days: 1,
      max_days: 2,
    })
    const path = `/api/v1/shipping-rates/${made.body.id}`
    const up = await A().put(path, { amount: '12.5', free_above: null })
    expect(up.status, up.text).toBe(200)
    expect(up.body).toMatchObject({ amount: 12.5, free_above: null, min_days: 1, max_days: 2 })
    expectInvalid(await A().put(path, { min_days: 3 }), 'max_days')
    expect((await A().put(path, { min_days: 3, max_days: 4 })).body).toMatchObject({
      min_days: 3,
      max_days: 4,
    })
    expect((await A().put(path, { is_active: false })).body.is_active).toBe(false)
  })

  it('deletes (204), then 404', async () => {
    const made = await A().post('/api/v1/shipping-rates', { name: 'Gone', method: 'gone', amount: 1 })
    const path = `/api/v1/shipping-rates/${made.body.id}`
    expect((await A().del(path)).status).toBe(204)
    expectProblem(await A().get(path), 404)
    expectProblem(await A().put(path, { amount: 2 }), 404)
    expectProblem(await A().del(`/api/v1/shipping-rates/${randomUUID()}`), 404)
  })
})

// --- discounts ------------------------------------------------------------------------------------------

describe('/api/v1/discounts', () => {
  it('stores a percentage as basis points and an amount as minor units, and shows both back as given', async () => {
    const pct = await A().post('/api/v1/discounts', { code: 'SPRING12', type: 'percentage', value: 12.5 })
    expect(pct.status, pct.text).toBe(201)
    expect(pct.body).toMatchObject({
      code: 'SPRING12',
      type: 'percentage',
      value: 12.5,
      min_subtotal: null,
      starts_at: null,
      ends_at: null,
      usage_limit: null,
      usage_limit_per_customer: null,
      times_used: 0,
      is_active: true,
    })
    const fixed = await A().post('/api/v1/discounts', {
      code: 'TENOFF',
      type: 'fixed_amount',
      value: '10.50',
      min_subtotal: 30,
      starts_at: '2026-01-01T00:00:00Z',
      ends_at: '2026-02-01T00:00:00+01:00',
      usage_limit: 100,
      usage_limit_per_customer: 1,
    })
    expect(fixed.status, fixed.text).toBe(201)
    expect(fixed.body).toMatchObject({
      value: 10.5,
      min_subtotal: 30,
      starts_at: '2026-01-01T00:00:00.000Z',
      ends_at: '2026-01-31T23:00:00.000Z',
      usage_limit: 100,
      usage_limit_per_customer: 1,
    })
    const db = await getDb()
    const [p] = await db.select().from(discounts).where(eq(discounts.id, pct.body.id))
    const [f] = await db.select().from(discounts).where(eq(discounts.id, fixed.body.id))
    expect([p!.percentBps, p!.amountCents]).toEqual([1250, null])
    expect([f!.percentBps, f!.amountCents, f!.minSubtotalCents]).toEqual([null, 1050, 3000])
    const got = await as(staff.token).get(`/api/v1/discounts/${fixed.body.id}`)
    expect(got.body).toEqual(fixed.body)
    const byCode = await as(staff.token).get('/api/v1/discounts?code=tenoff')
    expect(byCode.body.discounts).toEqual([fixed.body])
  })

  it('refuses each invalid field with a 422 naming it', async () => {
    const ok = { code: 'OKCODE', type: 'percentage', value: 10 }
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...ok, code: '' }, 'code'],
      [{ ...ok, code: 'has space' }, 'code'],
      [{ ...ok, code: 'x'.repeat(51) }, 'code'],
      [{ ...ok, type: 'free_shipping' }, 'type'],
      [{ ...ok, value: 12.345 }, 'value'],
      [{ ...ok, value: 100.01 }, 'value'],
      [{ ...ok, value: -5 }, 'value'],
      [{ ...ok, value: 'ten' }, 'value'],
      [{ ...ok, value: undefined }, 'value'],
      [{ ...ok, type: 'fixed_amount', value: 1.001 }, 'value'],
      [{ ...ok, type: 'fixed_amount', value: -1 }, 'value'],
      [{ ...ok, min_subtotal: 1.234 }, 'min_subtotal'],
      [{ ...ok, starts_at: 'yesterday' }, 'starts_at'],
      [{ ...ok, ends_at: '2026-13-01T00:00:00Z' }, 'ends_at'],
      [{ ...ok, starts_at: '2026-02-01T00:00:00Z', ends_at: '2026-02-01T00:00:00Z' }, 'ends_at'],
      [{ ...ok, starts_at: '2026-02-01T00:00:00Z', ends_at: '2026-01-01T00:00:00Z' }, 'ends_at'],
      [{ ...ok, usage_limit: 0 }, 'usage_limit'],
      [{ ...ok, usage_limit: 1.5 }, 'usage_limit'],
      [{ ...ok, usage_limit_per_customer: 0 }, 'usage_limit_per_customer'],
      [{ ...ok, is_active: 'true' }, 'is_active'],
      [{ ...ok, times_used: 5 }, ''],
    ]
    for (const [body, path] of cases) expectInvalid(await A().post('/api/v1/discounts', body), path)
    expect((await A().get('/api/v1/discounts?code=OKCODE')).body.discounts).toEqual([])
    // the bounds themselves are fine
    expect((await A().post('/api/v1/discounts', { ...ok, code: 'ALL100', value: '100.00' })).status).toBe(201)
    expect((await A().post('/api/v1/discounts', { ...ok, code: 'NONE0', value: 0 })).status).toBe(201)
  })

  it('refuses a taken code whatever its case, on create and on update (409 discount_code_taken)', async () => {
    const first = await A().post('/api/v1/discounts', { code: 'Summer', type: 'percentage', value: 5 })
    expect(first.status).toBe(201)
    expectProblem(
      await A().post('/api/v1/discounts', { code: 'SUMMER', type: 'fixed_amount', value: 5 }),
      409,
      'discount_code_taken',
    )
    const other = await A().post('/api/v1/discounts', { code: 'Winter', type: 'percentage', value: 5 })
    expectProblem(
      await A().put(`/api/v1/discounts/${other.body.id}`, { code: 'summer' }),
      409,
      'discount_code_taken',
    )
    // changing only the case of its own code is not a conflict
    const recased = await A().put(`/api/v1/discounts/${first.body.id}`, { code: 'SUMMER' })
    expect(recased.status, recased.text).toBe(200)
    expect(recased.body.code).toBe('SUMMER')
  })

  it('updates part of a discount: a new type needs its value, the period and the usage limit are checked', async () => {
    const made = await A().post('/api/v1/discounts', {
      code: 'PARTIAL',
      type: 'percentage',
      value: 20,
      ends_at: '2026-06-01T00:00:00Z',
    })
    const path = `/api/v1/discounts/${made.body.id}`
    expectInvalid(await A().put(path, { type: 'fixed_amount' }), 'value')
    const switched = await A().put(path, { type: 'fixed_amount', value: 7.25 })
    expect(switched.body).toMatchObject({ type: 'fixed_amount', value: 7.25 })
    const [row] = await (await getDb()).select().from(discounts).where(eq(discounts.id, made.body.id))
    expect([row!.percentBps, row!.amountCents]).toEqual([null, 725])
    expectInvalid(await A().put(path, { value: 7.255 }), 'value')
    expectInvalid(await A().put(path, { starts_at: '2026-07-01T00:00:00Z' }), 'ends_at')
    expect((await A().put(path, { ends_at: null, starts_at: '2026-07-01T00:00:00Z' })).status).toBe(200)

    await (await getDb()).update(discounts).set({ timesUsed: 3 }).where(eq(discounts.id, made.body.id))
    expectInvalid(await A().put(path, { usage_limit: 2 }), 'usage_limit')
    const limited = await A().put(path, { usage_limit: 3 })
    expect(limited.body).toMatchObject({ usage_limit: 3, times_used: 3 })
    expect((await A().put(path, { usage_limit: null })).body.usage_limit).toBeNull()
  })

  it('deletes an unused code (204) but deactivates one that orders used (200) and keeps its redemptions', async () => {
    const unused = await A().post('/api/v1/discounts', { code: 'UNUSED', type: 'percentage', value: 5 })
    expect((await A().del(`/api/v1/discounts/${unused.body.id}`)).status).toBe(204)
    expectProblem(await A().get(`/api/v1/discounts/${unused.body.id}`), 404)

    const used = await A().post('/api/v1/discounts', { code: 'USED', type: 'fixed_amount', value: 5 })
    const { order } = await makeOrderWithItems({ items: [{ productId: null, discountCents: 500 }] })
    const db = await getDb()
    await db
      .update(orders)
      .set({ discountId: used.body.id, discountCode: 'USED' })
      .where(eq(orders.id, order.id))
    await db
      .insert(discountRedemptions)
      .values({ discountId: used.body.id, orderId: order.id, email: order.email })
    const del = await A().del(`/api/v1/discounts/${used.body.id}`)
    expect(del.status, del.text).toBe(200)
    expect(del.body).toMatchObject({ id: used.body.id, is_active: false })
    const [o] = await db.select({ d: orders.discountId }).from(orders).where(eq(orders.id, order.id))
    expect(o!.d).toBe(used.body.id)
    const kept = await db
      .select()
      .from(discountRedemptions)
      .where(eq(discountRedemptions.discountId, used.body.id))
    expect(kept).toHaveLength(1)
    expectProblem(await A().del(`/api/v1/discounts/${randomUUID()}`), 404)
  })
})

// --- who may --------------------------------------------------------------------------------------------

describe('permissions', () => {
  const bodies = {
    'tax-rates': () => ({ name: 'P', country: country(), rate_bps: 1 }),
    'shipping-rates': () => ({ name: 'P', method: 'perm', amount: 1 }),
    discounts: () => ({ code: `P${randomUUID().slice(0, 8)}`, type: 'percentage', value: 1 }),
  } as const

  it('staff read (orders.view) but may not write without settings.manage; a granted staff member may', async () => {
    const granted = await makeUser({ role: 'staff' })
    await (await getDb())
      .insert(userPermissions)
      .values({ userId: granted.user.id, permission: 'settings.manage' })
    for (const [res, body] of Object.entries(bodies)) {
      const made = await A().post(`/api/v1/${res}`, body())
      expect(made.status, made.text).toBe(201)
      const one = `/api/v1/${res}/${made.body.id}`
      const S = as(staff.token)
      expect((await S.get(`/api/v1/${res}`)).status).toBe(200)
      expect((await S.get(one)).status).toBe(200)
      expectProblem(await S.post(`/api/v1/${res}`, body()), 403, 'forbidden')
      expectProblem(await S.put(one, { is_active: false }), 403, 'forbidden')
      expectProblem(await S.del(one), 403, 'forbidden')
      expect((await A().get(one)).body.is_active).toBe(true)
      expect((await as(granted.token).put(one, { is_active: false })).status).toBe(200)
      expect((await as(granted.token).post(`/api/v1/${res}`, body())).status).toBe(201)
    }
  })

  it('customers get 403 on every route, reads included; anonymous callers 401', async () => {
    for (const [res, body] of Object.entries(bodies)) {
      const made = await A().post(`/api/v1/${res}`, body())
      const one = `/api/v1/${res}/${made.body.id}`
      const C = as(customer.token)
      for (const r of [
        await C.get(`/api/v1/${res}`),
        await C.get(one),
        await C.post(`/api/v1/${res}`, body()),
        await C.put(one, { is_active: false }),
        await C.del(one),
      ]) {
        expectProblem(r, 403, 'forbidden')
      }
      const N = as()
      for (const r of [
        await N.get(`/api/v1/${res}`),
        await N.post(`/api/v1/${res}`, body()),
        await N.del(one),
      ]) {
        expectProblem(r, 401)
      }
      // an anonymous malformed body is still a 401: who asks is settled before what they sent
      expectProblem(await N.post(`/api/v1/${res}`, { nonsense: true }), 401)
    }
  })

  it('answers every bad token with 401 on reads and writes', async () => {
    const one = await A().post('/api/v1/discounts', bodies.discounts())
    const routes: Array<[string, string]> = [
      ['GET', '/api/v1/tax-rates'],
      ['POST', '/api/v1/tax-rates'],
      ['PUT', `/api/v1/tax-rates/${randomUUID()}`],
      ['GET', '/api/v1/shipping-rates'],
      ['DELETE', `/api/v1/shipping-rates/${randomUUID()}`],
      ['GET', `/api/v1/discounts/${one.body.id}`],
      ['DELETE', `/api/v1/discounts/${one.body.id}`],
    ]
    for (const { label, opts } of await badCredentials(admin)) {
      for (const [method, path] of routes) {
        const res = await call(method, path, { ...opts, body: method === 'GET' ? undefined : {} })
        expect(res.status, `${label} ${method} ${path}`).toBe(401)
        expect(res.headers.get('www-authenticate')).toBe('Bearer')
      }
    }
    expect((await A().get(`/api/v1/discounts/${one.body.id}`)).status).toBe(200)
  })
})
