import { randomBytes } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { getDb } from '../../lib/platform/db.js'
import { as, callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
import { makeCategory, makeProduct } from '../support/factories.js'
import { call } from '../support/http.js'
import { countStatements } from '../support/statements.js'

// The product list and search (issue 8): filters, sort, page and keyset cursor, variants on every card,
// full text with prefixes, SKU matches, the typo fallback, disjunctive facets, and the statement budget
// (list and search at most 2 whatever the page size).

catalogTestEnv()
let who: Awaited<ReturnType<typeof callers>>
// A brand and tag unique to this file run keep the assertions independent of other rows.
const run = randomBytes(3).toString('hex')
const brandA = `Northwind${run}`
const brandB = `Southwind${run}`
const mark = `mark${run}`
let root: Awaited<ReturnType<typeof makeCategory>>
let child: Awaited<ReturnType<typeof makeCategory>>

beforeAll(async () => {
  who = await callers()
  root = await makeCategory({ name: `Outerwear ${run}` })
  child = await makeCategory({ name: `Jackets ${run}`, parent_id: root.id })
  await makeProduct({
    name: `Zip Hoodie ${run}`,
    sku: `HD-${run}`,
    brand: brandA,
    price: 45,
    tags: [mark, 'cotton'],
    category_id: root.id,
    variants: [
      { sku: `HD-${run}-S`, option1: 'S', inventory_quantity: 2 },
      { sku: `HD-${run}-M`, option1: 'M', inventory_quantity: 0 },
    ],
  })
  await makeProduct({
    name: `Rain Jacket ${run}`,
    sku: `RJ-${run}`,
    brand: brandB,
    price: 120,
    tags: [mark],
    category_id: child.id,
    inventory_quantity: 0,
    is_featured: true,
  })
  await makeProduct({
    name: `Wool Socks ${run}`,
    sku: `SO-${run}`,
    brand: brandA,
    price: 12.5,
    tags: [mark, 'wool'],
    inventory_quantity: 8,
  })
  await makeProduct({
    name: `Silk Scarf ${run}`,
    sku: `SC-${run}`,
    brand: brandB,
    price: 210,
    tags: [mark],
    inventory_quantity: 1,
  })
  await makeProduct({
    name: `Draft Parka ${run}`,
    sku: `DP-${run}`,
    brand: brandA,
    price: 300,
    tags: [mark],
    status: 'draft',
    inventory_quantity: 5,
  })
})

const names = (body: { products: Array<{ name: string }> }) =>
  body.products.map((p) => p.name.replace(` ${run}`, ''))
const list = (qs: string, token?: string | undefined) => as(token).get(`/api/v1/products?tags=${mark}&${qs}`)

describe('GET /products', () => {
  it('lists visible products with their variants for customers; staff also see drafts and can filter by status', async () => {
    const anon = await list('sort=name_asc')
    expect(anon.status, anon.text).toBe(200)
    expect(names(anon.body)).toEqual(['Rain Jacket', 'Silk Scarf', 'Wool Socks', 'Zip Hoodie'])
    const hoodie = anon.body.products.find((p: { sku: string }) => p.sku === `HD-${run}`)
    expect(hoodie.variants).toEqual([
      {
        id: expect.any(String),
        sku: `HD-${run}-S`,
        title: 'S',
        option1: 'S',
        option2: null,
        option3: null,
        price: 45,
        in_stock: true,
      },
      {
        id: expect.any(String),
        sku: `HD-${run}-M`,
        title: 'M',
        option1: 'M',
        option2: null,
        option3: null,
        price: 45,
        in_stock: false,
      },
    ])
    expect(hoodie.inventory_quantity).toBe(2)
    expect(anon.body.pagination).toMatchObject({ page: 1, limit: 20, total: 4, pages: 1, next_cursor: null })
    expect(names((await list('sort=name_asc&status=draft', who.customer.token)).body)).not.toContain(
      'Draft Parka',
    )
    expect(names((await list('status=draft', who.staff.token)).body)).toEqual(['Draft Parka'])
    expect((await list('', who.staff.token)).body.pagination.total).toBe(5)
  })

  it('filters by category (id or slug, subcategories included), brand, tags, price range, stock and featured', async () => {
    expect(names((await list(`category=${root.slug}&sort=name_asc`)).body)).toEqual([
      'Rain Jacket',
      'Zip Hoodie',
    ])
    expect(names((await list(`category=${child.id}`)).body)).toEqual(['Rain Jacket'])
    expect(names((await list(`brand=${brandA.toLowerCase()}&sort=price_asc`)).body)).toEqual([
      'Wool Socks',
      'Zip Hoodie',
    ])
    expect(
      names((await as().get(`/api/v1/products?tags=wool,cotton,nothing${run}&sort=name_asc`)).body),
    ).toEqual(['Wool Socks', 'Zip Hoodie'])
    expect(names((await list('min_price=12.50&max_price=120&sort=price_desc')).body)).toEqual([
      'Rain Jacket',
      'Zip Hoodie',
      'Wool Socks',
    ])
    expect(names((await list('in_stock=false')).body)).toEqual(['Rain Jacket'])
    expect(names((await list('in_stock=true&sort=name_asc')).body)).toEqual([
      'Silk Scarf',
      'Wool Socks',
      'Zip Hoodie',
    ])
    expect(names((await list('is_featured=true')).body)).toEqual(['Rain Jacket'])
  })

  it('sorts by price, name and date', async () => {
    expect(names((await list('sort=price_asc')).body)).toEqual([
      'Wool Socks',
      'Zip Hoodie',
      'Rain Jacket',
      'Silk Scarf',
    ])
    expect(names((await list('sort=name_desc')).body)).toEqual([
      'Zip Hoodie',
      'Wool Socks',
      'Silk Scarf',
      'Rain Jacket',
    ])
    expect(names((await list('sort=oldest')).body)).toEqual([
      'Zip Hoodie',
      'Rain Jacket',
      'Wool Socks',
      'Silk Scarf',
    ])
    expect(names((await list('')).body)).toEqual(['Silk Scarf', 'Wool Socks', 'Rain Jacket', 'Zip Hoodie'])
  })

  it('pages by page/limit and by an opaque keyset cursor that walks every product once', async () => {
    const first = await list('sort=price_asc&limit=3')
    expect(first.body.pagination).toMatchObject({ page: 1, limit: 3, total: 4, pages: 2 })
    expect(names((await list('sort=price_asc&limit=3&page=2')).body)).toEqual(['Silk Scarf'])
    const seen: string[] = []
    let cursor: string | null = null
    for (let i = 0; i < 5; i++) {
      const res = await list(`sort=price_asc&limit=1${cursor ? `&cursor=${cursor}` : ''}`)
      seen.push(...names(res.body))
      cursor = res.body.pagination.next_cursor
      if (!cursor) break
    }
    expect(seen).toEqual(['Wool Socks', 'Zip Hoodie', 'Rain Jacket', 'Silk Scarf'])
  })

  it('with total=false pages by cursor from the first page: no total, the same walk', async () => {
    const first = await list('sort=price_asc&limit=3&total=false')
    expect(first.status).toBe(200)
    expect(first.body.pagination).toEqual({ limit: 3, next_cursor: expect.any(String) })
    expect(names(first.body)).toEqual(['Wool Socks', 'Zip Hoodie', 'Rain Jacket'])
    const next = await list(`sort=price_asc&limit=3&total=false&cursor=${first.body.pagination.next_cursor}`)
    expect(names(next.body)).toEqual(['Silk Scarf'])
    expect(next.body.pagination).toEqual({ limit: 3, next_cursor: null })
    // Relevance pages by page with its total; without one it is a 422 naming the field.
    const relevance = await list(`search=${run}&total=false`)
    expectProblem(relevance, 422)
    expect(JSON.stringify(relevance.body)).toContain('total')
  })

  it('refuses bad filters with 422', async () => {
    for (const qs of [
      'limit=101',
      'sort=cheapest',
      'min_price=1.001',
      'min_price=-5',
      'max_price=99999999999',
      'in_stock=yes',
      'cursor=bm9wZQ',
      'page=0',
    ]) {
      const res = await list(qs)
      expectProblem(res, 422)
      // Each refusal names the field, never a bare "cannot be stored" from the database.
      expect(res.body.code, qs).toMatch(/^(validation_failed|invalid_cursor)$/)
    }
    const c = (await list('sort=price_asc&limit=1')).body.pagination.next_cursor
    expectProblem(await list(`sort=name_asc&cursor=${c}`), 422, 'invalid_cursor')
  })

  it('answers anonymous lists with a public cache header and ETag; signed-in lists are no-store', async () => {
    const anon = await list('')
    expect(anon.headers.get('cache-control')).toBe('public, s-maxage=60, stale-while-revalidate=300')
    const again = await list('', undefined)
    expect(again.headers.get('etag')).toBe(anon.headers.get('etag'))
    expect(
      (await as().get(`/api/v1/products?tags=${mark}&`, { 'if-none-match': anon.headers.get('etag')! }))
        .status,
    ).toBe(304)
    expect((await list('', who.customer.token)).headers.get('cache-control')).toBe('no-store')
  })

  it('costs at most 2 statements whatever the page size (variants included)', async () => {
    for (const limit of [1, 4, 100]) {
      const { result, statements } = await countStatements(await getDb(), () => list(`limit=${limit}`))
      expect(result.status).toBe(200)
      expect(statements).toBeLessThanOrEqual(2)
    }
    const { statements } = await countStatements(await getDb(), () => list('page=9'))
    expect(statements).toBeLessThanOrEqual(2)
  })
})

describe('search', () => {
  const search = (body: Record<string, unknown>, token?: string) =>
    as(token).post('/api/v1/products/search', {
      ...body,
      filters: { tags: [mark], ...((body.filters as object) ?? {}) },
    })

  it('finds words by prefix (hood -> hoodie), by brand and tag, and never shows hidden products to customers', async () => {
    expect(names((await as().get(`/api/v1/products?search=hood&tags=${mark}`)).body)).toEqual(['Zip Hoodie'])
    expect(names((await search({ query: 'hood' })).body)).toEqual(['Zip Hoodie'])
    expect(names((await search({ query: 'parka' })).body)).toEqual([])
    expect(names((await search({ query: 'parka' }, who.staff.token)).body)).toEqual(['Draft Parka'])
    expect(names((await search({ query: 'wool', sort: 'name_asc' })).body)).toEqual(['Wool Socks'])
  })

  it('matches product and variant SKUs exactly or by prefix', async () => {
    expect(names((await search({ query: `rj-${run}` })).body)).toEqual(['Rain Jacket'])
    expect(names((await search({ query: `HD-${run}-M` })).body)).toEqual(['Zip Hoodie'])
    expect(names((await search({ query: `SO-${run.slice(0, 2)}` })).body)).toContain('Wool Socks')
  })

  it('falls back to trigram similarity for typos', async () => {
    expect(names((await search({ query: 'hoodei' })).body)).toContain('Zip Hoodie')
    expect(names((await search({ query: 'jackt' })).body)).toContain('Rain Jacket')
  })

  it('lets only strict hits the caller may see suppress the typo fallback', async () => {
    // The draft parka's SKU is a strict hit for staff only: staff get it alone, customers the fallback.
    const query = `dp-${run}`
    expect(names((await search({ query }, who.staff.token)).body)).toEqual(['Draft Parka'])
    const anon = names((await search({ query })).body)
    expect(anon.length).toBeGreaterThan(0)
    expect(anon).not.toContain('Draft Parka')
  })

  it('treats query syntax as plain words (no tsquery injection, no 500)', async () => {
    for (const query of ["hood & !'", ':*', '(((', 'a|b', '%_\\']) {
      const res = await search({ query })
      expect(res.status, res.text).toBe(200)
    }
  })

  it('returns disjunctive facets: category, brand, price bands and stock', async () => {
    const res = await search({ filters: { brand: [brandA] } })
    expect(res.status, res.text).toBe(200)
    expect(names(res.body).sort()).toEqual(['Wool Socks', 'Zip Hoodie'])
    const f = res.body.facets
    // The brand facet ignores the brand filter so the other brand stays offered.
    expect(f.brand).toEqual([
      { value: brandA, count: 2 },
      { value: brandB, count: 2 },
    ])
    expect(f.category).toEqual([{ id: root.id, slug: root.slug, name: root.name, count: 1 }])
    expect(f.price).toEqual([
      { min: 0, max: 25, count: 1 },
      { min: 25, max: 50, count: 1 },
      { min: 50, max: 100, count: 0 },
      { min: 100, max: 200, count: 0 },
      { min: 200, max: null, count: 0 },
    ])
    expect(f.in_stock).toEqual([
      { value: true, count: 2 },
      { value: false, count: 0 },
    ])
    expect(res.body.pagination.total).toBe(2)
    const only = await search({ facets: ['brand'], filters: { in_stock: false } })
    expect(Object.keys(only.body.facets)).toEqual(['brand'])
    expect(names(only.body)).toEqual(['Rain Jacket'])
  })

  it('refuses bad bodies with 422', async () => {
    for (const body of [
      { facets: ['colour'] },
      { limit: 500 },
      { filters: { min_price: 'abc' } },
      { sort: 'random' },
      { extra: 1 },
    ]) {
      expectProblem(await as().post('/api/v1/products/search', body), 422)
    }
  })

  it('costs at most 2 statements whatever the page size', async () => {
    for (const limit of [1, 50]) {
      const { result, statements } = await countStatements(await getDb(), () =>
        search({ query: 'hood', limit }),
      )
      expect(result.status).toBe(200)
      expect(statements).toBeLessThanOrEqual(2)
    }
    const { statements } = await countStatements(await getDb(), () => search({ page: 7 }))
    expect(statements).toBeLessThanOrEqual(2)
  })
})

describe('the search endpoint and the sibling routes', () => {
  it('GET on /products/search is not a product lookup (405)', async () => {
    expectProblem(await call('GET', '/api/v1/products/search'), 405)
  })
})
