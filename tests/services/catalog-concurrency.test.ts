import { eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { inventoryLedger, products, productVariants } from '../../db/schema/index.js'
import { driverKind, getDb } from '../../lib/platform/db.js'
import { catalogTestEnv } from '../support/catalog.js'
import { makeProduct, makeUser } from '../support/factories.js'
import { call } from '../support/http.js'

// Issue 8's stock races, on real PostgreSQL through the Neon driver (PGlite runs one query at a time, so
// these prove nothing there): the conditional UPDATE never oversells, and adjusts of two variants of one
// product write only their own rows (no queue behind the product row).

catalogTestEnv()
let staff: Awaited<ReturnType<typeof makeUser>>
beforeAll(async () => {
  staff = await makeUser({ role: 'staff' })
})

const adjust = (productId: string, body: Record<string, unknown>) =>
  call('POST', `/api/v1/products/${productId}/inventory/adjust`, { token: staff.token, body })

describe('concurrent stock adjustments', () => {
  it('runs on the production driver', async () => {
    expect(await driverKind()).toBe('neon')
  })

  it('50 concurrent -1 adjusts on a stock of 20: exactly 20 succeed, the stock ends at 0, never below', async () => {
    const p = await makeProduct({ inventory_quantity: 20 })
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => adjust(p.id, { delta: -1, reason: `sale ${i}` })),
    )
    const statuses = results.map((r) => r.status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(20)
    expect(statuses.filter((s) => s === 409)).toHaveLength(30)
    const db = await getDb()
    const [row] = await db.select().from(products).where(eq(products.id, p.id))
    expect(row!.inventoryQuantity).toBe(0)
    const ledger = await db.select().from(inventoryLedger).where(eq(inventoryLedger.productId, p.id))
    const adjustments = ledger.filter((l) => l.reason === 'adjustment')
    expect(adjustments).toHaveLength(20)
    // Each success saw a distinct level on the way down: 19, 18, ..., 0.
    expect(adjustments.map((l) => l.quantityAfter).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i),
    )
  })

  it('concurrent adjusts of two variants of one product write only their own rows', async () => {
    const p = await makeProduct({
      variants: [
        { sku: `RACE-${Date.now()}-S`, option1: 'S', inventory_quantity: 30 },
        { sku: `RACE-${Date.now()}-M`, option1: 'M', inventory_quantity: 30 },
      ],
    })
    const [a, b] = p.variants
    const db = await getDb()
    const [before] = await db.select().from(products).where(eq(products.id, p.id))
    const calls = Array.from({ length: 40 }, (_, i) =>
      adjust(p.id, { delta: -1, reason: 'sale', variant_id: i % 2 ? a!.id : b!.id }),
    )
    const results = await Promise.all(calls)
    expect(results.every((r) => r.status === 200)).toBe(true)
    const variants = await db.select().from(productVariants).where(eq(productVariants.productId, p.id))
    expect(Object.fromEntries(variants.map((v) => [v.id, v.inventoryQuantity]))).toEqual({
      [a!.id]: 10,
      [b!.id]: 10,
    })
    const [after] = await db.select().from(products).where(eq(products.id, p.id))
    expect(after!.updatedAt).toEqual(before!.updatedAt)
    expect(after!.inventoryQuantity).toBe(0)
    const ledger = await db.select().from(inventoryLedger).where(eq(inventoryLedger.productId, p.id))
    const adjustments = ledger.filter((l) => l.reason === 'adjustment')
    expect(adjustments.filter((l) => l.variantId === a!.id)).toHaveLength(20)
    expect(adjustments.filter((l) => l.variantId === b!.id)).toHaveLength(20)
  })
})
