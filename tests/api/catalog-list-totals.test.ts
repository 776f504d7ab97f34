import { randomBytes } from 'node:crypto'
import { inArray, sql } from 'drizzle-orm'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { products } from '../../db/schema/index.js'
import { COUNT_TTL_SECONDS } from '../../lib/catalog/counts.js'
import { setClock } from '../../lib/platform/clock.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { kv, resetKv } from '../../lib/platform/redis.js'
import { as, callers, catalogTestEnv } from '../support/catalog.js'
import { makeCategory, makeProduct, makeProductRow } from '../support/factories.js'
import { countStatements } from '../support/statements.js'

// The list's total without counting every matching product on every request (ADR 018): a count per filter
// set and viewer class, cached for 60 s and read in the same round trip as the catalog's count version.
// A page costs one statement on a warm cache and two on a cold one; a catalog write counts afresh; a page
// that contradicts a cached count is answered consistently; Redis failing means counting, never an error.

catalogTestEnv()
let who: Awaited<ReturnType<typeof callers>>
beforeAll(async () => {
  who = await callers()
  // the callers' session states in the cache, so their requests count only the list's statements
  for (const token of [who.staff.token, who.customer.token])
    await as(token).get('/api/v1/products?limit=1&total=false')
})
afterEach(() => {
  setClock(undefined)
  vi.restoreAllMocks()
})

const tag = () => `t${randomBytes(4).toString('hex')}`

/** `n` active products with this tag (through the service, as the API creates them). */
async function tagged(mark: string, n: number, extra: Record<string, unknown> = {}) {
  const made = []
  for (let i = 0; i < n; i++) made.push(await makeProduct({ tags: [mark], ...extra }))
  return made
}

/** A list request with its SQL statements counted. */
async function listed(qs: string, token?: string) {
  const { result, statements, texts } = await countStatements(await getDb(), () =>
    as(token).get(`/api/v1/products?${qs}`),
  )
  expect(result.status, result.text).toBe(200)
  return { body: result.body, pagination: result.body.pagination, statements, texts }
}

const countsIn = (texts: string[]) => texts.filter((t) => /^select count\(\*\)/i.test(t.trim())).length

