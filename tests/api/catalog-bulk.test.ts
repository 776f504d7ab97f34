import { randomBytes } from 'node:crypto'
import { eq, inArray } from 'drizzle-orm'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { categories, inventoryLedger, products, productVariants, skus } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { makeOrderWithItems, makeProduct, makeUser } from '../support/factories.js'
import { type CallResult, call } from '../support/http.js'
import { countStatements } from '../support/statements.js'
import { badCredentials } from '../support/token-cases.js'

// Bulk import, update and delete of products (issue 8): every row on its own with a per-row report,
// created/updated by SKU, statement count independent of the number of rows.

let saved: Record<string, string | undefined>
beforeEach(() => {
  saved = { ...process.env }
  process.env.RATE_LIMIT_DEFAULT = '100000/60'
  process.env.RATE_LIMIT_BULK = '100000/60'
  resetEnv()
})
afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
  Object.assign(process.env, saved)
  resetEnv()
})

const db = () => getDb()
const tag = () => randomBytes(4).toString('hex').toUpperCase()
const staff = () => makeUser({ role: 'staff' })

const importJson = (token: string | undefined, rows: unknown[]) =>
  call('POST', '/api/v1/products/bulk-import', { token, body: { products: rows } })
const importCsv = (token: string, csv: string, type = 'text/csv') =>
  call('POST', '/api/v1/products/bulk-import', { token, rawBody: csv, headers: { 'content-type': type } })

function expectProblem(res: CallResult, status: number, code?: string) {
  expect(res.status, res.text).toBe(status)
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  if (code) expect(res.body.code).toBe(code)
}

async function productBySku(sku: string) {
  const [p] = await (await db()).select().from(products).where(eq(products.sku, sku))
  return p
}
async function variantsOf(productId: string) {
  return (await db())
    .select()
    .from(productVariants)
    .where(eq(productVariants.productId, productId))
    .orderBy(productVariants.position)
}
async function ledgerOf(productId: string) {
  return (await db())
    .select()
    .from(inventoryLedger)
    .where(eq(inventoryLedger.productId, productId))
    .orderBy(inventoryLedger.createdAt)
}

