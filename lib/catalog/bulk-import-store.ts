import { sql } from 'drizzle-orm'
import {
  categories,
  inventoryLedger,
  type ProductVariant,
  products,
  productVariants,
  skus,
} from '../../db/schema/index.js'
import type { Db } from '../platform/db.js'
import { insertRecordset, updateRecordset } from '../platform/recordset.js'
import { type ParsedRow, rowError, textArray, uuidArray } from './bulk-rows.js'
import type { MediaAsset } from './media/items.js'
import { productSlugBase } from './products.js'
import { productColumns } from './view.js'

// The database side of the bulk import (lib/catalog/bulk-import.ts): what the plan holds, the reads that
// snapshot everything the rows name (a constant number of statements, the rows locked), and the writes,
// one statement per table through jsonb_to_recordset whatever the number of rows.

export type Current = Omit<typeof products.$inferSelect, 'searchVector'>
export type Patch = Partial<typeof products.$inferInsert>
export type VariantPatch = Partial<typeof productVariants.$inferInsert>

/** What a product will be once this import is written (planned rows and the database, merged). */
export interface PlannedProduct {
  id: string
  hasVariants: boolean
  inventoryQuantity: number
  nextPosition: number
}

export interface Ledger {
  productId: string
  variantId: string | null
  delta: number
  quantityAfter: number
}

/** What one row adds to the plan, kept apart until the whole row is known to be valid. */
export interface Scratch {
  variants: VariantPatch[]
  changed: VariantPatch[]
  ledger: Ledger[]
  skus: Array<{ sku: string; kind: 'product' | 'variant' }>
}
export const emptyScratch = (): Scratch => ({ variants: [], changed: [], ledger: [], skus: [] })

export class Plan {
  newSkus: Array<{ sku: string; kind: 'product' | 'variant' }> = []
  newProducts: Patch[] = []
  changedProducts = new Map<string, Current & Patch>()
  newVariants: VariantPatch[] = []
  changedVariants: VariantPatch[] = []
  ledger: Ledger[] = []
  /** Uploaded files that updated rows no longer show (deleted at their provider after the commit). */
  releasedMedia: MediaAsset[] = []
}

export interface Snapshot {
  productsBySku: Map<string, Current>
  variantsBySku: Map<string, ProductVariant>
  registered: Map<string, 'product' | 'variant'>
  categoryIds: Set<string>
  slugOwner: Map<string, string>
  maxPosition: Map<string, number>
}

export const taken = (path: string, sku: string) =>
  rowError(path, 'sku_taken', `The SKU ${sku} is already used by another product or variant.`)

const PRODUCT_COLUMNS = Object.keys(productColumns).filter((k) => k !== 'createdAt')

/** Read everything the rows refer to, in a constant number of statements. */
export async function snapshot(tx: Db, rows: ParsedRow[]): Promise<Snapshot> {
  const all = new Set<string>()
  const categoryIds = new Set<string>()
  const slugs = new Set<string>()
  for (const r of rows) {
    if (r.kind === 'product') {
      all.add(r.input.sku)
      for (const v of r.input.variants ?? []) all.add(v.sku)
      if (r.input.category_id) categoryIds.add(r.input.category_id.toLowerCase())
      slugs.add(r.input.slug ?? productSlugBase(r.input.name))
    } else if (r.kind === 'variant') {
      all.add(r.input.sku)
      all.add(r.input.product_sku)
    }
  }
  const named = [...all]
  const [found, variants, registry, cats, usedSlugs] = await Promise.all([
    tx
      .select(productColumns)
      .from(products)
      .where(sql`${products.sku} = any(${textArray(named)})`)
      .orderBy(products.id)
      .for('update'),
    tx
      .select()
      .from(productVariants)
      .where(sql`${productVariants.sku} = any(${textArray(named)})`)
      .orderBy(productVariants.id)
      .for('update'),
    tx
      .select({ sku: skus.sku, kind: skus.kind })
      .from(skus)
      .where(sql`${skus.sku} = any(${textArray(named)})`),
    categoryIds.size
      ? tx
          .select({ id: categories.id })
          .from(categories)
          .where(sql`${categories.id} = any(${uuidArray([...categoryIds])})`)
      : Promise.resolve([]),
    // every slug a row asks for, and the `-n` forms a generated slug might take next
    tx
      .select({ slug: products.slug, id: products.id })
      .from(products)
      .where(sql`regexp_replace(${products.slug}, '-[0-9]+$', '') = any(${textArray([...slugs])})
        or ${products.slug} = any(${textArray([...slugs])})`),
  ])
  const productIds = [...new Set(found.map((p) => p.id))]
  const positions = productIds.length
    ? await tx
        .select({ productId: productVariants.productId, max: sql<number>`max(${productVariants.position})` })
        .from(productVariants)
        .where(sql`${productVariants.productId} = any(${uuidArray(productIds)})`)
        .groupBy(productVariants.productId)
    : []
  return {
    productsBySku: new Map(found.map((p) => [p.sku, p])),
    variantsBySku: new Map(variants.map((v) => [v.sku, v])),
    registered: new Map(registry.map((r) => [r.sku, r.kind])),
    categoryIds: new Set(cats.map((c) => c.id)),
    slugOwner: new Map(usedSlugs.map((s) => [s.slug, s.id])),
    maxPosition: new Map(positions.map((p) => [p.productId, Number(p.max)])),
  }
}

const VARIANT_KEYS = [
  'productId',
  'sku',
  'title',
  'option1',
  'option2',
  'option3',
  'priceCents',
  'compareAtPriceCents',
  'costPriceCents',
  'inventoryQuantity',
  'inventoryPolicy',
  'trackInventory',
  'weightGrams',
  'barcode',
  'isActive',
  'position',
  'updatedAt',
]

/** One statement per table, whatever the number of rows. */
export async function write(tx: Db, plan: Plan, actorId: string | null): Promise<void> {
  await insertRecordset(tx, skus, ['sku', 'kind'], plan.newSkus)
  const productKeys = PRODUCT_COLUMNS.filter((k) => k !== 'id')
  await insertRecordset(
    tx,
    products,
    ['id', ...productKeys.filter((k) => k !== 'updatedAt')],
    plan.newProducts,
  )
  await updateRecordset(
    tx,
    products,
    'id',
    productKeys.filter((k) => k !== 'sku'),
    [...plan.changedProducts.values()],
  )
  await insertRecordset(
    tx,
    productVariants,
    ['id', ...VARIANT_KEYS.filter((k) => k !== 'updatedAt')],
    plan.newVariants,
  )
  await updateRecordset(
    tx,
    productVariants,
    'id',
    VARIANT_KEYS.filter((k) => k !== 'sku' && k !== 'productId'),
    plan.changedVariants,
  )
  await insertRecordset(
    tx,
    inventoryLedger,
    ['productId', 'variantId', 'delta', 'quantityAfter', 'reason', 'actorId', 'note'],
    plan.ledger.map((l) => ({ ...l, reason: 'import', actorId, note: 'bulk import' })),
  )
}
