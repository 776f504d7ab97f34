import { randomBytes, randomUUID } from 'node:crypto'
import { and, eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { inventoryLedger, products, productVariants, skus } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { as, callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
import { makeOrderWithItems, makeProduct, makeVariant } from '../support/factories.js'
import { call } from '../support/http.js'
import { countStatements } from '../support/statements.js'

// Variants and stock (issue 8): effective prices, the stock model (a product with variants holds none
// itself; its figure is the sum over active variants), in_stock and low-stock rules, absolute and relative
// stock changes with their ledger rows, and who may do what.

catalogTestEnv()
let who: Awaited<ReturnType<typeof callers>>
beforeAll(async () => {
  who = await callers()
})
const tag = () => randomBytes(4).toString('hex')
const db = () => getDb()

async function ledgerOf(productId: string) {
  return (await db()).select().from(inventoryLedger).where(eq(inventoryLedger.productId, productId))
}

describe('who may change variants and stock', () => {
  it('refuses anonymous (401) and customers (403) on every write; staff pass', async () => {
    const p = await makeProduct({ variants: [{ sku: `A-${tag()}`, option1: 'S', inventory_quantity: 1 }] })
    const v = p.variants[0]!
    const writes = [
      { method: 'POST', path: `/api/v1/products/${p.id}/variants`, body: { sku: `N-${tag()}` } },
      { method: 'PUT', path: `/api/v1/products/${p.id}/variants/${v.id}`, body: { title: 'x' } },
      { method: 'DELETE', path: `/api/v1/products/${p.id}/variants/${v.id}` },
      {
        method: 'PUT',
        path: `/api/v1/products/${p.id}/inventory`,
        body: { variants: [{ id: v.id, inventory_quantity: 9 }] },
      },
      {
        method: 'POST',
        path: `/api/v1/products/${p.id}/inventory/adjust`,
        body: { delta: 1, reason: 'x', variant_id: v.id },
      },
    ]
    for (const e of writes) {
      expectProblem(await call(e.method, e.path, { body: e.body }), 401)
      expectProblem(await call(e.method, e.path, { body: e.body, token: 'garbage' }), 401)
      expectProblem(await call(e.method, e.path, { body: e.body, token: who.customer.token }), 403)
    }
    const [row] = await (await db()).select().from(productVariants).where(eq(productVariants.id, v.id))
    expect(row).toMatchObject({ title: v.title, inventoryQuantity: 1 })
  })
})

describe('variants', () => {
  it('answer with effective prices; staff see inherits_price; price: null inherits again', async () => {
    const p = await makeProduct({ price: 20, compare_at_price: 25 })
    await as(who.staff.token).put(`/api/v1/products/${p.id}/inventory`, { inventory_quantity: 0 })
    const created = await as(who.staff.token).post(`/api/v1/products/${p.id}/variants`, {
      sku: `P-${tag()}`,
      option1: 'L',
      option2: 'Red',
      price: 22,
    })
    expect(created.status, created.text).toBe(201)
    expect(created.body).toMatchObject({
      title: 'L / Red',
      price: 22,
      compare_at_price: 25,
      inherits_price: false,
    })
    const back = await as(who.staff.token).put(`/api/v1/products/${p.id}/variants/${created.body.id}`, {
      price: null,
    })
    expect(back.body).toMatchObject({ price: 20, inherits_price: true })
    const listed = await call('GET', `/api/v1/products/${p.slug}/variants`)
    expect(listed.body.variants[0]).toMatchObject({ price: 20 })
    expect(listed.body.variants[0]).not.toHaveProperty('inherits_price')
  })

  it('refuses the first variant of a product that still holds stock (409 product_has_stock, nothing changes)', async () => {
    const p = await makeProduct({ inventory_quantity: 3 })
    const sku = `F-${tag()}`
    const res = await as(who.staff.token).post(`/api/v1/products/${p.id}/variants`, { sku })
    expectProblem(res, 409, 'product_has_stock')
    expect(res.body.detail).toMatch(/stock to 0/)
    const [row] = await (await db()).select().from(products).where(eq(products.id, p.id))
    expect(row).toMatchObject({ hasVariants: false, inventoryQuantity: 3 })
    expect(await (await db()).select().from(skus).where(eq(skus.sku, sku))).toHaveLength(0)
    // Once its own stock is 0 the first variant is accepted and the product sells through variants.
    await as(who.staff.token).put(`/api/v1/products/${p.id}/inventory`, { inventory_quantity: 0 })
    const v = await makeVariant(p.id, { sku, inventory_quantity: 6 })
    const after = (await call('GET', `/api/v1/products/${p.id}`)).body
    expect(after).toMatchObject({ has_variants: true, inventory_quantity: 6 })
    expect(after.variants.map((x: { id: string }) => x.id)).toEqual([v.id])
  })

  it('refuses a taken SKU (409), bad fields (422), unknown products or variants (404)', async () => {
    const p = await makeProduct({ variants: [{ sku: `T-${tag()}`, option1: 'S' }] })
    const other = await makeProduct()
    const v = p.variants[0]!
    const t = as(who.staff.token)
    expectProblem(await t.post(`/api/v1/products/${p.id}/variants`, { sku: other.sku }), 409, 'sku_taken')
    expectProblem(
      await t.put(`/api/v1/products/${p.id}/variants/${v.id}`, { sku: other.sku }),
      409,
      'sku_taken',
    )
    expectProblem(await t.post(`/api/v1/products/${p.id}/variants`, { sku: `B-${tag()}`, price: 1.234 }), 422)
    expectProblem(
      await t.post(`/api/v1/products/${p.id}/variants`, { sku: `B-${tag()}`, inventory_policy: 'maybe' }),
      422,
    )
    expectProblem(await t.post(`/api/v1/products/${randomUUID()}/variants`, { sku: `B-${tag()}` }), 404)
    expectProblem(await t.put(`/api/v1/products/${p.id}/variants/${randomUUID()}`, { title: 'x' }), 404)
    expectProblem(await t.put(`/api/v1/products/${other.id}/variants/${v.id}`, { title: 'x' }), 404)
    expectProblem(await t.del(`/api/v1/products/${p.id}/variants/not-a-uuid`), 404)
  })

  it('deactivates a variant that was ordered instead of deleting it (200); deletes one never ordered (204)', async () => {
    const p = await makeProduct({
      variants: [
        { sku: `O-${tag()}`, option1: 'S', inventory_quantity: 2 },
        { sku: `O-${tag()}`, option1: 'M', inventory_quantity: 3 },
      ],
    })
    const [sold, unsold] = p.variants
    await makeOrderWithItems({ items: [{ productId: p.id, variantId: sold!.id }] })
    const kept = await as(who.staff.token).del(`/api/v1/products/${p.id}/variants/${sold!.id}`)
    expect(kept.status).toBe(200)
    expect(kept.body).toMatchObject({ id: sold!.id, is_active: false })
    expect((await ledgerOf(p.id)).some((l) => l.variantId === sold!.id)).toBe(true)
    // Inactive variants do not count towards the product's stock, and customers do not see them.
    expect((await as(who.staff.token).get(`/api/v1/products/${p.id}`)).body.inventory_quantity).toBe(3)
    expect(
      (await call('GET', `/api/v1/products/${p.id}`)).body.variants.map((v: { id: string }) => v.id),
    ).toEqual([unsold!.id])
    expect((await as(who.staff.token).del(`/api/v1/products/${p.id}/variants/${unsold!.id}`)).status).toBe(
      204,
    )
  })

  it('deleting the last variant leaves the product without variants at stock 0', async () => {
    const p = await makeProduct({ variants: [{ sku: `L-${tag()}`, option1: 'S', inventory_quantity: 4 }] })
    expect(
      (await as(who.staff.token).del(`/api/v1/products/${p.id}/variants/${p.variants[0]!.id}`)).status,
    ).toBe(204)
    const after = (await as(who.staff.token).get(`/api/v1/products/${p.id}`)).body
    expect(after).toMatchObject({ has_variants: false, inventory_quantity: 0, in_stock: false, variants: [] })
  })
})

describe('stock model and in_stock', () => {
  it('sums active variants; untracked or continue items are always in stock; low stock per variant', async () => {
    const p = await makeProduct({
      low_stock_threshold: 2,
      variants: [
        { sku: `M-${tag()}`, option1: 'S', inventory_quantity: 0 },
        { sku: `M-${tag()}`, option1: 'M', inventory_quantity: 2 },
        { sku: `M-${tag()}`, option1: 'L', inventory_quantity: 0, inventory_policy: 'continue' },
        { sku: `M-${tag()}`, option1: 'XL', inventory_quantity: 0, track_inventory: false },
        { sku: `M-${tag()}`, option1: 'XXL', inventory_quantity: 50, is_active: false },
      ],
    })
    const inv = (await call('GET', `/api/v1/products/${p.id}/inventory`)).body
    expect(inv).toMatchObject({ has_variants: true, inventory_quantity: 2, in_stock: true, low_stock: true })
    expect(
      inv.variants.map((v: { in_stock: boolean; low_stock: boolean }) => [v.in_stock, v.low_stock]),
    ).toEqual([
      [false, true],
      [true, true],
      [true, true],
      [true, false],
    ])
    const staffInv = (await as(who.staff.token).get(`/api/v1/products/${p.id}/inventory`)).body
    expect(staffInv.variants).toHaveLength(5)
    expect(staffInv.inventory_quantity).toBe(2)
  })

  it('a product without variants: in stock while its quantity is above 0, low at or below its threshold', async () => {
    const p = await makeProduct({ inventory_quantity: 0, low_stock_threshold: 5 })
    expect((await call('GET', `/api/v1/products/${p.id}/inventory`)).body).toMatchObject({
      in_stock: false,
      low_stock: true,
    })
    await as(who.staff.token).put(`/api/v1/products/${p.id}/inventory`, { inventory_quantity: 6 })
    expect((await call('GET', `/api/v1/products/${p.id}/inventory`)).body).toMatchObject({
      in_stock: true,
      low_stock: false,
      inventory_quantity: 6,
    })
  })
})

describe('PUT /products/{product_id}/inventory', () => {
  it('sets variant levels absolutely with `set` ledger rows (actor and note) and leaves the product row alone', async () => {
    const p = await makeProduct({
      variants: [
        { sku: `S-${tag()}`, option1: 'S', inventory_quantity: 1 },
        { sku: `S-${tag()}`, option1: 'M', inventory_quantity: 1 },
      ],
    })
    const [a, b] = p.variants
    const [before] = await (await db()).select().from(products).where(eq(products.id, p.id))
    const res = await as(who.staff.token).put(`/api/v1/products/${p.id}/inventory`, {
      variants: [
        { id: a!.id, inventory_quantity: 7 },
        { id: b!.id, inventory_quantity: 1 },
      ],
      reason: 'stock take',
    })
    expect(res.status, res.text).toBe(200)
    expect(res.body.inventory_quantity).toBe(8)
    const rows = (await ledgerOf(p.id)).filter((l) => l.reason === 'set' && l.note === 'stock take')
    expect(rows.map((l) => [l.variantId, l.delta, l.quantityAfter, l.actorId])).toEqual([
      [a!.id, 6, 7, who.staff.user.id],
    ])
    const [after] = await (await db()).select().from(products).where(eq(products.id, p.id))
    expect(after!.updatedAt).toEqual(before!.updatedAt)
    expect(after!.inventoryQuantity).toBe(0)
  })

  it('refuses the wrong form (422), a foreign or unknown variant (404) and negative levels (422), changing nothing', async () => {
    const p = await makeProduct({ variants: [{ sku: `W-${tag()}`, option1: 'S', inventory_quantity: 1 }] })
    const plain = await makeProduct({ inventory_quantity: 2 })
    const t = as(who.staff.token)
    expectProblem(
      await t.put(`/api/v1/products/${p.id}/inventory`, { inventory_quantity: 3 }),
      422,
      'variant_required',
    )
    expectProblem(
      await t.put(`/api/v1/products/${plain.id}/inventory`, {
        variants: [{ id: p.variants[0]!.id, inventory_quantity: 3 }],
      }),
      422,
    )
    expectProblem(
      await t.put(`/api/v1/products/${p.id}/inventory`, {
        variants: [
          { id: p.variants[0]!.id, inventory_quantity: 5 },
          { id: randomUUID(), inventory_quantity: 3 },
        ],
      }),
      404,
    )
    expectProblem(await t.put(`/api/v1/products/${plain.id}/inventory`, { inventory_quantity: -1 }), 422)
    expectProblem(await t.put(`/api/v1/products/${plain.id}/inventory`, {}), 422)
    expectProblem(await t.put(`/api/v1/products/${randomUUID()}/inventory`, { inventory_quantity: 1 }), 404)
    const [v] = await (await db()).select().from(productVariants).where(eq(productVariants.productId, p.id))
    expect(v!.inventoryQuantity).toBe(1)
  })
})

describe('POST /products/{product_id}/inventory/adjust', () => {
  it('applies a relative change in one statement, with an `adjustment` ledger row carrying the actor and the reason', async () => {
    const p = await makeProduct({ inventory_quantity: 5 })
    const { result, texts } = await countStatements(await getDb(), () =>
      as(who.staff.token).post(`/api/v1/products/${p.id}/inventory/adjust`, {
        delta: -2,
        reason: 'damaged in transit',
      }),
    )
    expect(result.status, result.text).toBe(200)
    expect(result.body).toMatchObject({
      product_id: p.id,
      variant_id: null,
      delta: -2,
      inventory_quantity: 3,
      note: 'damaged in transit',
    })
    // Session lookup (auth) may add reads; the adjustment itself is one UPDATE ... INSERT statement.
    expect(texts.filter((s) => /inventory_ledger/.test(s))).toHaveLength(1)
    expect(texts.filter((s) => /^\s*(update|insert|with)/i.test(s))).toHaveLength(1)
    const rows = (await ledgerOf(p.id)).filter((l) => l.reason === 'adjustment')
    expect(rows.map((l) => [l.delta, l.quantityAfter, l.actorId, l.note])).toEqual([
      [-2, 3, who.staff.user.id, 'damaged in transit'],
    ])
  })

  it('adjusts one variant without touching the product row or its siblings', async () => {
    const p = await makeProduct({
      variants: [
        { sku: `J-${tag()}`, option1: 'S', inventory_quantity: 1 },
        { sku: `J-${tag()}`, option1: 'M', inventory_quantity: 1 },
      ],
    })
    const [a, b] = p.variants
    const [before] = await (await db()).select().from(products).where(eq(products.id, p.id))
    const res = await as(who.staff.token).post(`/api/v1/products/${p.slug}/inventory/adjust`, {
      delta: 4,
      reason: 'restock',
      variant_id: a!.id,
    })
    expect(res.body).toMatchObject({ variant_id: a!.id, inventory_quantity: 5 })
    const [after] = await (await db()).select().from(products).where(eq(products.id, p.id))
    expect(after!.updatedAt).toEqual(before!.updatedAt)
    const [sibling] = await (await db()).select().from(productVariants).where(eq(productVariants.id, b!.id))
    expect(sibling!.inventoryQuantity).toBe(1)
  })

  it('refuses going below zero under deny (409, nothing changes) but lets continue items oversell', async () => {
    const p = await makeProduct({ inventory_quantity: 1 })
    const res = await as(who.staff.token).post(`/api/v1/products/${p.id}/inventory/adjust`, {
      delta: -2,
      reason: 'x',
    })
    expectProblem(res, 409, 'insufficient_stock')
    const [row] = await (await db()).select().from(products).where(eq(products.id, p.id))
    expect(row!.inventoryQuantity).toBe(1)
    expect((await ledgerOf(p.id)).filter((l) => l.reason === 'adjustment')).toHaveLength(0)
    const open = await makeProduct({ inventory_quantity: 0, inventory_policy: 'continue' })
    const oversold = await as(who.staff.token).post(`/api/v1/products/${open.id}/inventory/adjust`, {
      delta: -3,
      reason: 'backorder',
    })
    expect(oversold.body.inventory_quantity).toBe(-3)
  })

  it('needs variant_id for a product with variants (422); unknown product or variant is a 404; bad bodies are 422', async () => {
    const p = await makeProduct({ variants: [{ sku: `K-${tag()}`, option1: 'S', inventory_quantity: 1 }] })
    const plain = await makeProduct()
    const t = as(who.staff.token)
    expectProblem(
      await t.post(`/api/v1/products/${p.id}/inventory/adjust`, { delta: 1, reason: 'x' }),
      422,
      'variant_required',
    )
    expectProblem(
      await t.post(`/api/v1/products/${p.id}/inventory/adjust`, {
        delta: 1,
        reason: 'x',
        variant_id: randomUUID(),
      }),
      404,
    )
    expectProblem(
      await t.post(`/api/v1/products/${plain.id}/inventory/adjust`, {
        delta: 1,
        reason: 'x',
        variant_id: p.variants[0]!.id,
      }),
      404,
    )
    expectProblem(
      await t.post(`/api/v1/products/${randomUUID()}/inventory/adjust`, { delta: 1, reason: 'x' }),
      404,
    )
    for (const body of [
      { delta: 0, reason: 'x' },
      { delta: 1.5, reason: 'x' },
      { delta: 1 },
      { delta: 1, reason: '' },
    ]) {
      expectProblem(await t.post(`/api/v1/products/${plain.id}/inventory/adjust`, body), 422)
    }
    const [v] = await (await db())
      .select()
      .from(productVariants)
      .where(and(eq(productVariants.productId, p.id)))
    expect(v!.inventoryQuantity).toBe(1)
  })
})
