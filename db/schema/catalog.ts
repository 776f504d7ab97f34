import { relations, type SQL, sql } from 'drizzle-orm'
import {
  type AnyPgColumn,
  boolean,
  check,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  unique,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core'
import { id, oneOf, timestamps, tstz, tsvector } from './platform.js'
import { users } from './users.js'

export const productStatuses = ['draft', 'active', 'archived'] as const
export type ProductStatus = (typeof productStatuses)[number]

export const inventoryPolicies = ['deny', 'continue'] as const
export type InventoryPolicy = (typeof inventoryPolicies)[number]

export const skuKinds = ['product', 'variant'] as const
export type SkuKind = (typeof skuKinds)[number]

export const inventoryReasons = [
  'sale',
  'cancel',
  'refund_restock',
  'return_restock',
  'adjustment',
  'set',
  'import',
] as const
export type InventoryReason = (typeof inventoryReasons)[number]

export type ProductDimensions = {
  length?: number
  width?: number
  height?: number
  unit?: string
}

/**
 * One image or video of a product or variant. Items attached through the media endpoints (lib/catalog/media)
 * also carry the server-owned `id`, `provider`, `provider_id`, `content_type`, `bytes` and dimensions;
 * items given as URLs carry only what the client sent.
 */
export type ProductMedia = {
  url: string
  alt?: string
  position?: number
  [key: string]: unknown
}

// ---------------------------------------------------------------------------
// categories (tree)
// ---------------------------------------------------------------------------

export const categories = pgTable(
  'categories',
  {
    id: id(),
    name: text('name').notNull(),
    slug: text('slug').notNull(),
    description: text('description'),
    parentId: uuid('parent_id').references((): AnyPgColumn => categories.id, { onDelete: 'set null' }),
    isVisible: boolean('is_visible').notNull().default(true),
    sortOrder: integer('sort_order').notNull().default(0),
    seoTitle: text('seo_title'),
    seoDescription: text('seo_description'),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('categories_slug_unique').on(t.slug),
    index('categories_parent_id_idx').on(t.parentId),
    check('categories_parent_not_self_check', sql`${t.parentId} is null or ${t.parentId} <> ${t.id}`),
  ],
)

// ---------------------------------------------------------------------------
// skus: the registry that makes a SKU unique across products AND variants.
// products (sku, sku_kind='product') and product_variants (sku, sku_kind='variant') both reference
// skus (sku, kind); sku is the primary key here, so one SKU has exactly one kind and can be used by
// at most one product (unique products.sku) or one variant (unique product_variants.sku).
// Renaming a SKU: UPDATE skus SET sku = ... (cascades). Deleting a product/variant: delete its skus
// row afterwards in the same transaction (FK is RESTRICT/no action from the skus side).
// ---------------------------------------------------------------------------

export const skus = pgTable(
  'skus',
  {
    sku: text('sku').primaryKey(),
    kind: text('kind', { enum: skuKinds }).notNull(),
    ...timestamps(),
  },
  (t) => [
    unique('skus_sku_kind_unique').on(t.sku, t.kind),
    check('skus_kind_check', oneOf(t.kind, skuKinds)),
    check('skus_sku_format_check', sql`length(${t.sku}) between 1 and 100 and ${t.sku} = btrim(${t.sku})`),
  ],
)

// ---------------------------------------------------------------------------
// products
// ---------------------------------------------------------------------------

export const products = pgTable(
  'products',
  {
    id: id(),
    sku: text('sku').notNull(),
    /** constant 'product': makes the (sku, sku_kind) FK accept only product SKUs */
    skuKind: text('sku_kind', { enum: ['product'] })
      .notNull()
      .default('product'),
    name: text('name').notNull(),
    slug: text('slug').notNull(),
    description: text('description'),
    shortDescription: text('short_description'),
    priceCents: integer('price_cents').notNull(),
    compareAtPriceCents: integer('compare_at_price_cents'),
    costPriceCents: integer('cost_price_cents'),
    categoryId: uuid('category_id').references(() => categories.id, { onDelete: 'set null' }),
    brand: text('brand'),
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    /** weight in grams (the API speaks kg: kg * 1000, integer) */
    weightGrams: integer('weight_grams'),
    dimensions: jsonb('dimensions').$type<ProductDimensions>(),
    status: text('status', { enum: productStatuses }).notNull().default('draft'),
    isVisible: boolean('is_visible').notNull().default(true),
    isFeatured: boolean('is_featured').notNull().default(false),
    seoTitle: text('seo_title'),
    seoDescription: text('seo_description'),
    images: jsonb('images').$type<ProductMedia[]>().notNull().default([]),
    videos: jsonb('videos').$type<ProductMedia[]>().notNull().default([]),
    trackInventory: boolean('track_inventory').notNull().default(true),
    inventoryPolicy: text('inventory_policy', { enum: inventoryPolicies }).notNull().default('deny'),
    /**
     * Own stock of a product without variants. Once it has variants each variant holds its own stock and
     * this column is 0 and unused: the product's figure in answers is the sum over its active variants,
     * computed on read, so a sale of one variant writes that variant's row only.
     */
    inventoryQuantity: integer('inventory_quantity').notNull().default(0),
    lowStockThreshold: integer('low_stock_threshold').notNull().default(10),
    hasVariants: boolean('has_variants').notNull().default(false),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    /**
     * generated, english config: name (A), brand + tags (B), short description + description (C).
     * Tags go through array_to_tsvector(...)::text so they are stemmed like the rest (array_to_string is
     * not immutable). Queried with `to_tsquery('english', ...)` of sanitised prefix tokens (lib/catalog/list.ts).
     */
    searchVector: tsvector('search_vector').generatedAlwaysAs(
      (): SQL =>
        sql`setweight(to_tsvector('english'::regconfig, coalesce(${products.name}, '')), 'A') || setweight(to_tsvector('english'::regconfig, coalesce(${products.brand}, '')), 'B') || setweight(to_tsvector('english'::regconfig, array_to_tsvector(array_remove(array_remove(${products.tags}, null), ''))::text), 'B') || setweight(to_tsvector('english'::regconfig, coalesce(${products.shortDescription}, '') || ' ' || coalesce(${products.description}, '')), 'C')`,
    ),
    archivedAt: tstz('archived_at'),
    ...timestamps(),
  },
  (t) => [
    foreignKey({
      name: 'products_sku_skus_fk',
      columns: [t.sku, t.skuKind],
      foreignColumns: [skus.sku, skus.kind],
    }).onUpdate('cascade'),
    uniqueIndex('products_sku_unique').on(t.sku),
    uniqueIndex('products_slug_unique').on(t.slug),
    index('products_status_idx').on(t.status),
    index('products_category_id_idx').on(t.categoryId),
    index('products_brand_idx').on(t.brand),
    index('products_created_at_idx').on(t.createdAt),
    index('products_price_cents_idx').on(t.priceCents),
    index('products_tags_gin_idx').using('gin', t.tags),
    index('products_search_vector_gin_idx').using('gin', t.searchVector),
    // trigram lookups on names (pg_trgm from migration 0004: similarity operators, ILIKE substrings)
    index('products_name_trgm_idx').using('gin', t.name.op('gin_trgm_ops')),
    // SKU search (lower(sku) like 'prefix%', lower(sku) = ...): text_pattern_ops serves LIKE prefixes under
    // any collation (migration 0007; lib/catalog/list.ts searchSql)
    index('products_sku_lower_pattern_idx').using('btree', sql`lower(${t.sku}) text_pattern_ops`),
    // keyset pages in name order (sort=name_asc/name_desc): (name, id) is the cursor's row comparison and
    // the ORDER BY, so a page reads its rows only instead of sorting every product (migration 0008)
    index('products_name_id_idx').on(t.name, t.id),
    check('products_sku_kind_check', sql`${t.skuKind} = 'product'`),
    check('products_status_check', oneOf(t.status, productStatuses)),
    check('products_inventory_policy_check', oneOf(t.inventoryPolicy, inventoryPolicies)),
    check('products_inventory_check', sql`${t.inventoryQuantity} >= 0 or ${t.inventoryPolicy} = 'continue'`),
    check(
      'products_money_check',
      sql`${t.priceCents} >= 0 and (${t.compareAtPriceCents} is null or ${t.compareAtPriceCents} >= 0) and (${t.costPriceCents} is null or ${t.costPriceCents} >= 0)`,
    ),
    check('products_low_stock_threshold_check', sql`${t.lowStockThreshold} >= 0`),
    check('products_weight_grams_check', sql`${t.weightGrams} is null or ${t.weightGrams} >= 0`),
    // tags are non-empty strings (search_vector skips null/'' anyway: array_to_tsvector would refuse them)
    check(
      'products_tags_check',
      sql`array_position(${t.tags}, null) is null and array_position(${t.tags}, '') is null`,
    ),
  ],
)

// ---------------------------------------------------------------------------
// product_variants
// ---------------------------------------------------------------------------

export const productVariants = pgTable(
  'product_variants',
  {
    id: id(),
    productId: uuid('product_id')
      .notNull()
      .references(() => products.id, { onDelete: 'cascade' }),
    sku: text('sku').notNull(),
    /** constant 'variant': makes the (sku, sku_kind) FK accept only variant SKUs */
    skuKind: text('sku_kind', { enum: ['variant'] })
      .notNull()
      .default('variant'),
    title: text('title').notNull(),
    option1: text('option1'),
    option2: text('option2'),
    option3: text('option3'),
    /** null = use the product's price */
    priceCents: integer('price_cents'),
    compareAtPriceCents: integer('compare_at_price_cents'),
    costPriceCents: integer('cost_price_cents'),
    inventoryQuantity: integer('inventory_quantity').notNull().default(0),
    inventoryPolicy: text('inventory_policy', { enum: inventoryPolicies }).notNull().default('deny'),
    trackInventory: boolean('track_inventory').notNull().default(true),
    /** grams, like products.weight_grams; null = use the product's weight */
    weightGrams: integer('weight_grams'),
    barcode: text('barcode'),
    isActive: boolean('is_active').notNull().default(true),
    position: integer('position').notNull().default(0),
    /** a variant's own photos and videos (a colour's pictures), attached through the media endpoints */
    images: jsonb('images').$type<ProductMedia[]>().notNull().default([]),
    videos: jsonb('videos').$type<ProductMedia[]>().notNull().default([]),
    ...timestamps(),
  },
  (t) => [
    foreignKey({
      name: 'product_variants_sku_skus_fk',
      columns: [t.sku, t.skuKind],
      foreignColumns: [skus.sku, skus.kind],
    }).onUpdate('cascade'),
    uniqueIndex('product_variants_sku_unique').on(t.sku),
    index('product_variants_product_id_position_idx').on(t.productId, t.position),
    // a variant's SKU found by search, as products_sku_lower_pattern_idx (migration 0007)
    index('product_variants_sku_lower_pattern_idx').using('btree', sql`lower(${t.sku}) text_pattern_ops`),
    check('product_variants_sku_kind_check', sql`${t.skuKind} = 'variant'`),
    check('product_variants_inventory_policy_check', oneOf(t.inventoryPolicy, inventoryPolicies)),
    check(
      'product_variants_inventory_check',
      sql`${t.inventoryQuantity} >= 0 or ${t.inventoryPolicy} = 'continue'`,
    ),
    check(
      'product_variants_money_check',
      sql`(${t.priceCents} is null or ${t.priceCents} >= 0) and (${t.compareAtPriceCents} is null or ${t.compareAtPriceCents} >= 0) and (${t.costPriceCents} is null or ${t.costPriceCents} >= 0)`,
    ),
    check('product_variants_weight_grams_check', sql`${t.weightGrams} is null or ${t.weightGrams} >= 0`),
  ],
)

// ---------------------------------------------------------------------------
// inventory_ledger: one row per stock change
// ---------------------------------------------------------------------------

export const inventoryLedger = pgTable(
  'inventory_ledger',
  {
    id: id(),
    productId: uuid('product_id')
      .notNull()
      .references(() => products.id, { onDelete: 'cascade' }),
    variantId: uuid('variant_id').references(() => productVariants.id, { onDelete: 'cascade' }),
    delta: integer('delta').notNull(),
    quantityAfter: integer('quantity_after').notNull(),
    reason: text('reason', { enum: inventoryReasons }).notNull(),
    /** orders.id (no FK: orders.ts depends on this file, and orders are never deleted) */
    orderId: uuid('order_id'),
    actorId: uuid('actor_id').references(() => users.id, { onDelete: 'set null' }),
    note: text('note'),
    ...timestamps(),
  },
  (t) => [
    index('inventory_ledger_product_id_created_at_idx').on(t.productId, t.createdAt),
    index('inventory_ledger_variant_id_idx').on(t.variantId),
    index('inventory_ledger_order_id_idx').on(t.orderId),
    check('inventory_ledger_reason_check', oneOf(t.reason, inventoryReasons)),
  ],
)

// ---------------------------------------------------------------------------
// stock_alerts: low-stock email sent once per crossing (open = cleared_at is null)
// ---------------------------------------------------------------------------

export const stockAlerts = pgTable(
  'stock_alerts',
  {
    id: id(),
    productId: uuid('product_id')
      .notNull()
      .references(() => products.id, { onDelete: 'cascade' }),
    variantId: uuid('variant_id').references(() => productVariants.id, { onDelete: 'cascade' }),
    /** stock level when the alert fired */
    quantity: integer('quantity'),
    alertedAt: tstz('alerted_at').notNull().defaultNow(),
    clearedAt: tstz('cleared_at'),
    ...timestamps(),
  },
  (t) => [
    // at most one open alert per (product, variant); a null variant (product-level) counts as one value
    uniqueIndex('stock_alerts_open_unique')
      .on(t.productId, sql`coalesce(${t.variantId}, '00000000-0000-0000-0000-000000000000'::uuid)`)
      .where(sql`${t.clearedAt} is null`),
    index('stock_alerts_variant_id_idx').on(t.variantId),
  ],
)

// ---------------------------------------------------------------------------
// relations
// ---------------------------------------------------------------------------

export const categoriesRelations = relations(categories, ({ one, many }) => ({
  parent: one(categories, {
    fields: [categories.parentId],
    references: [categories.id],
    relationName: 'category_parent',
  }),
  children: many(categories, { relationName: 'category_parent' }),
  products: many(products),
}))

export const productsRelations = relations(products, ({ one, many }) => ({
  category: one(categories, { fields: [products.categoryId], references: [categories.id] }),
  creator: one(users, { fields: [products.createdBy], references: [users.id] }),
  variants: many(productVariants),
  ledger: many(inventoryLedger),
  stockAlerts: many(stockAlerts),
}))

export const productVariantsRelations = relations(productVariants, ({ one, many }) => ({
  product: one(products, { fields: [productVariants.productId], references: [products.id] }),
  ledger: many(inventoryLedger),
  stockAlerts: many(stockAlerts),
}))

export const inventoryLedgerRelations = relations(inventoryLedger, ({ one }) => ({
  product: one(products, { fields: [inventoryLedger.productId], references: [products.id] }),
  variant: one(productVariants, { fields: [inventoryLedger.variantId], references: [productVariants.id] }),
  actor: one(users, { fields: [inventoryLedger.actorId], references: [users.id] }),
}))

export const stockAlertsRelations = relations(stockAlerts, ({ one }) => ({
  product: one(products, { fields: [stockAlerts.productId], references: [products.id] }),
  variant: one(productVariants, { fields: [stockAlerts.variantId], references: [productVariants.id] }),
}))

export type Category = typeof categories.$inferSelect
export type Product = typeof products.$inferSelect
export type NewProduct = typeof products.$inferInsert
export type ProductVariant = typeof productVariants.$inferSelect
export type NewProductVariant = typeof productVariants.$inferInsert
export type InventoryLedgerEntry = typeof inventoryLedger.$inferSelect