describe('POST /products/bulk-import (JSON)', () => {
  it('creates products with inline variants, generated unique slugs and import ledger rows', async () => {
    const s = await staff()
    const t = tag()
    await makeProduct({ sku: `EXIST-${t}`, name: `Linen Dress ${t}` })
    const res = await importJson(s.token, [
      {
        sku: `A-${t}`,
        name: `Linen Dress ${t}`,
        price: '29.99',
        inventory_quantity: 7,
        tags: ['linen', 'summer'],
      },
      {
        sku: `B-${t}`,
        name: `Linen Dress ${t}`,
        price: 45,
        variants: [
          { sku: `B-${t}-S`, option1: 'S', inventory_quantity: 3 },
          { sku: `B-${t}-M`, option1: 'M', price: 47.5 },
        ],
      },
    ])
    expect(res.status, res.text).toBe(200)
    expect(res.body.results).toEqual([
      { index: 0, id: expect.any(String), sku: `A-${t}`, status: 'created' },
      { index: 1, id: expect.any(String), sku: `B-${t}`, status: 'created' },
    ])
    const a = (await productBySku(`A-${t}`))!
    const b = (await productBySku(`B-${t}`))!
    const slug = `linen-dress-${t.toLowerCase()}`
    expect([a.slug, b.slug]).toEqual([`${slug}-2`, `${slug}-3`])
    expect(a).toMatchObject({
      priceCents: 2999,
      inventoryQuantity: 7,
      tags: ['linen', 'summer'],
      hasVariants: false,
    })
    expect(a.id).toBe(res.body.results[0].id)
    expect(b).toMatchObject({ priceCents: 4500, hasVariants: true, inventoryQuantity: 0 })
    const vs = await variantsOf(b.id)
    expect(vs.map((v) => [v.sku, v.title, v.priceCents, v.inventoryQuantity, v.position])).toEqual([
      [`B-${t}-S`, 'S', null, 3, 0],
      [`B-${t}-M`, 'M', 4750, 0, 1],
    ])
    expect((await ledgerOf(a.id)).map((l) => [l.reason, l.delta, l.quantityAfter, l.actorId])).toEqual([
      ['import', 7, 7, s.user.id],
    ])
    expect((await ledgerOf(b.id)).map((l) => [l.variantId, l.reason, l.delta])).toEqual([
      [vs[0]!.id, 'import', 3],
    ])
    const registry = await (await db())
      .select()
      .from(skus)
      .where(inArray(skus.sku, [`A-${t}`, `B-${t}`, `B-${t}-S`, `B-${t}-M`]))
    expect(registry.map((r) => `${r.sku}:${r.kind}`).sort()).toEqual(
      [`A-${t}:product`, `B-${t}-M:variant`, `B-${t}-S:variant`, `B-${t}:product`].sort(),
    )
  })

  it('changes nothing the second time the same rows arrive, and updates only what changed', async () => {
    const s = await staff()
    const t = tag()
    const rows = [
      {
        sku: `P-${t}`,
        name: `Wool Coat ${t}`,
        price: 120,
        inventory_quantity: 4,
        metadata: { zeta: 1, alpha: { b: 2, a: 1 } },
        images: [{ url: 'https://img.example.com/a.jpg', alt: 'front' }],
        dimensions: { width: 10, length: 20, unit: 'cm' },
        tags: ['wool'],
      },
      { sku: `Q-${t}`, name: `Cap ${t}`, price: 15, variants: [{ sku: `Q-${t}-1`, option1: 'One size' }] },
    ]
    expect((await importJson(s.token, rows)).body.results.map((r: any) => r.status)).toEqual([
      'created',
      'created',
    ])
    const before = (await productBySku(`P-${t}`))!
    const again = await importJson(s.token, rows)
    expect(again.body.results.map((r: any) => r.status)).toEqual(['unchanged', 'unchanged'])
    expect(again.body.results[0].id).toBe(before.id)
    const after = (await productBySku(`P-${t}`))!
    expect(after.updatedAt).toEqual(before.updatedAt)
    expect(await ledgerOf(before.id)).toHaveLength(1)

    const changed = await importJson(s.token, [
      { ...rows[0], price: 99.5, inventory_quantity: 10 },
      { ...rows[1], variants: [{ sku: `Q-${t}-1`, option1: 'One size', inventory_quantity: 2 }] },
    ])
    expect(changed.body.results.map((r: any) => r.status)).toEqual(['updated', 'updated'])
    const p = (await productBySku(`P-${t}`))!
    expect(p).toMatchObject({ priceCents: 9950, inventoryQuantity: 10, name: `Wool Coat ${t}` })
    expect((await ledgerOf(p.id)).map((l) => [l.reason, l.delta, l.quantityAfter])).toEqual([
      ['import', 4, 4],
      ['import', 6, 10],
    ])
    const q = (await productBySku(`Q-${t}`))!
    expect((await variantsOf(q.id))[0]!.inventoryQuantity).toBe(2)
  })

  it('reports invalid rows with their errors and still lands the others', async () => {
    const s = await staff()
    const t = tag()
    const other = await makeProduct({ sku: `OTHER-${t}`, variants: [{ sku: `OTHER-${t}-V` }] })
    const stocked = await makeProduct({ sku: `STOCKED-${t}`, inventory_quantity: 5 })
    const res = await importJson(s.token, [
      { sku: `OK-${t}`, name: 'Fine', price: 10 },
      { sku: `DEC-${t}`, name: 'Too precise', price: 10.999 },
      { sku: `NEG-${t}`, name: 'Negative', price: -1 },
      { sku: `NONAME-${t}`, price: 5 },
      { sku: `OTHER-${t}-V`, name: 'Taken by a variant', price: 5 },
      { sku: `OK-${t}`, name: 'Repeated', price: 11 },
      { sku: `CAT-${t}`, name: 'No category', price: 5, category_id: '00000000-0000-4000-8000-000000000000' },
      { sku: `V-${t}`, product_sku: `NOPE-${t}`, option1: 'S' },
      { sku: `V2-${t}`, product_sku: `STOCKED-${t}`, option1: 'S' },
      { sku: `OK2-${t}`, name: 'Fine too', price: '0.5', slug: 'search' },
      'not an object',
      { sku: `OK3-${t}`, name: 'Fine three', price: 1 },
    ])
    expect(res.status, res.text).toBe(200)
    const byIndex = (i: number) => res.body.results[i]
    expect(res.body.results.map((r: any) => r.status)).toEqual([
      'created',
      'error',
      'error',
      'error',
      'error',
      'error',
      'error',
      'error',
      'error',
      'error',
      'error',
      'created',
    ])
    expect(byIndex(1).errors[0].path).toBe('price')
    expect(byIndex(1).errors[0].message).toMatch(/decimal/)
    expect(byIndex(2).errors[0].path).toBe('price')
    expect(byIndex(3).errors.map((e: any) => e.path)).toEqual(['name'])
    expect(byIndex(4).errors[0]).toMatchObject({ path: 'sku', code: 'sku_taken' })
    expect(byIndex(5)).toMatchObject({ sku: `OK-${t}`, errors: [{ code: 'duplicate_sku' }] })
    expect(byIndex(6).errors[0]).toMatchObject({ path: 'category_id', code: 'unknown_category' })
    expect(byIndex(7).errors[0]).toMatchObject({ path: 'product_sku', code: 'unknown_product' })
    expect(byIndex(8).errors[0]).toMatchObject({ code: 'product_has_stock' })
    expect(byIndex(9).errors[0].path).toBe('slug')
    expect(byIndex(10).errors[0].code).toBe('invalid_type')
    expect((await productBySku(`OK-${t}`))!.name).toBe('Fine')
    expect(await productBySku(`OK3-${t}`)).toBeDefined()
    for (const sku of [`DEC-${t}`, `NEG-${t}`, `NONAME-${t}`, `CAT-${t}`, `OK2-${t}`]) {
      expect(await productBySku(sku), sku).toBeUndefined()
    }
    expect(await variantsOf(stocked.id)).toEqual([])
    expect((await variantsOf(other.id)).map((v) => v.sku)).toEqual([`OTHER-${t}-V`])
  })

  it('refuses a taken slug and a product SKU used as a variant SKU', async () => {
    const s = await staff()
    const t = tag()
    const existing = await makeProduct({
      sku: `SL-${t}`,
      slug: `taken-${t.toLowerCase()}`,
      inventory_quantity: 0,
    })
    const res = await importJson(s.token, [
      { sku: `SL2-${t}`, name: 'x', price: 1, slug: `taken-${t.toLowerCase()}` },
      { sku: `VV-${t}`, product_sku: `SL-${t}`, option1: 'S' },
      { sku: `SL-${t}-X`, product_sku: `SL2-${t}` },
      { sku: `SL-${t}`, product_sku: `SL-${t}` },
      { sku: `SL-${t}-V`, product_sku: `SL-${t}`, inventory_quantity: 1 },
      { sku: `SL-${t}-V2`, name: 'uses a variant SKU inline', price: 1, variants: [{ sku: `VV-${t}` }] },
    ])
    expect(res.body.results.map((r: any) => r.errors?.[0]?.code ?? r.status)).toEqual([
      'slug_taken',
      'created',
      'unknown_product',
      'sku_taken',
      'created',
      'duplicate_sku',
    ])
    expect((await variantsOf(existing.id)).map((v) => v.sku)).toEqual([`VV-${t}`, `SL-${t}-V`])
    expect((await productBySku(`SL-${t}`))!.hasVariants).toBe(true)
  })

  it('adds variant rows to products of the same import and of the catalog, in any order', async () => {
    const s = await staff()
    const t = tag()
    const existing = await makeProduct({ sku: `EX-${t}`, variants: [{ sku: `EX-${t}-A`, option1: 'A' }] })
    const res = await importJson(s.token, [
      { sku: `N-${t}-S`, product_sku: `N-${t}`, option1: 'S', inventory_quantity: 2 },
      { sku: `N-${t}`, name: 'New with variants', price: 30 },
      { sku: `N-${t}-M`, product_sku: `N-${t}`, option1: 'M', option2: 'Blue' },
      { sku: `EX-${t}-B`, product_sku: `EX-${t}`, option1: 'B' },
      { sku: `EX-${t}-A`, product_sku: `EX-${t}`, option1: 'A', barcode: '123' },
    ])
    expect(res.body.results.map((r: any) => r.status)).toEqual([
      'created',
      'created',
      'created',
      'created',
      'updated',
    ])
    const n = (await productBySku(`N-${t}`))!
    expect(n.hasVariants).toBe(true)
    expect((await variantsOf(n.id)).map((v) => [v.sku, v.title, v.position])).toEqual([
      [`N-${t}-S`, 'S', 0],
      [`N-${t}-M`, 'M / Blue', 1],
    ])
    expect((await variantsOf(existing.id)).map((v) => [v.sku, v.position, v.barcode])).toEqual([
      [`EX-${t}-A`, 0, '123'],
      [`EX-${t}-B`, 1, null],
    ])
    expect(res.body.results[0].id).toBe((await variantsOf(n.id))[0]!.id)
  })

  it('answers 422 for a body without rows or with more than 5,000, 415 for other types', async () => {
    const s = await staff()
    expectProblem(await importJson(s.token, []), 422, 'validation_failed')
    const many = Array.from({ length: 5001 }, () => ({}))
    expectProblem(await importJson(s.token, many), 422, 'validation_failed')
    expectProblem(await importCsv(s.token, 'sku\nA', 'text/plain'), 415, 'unsupported_media_type')
  })

  it('takes a body up to 4.5 MB and refuses a larger one with 413', async () => {
    const s = await staff()
    const t = tag()
    const description = 'x'.repeat(15_000)
    const rows = Array.from({ length: 290 }, (_, i) => ({
      sku: `BIG-${t}-${i}`,
      name: `Big ${i}`,
      price: 1,
      description,
    }))
    const body = JSON.stringify({ products: rows })
    expect(body.length).toBeGreaterThan(4_000_000)
    expect(body.length).toBeLessThan(4_500_000)
    const ok = await call('POST', '/api/v1/products/bulk-import', {
      token: s.token,
      rawBody: body,
      headers: { 'content-type': 'application/json' },
    })
    expect(ok.status, ok.text.slice(0, 300)).toBe(200)
    expect(ok.body.results.every((r: any) => r.status === 'created')).toBe(true)
    const over = JSON.stringify({ products: [...rows, ...rows.slice(0, 40)] })
    expect(over.length).toBeGreaterThan(4_500_000)
    expectProblem(
      await call('POST', '/api/v1/products/bulk-import', {
        token: s.token,
        rawBody: over,
        headers: { 'content-type': 'application/json' },
      }),
      413,
      'payload_too_large',
    )
  })
})

