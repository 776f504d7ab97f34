import { eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { inventoryLedger, products } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { seedDemoCatalog } from '../../lib/seed/demo.js'
import { catalogTestEnv } from '../support/catalog.js'
import { call } from '../support/http.js'

// The demo catalog of `npm run dev` follows the stock model and reads like a shop.

catalogTestEnv()
beforeAll(async () => {
  expect(await seedDemoCatalog(await getDb())).toBe(true)
})

describe('demo catalog', () => {
  it('seeds once: a category tree, products with size/colour variants and stock in the ledger', async () => {
    expect(await seedDemoCatalog(await getDb())).toBe(false)
    const tree = await call('GET', '/api/v1/categories?tree=true')
    const men = tree.body.categories.find((c: { slug: string }) => c.slug === 'men')
    expect(men.children.map((c: { slug: string }) => c.slug)).toEqual(['men-shirts', 'men-outerwear'])
    const dress = (await call('GET', '/api/v1/products/linen-wrap-dress')).body
    expect(dress.variants).toHaveLength(6)
    expect(dress.variants[0]).toMatchObject({ option1: 'S', option2: 'Sand', price: 129 })
    expect(dress.inventory_quantity).toBe(31)
    const [row] = await (await getDb()).select().from(products).where(eq(products.id, dress.id))
    expect(row!.inventoryQuantity).toBe(0)
    const ledger = await (await getDb())
      .select()
      .from(inventoryLedger)
      .where(eq(inventoryLedger.productId, dress.id))
    expect(ledger.every((l) => l.reason === 'import' && l.variantId)).toBe(true)
    expect(ledger.reduce((s, l) => s + l.delta, 0)).toBe(31)
  })

  it('has sold-out, low-stock and hidden items a storefront must handle', async () => {
    const rain = (await call('GET', '/api/v1/products/packable-rain-jacket')).body
    expect(rain.in_stock).toBe(false)
    expect((await call('GET', '/api/v1/products/wool-beret')).status).toBe(404)
    const list = await call('GET', '/api/v1/products?category=men&sort=name_asc')
    expect(list.body.products.map((p: { name: string }) => p.name)).toEqual([
      'Brushed Flannel Shirt',
      'Oxford Shirt',
      'Packable Rain Jacket',
      'Waxed Field Parka',
    ])
    expect((await call('GET', '/api/v1/products/acc-weekender')).status).toBe(404)
    expect((await call('GET', '/api/v1/products/leather-weekender/inventory')).body.low_stock).toBe(true)
  })
})