describe('the total of GET /products', () => {
  it('is counted once on a cold cache (page and count: 2 statements), then served from the cache (1)', async () => {
    const mark = tag()
    await tagged(mark, 5)
    const cold = await listed(`tags=${mark}&limit=2`)
    expect(cold.pagination).toEqual({
      page: 1,
      limit: 2,
      total: 5,
      pages: 3,
      next_cursor: expect.any(String),
    })
    expect(cold.body.products).toHaveLength(2)
    expect(cold.statements, cold.texts.join('\n---\n')).toBe(2)
    expect(countsIn(cold.texts)).toBe(1)
    // No statement counts with a window over every matching product any more.
    expect(cold.texts.join('\n')).not.toMatch(/over \(\)/i)

    const warm = await listed(`tags=${mark}&limit=2`)
    expect(warm.pagination).toEqual(cold.pagination)
    expect(warm.statements, warm.texts.join('\n---\n')).toBe(1)
    expect(countsIn(warm.texts)).toBe(0)
    // Other pages and sorts of the same filter set share the count.
    const second = await listed(`tags=${mark}&limit=2&page=2&sort=price_asc`)
    expect(second.pagination).toMatchObject({ page: 2, total: 5, pages: 3 })
    expect(second.statements).toBe(1)
  })

  it('answers the unfiltered default page (the prepared statements) with the catalog total, 2 statements cold and 1 warm', async () => {
    await tagged(tag(), 3)
    const db = await getDb()
    const visible = async (staff: boolean) => {
      const rows = await db.execute(
        staff
          ? sql`select count(*)::int as n from products`
          : sql`select count(*)::int as n from products where status = 'active' and is_visible`,
      )
      return Number((rows as unknown as { rows: Array<{ n: number }> }).rows[0]!.n)
    }
    for (const token of [undefined, who.staff.token]) {
      const cold = await listed('', token)
      expect(cold.pagination).toMatchObject({ page: 1, limit: 20, total: await visible(token !== undefined) })
      expect(cold.statements, cold.texts.join('\n---\n')).toBe(2)
      const warm = await listed('', token)
      expect(warm.pagination).toEqual(cold.pagination)
      expect(warm.statements).toBe(1)
      expect(warm.body.products.map((p: { id: string }) => p.id)).toEqual(
        cold.body.products.map((p: { id: string }) => p.id),
      )
    }
  })

  it('keeps staff and customer counts apart: drafts count for staff only', async () => {
    const mark = tag()
    await tagged(mark, 3)
    await tagged(mark, 2, { status: 'draft' })
    // anonymous first: the public count is cached; staff must not get it
    expect((await listed(`tags=${mark}`)).pagination.total).toBe(3)
    const staff = await listed(`tags=${mark}`, who.staff.token)
    expect(staff.pagination.total).toBe(5)
    expect(staff.statements).toBe(2) // its own count
    const customer = await listed(`tags=${mark}`, who.customer.token)
    expect(customer.pagination.total).toBe(3)
    expect(customer.statements).toBe(1) // customers and anonymous callers share the public count
    expect((await listed(`tags=${mark}`, who.staff.token)).pagination.total).toBe(5)
    // `status` is a staff filter: a customer's is ignored, and so is its part of the key
    const withStatus = await listed(`tags=${mark}&status=draft`, who.customer.token)
    expect(withStatus.pagination.total).toBe(3)
    expect(withStatus.statements).toBe(1)
    expect((await listed(`tags=${mark}&status=draft`, who.staff.token)).pagination.total).toBe(2)
  })

  it('shares a count between equal filter sets (brand case, tag order)', async () => {
    const mark = tag()
    const other = tag()
    const brand = `Brand${mark}`
    await tagged(mark, 3, { brand })
    expect((await listed(`tags=${mark},${other}&brand=${brand}`)).statements).toBe(2)
    const same = await listed(`tags=${other},${mark}&brand=${brand.toUpperCase()}&sort=name_asc`)
    expect(same.pagination.total).toBe(3)
    expect(same.statements).toBe(1)
  })

  it('is counted afresh after a product, variant or category write (the count version changes)', async () => {
    const mark = tag()
    const [first] = await tagged(mark, 2)
    const [bare] = await tagged(mark, 1, { inventory_quantity: 0 })
    expect((await listed(`tags=${mark}&limit=2`)).pagination.total).toBe(3)
    // a create through the API
    const created = await as(who.staff.token).post('/api/v1/products', {
      sku: `SKU-${mark}-new`,
      name: `Fresh ${mark}`,
      price: 10,
      status: 'active',
      tags: [mark],
    })
    expect(created.status, created.text).toBe(201)
    const after = await listed(`tags=${mark}&limit=2`)
    expect(after.pagination).toMatchObject({ total: 4, pages: 2 })
    expect(after.statements).toBe(2)
    // an update that hides one
    await as(who.staff.token).put(`/api/v1/products/${first!.id}`, { status: 'draft' })
    expect((await listed(`tags=${mark}&limit=2`)).pagination.total).toBe(3)
    // a delete
    await as(who.staff.token).del(`/api/v1/products/${created.body.id}`)
    const gone = await listed(`tags=${mark}&limit=2`)
    expect(gone.pagination.total).toBe(2)
    expect(gone.statements).toBe(2)
    expect((await listed(`tags=${mark}&limit=2`)).statements).toBe(1)
    // a variant added
    const variant = await as(who.staff.token).post(`/api/v1/products/${bare!.id}/variants`, {
      sku: `VAR-${mark}`,
      option1: 'L',
    })
    expect(variant.status, variant.text).toBe(201)
    expect((await listed(`tags=${mark}&limit=2`)).statements).toBe(2)
  })

  it('is counted afresh after a category is hidden', async () => {
    const mark = tag()
    const category = await makeCategory({ name: `Hidden later ${mark}` })
    await tagged(mark, 3, { category_id: category.id })
    expect((await listed(`category=${category.slug}&limit=2`)).pagination.total).toBe(3)
    const put = await as(who.staff.token).put(`/api/v1/categories/${category.id}`, { is_visible: false })
    expect(put.status, put.text).toBe(200)
    // a hidden category shows customers nothing; the cached 3 is not used (the version changed)
    const hidden = await listed(`category=${category.slug}&limit=2`)
    expect(hidden.pagination).toMatchObject({ total: 0, pages: 0 })
    expect(hidden.statements).toBe(2)
    expect((await listed(`category=${category.slug}&limit=2`, who.staff.token)).pagination.total).toBe(3)
  })

  it('is counted afresh once the count is older than the CDN max-age (60 s)', async () => {
    const mark = tag()
    await tagged(mark, 3)
    await listed(`tags=${mark}&limit=2`)
    const later = Date.now() + (COUNT_TTL_SECONDS + 1) * 1000
    setClock(() => later)
    expect((await listed(`tags=${mark}&limit=2`)).statements).toBe(2)
  })
})

