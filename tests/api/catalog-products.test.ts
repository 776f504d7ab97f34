import { randomBytes, randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { inventoryLedger, products, skus } from '../../db/schema/index.js'
import { signToken } from '../../lib/auth/tokens.js'
import { getDb } from '../../lib/platform/db.js'
import { as, callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
import { makeCategory, makeOrderWithItems, makeProduct, makeUser } from '../support/factories.js'
import { call } from '../support/http.js'
import { countStatements } from '../support/statements.js'

// Products (issue 8): create with inline variants, read by id or slug, partial update, delete or archive;
// money in major units, staff-only fields, visibility for customers and anonymous callers, public caching.

catalogTestEnv()
let who: Awaited<ReturnType<typeof callers>>
beforeAll(async () => {
  who = await callers()
})

const tag = () => randomBytes(4).toString('hex')
const newProduct = (extra: Record<string, unknown> = {}) => ({
  sku: `TEE-${tag()}`,
  name: `Cotton Tee ${tag()}`,
  price: 29.99,
  status: 'active',
  ...extra,
})

describe('who may write products', () => {
  const writes = (id: string) => [
    { method: 'POST', path: '/api/v1/products', body: newProduct() },
    { method: 'PUT', path: `/api/v1/products/${id}`, body: { name: 'Changed' } },
    { method: 'DELETE', path: `/api/v1/products/${id}` },
  ]

  it('answers 401 without a token, with a malformed token and with an mfa token', async () => {
    const p = await makeProduct()
    const mfa = await signToken('mfa', who.staff.user.id, who.staff.sessionId, 300)
    for (const token of [undefined, 'not-a-jwt', mfa]) {
      for (const e of writes(p.id)) {
        const res = await call(e.method, e.path, { token, body: e.body })
        expectProblem(res, 401)
      }
    }
    const [row] = await (await getDb()).select().from(products).where(eq(products.id, p.id))
    expect(row!.name).toBe(p.name)
  })

  it('refuses customers with 403 (products.write) and changes nothing', async () => {
    const p = await makeProduct()
    for (const e of writes(p.id)) {
      expectProblem(
        await call(e.method, e.path, { token: who.customer.token, body: e.body }),
        403,
        'forbidden',
      )
    }
    expect((await as(who.staff.token).get(`/api/v1/products/${p.id}`)).body.name).toBe(p.name)
  })

  it('lets staff and admins write', async () => {
    for (const token of [who.staff.token, who.admin.token]) {
      expect((await as(token).post('/api/v1/products', newProduct())).status).toBe(201)
    }
  })
})

describe('POST /products', () => {
  it('creates a product with inline variants in one transaction: 201, money in major units, slug from the name', async () => {
    const cat = await makeCategory()
    const sku = `HOOD-${tag()}`
    const res = await as(who.staff.token).post('/api/v1/products', {
      sku,
      name: 'Zip Hoodie Größe',
      price: '49.90',
      compare_at_price: 59.9,
      cost_price: 20,
      category_id: cat.id,
      brand: 'Harbor',
      tags: ['cotton', 'winter', 'cotton'],
      weight: 0.45,
      variants: [
        { sku: `${sku}-S`, option1: 'S', inventory_quantity: 3 },
        { sku: `${sku}-M`, option1: 'M', price: 52.5, inventory_quantity: 4 },
      ],
    })
    expect(res.status, res.text).toBe(201)
    const p = res.body
    expect(p).toMatchObject({
      sku,
      slug: 'zip-hoodie-grosse',
      price: 49.9,
      compare_at_price: 59.9,
      cost_price: 20,
      status: 'draft',
      weight: 0.45,
      tags: ['cotton', 'winter'],
      has_variants: true,
      inventory_quantity: 7,
      in_stock: true,
      category: { id: cat.id, slug: cat.slug, name: cat.name },
      created_by: who.staff.user.id,
    })
    expect(
      p.variants.map((v: { title: string; price: number; inherits_price: boolean }) => [
        v.title,
        v.price,
        v.inherits_price,
      ]),
    ).toEqual([
      ['S', 49.9, true],
      ['M', 52.5, false],
    ])
    const db = await getDb()
    const [row] = await db.select().from(products).where(eq(products.id, p.id))
    expect(row).toMatchObject({
      priceCents: 4990,
      compareAtPriceCents: 5990,
      inventoryQuantity: 0,
      weightGrams: 450,
    })
    const ledger = await db.select().from(inventoryLedger).where(eq(inventoryLedger.productId, p.id))
    expect(ledger.map((l) => [l.delta, l.reason, l.actorId]).sort()).toEqual([
      [3, 'set', who.staff.user.id],
      [4, 'set', who.staff.user.id],
    ])
  })

  it('keeps slugs unique (-2, -3) and never makes one that names a sibling route', async () => {
    const name = `Twin ${tag()}`
    const a = await as(who.staff.token).post('/api/v1/products', newProduct({ name }))
    const b = await as(who.staff.token).post('/api/v1/products', newProduct({ name }))
    expect(b.body.slug).toBe(`${a.body.slug}-2`)
    const s = await as(who.staff.token).post('/api/v1/products', newProduct({ name: 'Search' }))
    expect(s.body.slug).toMatch(/^product-search/)
  })

  it('refuses a SKU already used by a product or a variant with 409 sku_taken, changing nothing', async () => {
    const p = await makeProduct({ variants: [{ sku: `V-${tag()}`, option1: 'S' }] })
    const before = await (await getDb()).select().from(skus)
    for (const sku of [p.sku, p.variants[0]!.sku]) {
      expectProblem(await as(who.staff.token).post('/api/v1/products', newProduct({ sku })), 409, 'sku_taken')
      const inline = newProduct({ variants: [{ sku, option1: 'L' }] })
      expectProblem(await as(who.staff.token).post('/api/v1/products', inline), 409, 'sku_taken')
    }
    expect((await (await getDb()).select().from(skus)).length).toBe(before.length)
  })

  it('refuses a taken slug with 409 slug_taken', async () => {
    const p = await makeProduct()
    expectProblem(
      await as(who.staff.token).post('/api/v1/products', newProduct({ slug: p.slug })),
      409,
      'slug_taken',
    )
  })

  it.each([
    ['too many decimals', { price: 10.999 }, 'price'],
    ['a negative price', { price: -1 }, 'price'],
    ['a negative compare_at_price', { compare_at_price: '-0.01' }, 'compare_at_price'],
    ['a price too large to store', { price: 30_000_000 }, 'price'],
    ['a cost_price too large to store', { cost_price: '21474836.48' }, 'cost_price'],
    ['a slug naming a sibling route', { slug: 'search' }, 'slug'],
    ['a bulk-* slug', { slug: 'bulk-import' }, 'slug'],
    ['a UUID-shaped slug', { slug: randomUUID() }, 'slug'],
    ['an unknown field', { colour: 'red' }, ''],
    ['duplicate SKUs in one request', { variants: [{ sku: 'DUP-1' }, { sku: 'DUP-1' }] }, 'variants.1.sku'],
    [
      'own stock beside variants',
      { inventory_quantity: 5, variants: [{ sku: `X-${Date.now()}` }] },
      'inventory_quantity',
    ],
    ['an unknown category', { category_id: randomUUID() }, 'category_id'],
  ])('refuses %s with 422', async (_, extra, path) => {
    const res = await as(who.staff.token).post('/api/v1/products', newProduct(extra))
    expectProblem(res, 422)
    if (path) expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path)
  })
})

describe('GET /products/{product_id}', () => {
  it('reads by id or slug with variants and category, in exactly one statement', async () => {
    const cat = await makeCategory()
    const p = await makeProduct({
      category_id: cat.id,
      variants: [{ sku: `S-${tag()}`, option1: 'S', inventory_quantity: 2 }],
    })
    for (const key of [p.id, p.slug]) {
      const { result, statements } = await countStatements(await getDb(), () =>
        call('GET', `/api/v1/products/${key}`),
      )
      expect(result.status).toBe(200)
      expect(result.body).toMatchObject({ id: p.id, category: { slug: cat.slug }, inventory_quantity: 2 })
      expect(result.body.variants).toHaveLength(1)
      expect(statements).toBe(1)
    }
  })

  it('hides cost prices, inherits_price and internal fields from customers and anonymous callers', async () => {
    const p = await makeProduct({
      cost_price: 5,
      metadata: { supplier: 'secret' },
      variants: [{ sku: `C-${tag()}`, option1: 'S' }],
    })
    for (const token of [undefined, who.customer.token]) {
      const body = (await as(token).get(`/api/v1/products/${p.id}`)).body
      expect(body).not.toHaveProperty('cost_price')
      expect(body).not.toHaveProperty('metadata')
      expect(body.variants[0]).not.toHaveProperty('cost_price')
      expect(body.variants[0]).not.toHaveProperty('inherits_price')
    }
    const staff = (await as(who.staff.token).get(`/api/v1/products/${p.id}`)).body
    expect(staff).toMatchObject({ cost_price: 5, metadata: { supplier: 'secret' } })
    expect(staff.variants[0]).toMatchObject({ cost_price: 5, inherits_price: true })
  })

  it('answers 404 to customers and anonymous callers for drafts, archived and invisible products; staff see them', async () => {
    const hidden = await Promise.all([
      makeProduct({ status: 'draft' }),
      makeProduct({ status: 'archived' }),
      makeProduct({ is_visible: false }),
    ])
    for (const p of hidden) {
      for (const token of [undefined, who.customer.token]) {
        for (const path of [
          `/api/v1/products/${p.id}`,
          `/api/v1/products/${p.slug}`,
          `/api/v1/products/${p.id}/variants`,
          `/api/v1/products/${p.id}/inventory`,
        ]) {
          expectProblem(await as(token).get(path), 404, 'not_found')
        }
      }
      expect((await as(who.staff.token).get(`/api/v1/products/${p.slug}`)).status).toBe(200)
    }
  })

  it('answers 404 for unknown ids and slugs', async () => {
    expectProblem(await call('GET', `/api/v1/products/${randomUUID()}`), 404)
    expectProblem(await call('GET', '/api/v1/products/no-such-thing'), 404)
  })

  it('is publicly cacheable with an ETag for anonymous callers (304 on If-None-Match) and no-store when signed in', async () => {
    const p = await makeProduct()
    const first = await call('GET', `/api/v1/products/${p.id}`)
    expect(first.headers.get('cache-control')).toBe('public, s-maxage=60, stale-while-revalidate=300')
    const etag = first.headers.get('etag')!
    expect(etag).toMatch(/^"/)
    const again = await call('GET', `/api/v1/products/${p.id}`, { headers: { 'if-none-match': etag } })
    expect(again.status).toBe(304)
    expect(again.text).toBe('')
    await as(who.staff.token).put(`/api/v1/products/${p.id}`, { name: 'Renamed' })
    const changed = await call('GET', `/api/v1/products/${p.id}`, { headers: { 'if-none-match': etag } })
    expect(changed.status).toBe(200)
    expect(changed.headers.get('etag')).not.toBe(etag)
    const signedIn = await as(who.customer.token).get(`/api/v1/products/${p.id}`)
    expect(signedIn.headers.get('cache-control')).toBe('no-store')
    expect(signedIn.headers.get('etag')).toBeNull()
  })
})

describe('PUT /products/{product_id}', () => {
  it('updates only the given fields, by id or slug; a new SKU is renamed in the registry', async () => {
    const p = await makeProduct({ brand: 'Old', tags: ['a'] })
    const sku = `NEW-${tag()}`
    const res = await as(who.staff.token).put(`/api/v1/products/${p.slug}`, {
      price: 12.5,
      sku,
      compare_at_price: null,
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body).toMatchObject({ price: 12.5, sku, brand: 'Old', tags: ['a'], compare_at_price: null })
    const db = await getDb()
    expect(await db.select().from(skus).where(eq(skus.sku, p.sku))).toHaveLength(0)
    expect(await db.select().from(skus).where(eq(skus.sku, sku))).toHaveLength(1)
  })

  it('sets own stock with a `set` ledger row, and refuses it for a product with variants (422)', async () => {
    const p = await makeProduct({ inventory_quantity: 4 })
    expect(
      (await as(who.staff.token).put(`/api/v1/products/${p.id}`, { inventory_quantity: 9 })).body
        .inventory_quantity,
    ).toBe(9)
    const ledger = await (await getDb())
      .select()
      .from(inventoryLedger)
      .where(eq(inventoryLedger.productId, p.id))
    expect(ledger.map((l) => [l.delta, l.quantityAfter, l.reason]).sort()).toEqual([
      [4, 4, 'set'],
      [5, 9, 'set'],
    ])
    const withVariants = await makeProduct({ variants: [{ sku: `W-${tag()}`, option1: 'S' }] })
    expectProblem(
      await as(who.staff.token).put(`/api/v1/products/${withVariants.id}`, { inventory_quantity: 3 }),
      422,
    )
  })

  it('archiving stamps archived_at; moving back clears it', async () => {
    const p = await makeProduct()
    const archived = await as(who.staff.token).put(`/api/v1/products/${p.id}`, { status: 'archived' })
    expect(archived.body.archived_at).not.toBeNull()
    expect(
      (await as(who.staff.token).put(`/api/v1/products/${p.id}`, { status: 'active' })).body.archived_at,
    ).toBeNull()
  })

  it('refuses a taken SKU or slug (409) and bad fields (422); unknown products are a 404', async () => {
    const [a, b] = await Promise.all([makeProduct(), makeProduct()])
    expectProblem(await as(who.staff.token).put(`/api/v1/products/${a.id}`, { sku: b.sku }), 409, 'sku_taken')
    expectProblem(
      await as(who.staff.token).put(`/api/v1/products/${a.id}`, { slug: b.slug }),
      409,
      'slug_taken',
    )
    expectProblem(await as(who.staff.token).put(`/api/v1/products/${a.id}`, { slug: 'analytics' }), 422)
    expectProblem(await as(who.staff.token).put(`/api/v1/products/${a.id}`, { price: 1.001 }), 422)
    expectProblem(await as(who.staff.token).put(`/api/v1/products/${randomUUID()}`, { name: 'x' }), 404)
    expect((await as(who.staff.token).get(`/api/v1/products/${a.id}`)).body.sku).toBe(a.sku)
  })
})

describe('DELETE /products/{product_id}', () => {
  it('deletes a product that was never ordered (204) with its variants and SKUs', async () => {
    const p = await makeProduct({ variants: [{ sku: `D-${tag()}`, option1: 'S' }] })
    const res = await as(who.staff.token).del(`/api/v1/products/${p.id}`)
    expect(res.status).toBe(204)
    expect(res.text).toBe('')
    const db = await getDb()
    expect(await db.select().from(products).where(eq(products.id, p.id))).toHaveLength(0)
    expect(await db.select().from(skus).where(eq(skus.sku, p.variants[0]!.sku))).toHaveLength(0)
    // The SKUs are free again.
    expect((await as(who.staff.token).post('/api/v1/products', newProduct({ sku: p.sku }))).status).toBe(201)
  })

  it('archives a product that was ordered (200 with status archived) and keeps its order lines', async () => {
    const p = await makeProduct()
    const buyer = await makeUser()
    await makeOrderWithItems({ userId: buyer.user.id, items: [{ productId: p.id }] })
    const res = await as(who.staff.token).del(`/api/v1/products/${p.id}`)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ id: p.id, status: 'archived' })
    expectProblem(await call('GET', `/api/v1/products/${p.id}`), 404)
  })

  it('answers 404 for an unknown product', async () => {
    expectProblem(await as(who.staff.token).del(`/api/v1/products/${randomUUID()}`), 404)
  })
})