describe('POST /products/bulk-import (CSV)', () => {
  it('reads quoted fields, | tags, variant rows and formula-looking cells verbatim; twice is unchanged', async () => {
    const s = await staff()
    const t = tag()
    const [cat] = await (await db())
      .insert(categories)
      .values({ name: `Dresses ${t}`, slug: `dresses-${t.toLowerCase()}` })
      .returning()
    const csv = [
      'sku,name,description,price,tags,category_id,is_featured,inventory_quantity,product_sku,option1,images',
      `C-${t},"Dress, ""Maxi"" edition","Line one`,
      `line two, with comma",59.90,summer| linen |,${cat!.id},yes,3,,,https://img.example.com/1.jpg|https://img.example.com/2.jpg`,
      `F-${t},"=HYPERLINK(""http://evil.example"")",+SUM(A1:A2),10,@tag|-minus,,,,,,`,
      `CV-${t},,,,,,,,V-${t},S,`,
      `CV2-${t},,,,,,,5,V-${t},M,`,
      `V-${t},Varied,,20,,,false,,,,`,
    ].join('\r\n')
    const res = await importCsv(s.token, csv)
    expect(res.status, res.text).toBe(200)
    expect(res.body.results.map((r: any) => [r.index, r.sku, r.status])).toEqual([
      [0, `C-${t}`, 'created'],
      [1, `F-${t}`, 'created'],
      [2, `CV-${t}`, 'created'],
      [3, `CV2-${t}`, 'created'],
      [4, `V-${t}`, 'created'],
    ])
    const c = (await productBySku(`C-${t}`))!
    expect(c).toMatchObject({
      name: 'Dress, "Maxi" edition',
      description: 'Line one\r\nline two, with comma',
      priceCents: 5990,
      tags: ['summer', 'linen'],
      categoryId: cat!.id,
      isFeatured: true,
      inventoryQuantity: 3,
      images: [{ url: 'https://img.example.com/1.jpg' }, { url: 'https://img.example.com/2.jpg' }],
    })
    const f = (await productBySku(`F-${t}`))!
    expect(f).toMatchObject({
      name: '=HYPERLINK("http://evil.example")',
      description: '+SUM(A1:A2)',
      tags: ['@tag', '-minus'],
    })
    const v = (await productBySku(`V-${t}`))!
    expect((await variantsOf(v.id)).map((x) => [x.sku, x.option1, x.inventoryQuantity])).toEqual([
      [`CV-${t}`, 'S', 0],
      [`CV2-${t}`, 'M', 5],
    ])
    const again = await importCsv(s.token, csv)
    expect(again.body.results.map((r: any) => r.status)).toEqual(Array(5).fill('unchanged'))
    expect(await ledgerOf(v.id)).toHaveLength(1)
  })

  it('reports a cell of the wrong type as that row’s error', async () => {
    const s = await staff()
    const t = tag()
    const res = await importCsv(
      s.token,
      `sku,name,price,inventory_quantity,is_visible\nW-${t},W,1,lots,maybe\nW2-${t},W2,2,1,no`,
    )
    expect(res.body.results[0].status).toBe('error')
    expect(res.body.results[0].errors.map((e: any) => e.path).sort()).toEqual([
      'inventory_quantity',
      'is_visible',
    ])
    expect(res.body.results[1].status).toBe('created')
    expect((await productBySku(`W2-${t}`))!.isVisible).toBe(false)
  })

  it('refuses unreadable CSV (400) and unknown or repeated columns (422), changing nothing', async () => {
    const s = await staff()
    const t = tag()
    expectProblem(await importCsv(s.token, `sku,name,price\nU-${t},"open quote,1`), 400, 'malformed_csv')
    expectProblem(await importCsv(s.token, `sku,name,price\nU-${t},a,1,extra`), 400, 'malformed_csv')
    const unknown = await importCsv(s.token, `sku,name,prce\nU-${t},a,1`)
    expectProblem(unknown, 422, 'validation_failed')
    expect(unknown.body.errors[0]).toMatchObject({ path: 'header.2', code: 'unknown_column' })
    const twice = await importCsv(s.token, `sku,name,name,price\nU-${t},a,b,1`)
    expect(twice.body.errors[0]).toMatchObject({ path: 'header.2', code: 'duplicate_column' })
    expectProblem(await importCsv(s.token, 'sku,name,price\n'), 422, 'validation_failed')
    expect(await productBySku(`U-${t}`)).toBeUndefined()
  })
})

