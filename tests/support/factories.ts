import { randomBytes } from 'node:crypto'
import { eq } from 'drizzle-orm'
import type { z } from 'zod'
import {
  inventoryLedger,
  orderItems,
  orders,
  products,
  productVariants,
  skus,
  users,
} from '../../db/schema/index.js'
import type { Role } from '../../lib/auth/permissions.js'
import { startSession } from '../../lib/auth/sessions.js'
import { CategoryInput, ProductInput, VariantInput } from '../../lib/catalog/schemas.js'
import { getDb } from '../../lib/platform/db.js'

// Data factories: real rows through the real schema.

// One argon2id hash of 'correct horse battery staple', computed once per file (hashing costs ~6 ms).
let defaultHash: Promise<string> | undefined
export const DEFAULT_PASSWORD = 'correct horse battery staple'

export async function makeUser(
  overrides: Partial<typeof users.$inferInsert> & { role?: Role } = {},
): Promise<{ user: typeof users.$inferSelect; token: string; refreshToken: string; sessionId: string }> {
  const db = await getDb()
  if (!defaultHash) {
    const { hashPassword } = await import('../../lib/auth/password.js')
    defaultHash = hashPassword(DEFAULT_PASSWORD)
  }
  const [user] = await db
    .insert(users)
    .values({
      email: `user-${randomBytes(6).toString('hex')}@example.test`,
      passwordHash: await defaultHash,
      firstName: 'Test',
      lastName: 'User',
      ...overrides,
    })
    .returning()
  const tokens = await startSession(db, user!.id, { ip: '127.0.0.1', userAgent: 'vitest' })
  return {
    user: user!,
    token: tokens.access_token,
    refreshToken: tokens.refresh_token,
    sessionId: tokens.session_id,
  }
}

// --- Catalog -------------------------------------------------------------------------------------------------

const catalogTag = () => randomBytes(5).toString('hex')

/** A category through the real service (slug generated unless given). */
export async function makeCategory(overrides: Partial<z.input<typeof CategoryInput>> = {}) {
  const { createCategory } = await import('../../lib/catalog/categories.js')
  return createCategory(
    await getDb(),
    CategoryInput.parse({ name: `Category ${catalogTag()}`, ...overrides }),
  )
}

/**
 * A product through the real service: active and visible by default, price in major units as the API
 * takes it, inline variants allowed. Returns the staff view.
 */
export async function makeProduct(overrides: Partial<z.input<typeof ProductInput>> = {}) {
  const { createProduct } = await import('../../lib/catalog/products.js')
  const t = catalogTag()
  const input = ProductInput.parse({
    sku: `SKU-${t}`,
    name: `Product ${t}`,
    price: 19.99,
    status: 'active',
    inventory_quantity: overrides.variants?.length ? undefined : 10,
    ...overrides,
  })
  return createProduct(await getDb(), input, { actorId: null })
}

/** A variant of a product through the real service. */
export async function makeVariant(productId: string, overrides: Partial<z.input<typeof VariantInput>> = {}) {
  const { createVariant } = await import('../../lib/catalog/variants.js')
  const input = VariantInput.parse({
    sku: `VAR-${catalogTag()}`,
    option1: 'M',
    inventory_quantity: 5,
    ...overrides,
  })
  return createVariant(await getDb(), productId, input, { actorId: null })
}

