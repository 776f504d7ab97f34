import { randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import {
  discountRedemptions,
  discounts,
  inventoryLedger,
  products,
  productVariants,
} from '../../db/schema/index.js'
import { ProblemError } from '../../lib/http/errors.js'
import { returnStock, sumPerItem, takeStock } from '../../lib/orders/stock.js'
import { getDb } from '../../lib/platform/db.js'
import { makeOrderWithItems, makeProductRow, makeVariantRow } from '../support/factories.js'
import { countStatements } from '../support/statements.js'

// Taking and giving back stock for orders: one statement for any cart, ledger rows included, untracked
// items skipped, a short item named, nothing taken when one item is short.

const db = () => getDb()
const productQty = async (id: string) =>
  (await (await db()).select().from(products).where(eq(products.id, id)))[0]!.inventoryQuantity
const variantQty = async (id: string) =>
  (await (await db()).select().from(productVariants).where(eq(productVariants.id, id)))[0]!.inventoryQuantity
const ledgerOf = async (orderId: string) =>
  (await db()).select().from(inventoryLedger).where(eq(inventoryLedger.orderId, orderId))

async function take(lines: Parameters<typeof takeStock>[1], orderId = randomUUID()) {
  const d = await db()
  return d.transaction((tx) => takeStock(tx, lines, { orderId, actorId: null }))
}

describe('sumPerItem', () => {
  it('sums one item named on two lines and keeps the first line index, ids sorted', () => {
    const a = '00000000-0000-4000-8000-00000000000b'
    const b = '00000000-0000-4000-8000-00000000000a'
    const items = sumPerItem([
      { productId: a, variantId: null, quantity: 1 },
      { productId: a, variantId: b, quantity: 2 },
      { productId: a, variantId: b, quantity: 3 },
    ])
    expect(items).toEqual([
      { productId: a, variantId: b, quantity: 5, line: 1 },
      { productId: a, variantId: null, quantity: 1, line: 0 },
    ])
  })
})

describe('takeStock', () => {
  it('takes products and variants in one statement with sale ledger rows', async () => {
    const p = await makeProductRow({ inventoryQuantity: 5 })
    const withVariants = await makeProductRow()
    const v = await makeVariantRow(withVariants.id, { inventoryQuantity: 7 })
    const orderId = randomUUID()
    const d = await db()
    const { statements } = await countStatements(d, () =>
      takeStock(
        d,
        [
          { productId: p.id, variantId: null, quantity: 2 },
          { productId: withVariants.id, variantId: v.id, quantity: 3 },
          { productId: withVariants.id, variantId: v.id, quantity: 1 },
        ],
        { orderId, actorId: null },
      ),
    )
    expect(statements).toBe(1)
    expect(await productQty(p.id)).toBe(3)
    expect(await variantQty(v.id)).toBe(3)
    const ledger = await ledgerOf(orderId)
    expect(ledger.map((l) => [l.productId, l.variantId, l.delta, l.quantityAfter, l.reason]).sort()).toEqual(
      [
        [p.id, null, -2, 3, 'sale'],
        [withVariants.id, v.id, -4, 3, 'sale'],
      ].sort(),
    )
  })

  it('refuses with 409 out_of_stock naming the short line and takes nothing', async () => {
    const plenty = await makeProductRow({ inventoryQuantity: 50 })
    const parent = await makeProductRow()
    const v = await makeVariantRow(parent.id, { inventoryQuantity: 3 })
    const orderId = randomUUID()
    const err = await take(
      [
        { productId: plenty.id, variantId: null, quantity: 1 },
        { productId: parent.id, variantId: v.id, quantity: 2 },
        { productId: parent.id, variantId: v.id, quantity: 2 },
      ],
      orderId,
    ).catch((e) => e)
    expect(err).toBeInstanceOf(ProblemError)
    expect(err).toMatchObject({ status: 409, code: 'out_of_stock' })
    expect(err.extra.errors[0]).toMatchObject({ path: 'items.1', code: 'out_of_stock' })
    expect(err.detail).toContain(v.sku)
    expect(await productQty(plenty.id)).toBe(50)
    expect(await variantQty(v.id)).toBe(3)
    expect(await ledgerOf(orderId)).toHaveLength(0)
  })

  it('sells below zero under the continue policy and skips untracked items', async () => {
    const backorder = await makeProductRow({ inventoryQuantity: 1, inventoryPolicy: 'continue' })
    const untracked = await makeProductRow({ inventoryQuantity: 0, trackInventory: false })
    const parent = await makeProductRow()
    const vUntracked = await makeVariantRow(parent.id, { inventoryQuantity: 0, trackInventory: false })
    const orderId = randomUUID()
    await take(
      [
        { productId: backorder.id, variantId: null, quantity: 3 },
        { productId: untracked.id, variantId: null, quantity: 9 },
        { productId: parent.id, variantId: vUntracked.id, quantity: 4 },
      ],
      orderId,
    )
    expect(await productQty(backorder.id)).toBe(-2)
    expect(await productQty(untracked.id)).toBe(0)
    expect(await variantQty(vUntracked.id)).toBe(0)
    const ledger = await ledgerOf(orderId)
    expect(ledger).toHaveLength(1)
    expect(ledger[0]).toMatchObject({ productId: backorder.id, delta: -3, quantityAfter: -2 })
  })

  it('sells exactly the last unit, then refuses the next one', async () => {
    const p = await makeProductRow({ inventoryQuantity: 1 })
    await take([{ productId: p.id, variantId: null, quantity: 1 }])
    expect(await productQty(p.id)).toBe(0)
    await expect(take([{ productId: p.id, variantId: null, quantity: 1 }])).rejects.toMatchObject({
      status: 409,
      code: 'out_of_stock',
    })
  })
})

describe("takeStock with a redemption (checkout's last statement)", () => {
  async function setUp(usageLimit: number, timesUsed: number) {
    const d = await db()
    const p = await makeProductRow({ inventoryQuantity: 5 })
    const { order } = await makeOrderWithItems({ items: [{ productId: p.id, quantity: 1 }] })
    const [disc] = await d
      .insert(discounts)
      .values({
        code: `STOCK${randomUUID().slice(0, 8)}`,
        type: 'percentage',
        percentBps: 500,
        usageLimit,
        timesUsed,
      })
      .returning()
    const take = (runner: Parameters<typeof takeStock>[0]) =>
      takeStock(runner, [{ productId: p.id, variantId: null, quantity: 2 }], {
        orderId: order.id,
        actorId: null,
        redeem: { discountId: disc!.id, userId: null, email: 'Buyer@Example.test' },
      })
    /** in a transaction of its own, as checkout runs it (a refusal rolls it back) */
    const run = () => d.transaction((tx) => take(tx))
    const redemptions = () =>
      d.select().from(discountRedemptions).where(eq(discountRedemptions.discountId, disc!.id))
    const used = async () =>
      (await d.select().from(discounts).where(eq(discounts.id, disc!.id)))[0]!.timesUsed
    return { d, p, order, take, run, redemptions, used }
  }

  it('takes the stock, counts the use and records the redemption in one statement', async () => {
    const { d, p, order, take, redemptions, used } = await setUp(2, 1)
    // counted outside a transaction: the Neon driver's BEGIN and COMMIT are statements too
    const { statements } = await countStatements(d, () => take(d))
    expect(statements).toBe(1)
    expect(await productQty(p.id)).toBe(3)
    expect(await used()).toBe(2)
    expect(await redemptions()).toEqual([
      expect.objectContaining({ orderId: order.id, email: 'buyer@example.test', userId: null }),
    ])
  })

  it('a discount used up meanwhile is 422 on discount_code and takes no stock', async () => {
    const { p, run, redemptions, used } = await setUp(1, 1)
    const err = await run().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ProblemError)
    expect((err as ProblemError).status).toBe(422)
    expect((err as ProblemError).code).toBe('discount_usage_limit_reached')
    expect(await productQty(p.id)).toBe(5)
    expect(await used()).toBe(1)
    expect(await redemptions()).toEqual([])
  })

  it('a short item is 409 out_of_stock even with the discount free, and nothing is counted', async () => {
    const { d, p, run, redemptions, used } = await setUp(5, 0)
    await d.update(products).set({ inventoryQuantity: 1 }).where(eq(products.id, p.id))
    const err = await run().catch((e: unknown) => e)
    expect((err as ProblemError).status).toBe(409)
    expect(await productQty(p.id)).toBe(1)
    expect(await used()).toBe(0)
    expect(await redemptions()).toEqual([])
  })
})