describe('bulk import round trips', () => {
  it('uses as many statements for 60 rows as for 3 (set-based, no query per row)', async () => {
    const s = await staff()
    const existing = await makeProduct({ sku: `ST-${tag()}`, variants: [{ sku: `ST-${tag()}-V` }] })
    const rowsOf = (n: number, t: string) =>
      Array.from({ length: n }, (_, i) => [
        { sku: `S-${t}-${i}`, name: `Counted ${t} ${i}`, price: 5, inventory_quantity: i + 1 },
        { sku: `S-${t}-${i}-V`, product_sku: existing.sku, option1: `${t}-${i}`, inventory_quantity: 1 },
        {
          sku: `S-${t}-${i}-W`,
          name: `With variants ${t} ${i}`,
          price: 5,
          variants: [{ sku: `S-${t}-${i}-W1` }],
        },
      ]).flat()
    const counted = async (n: number) => {
      const t = tag()
      await importJson(s.token, [{ sku: `WARM-${t}`, name: 'warm', price: 1 }]) // warms the session cache
      const first = await countStatements(await db(), () => importJson(s.token, rowsOf(n, t)))
      expect(first.result.body.results.every((r: any) => r.status === 'created')).toBe(true)
      const changed = rowsOf(n, t).map((r: any) =>
        r.variants ? { ...r, price: 6 } : { ...r, inventory_quantity: 1000 },
      )
      const again = await countStatements(await db(), () => importJson(s.token, changed))
      expect(again.result.body.results.every((r: any) => r.status === 'updated')).toBe(true)
      return [first.statements, again.statements]
    }
    const few = await counted(1)
    const many = await counted(20)
    expect(few[0]).toBeGreaterThan(0)
    expect(many).toEqual(few)
  })
})

