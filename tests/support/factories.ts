import { randomBytes } from 'node:crypto'
import { orderItems, orders, users } from '../../db/schema/index.js'
import type { Role } from '../../lib/auth/permissions.js'
import { startSession } from '../../lib/auth/sessions.js'
import { getDb } from '../../lib/platform/db.js'
import { toMinor } from '../../lib/platform/money.js'

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

// --- Catalog and orders ------------------------------------------------------------------------------------

type NewOrder = typeof orders.$inferInsert

/**
 * A product through the catalog's own create service (validation, slug, SKU registry, ledger), from API
 * fields in major units: `makeProduct({ price: 19.99, inventory_quantity: 5, variants: [...] })`.
 */
export async function makeProduct(fields: Record<string, unknown> = {}) {
  const { createProduct } = await import('../../lib/catalog/products.js')
  const { ProductInput } = await import('../../lib/catalog/schemas.js')
  const tag = randomBytes(4).toString('hex')
  const input = ProductInput.parse({ sku: `SKU-${tag}`, name: `Product ${tag}`, price: 10, ...fields })
  return createProduct(await getDb(), input, { actorId: null })
}

export interface OrderLine {
  /** as the API shows them (prices in major units) */
  product: { id: string | null; sku: string; name: string; price: number }
  variant?: { id: string; sku: string; title: string; price: number }
  quantity: number
  /** unit price in major units; default the variant's (effective) or the product's price */
  unitPrice?: number
  discount?: number
  refundedQuantity?: number
}

/**
 * An order with its lines, written straight to the tables (orders come through the API in a later
 * issue): subtotal, tax 0 and totals that satisfy the schema's money checks, line by line.
 */
export async function makeOrderWithItems(
  lines: OrderLine[],
  overrides: Partial<NewOrder> = {},
): Promise<{ order: typeof orders.$inferSelect; items: Array<typeof orderItems.$inferSelect> }> {
  const db = await getDb()
  const priced = lines.map((l) => {
    const unit = toMinor(l.unitPrice ?? l.variant?.price ?? l.product.price)
    const subtotal = unit * l.quantity
    const discount = toMinor(l.discount ?? 0)
    return { l, unit, subtotal, discount, total: subtotal - discount }
  })
  const subtotal = priced.reduce((s, p) => s + p.subtotal, 0)
  const discount = priced.reduce((s, p) => s + p.discount, 0)
  const [order] = await db
    .insert(orders)
    .values({
      email: `buyer-${randomBytes(4).toString('hex')}@example.test`,
      currency: 'USD',
      status: 'confirmed',
      financialStatus: 'paid',
      subtotalCents: subtotal,
      discountAmountCents: discount,
      totalAmountCents: subtotal - discount,
      ...overrides,
    })
    .returning()
  const items = await db
    .insert(orderItems)
    .values(
      priced.map((p) => ({
        orderId: order!.id,
        productId: p.l.product.id,
        variantId: p.l.variant?.id ?? null,
        productName: p.l.product.name,
        variantTitle: p.l.variant?.title ?? null,
        sku: p.l.variant?.sku ?? p.l.product.sku,
        quantity: p.l.quantity,
        unitPriceCents: p.unit,
        subtotalCents: p.subtotal,
        discountAmountCents: p.discount,
        totalAmountCents: p.total,
        refundedQuantity: p.l.refundedQuantity ?? 0,
        createdAt: overrides.createdAt,
      })),
    )
    .returning()
  return { order: order!, items }
}
