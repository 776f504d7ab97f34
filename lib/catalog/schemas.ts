import { z } from 'zod'
import { inventoryPolicies, productStatuses } from '../../db/schema/index.js'
import { Uuid } from '../http/validation.js'
import { Price } from '../platform/money.js'
import { MAX_MEDIA } from './media/items.js'

// Input schemas of the catalog (products, variants, categories, inventory). Money arrives in major units
// and leaves these schemas in minor units (lib/platform/money.ts); weight arrives in kg and leaves in grams.

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const isUuid = (s: string): boolean => UUID_RE.test(s)

/** Path segments that are sibling routes of /products/{product_id}: never a product's slug. */
const RESERVED_PRODUCT_SLUGS = ['search', 'analytics', 'recommendations']
export const isReservedProductSlug = (slug: string): boolean =>
  RESERVED_PRODUCT_SLUGS.includes(slug) || slug.startsWith('bulk-') || slug === 'bulk'

const SLUG_RE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/

/** A slug as given by staff: lower-case words joined by `-`, never UUID-shaped (ids and slugs share a path). */
export const Slug = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .regex(SLUG_RE, 'Use lower-case letters, digits and single hyphens (e.g. "linen-wrap-dress").')
  .refine((s) => !isUuid(s), 'A slug must not look like a UUID: ids and slugs share one path.')

export const ProductSlug = Slug.refine(
  (s) => !isReservedProductSlug(s),
  'This slug names another route (search, analytics, recommendations or bulk-*).',
)

export const Sku = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[^\s]+(?: [^\s]+)*$/, 'A SKU has no leading, trailing or repeated spaces.')

const Text = (max: number) => z.string().trim().max(max)
const OptionalText = (max: number) => Text(max).nullable().optional()
const optionalMoney = () => Price.nullable().optional()

/** kg in, grams out; more than gram precision is refused like money (never rounded). */
export const WeightKg = z
  .number()
  .min(0)
  .max(1_000_000)
  .transform((kg, ctx) => {
    const grams = Math.round(kg * 1000)
    if (Math.abs(grams - kg * 1000) > 1e-6) {
      ctx.addIssue({ code: 'custom', message: 'Weight is in kg with at most 3 decimals (grams).' })
      return z.NEVER
    }
    return grams
  })

const Dimensions = z.strictObject({
  length: z.number().min(0).optional(),
  width: z.number().min(0).optional(),
  height: z.number().min(0).optional(),
  unit: z.enum(['cm', 'mm', 'm', 'in']).optional(),
})

const Media = z
  .object({
    url: z.url().max(2000),
    alt: z.string().max(500).optional(),
    position: z.number().int().min(0).optional(),
  })
  .passthrough()

const Tags = z
  .array(z.string().trim().min(1).max(50))
  .max(50)
  .transform((tags) => [...new Set(tags)])

const Quantity = z.number().int().min(0).max(1_000_000_000)

// --- Variants ----------------------------------------------------------------------------------------------

const variantFields = {
  sku: Sku,
  title: Text(200).min(1).optional().describe('Default: the options joined with " / "'),
  option1: OptionalText(100),
  option2: OptionalText(100),
  option3: OptionalText(100),
  price: optionalMoney().describe("Override; null or absent inherits the product's price"),
  compare_at_price: optionalMoney(),
  cost_price: optionalMoney(),
  inventory_quantity: Quantity.optional().describe('Initial stock (later changes: the inventory endpoints)'),
  inventory_policy: z.enum(inventoryPolicies).optional().describe('deny (default) or continue (oversell)'),
  track_inventory: z.boolean().optional(),
  weight: WeightKg.nullable().optional().describe("kg; null inherits the product's weight"),
  barcode: OptionalText(100),
  is_active: z.boolean().optional(),
  position: z.number().int().min(0).max(10_000).optional(),
}

export const VariantInput = z.strictObject(variantFields)
export type VariantInput = z.output<typeof VariantInput>

export const VariantUpdate = z.strictObject({
  ...variantFields,
  sku: Sku.optional(),
  title: Text(200).min(1).optional(),
  inventory_quantity: Quantity.optional().describe('Absolute level, written to the ledger as `set`'),
})
export type VariantUpdate = z.output<typeof VariantUpdate>

// --- Products ----------------------------------------------------------------------------------------------

const productFields = {
  sku: Sku,
  name: Text(200).min(1),
  slug: ProductSlug.optional().describe('Default: generated from the name, unique'),
  description: OptionalText(20_000),
  short_description: OptionalText(1000),
  price: Price.describe('Decimal major units, e.g. 29.99'),
  compare_at_price: optionalMoney(),
  cost_price: optionalMoney().describe('Shown to staff only'),
  category_id: Uuid.nullable().optional(),
  brand: OptionalText(100),
  tags: Tags.optional(),
  weight: WeightKg.nullable().optional().describe('kg'),
  dimensions: Dimensions.nullable().optional(),
  status: z.enum(productStatuses).optional().describe('draft (default), active or archived'),
  is_visible: z.boolean().optional(),
  is_featured: z.boolean().optional(),
  seo_title: OptionalText(200),
  seo_description: OptionalText(500),
  images: z.array(Media).max(MAX_MEDIA.images).optional(),
  videos: z.array(Media).max(MAX_MEDIA.videos).optional(),
  track_inventory: z.boolean().optional(),
  inventory_policy: z.enum(inventoryPolicies).optional(),
  inventory_quantity: Quantity.optional().describe(
    'Own stock of a product without variants (a product with variants holds none)',
  ),
  low_stock_threshold: z.number().int().min(0).max(1_000_000).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
}