const bulkUpdate = (token: string | undefined, rows: unknown[]) =>
  call('POST', '/api/v1/products/bulk-update', { token, body: { products: rows } })
const bulkDelete = (token: string | undefined, rows: unknown[]) =>
  call('POST', '/api/v1/products/bulk-delete', { token, body: { products: rows } })

describe('POST /products/bulk-update', () => {
  it('updates by id or SKU, reports unchanged and failing rows, and writes stock to the ledger', async () => {
    const s = await staff()
    const t = tag()
    const a = await makeProduct({ sku: `UA-${t}`, price: 10, inventory_quantity: 2 })
    const b = await makeProduct({ sku: `UB-${t}`, price: 20 })
    const v = await makeProduct({ sku: `UV-${t}`, variants: [{ sku: `UV-${t}-1` }] })
    const c = await makeProduct({ sku: `UC-${t}`, slug: `uc-${t.toLowerCase()}` })
    const d = await makeProduct({ sku: `UD-${t}` })
    const res = await bulkUpdate(s.token, [
      { id: a.id, price: 12.5, status: 'active', inventory_quantity: 9 },
      { sku: `UB-${t}`, price: 20 },
      { sku: `NOPE-${t}`, price: 1 },
      { id: a.id, name: 'twice' },
      { sku: `UV-${t}`, inventory_quantity: 3 },
      { sku: `UB-${t}`, id: b.id },
      { id: d.id, slug: `uc-${t.toLowerCase()}` },
      { sku: `UC-${t}`, price: 0.001 },
      { sku: `UC-${t}`, tags: ['sale'], category_id: '00000000-0000-4000-8000-000000000000' },
    ])
    expect(res.status, res.text).toBe(200)
    expect(res.body.results.map((r: any) => r.errors?.[0]?.code ?? r.status)).toEqual([
      'updated',
      'unchanged',
      'not_found',
      'duplicate_product',
      'product_has_variants',
      'custom',
      'slug_taken',
      'custom',
      'unknown_category',
    ])
    expect(res.body.results[0]).toEqual({ index: 0, id: a.id, sku: `UA-${t}`, status: 'updated' })
    const pa = (await productBySku(`UA-${t}`))!
    expect(pa).toMatchObject({ priceCents: 1250, status: 'active', inventoryQuantity: 9, name: a.name })
    expect((await ledgerOf(a.id)).map((l) => [l.reason, l.delta, l.quantityAfter, l.actorId])).toEqual([
      ['set', 2, 2, null],
      ['set', 7, 9, s.user.id],
    ])
    expect((await productBySku(`UD-${t}`))!.slug).toBe(d.slug)
    expect((await productBySku(`UC-${t}`))!).toMatchObject({
      tags: [],
      priceCents: Math.round(c.price * 100),
    })
    expect((await productBySku(`UV-${t}`))!.inventoryQuantity).toBe(0)
    expect((await variantsOf(v.id)).map((x) => x.inventoryQuantity)).toEqual([0])
  })

  it('refuses bodies without rows (422) and runs a constant number of statements', async () => {
    const s = await staff()
    expectProblem(await bulkUpdate(s.token, []), 422, 'validation_failed')
    const counted = async (n: number) => {
      const made = await Promise.all(Array.from({ length: n }, () => makeProduct({ inventory_quantity: 1 })))
      await bulkUpdate(s.token, [{ id: made[0]!.id }])
      const { result, statements } = await countStatements(await db(), () =>
        bulkUpdate(
          s.token,
          made.map((p) => ({ id: p.id, price: 3, inventory_quantity: 4 })),
        ),
      )
      expect(result.body.results.every((r: any) => r.status === 'updated')).toBe(true)
      return statements
    }
    expect(await counted(2)).toBe(await counted(30))
  })
})

