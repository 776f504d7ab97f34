import { getTableColumns, type SQL, sql } from 'drizzle-orm'
import { z } from 'zod'
import {
  type Category,
  inventoryPolicies,
  type Product,
  type ProductMedia,
  productStatuses,
  products,
} from '../../db/schema/index.js'
import { Money, toMajor } from '../platform/money.js'

// The one JSON shape of a product and its variants, and the SQL that reads them in one statement: the
// product's columns, its category and its variants as a json_agg subquery, so a product, a page of a list
// or a search answer never costs a query per product or per variant.

// --- What the statement selects ----------------------------------------------------------------------------

const { searchVector: _searchVector, ...productColumns } = getTableColumns(products)

export { productColumns }

/**
 * Products' columns qualified with the table name, for SQL fragments. Drizzle leaves single-table
 * queries unqualified ("id"), which inside a correlated subquery would bind to the subquery's own table.
 */
export const P = Object.fromEntries(
  Object.entries(getTableColumns(products)).map(([k, c]) => [k, sql.raw(`"products"."${c.name}"`)]),
) as Record<keyof typeof products.$inferSelect, SQL>

/** A variant as the variants subquery returns it (raw columns; effective prices are computed in view). */
export interface VariantJson {
  id: string
  product_id: string
  sku: string
  title: string
  option1: string | null
  option2: string | null
  option3: string | null
  price_cents: number | null
  compare_at_price_cents: number | null
  cost_price_cents: number | null
  inventory_quantity: number
  inventory_policy: 'deny' | 'continue'
  track_inventory: boolean
  weight_grams: number | null
  barcode: string | null
  is_active: boolean
  position: number
  images: ProductMedia[]
  videos: ProductMedia[]
  created_at: string
  updated_at: string
}

const variantObject = sql`json_build_object(
  'id', v.id, 'product_id', v.product_id, 'sku', v.sku, 'title', v.title,
  'option1', v.option1, 'option2', v.option2, 'option3', v.option3,
  'price_cents', v.price_cents, 'compare_at_price_cents', v.compare_at_price_cents,
  'cost_price_cents', v.cost_price_cents, 'inventory_quantity', v.inventory_quantity,
  'inventory_policy', v.inventory_policy, 'track_inventory', v.track_inventory,
  'weight_grams', v.weight_grams, 'barcode', v.barcode, 'is_active', v.is_active,
  'position', v.position, 'images', v.images, 'videos', v.videos,
  'created_at', v.created_at, 'updated_at', v.updated_at)`

/** The product's variants in position order; customers and anonymous callers see active ones only. */
export const variantsJson = (staff: boolean): SQL<VariantJson[]> =>
  sql<
    VariantJson[]
  >`(select coalesce(json_agg(${variantObject} order by v.position, v.created_at, v.id), '[]'::json)
    from product_variants v where v.product_id = ${P.id}${staff ? sql`` : sql` and v.is_active`})`

export interface CategoryRef {
  id: string
  slug: string
  name: string
}
/**
 * True when the category `alias` and every ancestor are visible: what anonymous callers and customers may
 * see of the tree (GET /categories hides the same subtrees). `union` stops at a cycle.
 */
export const categoryShown = (alias: string): SQL => sql`not exists (
  with recursive up(id, parent_id, is_visible) as (
    select a.id, a.parent_id, a.is_visible from categories a where a.id = ${sql.raw(alias)}.id
    union select p.id, p.parent_id, p.is_visible from categories p join up on p.id = up.parent_id)
  select 1 from up where not up.is_visible)`

/** The product's category; for customers and anonymous callers only when it is shown to them. */
export const categoryJson = (staff: boolean): SQL<CategoryRef | null> =>
  sql<CategoryRef | null>`(select json_build_object(
  'id', c.id, 'slug', c.slug, 'name', c.name) from categories c where c.id = ${P.categoryId}${
    staff ? sql`` : sql` and ${categoryShown('c')}`
  })`

/** Rows of the product statement: columns, category, variants. */
export const productSelection = (staff: boolean) => ({
  ...productColumns,
  category: categoryJson(staff),
  variants: variantsJson(staff),
})
export type ProductRow = Omit<Product, 'searchVector'> & {
  category: CategoryRef | null
  variants: VariantJson[]
}

/** What an anonymous caller or a customer may see of a product at all. */
export const publiclyVisible = sql`(${P.status} = 'active' and ${P.isVisible})`

/** SQL twin of `inStock` below, for filters and facets. */
export const inStockSql = sql`(case when ${P.hasVariants} then exists (
    select 1 from product_variants sv where sv.product_id = ${P.id} and sv.is_active
      and (not sv.track_inventory or sv.inventory_policy = 'continue' or sv.inventory_quantity > 0))
  else (not ${P.trackInventory} or ${P.inventoryPolicy} = 'continue' or ${P.inventoryQuantity} > 0) end)`

// --- Stock rules -------------------------------------------------------------------------------------------

type StockItem = { trackInventory: boolean; inventoryPolicy: string; inventoryQuantity: number }

