import { randomBytes, randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { categories, userPermissions } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { as, callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
import { makeCategory, makeOrderWithItems, makeProduct, makeUser } from '../support/factories.js'
import { call } from '../support/http.js'

// Categories (a tree with unique slugs and no cycles) and recommendations (bought together, then same
// category or brand; never hidden or out of stock; a customer's own only).

catalogTestEnv()
let who: Awaited<ReturnType<typeof callers>>
beforeAll(async () => {
  who = await callers()
})
const tag = () => randomBytes(4).toString('hex')

describe('categories', () => {
  it('refuses writes without a token (401) and from customers (403)', async () => {
    const c = await makeCategory()
    const writes = [
      { method: 'POST', path: '/api/v1/categories', body: { name: 'New' } },
      { method: 'PUT', path: `/api/v1/categories/${c.id}`, body: { name: 'Renamed' } },
      { method: 'DELETE', path: `/api/v1/categories/${c.id}` },
    ]
    for (const e of writes) {
      expectProblem(await call(e.method, e.path, { body: e.body }), 401)
      expectProblem(await call(e.method, e.path, { body: e.body, token: 'bad' }), 401)
      expectProblem(await call(e.method, e.path, { body: e.body, token: who.customer.token }), 403)
    }
    expect((await call('GET', `/api/v1/categories/${c.id}`)).body.name).toBe(c.name)
  })

  it('creates (201) with a generated unique slug, reads by id or slug with parent and children', async () => {
    const name = `Shoes ${tag()}`
    const a = await as(who.staff.token).post('/api/v1/categories', { name })
    expect(a.status, a.text).toBe(201)
    const b = await as(who.staff.token).post('/api/v1/categories', { name, parent_id: a.body.id })
    expect(b.body.slug).toBe(`${a.body.slug}-2`)
    const read = await call('GET', `/api/v1/categories/${a.body.slug}`)
    expect(read.body).toMatchObject({ id: a.body.id, parent: null, children: [{ id: b.body.id }] })
    expect((await call('GET', `/api/v1/categories/${b.body.id}`)).body.parent.id).toBe(a.body.id)
  })

  it('lists flat or nested (?tree=true), hiding invisible subtrees from customers', async () => {
    const top = await makeCategory({ name: `Top ${tag()}`, is_visible: false })
    const under = await makeCategory({ name: `Under ${tag()}`, parent_id: top.id })
    const ids = (list: Array<{ id: string }>) => list.map((c) => c.id)
    const anon = await call('GET', '/api/v1/categories')
    expect(ids(anon.body.categories)).not.toContain(top.id)
    expect(ids(anon.body.categories)).not.toContain(under.id)
    expectProblem(await call('GET', `/api/v1/categories/${under.id}`), 404)
    const tree = await as(who.staff.token).get('/api/v1/categories?tree=true')
    const node = tree.body.categories.find((c: { id: string }) => c.id === top.id)
    expect(node.children.map((c: { id: string }) => c.id)).toEqual([under.id])
    expect(anon.headers.get('cache-control')).toBe('public, s-maxage=60, stale-while-revalidate=300')
    expect(
      (await call('GET', '/api/v1/categories', { headers: { 'if-none-match': anon.headers.get('etag')! } }))
        .status,
    ).toBe(304)
  })

  it('refuses cycles, unknown parents and bad slugs with 422, a taken slug with 409', async () => {
    const a = await makeCategory()
    const b = await makeCategory({ parent_id: a.id })
    const c = await makeCategory({ parent_id: b.id })
    const t = as(who.staff.token)
    expectProblem(await t.put(`/api/v1/categories/${a.id}`, { parent_id: c.id }), 422, 'category_cycle')
    expectProblem(await t.put(`/api/v1/categories/${a.id}`, { parent_id: a.id }), 422, 'category_cycle')
    expectProblem(
      await t.post('/api/v1/categories', { name: 'x', parent_id: randomUUID() }),
      422,
      'unknown_category',
    )
    expectProblem(await t.post('/api/v1/categories', { name: 'x', slug: 'Not A Slug' }), 422)
    expectProblem(await t.post('/api/v1/categories', { name: 'x', slug: randomUUID() }), 422)
    expectProblem(await t.post('/api/v1/categories', { name: 'x', slug: a.slug }), 409, 'slug_taken')
    expectProblem(await t.put(`/api/v1/categories/${b.id}`, { slug: a.slug }), 409, 'slug_taken')
    expectProblem(await t.put(`/api/v1/categories/${randomUUID()}`, { name: 'x' }), 404)
    const [row] = await (await getDb()).select().from(categories).where(eq(categories.id, a.id))
    expect(row!.parentId).toBeNull()
    // A legal move works.
    expect((await t.put(`/api/v1/categories/${c.id}`, { parent_id: a.id })).body.parent_id).toBe(a.id)
  })

  it('never shows a hidden category (or one under a hidden parent) through products to customers', async () => {
    const hiddenTop = await makeCategory({ name: `Secret ${tag()}`, is_visible: false })
    const under = await makeCategory({ name: `Under ${tag()}`, parent_id: hiddenTop.id })
    const shownTop = await makeCategory({ name: `Shown ${tag()}` })
    const hiddenChild = await makeCategory({
      name: `Hidden child ${tag()}`,
      parent_id: shownTop.id,
      is_visible: false,
    })
    const inUnder = await makeProduct({ category_id: under.id, name: `Launch coat ${tag()}` })
    const inHiddenChild = await makeProduct({ category_id: hiddenChild.id })
    const inShown = await makeProduct({ category_id: shownTop.id })

    // The product itself stays visible; its category does not leak.
    const anon = await call('GET', `/api/v1/products/${inUnder.id}`)
    expect(anon.status).toBe(200)
    expect(anon.body.category).toBeNull()
    expect(anon.text).not.toContain(hiddenTop.slug)
    expect(anon.text).not.toContain(under.slug)
    expect((await call('GET', `/api/v1/products/${inShown.id}`)).body.category.id).toBe(shownTop.id)
    const staffView = await as(who.staff.token).get(`/api/v1/products/${inUnder.id}`)
    expect(staffView.body.category.id).toBe(under.id)

    // Filtering by a hidden category finds nothing; a shown one leaves out its hidden subtree.
    const ids = (res: { body: { products: Array<{ id: string }> } }) => res.body.products.map((p) => p.id)
    expect(ids(await call('GET', `/api/v1/products?category=${hiddenTop.slug}`))).toEqual([])
    expect(ids(await call('GET', `/api/v1/products?category=${under.id}`))).toEqual([])
    const shown = ids(await call('GET', `/api/v1/products?category=${shownTop.slug}`))
    expect(shown).toContain(inShown.id)
    expect(shown).not.toContain(inHiddenChild.id)
    expect(ids(await as(who.staff.token).get(`/api/v1/products?category=${hiddenTop.slug}`))).toEqual([
      inUnder.id,
    ])

    // The category facet does not name it either.
    const search = await call('POST', '/api/v1/products/search', {
      body: { query: inUnder.name, facets: ['category'] },
    })
    expect(ids(search)).toContain(inUnder.id)
    expect(search.body.facets.category.map((c: { id: string }) => c.id)).not.toContain(under.id)
  })

  it('deletes (204): subcategories move up to its parent, its products lose the category', async () => {
    const a = await makeCategory()
    const b = await makeCategory({ parent_id: a.id })
    const c = await makeCategory({ parent_id: b.id })
    const p = await makeProduct({ category_id: b.id })
    expect((await as(who.staff.token).del(`/api/v1/categories/${b.id}`)).status).toBe(204)
    expect((await call('GET', `/api/v1/categories/${c.id}`)).body.parent_id).toBe(a.id)
    expect((await call('GET', `/api/v1/products/${p.id}`)).body.category_id).toBeNull()
    expectProblem(await as(who.staff.token).del(`/api/v1/categories/${b.id}`), 404)
  })
})

describe('recommendations', () => {
  async function catalog() {
    const cat = await makeCategory()
    const brand = `Brand ${tag()}`
    const seed = await makeProduct({ category_id: cat.id, brand })
    const together = await makeProduct()
    const sameCategory = await makeProduct({ category_id: cat.id })
    const sameBrand = await makeProduct({ brand })
    const hidden = await makeProduct({ category_id: cat.id, status: 'draft' })
    const soldOut = await makeProduct({ category_id: cat.id, inventory_quantity: 0 })
    const unrelated = await makeProduct()
    return { cat, seed, together, sameCategory, sameBrand, hidden, soldOut, unrelated }
  }

  it('ranks bought-together first, then same category, then same brand; never hidden or sold out', async () => {
    const c = await catalog()
    await makeOrderWithItems({
      items: [
        { productId: c.seed.id },
        { productId: c.together.id },
        { productId: c.hidden.id },
        { productId: c.soldOut.id },
      ],
    })
    await makeOrderWithItems({ items: [{ productId: c.seed.id }, { productId: c.together.id }] })
    const res = await call('GET', `/api/v1/products/recommendations?product_id=${c.seed.slug}`)
    expect(res.status, res.text).toBe(200)
    expect(res.body.products.map((p: { id: string; reason: string }) => [p.id, p.reason])).toEqual([
      [c.together.id, 'bought_together'],
      [c.sameCategory.id, 'same_category'],
      [c.sameBrand.id, 'same_brand'],
    ])
    expect(res.headers.get('cache-control')).toBe('public, s-maxage=60, stale-while-revalidate=300')
  })

  it('recommends for a customer from their own orders (default: the caller), never publicly cacheable', async () => {
    const c = await catalog()
    const buyer = await makeUser()
    await makeOrderWithItems({ userId: buyer.user.id, items: [{ productId: c.seed.id }] })
    await makeOrderWithItems({ items: [{ productId: c.seed.id }, { productId: c.together.id }] })
    const own = await as(buyer.token).get('/api/v1/products/recommendations')
    expect(own.status, own.text).toBe(200)
    expect(own.body.based_on).toBe('customer')
    expect(own.body.products[0]).toMatchObject({ id: c.together.id, reason: 'bought_together' })
    expect(own.body.products.map((p: { id: string }) => p.id)).not.toContain(c.seed.id)
    expect(own.headers.get('cache-control')).toBe('no-store')
    const byStaff = await as(who.staff.token).get(
      `/api/v1/products/recommendations?customer_id=${buyer.user.id}`,
    )
    expect(byStaff.body.products[0].id).toBe(c.together.id)
  })

  it("refuses another customer's recommendations with 404, and needs a product or a sign-in (422)", async () => {
    const buyer = await makeUser()
    const nosy = await makeUser()
    expectProblem(
      await as(nosy.token).get(`/api/v1/products/recommendations?customer_id=${buyer.user.id}`),
      404,
    )
    expectProblem(await call('GET', `/api/v1/products/recommendations?customer_id=${buyer.user.id}`), 404)
    expectProblem(await call('GET', '/api/v1/products/recommendations'), 422)
    const p = await makeProduct()
    expectProblem(
      await call('GET', `/api/v1/products/recommendations?product_id=${p.id}&customer_id=${buyer.user.id}`),
      422,
    )
    // orders.view granted to a customer is enough.
    const clerk = await makeUser()
    await (await getDb()).insert(userPermissions).values({ userId: clerk.user.id, permission: 'orders.view' })
    const granted = await as(clerk.token).get(`/api/v1/products/recommendations?customer_id=${buyer.user.id}`)
    expect(granted.status, granted.text).toBe(200)
  })

  it('answers 404 for a hidden or unknown product seed', async () => {
    const hidden = await makeProduct({ status: 'draft' })
    expectProblem(await call('GET', `/api/v1/products/recommendations?product_id=${hidden.id}`), 404)
    expectProblem(await call('GET', `/api/v1/products/recommendations?product_id=${randomUUID()}`), 404)
  })
})
