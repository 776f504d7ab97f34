import { PGlite } from '@electric-sql/pglite'
import { eq, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/pglite'
import { migrate } from 'drizzle-orm/pglite/migrator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as schema from '../../db/schema/index.js'
import { pgliteExtensions } from '../../lib/platform/db.js'

const {
  users,
  skus,
  products,
  productVariants,
  stockAlerts,
  orders,
  orderItems,
  webhookEvents,
  idempotencyKeys,
  userSessions,
} = schema

let client: PGlite
let db: ReturnType<typeof makeDb>

function makeDb(c: PGlite) {
  return drizzle({ client: c, schema })
}

/** The statement fails with a Postgres error naming `constraint` (drizzle wraps it in `cause`). */
const violates = (constraint: string) => ({ cause: expect.objectContaining({ constraint }) })

beforeAll(async () => {
  client = new PGlite({ extensions: await pgliteExtensions() })
  db = makeDb(client)
  await migrate(db, { migrationsFolder: 'db/migrations' })
}, 60_000)

afterAll(async () => {
  await client?.close()
})

let seq = 0
const uniq = (prefix: string) => `${prefix}-${++seq}`

async function createProduct(overrides: Partial<typeof products.$inferInsert> = {}) {
  const sku = overrides.sku ?? uniq('SKU')
  await db.insert(skus).values({ sku, kind: 'product' })
  const [row] = await db
    .insert(products)
    .values({ name: 'Tee', slug: uniq('tee'), priceCents: 1999, ...overrides, sku })
    .returning()
  return row!
}

async function createVariant(productId: string, sku = uniq('VSKU')) {
  await db.insert(skus).values({ sku, kind: 'variant' })
  const [row] = await db.insert(productVariants).values({ productId, sku, title: 'M / Blue' }).returning()
  return row!
}

describe('migrations', () => {
  it('create every table of the schema', async () => {
    const { rows } = await client.query<{ table_name: string }>(
      `select table_name from information_schema.tables where table_schema = 'public' order by 1`,
    )
    expect(rows.map((r) => r.table_name)).toEqual(
      [
        'categories',
        'discount_redemptions',
        'discounts',
        'fulfillment_items',
        'fulfillments',
        'idempotency_keys',
        'inventory_ledger',
        'mfa_backup_codes',
        'mfa_devices',
        'order_items',
        'order_notes',
        'order_status_history',
        'orders',
        'outbox_emails',
        'payments',
        'product_variants',
        'products',
        'refunds',
        'returns',
        'shipping_rates',
        'skus',
        'stock_alerts',
        'tax_rates',
        'tracking_events',
        'user_activities',
        'user_permissions',
        'user_profiles',
        'user_sessions',
        'user_tokens',
        'users',
        'webhook_events',
      ].sort(),
    )
  })
})

describe('SKUs are unique across products and variants', () => {
  it('refuses a second product with the same SKU', async () => {
    const p = await createProduct()
    await expect(
      db.insert(products).values({ sku: p.sku, name: 'Other', slug: uniq('other'), priceCents: 100 }),
    ).rejects.toMatchObject(violates('products_sku_unique'))
  })

  it('refuses a variant that reuses a product SKU', async () => {
    const p = await createProduct()
    // registering the SKU again (as a variant SKU) collides on the skus primary key
    await expect(db.insert(skus).values({ sku: p.sku, kind: 'variant' })).rejects.toMatchObject(
      violates('skus_pkey'),
    )
    // pointing a variant straight at the product's SKU fails the (sku, kind) foreign key
    await expect(
      db.insert(productVariants).values({ productId: p.id, sku: p.sku, title: 'S' }),
    ).rejects.toMatchObject(violates('product_variants_sku_skus_fk'))
  })

  it('refuses a product that reuses a variant SKU, and two variants sharing one', async () => {
    const p = await createProduct({ hasVariants: true })
    const v = await createVariant(p.id)
    await expect(
      db.insert(products).values({ sku: v.sku, name: 'Clash', slug: uniq('clash'), priceCents: 100 }),
    ).rejects.toMatchObject(violates('products_sku_skus_fk'))
    await expect(
      db.insert(productVariants).values({ productId: p.id, sku: v.sku, title: 'L' }),
    ).rejects.toMatchObject(violates('product_variants_sku_unique'))
  })

  it('refuses a product whose SKU is not registered', async () => {
    await expect(
      db.insert(products).values({ sku: uniq('NOPE'), name: 'x', slug: uniq('x'), priceCents: 1 }),
    ).rejects.toMatchObject(violates('products_sku_skus_fk'))
  })

  it('renames a SKU everywhere through the skus row (on update cascade)', async () => {
    const p = await createProduct()
    const renamed = uniq('RENAMED')
    await db.update(skus).set({ sku: renamed }).where(eq(skus.sku, p.sku))
    const [after] = await db.select({ sku: products.sku }).from(products).where(eq(products.id, p.id))
    expect(after?.sku).toBe(renamed)
  })
})

describe('inventory check', () => {
  it('refuses negative product stock under the deny policy', async () => {
    const p = await createProduct({ inventoryQuantity: 2 })
    await expect(
      db.update(products).set({ inventoryQuantity: -1 }).where(eq(products.id, p.id)),
    ).rejects.toMatchObject(violates('products_inventory_check'))
    await expect(createProduct({ inventoryQuantity: -5 })).rejects.toMatchObject(
      violates('products_inventory_check'),
    )
  })

  it('allows negative product stock under the continue policy', async () => {
    const p = await createProduct({ inventoryQuantity: 1, inventoryPolicy: 'continue' })
    const [row] = await db
      .update(products)
      .set({ inventoryQuantity: sql`${products.inventoryQuantity} - 3` })
      .where(eq(products.id, p.id))
      .returning({ q: products.inventoryQuantity })
    expect(row?.q).toBe(-2)
  })

  it('applies the same rule to variants', async () => {
    const p = await createProduct({ hasVariants: true })
    const v = await createVariant(p.id)
    await expect(
      db.update(productVariants).set({ inventoryQuantity: -1 }).where(eq(productVariants.id, v.id)),
    ).rejects.toMatchObject(violates('product_variants_inventory_check'))
    await db
      .update(productVariants)
      .set({ inventoryPolicy: 'continue', inventoryQuantity: -1 })
      .where(eq(productVariants.id, v.id))
    const [after] = await db.select().from(productVariants).where(eq(productVariants.id, v.id))
    expect(after?.inventoryQuantity).toBe(-1)
  })

  it('refuses negative prices', async () => {
    await expect(createProduct({ priceCents: -1 })).rejects.toMatchObject(violates('products_money_check'))
  })
})

describe('users', () => {
  it('keeps emails unique case-insensitively', async () => {
    await db.insert(users).values({ email: 'alice@example.com' })
    await expect(db.insert(users).values({ email: 'Alice@Example.COM' })).rejects.toMatchObject(
      violates('users_email_lower_unique'),
    )
    await expect(db.insert(users).values({ email: 'alice@example.com' })).rejects.toMatchObject(
      violates('users_email_lower_unique'),
    )
  })

  it('refuses an unknown role', async () => {
    await expect(
      db.execute(sql`insert into users (email, role) values ('r@example.com', 'root')`),
    ).rejects.toMatchObject(violates('users_role_check'))
  })

  it('keeps refresh token hashes unique', async () => {
    const [u] = await db.insert(users).values({ email: 'sessions@example.com' }).returning()
    const expiresAt = new Date(Date.now() + 86_400_000)
    await db.insert(userSessions).values({ userId: u!.id, refreshTokenHash: 'h1', expiresAt })
    await expect(
      db.insert(userSessions).values({ userId: u!.id, refreshTokenHash: 'h1', expiresAt }),
    ).rejects.toMatchObject(violates('user_sessions_refresh_token_hash_unique'))
  })
})

describe('orders', () => {
  const money = {
    subtotalCents: 10_000,
    taxAmountCents: 800,
    shippingAmountCents: 500,
    discountAmountCents: 1_000,
  }

  it('numbers orders from the sequence, starting at 1001', async () => {
    const [a] = await db
      .insert(orders)
      .values({ email: 'o@example.com', currency: 'USD', ...money, totalAmountCents: 10_300 })
      .returning()
    const [b] = await db
      .insert(orders)
      .values({ email: 'o@example.com', currency: 'USD', ...money, totalAmountCents: 10_300 })
      .returning()
    expect(a?.orderNumber).toBe(1001)
    expect(b?.orderNumber).toBe(1002)
  })

  it('refuses totals that do not add up', async () => {
    await expect(
      db
        .insert(orders)
        .values({ email: 'o@example.com', currency: 'USD', ...money, totalAmountCents: 10_301 }),
    ).rejects.toMatchObject(violates('orders_money_total_check'))
    await expect(
      db.insert(orders).values({
        email: 'o@example.com',
        currency: 'USD',
        subtotalCents: 100,
        discountAmountCents: 200,
        totalAmountCents: -100,
      }),
    ).rejects.toMatchObject(violates('orders_money_nonnegative_check'))
    await expect(
      db
        .insert(orders)
        .values({ email: 'o@example.com', currency: 'usd', ...money, totalAmountCents: 10_300 }),
    ).rejects.toMatchObject(violates('orders_currency_check'))
  })

  it('leaves included tax out of the total, and refuses refunds above what was paid', async () => {
    const included = { email: 'o@example.com', currency: 'USD', ...money, taxesIncluded: true }
    const tax = money.taxAmountCents
    await db.insert(orders).values({ ...included, totalAmountCents: 10_300 - tax })
    await expect(db.insert(orders).values({ ...included, totalAmountCents: 10_300 })).rejects.toMatchObject(
      violates('orders_money_total_check'),
    )
    await expect(
      db.insert(orders).values({
        email: 'o@example.com',
        currency: 'USD',
        ...money,
        totalAmountCents: 10_300,
        paidAmountCents: 10_300,
        refundedAmountCents: 10_301,
      }),
    ).rejects.toMatchObject(violates('orders_refunded_amount_check'))
  })

  it('refuses an update that breaks the identity', async () => {
    const [o] = await db
      .insert(orders)
      .values({ email: 'o@example.com', currency: 'USD', ...money, totalAmountCents: 10_300 })
      .returning()
    await expect(
      db.update(orders).set({ shippingAmountCents: 0 }).where(eq(orders.id, o!.id)),
    ).rejects.toMatchObject(violates('orders_money_total_check'))
  })

  it('checks each line: identity (tax added or included), positive quantity, fulfilled + cancelled <= quantity', async () => {
    const [o] = await db
      .insert(orders)
      .values({ email: 'o@example.com', currency: 'USD', subtotalCents: 2_000, totalAmountCents: 2_000 })
      .returning()
    const line = {
      orderId: o!.id,
      productName: 'Tee',
      sku: 'TEE-1',
      quantity: 2,
      unitPriceCents: 1_000,
      subtotalCents: 2_000,
      taxAmountCents: 160,
      discountAmountCents: 100,
      totalAmountCents: 2_060,
    }
    await db.insert(orderItems).values(line)
    await expect(db.insert(orderItems).values({ ...line, totalAmountCents: 2_000 })).rejects.toMatchObject(
      violates('order_items_money_total_check'),
    )
    await expect(db.insert(orderItems).values({ ...line, quantity: 0 })).rejects.toMatchObject(
      violates('order_items_quantity_check'),
    )
    await expect(db.insert(orderItems).values({ ...line, fulfilledQuantity: 3 })).rejects.toMatchObject(
      violates('order_items_fulfilled_cancelled_check'),
    )
    await expect(
      db.insert(orderItems).values({ ...line, fulfilledQuantity: 1, cancelledQuantity: 2 }),
    ).rejects.toMatchObject(violates('order_items_fulfilled_cancelled_check'))
    // tax included in the price: the total is subtotal - discount, the tax is not added again
    await db.insert(orderItems).values({ ...line, taxesIncluded: true, totalAmountCents: 1_900 })
    await expect(
      db.insert(orderItems).values({ ...line, taxesIncluded: true, totalAmountCents: 2_060 }),
    ).rejects.toMatchObject(violates('order_items_money_total_check'))
  })
})

describe('platform tables', () => {
  it('records a webhook event once per (provider, event_id)', async () => {
    await db
      .insert(webhookEvents)
      .values({ provider: 'stripe', eventId: 'evt_1', type: 'payment_intent.succeeded' })
    await expect(
      db
        .insert(webhookEvents)
        .values({ provider: 'stripe', eventId: 'evt_1', type: 'payment_intent.succeeded' }),
    ).rejects.toMatchObject(violates('webhook_events_provider_event_id_unique'))
    // the same id from another provider is another event
    await db.insert(webhookEvents).values({ provider: 'shippo', eventId: 'evt_1', type: 'track_updated' })
    const inserted = await db
      .insert(webhookEvents)
      .values({ provider: 'stripe', eventId: 'evt_1', type: 'payment_intent.succeeded' })
      .onConflictDoNothing({ target: [webhookEvents.provider, webhookEvents.eventId] })
      .returning()
    expect(inserted).toHaveLength(0)
  })

  it('keeps idempotency keys unique per scope', async () => {
    const key = {
      key: 'k-123',
      scope: 'user-1 POST /api/v1/orders',
      requestHash: 'abc',
      expiresAt: new Date(Date.now() + 86_400_000),
    }
    await db.insert(idempotencyKeys).values(key)
    await expect(db.insert(idempotencyKeys).values({ ...key, requestHash: 'def' })).rejects.toMatchObject(
      violates('idempotency_keys_scope_key_unique'),
    )
    await db.insert(idempotencyKeys).values({ ...key, scope: 'user-2 POST /api/v1/orders' })
  })

  it('allows one open stock alert per product/variant, product-level included', async () => {
    const p = await createProduct()
    await db.insert(stockAlerts).values({ productId: p.id })
    await expect(db.insert(stockAlerts).values({ productId: p.id })).rejects.toMatchObject(
      violates('stock_alerts_open_unique'),
    )
    await db.update(stockAlerts).set({ clearedAt: new Date() }).where(eq(stockAlerts.productId, p.id))
    await db.insert(stockAlerts).values({ productId: p.id })
  })
})

describe('search vector and relations', () => {
  it('indexes name, brand, tags and description (stemmed)', async () => {
    const p = await createProduct({
      name: 'Trail Runner',
      brand: 'Acme',
      tags: ['Sneakers', 'summer'],
      description: 'Breathable mesh',
    })
    const hits = await db
      .select({ id: products.id })
      .from(products)
      .where(sql`${products.searchVector} @@ websearch_to_tsquery('english', 'sneaker acme meshes')`)
    expect(hits.map((h) => h.id)).toEqual([p.id])
  })

  it('resolves every declared relation', async () => {
    const p = await createProduct({ hasVariants: true })
    await createVariant(p.id)
    const product = await db.query.products.findFirst({
      where: eq(products.id, p.id),
      with: { variants: true, category: true, creator: true, ledger: true, stockAlerts: true },
    })
    expect(product?.variants).toHaveLength(1)
    const order = await db.query.orders.findFirst({
      with: {
        user: true,
        items: { with: { product: true, variant: true, fulfillmentItems: true } },
        history: true,
        payments: { with: { refunds: true } },
        refunds: true,
        fulfillments: { with: { items: true, trackingEvents: true } },
        trackingEvents: true,
        returns: true,
      },
    })
    expect(order).toBeDefined()
    const user = await db.query.users.findFirst({
      with: {
        profile: true,
        mfaDevice: true,
        sessions: true,
        backupCodes: true,
        permissions: { with: { grantor: true } },
        tokens: true,
        activities: { with: { actor: true } },
      },
    })
    expect(user).toBeDefined()
    const cats = await db.query.categories.findMany({
      with: { parent: true, children: true, products: true },
    })
    expect(cats).toEqual([])
  })
})
