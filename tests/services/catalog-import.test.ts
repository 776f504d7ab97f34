import { count, like } from 'drizzle-orm'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { inventoryLedger, products, productVariants } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { makeUser } from '../support/factories.js'
import { call } from '../support/http.js'

// A 5,000-row import lands in ONE request on real PostgreSQL through the Neon driver, as CSV (the body
// limit of the route, one statement per table: far past what a multi-row VALUES list could bind). How
// long it takes is a benchmark figure (npm run bench:http), not asserted here.

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

/** 1,000 products with 4 variant rows each: 5,000 rows. */
function catalogCsv(): string {
  const lines = ['sku,name,description,price,tags,inventory_quantity,product_sku,option1,option2']
  for (let i = 0; i < 1000; i++) {
    lines.push(`BIG-${i},"Tee ${i}, organic","Soft, ""heavy"" jersey",19.99,tee|cotton,,,,`)
    for (const [s, size] of ['S', 'M', 'L', 'XL'].entries()) {
      lines.push(`BIG-${i}-${size},,,,,${s + 1},BIG-${i},${size},Black`)
    }
  }
  return lines.join('\n')
}

describe('bulk import on PostgreSQL', () => {
  it('lands 5,000 rows in one request, and the same file again changes nothing', async () => {
    const s = await makeUser({ role: 'staff' })
    const csv = catalogCsv()
    expect(Buffer.byteLength(csv)).toBeLessThan(4_500_000)
    const send = () =>
      call('POST', '/api/v1/products/bulk-import', {
        token: s.token,
        rawBody: csv,
        headers: { 'content-type': 'text/csv' },
      })
    const res = await send()
    expect(res.status, res.text.slice(0, 500)).toBe(200)
    expect(res.body.results).toHaveLength(5000)
    expect(res.body.results.filter((r: any) => r.status === 'created')).toHaveLength(5000)
    const db = await getDb()
    const [p] = await db.select({ n: count() }).from(products).where(like(products.sku, 'BIG-%'))
    const [v] = await db
      .select({ n: count() })
      .from(productVariants)
      .where(like(productVariants.sku, 'BIG-%'))
    const [l] = await db.select({ n: count() }).from(inventoryLedger)
    expect([p!.n, v!.n, l!.n]).toEqual([1000, 4000, 4000])

    const again = await send()
    expect(again.status).toBe(200)
    expect(again.body.results.every((r: any) => r.status === 'unchanged')).toBe(true)
    const [l2] = await db.select({ n: count() }).from(inventoryLedger)
    expect(l2!.n).toBe(4000)
  }, 120_000)
})