describe('returnStock', () => {
  it('gives units back in one statement with the reason, skipping untracked and deleted items', async () => {
    const p = await makeProductRow({ inventoryQuantity: 0 })
    const untracked = await makeProductRow({ inventoryQuantity: 0, trackInventory: false })
    const parent = await makeProductRow()
    const v = await makeVariantRow(parent.id, { inventoryQuantity: 1 })
    const orderId = randomUUID()
    const d = await db()
    const { statements } = await countStatements(d, () =>
      returnStock(
        d,
        [
          { productId: p.id, variantId: null, quantity: 2 },
          { productId: untracked.id, variantId: null, quantity: 5 },
          { productId: parent.id, variantId: v.id, quantity: 1 },
          { productId: parent.id, variantId: v.id, quantity: 2 },
          { productId: null, variantId: null, quantity: 4 },
          { productId: p.id, variantId: null, quantity: 0 },
        ],
        { orderId, actorId: null, reason: 'cancel' },
      ),
    )
    expect(statements).toBe(1)
    expect(await productQty(p.id)).toBe(2)
    expect(await productQty(untracked.id)).toBe(0)
    expect(await variantQty(v.id)).toBe(4)
    const ledger = await ledgerOf(orderId)
    expect(ledger.map((l) => [l.variantId, l.delta, l.quantityAfter, l.reason]).sort()).toEqual(
      [
        [null, 2, 2, 'cancel'],
        [v.id, 3, 4, 'cancel'],
      ].sort(),
    )
  })

  it('writes nothing for an empty list', async () => {
    const d = await db()
    const { statements } = await countStatements(d, () =>
      returnStock(d, [], { orderId: randomUUID(), actorId: null, reason: 'refund_restock' }),
    )
    expect(statements).toBe(0)
  })
})