/** Every SKU in one request is distinct: a duplicate is the caller's 422, not a database conflict. */
function distinctSkus(
  value: { sku?: string | undefined; variants?: { sku: string }[] | undefined },
  ctx: z.RefinementCtx,
) {
  const seen = new Set<string>(value.sku ? [value.sku] : [])
  for (const [i, v] of (value.variants ?? []).entries()) {
    if (seen.has(v.sku)) {
      ctx.addIssue({ code: 'custom', path: ['variants', i, 'sku'], message: 'This SKU appears twice.' })
    }
    seen.add(v.sku)
  }
}

export const ProductInput = z
  .strictObject({
    ...productFields,
    variants: z.array(VariantInput).max(100).optional().describe('Created in the same transaction'),
  })
  .superRefine((value, ctx) => {
    distinctSkus(value, ctx)
    if (value.variants?.length && value.inventory_quantity) {
      ctx.addIssue({
        code: 'custom',
        path: ['inventory_quantity'],
        message: 'A product with variants holds no stock of its own: give each variant its quantity.',
      })
    }
  })
export type ProductInput = z.output<typeof ProductInput>

export const ProductUpdate = z.strictObject({
  ...productFields,
  sku: Sku.optional(),
  name: Text(200).min(1).optional(),
  price: Price.optional(),
  inventory_quantity: Quantity.optional().describe(
    'Absolute own stock of a product without variants, written to the ledger as `set`',
  ),
})
export type ProductUpdate = z.output<typeof ProductUpdate>

// --- Inventory ---------------------------------------------------------------------------------------------

export const InventorySetBody = z
  .strictObject({
    inventory_quantity: Quantity.optional().describe('For a product without variants'),
    variants: z
      .array(z.strictObject({ id: Uuid, inventory_quantity: Quantity }))
      .min(1)
      .max(100)
      .optional()
      .describe('For a product with variants'),
    reason: Text(500).optional().describe('Free text, kept in the ledger note'),
  })
  .superRefine((v, ctx) => {
    if ((v.inventory_quantity === undefined) === (v.variants === undefined)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'Give either inventory_quantity or variants.' })
    }
    const ids = new Set<string>()
    for (const [i, row] of (v.variants ?? []).entries()) {
      if (ids.has(row.id.toLowerCase())) {
        ctx.addIssue({ code: 'custom', path: ['variants', i, 'id'], message: 'This variant appears twice.' })
      }
      ids.add(row.id.toLowerCase())
    }
  })
export type InventorySetBody = z.output<typeof InventorySetBody>

export const InventoryAdjustBody = z.strictObject({
  delta: z
    .number()
    .int()
    .min(-1_000_000_000)
    .max(1_000_000_000)
    .refine((d) => d !== 0, 'delta must not be 0')
    .describe('Relative change, e.g. -1 or 25'),
  reason: Text(500).min(1).describe('Why (free text, kept in the ledger note)'),
  variant_id: Uuid.optional().describe('Required for a product with variants'),
})
export type InventoryAdjustBody = z.output<typeof InventoryAdjustBody>

// --- Categories --------------------------------------------------------------------------------------------

const categoryFields = {
  name: Text(200).min(1),
  slug: Slug.optional().describe('Default: generated from the name, unique'),
  description: OptionalText(5000),
  parent_id: Uuid.nullable().optional(),
  is_visible: z.boolean().optional(),
  sort_order: z.number().int().min(-1_000_000).max(1_000_000).optional(),
  seo_title: OptionalText(200),
  seo_description: OptionalText(500),
}
export const CategoryInput = z.strictObject(categoryFields)
export type CategoryInput = z.output<typeof CategoryInput>
export const CategoryUpdate = z.strictObject({ ...categoryFields, name: Text(200).min(1).optional() })
export type CategoryUpdate = z.output<typeof CategoryUpdate>

// --- Path parameters ---------------------------------------------------------------------------------------

export const ProductParams = z.object({
  product_id: z.string().min(1).max(200).describe('Product id (UUID) or slug'),
})
export const VariantParams = ProductParams.extend({
  variant_id: z.string().min(1).max(200).describe('Variant id (UUID)'),
})
export const CategoryParams = z.object({
  category_id: z.string().min(1).max(200).describe('Category id (UUID) or slug'),
})

/** Generated slug from a name: ascii words joined by `-` (accents folded), at most 80 characters. */
export function slugify(name: string): string {
  const s = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/ß/g, 'ss')
    .toLowerCase()
    .replace(/&/g, ' and ')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 80)
    .replace(/-+$/g, '')
  return s || 'item'
}