/** Untracked or `continue` items are always in stock; the others while their quantity is above 0. */
export const itemInStock = (i: StockItem): boolean =>
  !i.trackInventory || i.inventoryPolicy === 'continue' || i.inventoryQuantity > 0

const variantStock = (v: VariantJson): StockItem => ({
  trackInventory: v.track_inventory,
  inventoryPolicy: v.inventory_policy,
  inventoryQuantity: v.inventory_quantity,
})

export const variantInStock = (v: VariantJson): boolean => v.is_active && itemInStock(variantStock(v))

/** Low stock: a tracked item at or below its product's threshold. */
export const isLowStock = (i: StockItem, threshold: number): boolean =>
  i.trackInventory && i.inventoryQuantity <= threshold

/** The stock model: a product with variants holds none itself; its figure is the sum over active variants. */
export function productStock(p: ProductRow): { quantity: number; inStock: boolean } {
  if (!p.hasVariants) return { quantity: p.inventoryQuantity, inStock: itemInStock(p) }
  const active = p.variants.filter((v) => v.is_active)
  return {
    quantity: active.reduce((s, v) => s + v.inventory_quantity, 0),
    inStock: active.some(variantInStock),
  }
}

// --- JSON --------------------------------------------------------------------------------------------------

const major = (minor: number | null | undefined) =>
  minor === null || minor === undefined ? null : toMajor(minor)
const kg = (grams: number | null | undefined) => (grams === null || grams === undefined ? null : grams / 1000)
const iso = (t: Date | string) => new Date(t).toISOString()

export const CategoryRefSchema = z.object({ id: z.string(), slug: z.string(), name: z.string() })

/** An image or video: a link as given, or a file uploaded through the media endpoints (with its facts). */
export const MediaItemSchema = z
  .object({
    url: z.string(),
    alt: z.string().optional(),
    position: z.number().int().optional(),
    id: z.string().optional().describe('Uploaded files only: the id of DELETE .../media/{media_id}'),
    provider: z.enum(['cloudinary', 'vercel_blob']).optional().describe('Uploaded files only'),
    provider_id: z.string().optional().describe('Cloudinary public_id or Blob pathname'),
    content_type: z.string().optional(),
    bytes: z.number().int().optional(),
    width: z.number().optional(),
    height: z.number().optional(),
    duration: z.number().optional().describe('Seconds (Cloudinary videos)'),
  })
  .catchall(z.unknown())

export const VariantSchema = z.object({
  id: z.string(),
  product_id: z.string(),
  sku: z.string(),
  title: z.string(),
  option1: z.string().nullable(),
  option2: z.string().nullable(),
  option3: z.string().nullable(),
  price: Money.describe("Effective price: the variant's override or the product's price"),
  compare_at_price: Money.nullable(),
  cost_price: Money.nullable().optional().describe('Staff only'),
  inherits_price: z.boolean().optional().describe("Staff only: true when the price is the product's"),
  inventory_quantity: z.number().int(),
  inventory_policy: z.enum(inventoryPolicies),
  track_inventory: z.boolean(),
  in_stock: z.boolean(),
  weight: z.number().nullable().describe('kg (effective)'),
  barcode: z.string().nullable(),
  is_active: z.boolean(),
  position: z.number().int(),
  images: z.array(MediaItemSchema).describe("The variant's own photos (e.g. of its colour)"),
  videos: z.array(MediaItemSchema),
  created_at: z.string(),
  updated_at: z.string(),
})
export type VariantView = z.infer<typeof VariantSchema>

export const ListedVariantSchema = VariantSchema.pick({
  id: true,
  sku: true,
  title: true,
  option1: true,
  option2: true,
  option3: true,
  price: true,
  in_stock: true,
})

type ProductBase = Pick<Product, 'priceCents' | 'compareAtPriceCents' | 'costPriceCents' | 'weightGrams'>

export function toVariant(v: VariantJson, product: ProductBase, staff: boolean): VariantView {
  return {
    id: v.id,
    product_id: v.product_id,
    sku: v.sku,
    title: v.title,
    option1: v.option1,
    option2: v.option2,
    option3: v.option3,
    price: toMajor(v.price_cents ?? product.priceCents),
    compare_at_price: major(v.compare_at_price_cents ?? product.compareAtPriceCents),
    ...(staff
      ? {
          cost_price: major(v.cost_price_cents ?? product.costPriceCents),
          inherits_price: v.price_cents === null,
        }
      : {}),
    inventory_quantity: v.inventory_quantity,
    inventory_policy: v.inventory_policy,
    track_inventory: v.track_inventory,
    in_stock: variantInStock(v),
    weight: kg(v.weight_grams ?? product.weightGrams),
    barcode: v.barcode,
    is_active: v.is_active,
    position: v.position,
    images: v.images ?? [],
    videos: v.videos ?? [],
    created_at: iso(v.created_at),
    updated_at: iso(v.updated_at),
  }
}

