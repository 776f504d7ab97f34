import { eq } from 'drizzle-orm'
import { orders, products } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { makeOrderWithItems, makeProductRow } from './factories.js'

// Orders ready to be packed and shipped (paid, confirmed, with a shipping address), until POST /orders
// lands: rows through makeOrderWithItems, products with stock and a weight.

export const SHIP_TO = {
  first_name: 'Ada',
  last_name: 'Lovelace',
  line1: '500 Market St',
  city: 'San Francisco',
  state: 'CA',
  postal_code: '94105',
  country: 'US',
  phone: '+1 415 555 0100',
}

export const SHIP_FROM = {
  name: 'Example Shop',
  company: 'Example Shop LLC',
  line1: '215 Clayton St.',
  city: 'San Francisco',
  state: 'CA',
  postal_code: '94117',
  country: 'US',
  phone: '+1 555 341 9393',
  email: 'shop@example.com',
}

export const PARCEL = { length: 10, width: 8, height: 4, distance_unit: 'in', mass_unit: 'lb' }

export interface ShippableOptions {
  userId?: string | null
  status?: 'pending' | 'confirmed' | 'processing' | 'shipped' | 'delivered' | 'cancelled'
  /** units per line (default two lines: 2 and 1) */
  quantities?: number[]
  /** grams per unit of each line's product (default 500) */
  weightGrams?: number
  shippingAddress?: typeof SHIP_TO | null
  /** track stock (default true, 10 units each) */
  stock?: number
}

export async function shippableOrder(opts: ShippableOptions = {}) {
  const quantities = opts.quantities ?? [2, 1]
  const made = await Promise.all(
    quantities.map(() =>
      makeProductRow({ inventoryQuantity: opts.stock ?? 10, weightGrams: opts.weightGrams ?? 500 }),
    ),
  )
  const status = opts.status ?? 'confirmed'
  const { order, items } = await makeOrderWithItems({
    userId: opts.userId ?? null,
    status,
    financialStatus: status === 'pending' ? 'pending' : 'paid',
    paymentProvider: 'manual',
    shippingCents: 500,
    shippingAddress: opts.shippingAddress === null ? null : (opts.shippingAddress ?? SHIP_TO),
    items: made.map((p, i) => ({ productId: p.id, quantity: quantities[i]!, unitPriceCents: 1500 })),
  })
  return { order, items, products: made }
}

export async function stockOf(productId: string): Promise<number> {
  const db = await getDb()
  const [row] = await db
    .select({ q: products.inventoryQuantity })
    .from(products)
    .where(eq(products.id, productId))
  return row!.q
}

export async function setOrder(orderId: string, values: Partial<typeof orders.$inferInsert>) {
  const db = await getDb()
  await db.update(orders).set(values).where(eq(orders.id, orderId))
}
