import { asc, inArray } from 'drizzle-orm'
import { inventoryLedger, orderItems, orders, products, productVariants } from '../../db/schema/index.js'
import { FULL_ORDER, type FullOrder } from '../../lib/orders/view.js'
import { getDb } from '../../lib/platform/db.js'
import { makeProductRow, makeUser, makeVariantRow } from '../support/factories.js'

// The shop one model run plays in (its own products, so runs sharing a database never see each other's
// orders) and the books the invariants read: every order of those products with its lines, fulfilments,
// refunds, returns and payments, the stock on hand and the inventory ledger. Three statements a read.

export interface ShopItem {
  key: string
  productId: string
  variantId: string | null
  initial: number
}

export interface Caller {
  token: string
  userId: string
}

export interface Shop {
  items: ShopItem[]
  customer: Caller
  /** orders.manage, not orders.refund */
  staff: Caller
  /** every permission, orders.refund included */
  admin: Caller
}

export interface LedgerRow {
  key: string
  orderId: string | null
  reason: string
  delta: number
}

export interface Books {
  orders: FullOrder[]
  onHand: Map<string, number>
  initial: Map<string, number>
  ledger: LedgerRow[]
}

export const itemKey = (productId: string, variantId: string | null) => `${productId}:${variantId ?? ''}`

let staffers: Promise<Pick<Shop, 'staff' | 'admin'>> | undefined
const caller = (u: Awaited<ReturnType<typeof makeUser>>) => ({ token: u.token, userId: u.user.id })

/**
 * Staff once per file; per run a buyer of its own (unpaid orders left by earlier runs would reach the
 * per-buyer cap) and a fresh catalog: a plain product (5 in stock), a variant (4 in stock).
 */
export async function makeShop(): Promise<Shop> {
  staffers ??= Promise.all([makeUser({ role: 'staff' }), makeUser({ role: 'admin' })]).then(([s, a]) => ({
    staff: caller(s),
    admin: caller(a),
  }))
  const plain = await makeProductRow({ inventoryQuantity: 5, priceCents: 1250, weightGrams: 400 })
  const parent = await makeProductRow({ priceCents: 899, weightGrams: 300 })
  const variant = await makeVariantRow(parent.id, { inventoryQuantity: 4, priceCents: 899 })
  return {
    ...(await staffers),
    customer: caller(await makeUser()),
    items: [
      { key: itemKey(plain.id, null), productId: plain.id, variantId: null, initial: 5 },
      { key: itemKey(parent.id, variant.id), productId: parent.id, variantId: variant.id, initial: 4 },
    ],
  }
}

export async function readBooks(shop: Shop): Promise<Books> {
  const db = await getDb()
  const productIds = shop.items.map((i) => i.productId)
  const variantIds = shop.items.flatMap((i) => (i.variantId ? [i.variantId] : []))
  const ofShop = db
    .select({ id: orderItems.orderId })
    .from(orderItems)
    .where(inArray(orderItems.productId, productIds))
  const [found, stock, ledger] = await Promise.all([
    db.query.orders.findMany({
      where: inArray(orders.id, ofShop),
      with: FULL_ORDER,
      orderBy: [asc(orders.createdAt), asc(orders.id)],
    }),
    Promise.all([
      db
        .select({ id: products.id, q: products.inventoryQuantity })
        .from(products)
        .where(inArray(products.id, productIds)),
      variantIds.length
        ? db
            .select({ id: productVariants.id, q: productVariants.inventoryQuantity })
            .from(productVariants)
            .where(inArray(productVariants.id, variantIds))
        : Promise.resolve([]),
    ]),
    db
      .select({
        productId: inventoryLedger.productId,
        variantId: inventoryLedger.variantId,
        orderId: inventoryLedger.orderId,
        reason: inventoryLedger.reason,
        delta: inventoryLedger.delta,
      })
      .from(inventoryLedger)
      .where(inArray(inventoryLedger.productId, productIds)),
  ])
  const [productRows, variantRows] = stock
  const onHand = new Map<string, number>()
  for (const item of shop.items) {
    const row = item.variantId
      ? variantRows.find((v) => v.id === item.variantId)
      : productRows.find((p) => p.id === item.productId)
    onHand.set(item.key, row?.q ?? Number.NaN)
  }
  return {
    orders: found as FullOrder[],
    onHand,
    initial: new Map(shop.items.map((i) => [i.key, i.initial])),
    ledger: ledger.map((l) => ({
      key: itemKey(l.productId, l.variantId),
      orderId: l.orderId,
      reason: l.reason,
      delta: l.delta,
    })),
  }
}