const productFields = {
  id: z.string(),
  sku: z.string(),
  name: z.string(),
  slug: z.string(),
  description: z.string().nullable(),
  short_description: z.string().nullable(),
  price: Money,
  compare_at_price: Money.nullable(),
  cost_price: Money.nullable().optional().describe('Staff only'),
  category_id: z.string().nullable(),
  category: CategoryRefSchema.nullable(),
  brand: z.string().nullable(),
  tags: z.array(z.string()),
  weight: z.number().nullable().describe('kg'),
  dimensions: z.record(z.string(), z.unknown()).nullable(),
  status: z.enum(productStatuses),
  is_visible: z.boolean(),
  is_featured: z.boolean(),
  seo_title: z.string().nullable(),
  seo_description: z.string().nullable(),
  images: z.array(MediaItemSchema),
  videos: z.array(MediaItemSchema),
  track_inventory: z.boolean(),
  inventory_policy: z.enum(inventoryPolicies),
  inventory_quantity: z
    .number()
    .int()
    .describe('Own stock without variants; with variants the sum over the active variants'),
  low_stock_threshold: z.number().int(),
  in_stock: z.boolean(),
  has_variants: z.boolean(),
  metadata: z.record(z.string(), z.unknown()).optional().describe('Staff only'),
  created_by: z.string().nullable().optional().describe('Staff only'),
  archived_at: z.string().nullable().optional().describe('Staff only'),
  created_at: z.string(),
  updated_at: z.string(),
}

export const ProductSchema = z.object({ ...productFields, variants: z.array(VariantSchema) })
export type ProductView = z.infer<typeof ProductSchema>
export const ListedProductSchema = z.object({ ...productFields, variants: z.array(ListedVariantSchema) })
export type ListedProductView = z.infer<typeof ListedProductSchema>

function productBody(p: ProductRow, staff: boolean) {
  const stock = productStock(p)
  return {
    id: p.id,
    sku: p.sku,
    name: p.name,
    slug: p.slug,
    description: p.description,
    short_description: p.shortDescription,
    price: toMajor(p.priceCents),
    compare_at_price: major(p.compareAtPriceCents),
    ...(staff ? { cost_price: major(p.costPriceCents) } : {}),
    category_id: p.categoryId,
    category: p.category,
    brand: p.brand,
    tags: p.tags,
    weight: kg(p.weightGrams),
    dimensions: p.dimensions ?? null,
    status: p.status,
    is_visible: p.isVisible,
    is_featured: p.isFeatured,
    seo_title: p.seoTitle,
    seo_description: p.seoDescription,
    images: p.images,
    videos: p.videos,
    track_inventory: p.trackInventory,
    inventory_policy: p.inventoryPolicy,
    inventory_quantity: stock.quantity,
    low_stock_threshold: p.lowStockThreshold,
    in_stock: stock.inStock,
    has_variants: p.hasVariants,
    ...(staff
      ? {
          metadata: p.metadata,
          created_by: p.createdBy,
          archived_at: p.archivedAt ? iso(p.archivedAt) : null,
        }
      : {}),
    created_at: iso(p.createdAt),
    updated_at: iso(p.updatedAt),
  }
}

export function toProduct(p: ProductRow, staff: boolean): ProductView {
  return { ...productBody(p, staff), variants: p.variants.map((v) => toVariant(v, p, staff)) }
}

/** A list card: the product and its variants' essentials (no call per card). */
export function toListedProduct(p: ProductRow, staff: boolean): ListedProductView {
  return {
    ...productBody(p, staff),
    variants: p.variants.map((v) => {
      const full = toVariant(v, p, false)
      return {
        id: full.id,
        sku: full.sku,
        title: full.title,
        option1: full.option1,
        option2: full.option2,
        option3: full.option3,
        price: full.price,
        in_stock: full.in_stock,
      }
    }),
  }
}

// --- Categories --------------------------------------------------------------------------------------------

const categoryFields = {
  id: z.string(),
  name: z.string(),
  slug: z.string(),
  description: z.string().nullable(),
  parent_id: z.string().nullable(),
  is_visible: z.boolean(),
  sort_order: z.number().int(),
  seo_title: z.string().nullable(),
  seo_description: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
}
export const CategorySchema = z.object(categoryFields)
export type CategoryView = z.infer<typeof CategorySchema>
export type CategoryNode = CategoryView & { children: CategoryNode[] }
// Named: a recursive schema is one component of the OpenAPI document that refers to itself.
export const CategoryNodeSchema: z.ZodType<CategoryNode> = z
  .lazy(() => z.object({ ...categoryFields, children: z.array(CategoryNodeSchema) }))
  .meta({ id: 'CategoryNode' })

export function toCategory(c: Category): CategoryView {
  return {
    id: c.id,
    name: c.name,
    slug: c.slug,
    description: c.description,
    parent_id: c.parentId,
    is_visible: c.isVisible,
    sort_order: c.sortOrder,
    seo_title: c.seoTitle,
    seo_description: c.seoDescription,
    created_at: iso(c.createdAt),
    updated_at: iso(c.updatedAt),
  }
}