describe('POST /products/bulk-delete', () => {
  it('deletes never-ordered products with their variants and SKUs, archives ordered ones', async () => {
    const s = await staff()
    const t = tag()
    const plain = await makeProduct({ sku: `DP-${t}`, inventory_quantity: 3 })
    const withVariants = await makeProduct({
      sku: `DV-${t}`,
      variants: [{ sku: `DV-${t}-1`, inventory_quantity: 1 }],
    })
    const ordered = await makeProduct({ sku: `DO-${t}` })
    const orderedVariant = await makeProduct({ sku: `DOV-${t}`, variants: [{ sku: `DOV-${t}-1` }] })
    const [soldVariant] = await variantsOf(orderedVariant.id)
    await makeOrderWithItems({
      items: [{ productId: ordered.id }, { productId: null, variantId: soldVariant!.id, quantity: 2 }],
    })
    const res = await bulkDelete(s.token, [
      { id: plain.id },
      { sku: `DV-${t}` },
      { sku: `DO-${t}` },
      { id: orderedVariant.id },
      { sku: `DP-${t}` },
      { sku: `GONE-${t}` },
      { id: 'not-a-uuid' },
      {},
    ])
    expect(res.status, res.text).toBe(200)
    expect(res.body.results.map((r: any) => r.errors?.[0]?.code ?? r.status)).toEqual([
      'deleted',
      'deleted',
      'archived',
      'archived',
      'duplicate_product',
      'not_found',
      'invalid_format',
      'custom',
    ])
    expect(await productBySku(`DP-${t}`)).toBeUndefined()
    expect(await productBySku(`DV-${t}`)).toBeUndefined()
    expect(await variantsOf(withVariants.id)).toEqual([])
    expect(await ledgerOf(plain.id)).toEqual([])
    const left = await (await db())
      .select()
      .from(skus)
      .where(inArray(skus.sku, [`DP-${t}`, `DV-${t}`, `DV-${t}-1`, `DO-${t}`, `DOV-${t}`, `DOV-${t}-1`]))
    expect(left.map((r) => r.sku).sort()).toEqual([`DO-${t}`, `DOV-${t}`, `DOV-${t}-1`].sort())
    for (const sku of [`DO-${t}`, `DOV-${t}`]) {
      const p = (await productBySku(sku))!
      expect(p.status).toBe('archived')
      expect(p.archivedAt).toBeInstanceOf(Date)
    }
    expect(await variantsOf(orderedVariant.id)).toHaveLength(1)
    // the SKU of a deleted product is free again
    const again = await importJson(s.token, [{ sku: `DP-${t}`, name: 'Back', price: 1 }])
    expect(again.body.results[0].status).toBe('created')
  })
})