describe('a cached count the page contradicts (a change that set no new version)', () => {
  // makeProductRow and direct updates write the table without the services, as a script would:
  // the cached count stays as it was, for at most 60 s.
  const hide = async (ids: string[]) =>
    (await getDb()).update(products).set({ status: 'draft' }).where(inArray(products.id, ids))

  it('is corrected by the page itself on the last page (one statement), and may be stale before it', async () => {
    const mark = tag()
    const made = await tagged(mark, 5)
    expect((await listed(`tags=${mark}&limit=2`)).pagination.total).toBe(5)
    await hide([made[0]!.id, made[1]!.id]) // 3 left
    // page 1 is full and more rows follow: 5 is consistent with it, so it is answered (at most 60 s old)
    expect((await listed(`tags=${mark}&limit=2`)).pagination).toMatchObject({ total: 5, pages: 3 })
    // page 2 is the last (1 row, none after): the total is exactly 3, from the page
    const last = await listed(`tags=${mark}&limit=2&page=2`)
    expect(last.body.products).toHaveLength(1)
    expect(last.pagination).toEqual({ page: 2, limit: 2, total: 3, pages: 2, next_cursor: null })
    expect(last.statements).toBe(1)
  })

  it('is counted again when an empty page past the end would claim to exist; the new count is cached', async () => {
    const mark = tag()
    const made = await tagged(mark, 5)
    expect((await listed(`tags=${mark}&limit=2`)).pagination.total).toBe(5)
    await hide([made[0]!.id, made[1]!.id])
    const past = await listed(`tags=${mark}&limit=2&page=3`)
    expect(past.body.products).toEqual([])
    expect(past.pagination).toMatchObject({ page: 3, total: 3, pages: 2, next_cursor: null })
    expect(past.statements).toBe(2)
    const first = await listed(`tags=${mark}&limit=2`)
    expect(first.pagination).toMatchObject({ total: 3, pages: 2 })
    expect(first.statements).toBe(1)
    // far past the end, consistent with the count: no recount
    expect((await listed(`tags=${mark}&limit=2&page=9`)).statements).toBe(1)
  })

  it('is counted again when rows follow a page the count says is the last', async () => {
    const mark = tag()
    await tagged(mark, 3)
    expect((await listed(`tags=${mark}&limit=2`)).pagination.total).toBe(3)
    for (let i = 0; i < 3; i++) await makeProductRow({ tags: [mark] }) // 6 now, no new version
    const second = await listed(`tags=${mark}&limit=2&page=2`)
    expect(second.pagination).toMatchObject({ page: 2, total: 6, pages: 3, next_cursor: expect.any(String) })
    expect(second.statements).toBe(2)
    expect((await listed(`tags=${mark}&limit=2`)).pagination.total).toBe(6)
  })
})

describe('with Redis failing', () => {
  const unreachable = () => {
    process.env.UPSTASH_REDIS_REST_URL = 'http://127.0.0.1:9'
    process.env.UPSTASH_REDIS_REST_TOKEN = 'nothing-listens-here'
    process.env.REDIS_TIMEOUT_MS = '200'
    process.env.RATE_LIMITS = 'off'
    resetEnv()
    resetKv()
  }
  afterEach(() => {
    // catalogTestEnv restores the environment; the store is rebuilt from it
    resetKv()
  })

  it('counts as before (page and count), never fails the request, and writes still succeed', async () => {
    const mark = tag()
    await tagged(mark, 3)
    unreachable()
    for (let i = 0; i < 2; i++) {
      const r = await listed(`tags=${mark}&limit=2`)
      expect(r.pagination).toMatchObject({ total: 3, pages: 2 })
      expect(r.statements).toBe(2)
    }
    const created = await as(who.admin.token).post('/api/v1/products', {
      sku: `SKU-${mark}-down`,
      name: `Down ${mark}`,
      price: 10,
      status: 'active',
      tags: [mark],
    })
    expect(created.status, created.text).toBe(201)
    expect((await listed(`tags=${mark}&limit=2`)).pagination.total).toBe(4)
  })

  it('counts when the store throws on the read (the in-process store too)', async () => {
    const mark = tag()
    await tagged(mark, 2)
    await listed(`tags=${mark}`)
    vi.spyOn(kv(), 'getMany').mockRejectedValue(new Error('read failed'))
    const set = vi.spyOn(kv(), 'set')
    const r = await listed(`tags=${mark}`)
    expect(r.pagination.total).toBe(2)
    expect(r.statements).toBe(2)
    expect(set).not.toHaveBeenCalled() // nothing stored on a read that failed
  })
})