/** An order with lines (orders arrive in a later issue; analytics and recommendations read these rows). */
export async function makeOrderWithItems(input: {
  userId?: string | null
  status?: (typeof orders.$inferInsert)['status']
  /** default pending, as a new order */
  financialStatus?: (typeof orders.$inferInsert)['financialStatus']
  /** when the order was placed (default now) */
  createdAt?: Date
  email?: string
  currency?: string
  /** shipping charged (minor units, default 0) */
  shippingCents?: number
  /** captured so far (default: the total when financialStatus is paid, else 0) */
  paidAmountCents?: number
  refundedAmountCents?: number
  paymentProvider?: (typeof orders.$inferInsert)['paymentProvider']
  paymentIntentId?: string | null
  shippingAddress?: (typeof orders.$inferInsert)['shippingAddress']
  /** default web */
  source?: (typeof orders.$inferInsert)['source']
  fulfillmentStatus?: (typeof orders.$inferInsert)['fulfillmentStatus']
  tags?: string[]
  items: Array<{
    productId: string | null
    variantId?: string | null
    quantity?: number
    unitPriceCents?: number
    discountCents?: number
    refundedQuantity?: number
  }>
}) {
  const db = await getDb()
  const lines = input.items.map((i) => {
    const quantity = i.quantity ?? 1
    const unit = i.unitPriceCents ?? 1000
    return { ...i, quantity, unit, subtotal: quantity * unit, discount: i.discountCents ?? 0 }
  })
  const subtotal = lines.reduce((s, l) => s + l.subtotal, 0)
  const discount = lines.reduce((s, l) => s + l.discount, 0)
  const shipping = input.shippingCents ?? 0
  const total = subtotal - discount + shipping
  const paidByDefault = ['paid', 'partially_refunded', 'refunded'].includes(input.financialStatus ?? '')
  const [order] = await db
    .insert(orders)
    .values({
      userId: input.userId ?? null,
      email: input.email ?? `buyer-${catalogTag()}@example.test`,
      currency: input.currency ?? 'USD',
      status: input.status ?? 'confirmed',
      ...(input.financialStatus ? { financialStatus: input.financialStatus } : {}),
      subtotalCents: subtotal,
      discountAmountCents: discount,
      shippingAmountCents: shipping,
      totalAmountCents: total,
      paidAmountCents: input.paidAmountCents ?? (paidByDefault ? total : 0),
      refundedAmountCents: input.refundedAmountCents ?? 0,
      paymentProvider: input.paymentProvider ?? null,
      paymentIntentId: input.paymentIntentId ?? null,
      shippingAddress: input.shippingAddress ?? null,
      ...(input.source ? { source: input.source } : {}),
      ...(input.fulfillmentStatus ? { fulfillmentStatus: input.fulfillmentStatus } : {}),
      ...(input.tags ? { tags: input.tags } : {}),
      ...(input.createdAt ? { createdAt: input.createdAt } : {}),
    })
    .returning()
  const items = await db
    .insert(orderItems)
    .values(
      lines.map((l) => ({
        orderId: order!.id,
        productId: l.productId,
        variantId: l.variantId ?? null,
        productName: 'Ordered product',
        sku: `ORDERED-${catalogTag()}`,
        quantity: l.quantity,
        unitPriceCents: l.unit,
        subtotalCents: l.subtotal,
        discountAmountCents: l.discount,
        totalAmountCents: l.subtotal - l.discount,
        refundedQuantity: l.refundedQuantity ?? 0,
      })),
    )
    .returning()
  return { order: order!, items }
}

let skuCounter = 0
const newSku = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}-${++skuCounter}`

/**
 * A raw product row (its SKU registered first, as the schema requires); active and tracked unless
 * overridden. It skips the catalog's rules on purpose (e.g. stock on a product with variants); use
 * makeProduct for a product made the way the API makes one.
 */
export async function makeProductRow(
  overrides: Partial<typeof products.$inferInsert> = {},
): Promise<typeof products.$inferSelect> {
  const db = await getDb()
  const sku = overrides.sku ?? newSku('P')
  await db.insert(skus).values({ sku, kind: 'product' })
  const [product] = await db
    .insert(products)
    .values({
      name: `Test product ${sku}`,
      slug: sku.toLowerCase(),
      priceCents: 2500,
      status: 'active',
      ...overrides,
      sku,
    })
    .returning()
  return product!
}

/** A raw variant row of `productId`; marks the product as one with variants. */
export async function makeVariantRow(
  productId: string,
  overrides: Partial<typeof productVariants.$inferInsert> = {},
): Promise<typeof productVariants.$inferSelect> {
  const db = await getDb()
  const sku = overrides.sku ?? newSku('V')
  await db.insert(skus).values({ sku, kind: 'variant' })
  const [variant] = await db
    .insert(productVariants)
    .values({ title: `Size ${sku}`, ...overrides, productId, sku })
    .returning()
  await db.update(products).set({ hasVariants: true, inventoryQuantity: 0 }).where(eq(products.id, productId))
  return variant!
}

/** Set an item's stock as a stock write does: the row and its ledger entry. */
export async function setStock(
  item: { productId: string; variantId?: string | null },
  quantity: number,
): Promise<void> {
  const db = await getDb()
  const table = item.variantId ? productVariants : products
  const id = item.variantId ?? item.productId
  const [row] = await db.select({ q: table.inventoryQuantity }).from(table).where(eq(table.id, id))
  if (!row) throw new Error('setStock: no such item')
  await db.update(table).set({ inventoryQuantity: quantity }).where(eq(table.id, id))
  await db.insert(inventoryLedger).values({
    productId: item.productId,
    variantId: item.variantId ?? null,
    delta: quantity - row.q,
    quantityAfter: quantity,
    reason: 'set',
  })
}
