import { randomBytes } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { inventoryLedger, products, productVariants, skus, users } from '../../db/schema/index.js'
import type { Role } from '../../lib/auth/permissions.js'
import { startSession } from '../../lib/auth/sessions.js'
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

let skuCounter = 0
const newSku = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}-${++skuCounter}`

/** A product (its SKU registered first, as the schema requires); active and tracked unless overridden. */
export async function makeProduct(
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

/** A variant of `productId`; marks the product as one with variants. */
export async function makeVariant(
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