describe('who may use the bulk endpoints', () => {
  const endpoints = [
    ['bulk-import', { products: [{ sku: 'AUTH-X', name: 'x', price: 1 }] }],
    ['bulk-update', { products: [{ sku: 'AUTH-X', price: 2 }] }],
    ['bulk-delete', { products: [{ sku: 'AUTH-X' }] }],
  ] as const

  it('answers 401 for every shared bad-token case and changes nothing', async () => {
    const s = await staff()
    for (const { label, opts } of await badCredentials(s)) {
      for (const [name, body] of endpoints) {
        const res = await call('POST', `/api/v1/products/${name}`, { ...opts, body })
        expectProblem(res, 401)
        expect(res.headers.get('www-authenticate'), `${label} ${name}`).toBe('Bearer')
      }
    }
    expect(await productBySku('AUTH-X')).toBeUndefined()
  })

  it('answers 403 to customers and to staff without products.write; staff may', async () => {
    const customer = await makeUser({ role: 'customer' })
    const t = tag()
    for (const [name] of endpoints) {
      expectProblem(
        await call('POST', `/api/v1/products/${name}`, {
          token: customer.token,
          body: { products: [{ sku: `AUTH-${t}`, name: 'x', price: 1 }] },
        }),
        403,
        'forbidden',
      )
    }
    expect(await productBySku(`AUTH-${t}`)).toBeUndefined()
    const s = await staff()
    expect((await importJson(s.token, [{ sku: `AUTH-${t}`, name: 'x', price: 1 }])).status).toBe(200)
  })
})
