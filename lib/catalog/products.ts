import { and, eq, inArray, type SQL, sql } from 'drizzle-orm'
import {
  categories,
  type InventoryReason,
  inventoryLedger,
  orderItems,
  type Product,
  products,
  productVariants,
  skus,
} from '../../db/schema/index.js'
import { now } from '../platform/clock.js'
import { type Db, preparedPerDb } from '../platform/db.js'
import {
  catalogDbError,
  fieldError,
  productKey,
  productNotFound,
  segmentKey,
  skuTaken,
  slugTaken,
  type Viewer,
} from './access.js'
import { changedFields } from './changes.js'
import { afterCatalogWrite } from './counts.js'
import { assetsOfRows, clientItem, droppedByPatch, type MediaAsset, mergeMedia } from './media/items.js'
import { transactionReleasingMedia } from './media/release.js'
import { isReservedProductSlug, isUuid, type ProductInput, type ProductUpdate, slugify } from './schemas.js'
import { insertVariants } from './variants.js'
import {
  P,
  type ProductRow,
  type ProductView,
  productColumns,
  productSelection,
  publiclyVisible,
  toProduct,
} from './view.js'

// Products: read one (by id or slug, one statement), create with inline variants, partial update, and
// delete (gone when never ordered, archived when it was). The bulk import plans its rows set-based
// (bulk-import.ts) with the same column mapping and slug rule.

export interface WriteOptions {
  /** Who acts (ledger actor, created_by). */
  actorId: string | null
  /** Ledger reason for stock given in the input: `set` for the API, `import` for the bulk import. */
  stockReason?: InventoryReason
  note?: string | null
  /** Where a write hands the uploaded files it lets go, deleted at their provider after the commit. */
  releaseMedia?: (assets: MediaAsset[]) => void
}

// --- Read --------------------------------------------------------------------------------------------------

// The one statement of a product read, built once per database (by id or slug, for staff or the public):
// the hottest read of the catalog no longer assembles its SQL on every request.
const productStatements = preparedPerDb((db) => {
  const by = (column: 'id' | 'slug', staff: boolean) => {
    const key = eq(products[column], sql.placeholder('key'))
    return db
      .select(productSelection(staff))
      .from(products)
      .where(staff ? key : and(key, publiclyVisible))
      .limit(1)
      .prepare(`product_by_${column}${staff ? '_staff' : ''}`)
  }
  return {
    id: { staff: by('id', true), public: by('id', false) },
    slug: { staff: by('slug', true), public: by('slug', false) },
  }
})

/** The product row with category and variants, in one statement; null when the viewer may not see it. */
export async function findProduct(db: Db, raw: string, viewer: Viewer): Promise<ProductRow | null> {
  const key = segmentKey(raw)
  const statement = productStatements(db)[key.column][viewer.staff ? 'staff' : 'public']
  const [row] = await statement.execute({ key: key.value })
  return (row as ProductRow | undefined) ?? null
}

/** GET /products/{product_id}: hidden products are a 404 for non-staff, never a 403. */
export async function getProduct(db: Db, raw: string, viewer: Viewer): Promise<ProductView> {
  const row = await findProduct(db, raw, viewer)
  if (!row) throw productNotFound()
  return toProduct(row, viewer.staff)
}

const readBack = async (tx: Db, id: string): Promise<ProductView> =>
  toProduct((await findProduct(tx, id, { staff: true, userId: null }))!, true)

// --- Helpers shared by the writes ----------------------------------------------------------------------------

/**
 * Claim SKUs in the registry without aborting the transaction on a taken one (ON CONFLICT DO NOTHING), so
 * a bulk import can report the row and go on. Throws 409 sku_taken naming the first taken SKU.
 */
export async function claimSkus(tx: Db, wanted: Array<{ sku: string; kind: 'product' | 'variant' }>) {
  if (!wanted.length) return
  const got = await tx.insert(skus).values(wanted).onConflictDoNothing().returning({ sku: skus.sku })
  if (got.length === wanted.length) return
  const claimed = new Set(got.map((r) => r.sku))
  throw skuTaken(wanted.find((w) => !claimed.has(w.sku))!.sku)
}

/** Rename a SKU through the registry (the FK cascades to the product or variant). */
export async function renameSku(tx: Db, from: string, to: string, kind: 'product' | 'variant') {
  if (from === to) return
  const [taken] = await tx.select({ sku: skus.sku }).from(skus).where(eq(skus.sku, to)).limit(1)
  if (taken) throw skuTaken(to)
  await tx
    .update(skus)
    .set({ sku: to, updatedAt: now() })
    .where(and(eq(skus.sku, from), eq(skus.kind, kind)))
}

async function assertCategory(tx: Db, id: string | null | undefined) {
  if (!id) return
  const [c] = await tx.select({ id: categories.id }).from(categories).where(eq(categories.id, id)).limit(1)
  if (!c) throw fieldError('category_id', 'No such category.', 'unknown_category')
}

/** A free slug for a new product: the name's slug, or with -2, -3, ... (one query). */
/** The slug a name asks for, before uniqueness: never a sibling route's name or UUID-shaped. */
export function productSlugBase(name: string): string {
  const base = slugify(name)
  return isReservedProductSlug(base) || isUuid(base) ? `product-${base}`.slice(0, 90) : base
}

async function freeProductSlug(tx: Db, name: string): Promise<string> {
  const base = productSlugBase(name)
  const rows = await tx
    .select({ slug: products.slug })
    .from(products)
    .where(sql`${P.slug} = ${base} or ${P.slug} like ${`${base}-%`}`)
  const used = new Set(rows.map((r) => r.slug))
  if (!used.has(base)) return base
  for (let n = 2; ; n++) if (!used.has(`${base}-${n}`)) return `${base}-${n}`
}

async function assertSlugFree(tx: Db, slug: string, exceptId?: string) {
  const [row] = await tx
    .select({ id: products.id })
    .from(products)
    .where(and(eq(products.slug, slug), exceptId ? sql`${P.id} <> ${exceptId}` : undefined))
    .limit(1)
  if (row) throw slugTaken(slug)
}

/**
 * Columns of a product write from the API fields that were given (absent = unchanged). Media items never
 * take server-owned fields from the input; an update keeps those of the stored items it keeps (same URL).
 */
export function productColumnsOf(
  input: ProductUpdate,
  stored?: Pick<Product, 'images' | 'videos'>,
): Partial<typeof products.$inferInsert> {
  const out: Partial<typeof products.$inferInsert> = {}
  const set = <K extends keyof typeof products.$inferInsert>(
    k: K,
    v: (typeof products.$inferInsert)[K] | undefined,
  ) => {
    if (v !== undefined) out[k] = v
  }
  set('sku', input.sku)
  set('name', input.name)
  set('slug', input.slug)
  set('description', input.description)
  set('shortDescription', input.short_description)
  set('priceCents', input.price)
  set('compareAtPriceCents', input.compare_at_price)
  set('costPriceCents', input.cost_price)
  set('categoryId', input.category_id?.toLowerCase() ?? input.category_id)
  set('brand', input.brand)
  set('tags', input.tags)
  set('weightGrams', input.weight)
  set('dimensions', input.dimensions)
  set('status', input.status)
  set('isVisible', input.is_visible)
  set('isFeatured', input.is_featured)
  set('seoTitle', input.seo_title)
  set('seoDescription', input.seo_description)
  const media = (given: ProductUpdate['images'], kept: Product['images'] | undefined) =>
    given && (kept ? mergeMedia(kept, given) : given.map(clientItem))
  set('images', media(input.images, stored?.images))
  set('videos', media(input.videos, stored?.videos))
  set('trackInventory', input.track_inventory)
  set('inventoryPolicy', input.inventory_policy)
  set('lowStockThreshold', input.low_stock_threshold)
  set('metadata', input.metadata)
  return out
}

/**
 * A stock level set to `quantityAfter` (create, PUT, import), recorded in the ledger with how far it moved.
 * Products and variants both write it; `variantId` is set for a variant.
 */
export async function recordStockSet(
  tx: Db,
  row: { productId: string; variantId?: string; delta: number; quantityAfter: number },
  opts: WriteOptions,
  defaultNote: string | null = null,
): Promise<void> {
  await tx.insert(inventoryLedger).values({
    ...row,
    reason: opts.stockReason ?? 'set',
    actorId: opts.actorId,
    note: opts.note ?? defaultNote,
  })
}

/** How far a requested stock level moves the current one (0: no change or none requested). */
export const stockDelta = (wanted: number | undefined, current: number): number =>
  wanted !== undefined && wanted !== current ? wanted - current : 0

// --- Create ------------------------------------------------------------------------------------------------

/**
 * Insert a product (and its inline variants) inside `tx`; returns its id. Refusals are thrown before any
 * statement that could fail, so the caller's transaction stays usable (a bulk import wraps each row in a
 * savepoint all the same: a thrown refusal may follow the SKU claim).
 */
export async function insertProduct(tx: Db, input: ProductInput, opts: WriteOptions): Promise<string> {
  await assertCategory(tx, input.category_id)
  if (input.slug) await assertSlugFree(tx, input.slug)
  const slug = input.slug ?? (await freeProductSlug(tx, input.name))
  await claimSkus(tx, [
    { sku: input.sku, kind: 'product' },
    ...(input.variants ?? []).map((v) => ({ sku: v.sku, kind: 'variant' as const })),
  ])
  const hasVariants = Boolean(input.variants?.length)
  const qty = hasVariants ? 0 : (input.inventory_quantity ?? 0)
  const [row] = await tx
    .insert(products)
    .values({
      ...productColumnsOf(input),
      sku: input.sku,
      name: input.name,
      slug,
      priceCents: input.price,
      hasVariants,
      inventoryQuantity: qty,
      createdBy: opts.actorId,
    } as typeof products.$inferInsert)
    .returning({ id: products.id })
  const id = row!.id
  if (qty !== 0) {
    await recordStockSet(tx, { productId: id, delta: qty, quantityAfter: qty }, opts, 'initial stock')
  }
  if (hasVariants) await insertVariants(tx, id, input.variants!, opts)
  return id
}

/** POST /products -> 201 with the product, its variants and category. */
export async function createProduct(db: Db, input: ProductInput, opts: WriteOptions): Promise<ProductView> {
  try {
    return await afterCatalogWrite(
      db.transaction(async (tx) => readBack(tx, await insertProduct(tx, input, opts))),
    )
  } catch (err) {
    throw catalogDbError(err)
  }
}

// --- Update ------------------------------------------------------------------------------------------------

type LockedProduct = Omit<Product, 'searchVector'>

/** The product row, locked for this transaction; 404 when unknown. */
export async function lockProduct(tx: Db, where: SQL): Promise<LockedProduct> {
  const [row] = await tx.select(productColumns).from(products).where(where).limit(1).for('update')
  if (!row) throw productNotFound()
  return row
}

/**
 * Apply the given fields to a locked product inside `tx`; fields equal to the stored ones are no change,
 * so the same input twice writes nothing the second time. Own stock (`inventory_quantity`) is an absolute
 * level written to the ledger. Returns whether anything changed.
 */
export async function applyProductUpdate(
  tx: Db,
  current: LockedProduct,
  input: ProductUpdate,
  opts: WriteOptions,
): Promise<boolean> {
  const patch: Record<string, unknown> = changedFields(current, productColumnsOf(input, current))
  if (patch.sku !== undefined) await renameSku(tx, current.sku, patch.sku as string, 'product')
  if (patch.slug !== undefined) await assertSlugFree(tx, patch.slug as string, current.id)
  if (patch.categoryId) await assertCategory(tx, patch.categoryId as string)
  if (patch.status !== undefined) patch.archivedAt = patch.status === 'archived' ? now() : null

  const qty = input.inventory_quantity
  if (qty !== undefined && current.hasVariants) {
    throw fieldError(
      'inventory_quantity',
      'This product has variants: set each variant’s stock (PUT /products/{product_id}/inventory).',
      'product_has_variants',
    )
  }
  const stockChange = stockDelta(qty, current.inventoryQuantity)
  if (stockChange) patch.inventoryQuantity = qty
  delete patch.sku // renamed through the registry above

  if (!Object.keys(patch).length) return false
  await tx
    .update(products)
    .set({ ...patch, updatedAt: now() })
    .where(eq(products.id, current.id))
  if (stockChange) {
    await recordStockSet(tx, { productId: current.id, delta: stockChange, quantityAfter: qty! }, opts)
  }
  opts.releaseMedia?.(droppedByPatch(current, patch))
  return true
}

/** PUT /products/{product_id}: partial update. */
export async function updateProduct(
  db: Db,
  raw: string,
  input: ProductUpdate,
  opts: WriteOptions,
): Promise<ProductView> {
  try {
    return await afterCatalogWrite(
      transactionReleasingMedia(db, async (tx, releaseMedia) => {
        const current = await lockProduct(tx, productKey(raw))
        await applyProductUpdate(tx, current, input, { ...opts, releaseMedia })
        return readBack(tx, current.id)
      }),
    )
  } catch (err) {
    throw catalogDbError(err)
  }
}

// --- Delete ------------------------------------------------------------------------------------------------

/**
 * DELETE /products/{product_id}: a product that was never ordered is gone (with its variants, ledger, SKUs
 * and uploaded files; null), one that was ordered is archived instead so its order lines keep their link
 * (the product, media kept). The row lock keeps an order from landing between the check and the delete.
 */
export async function deleteProduct(db: Db, raw: string): Promise<ProductView | null> {
  return afterCatalogWrite(deleteProductRow(db, raw))
}

async function deleteProductRow(db: Db, raw: string): Promise<ProductView | null> {
  return transactionReleasingMedia(db, async (tx, releaseMedia) => {
    const current = await lockProduct(tx, productKey(raw))
    const [ordered] = await tx
      .select({ one: sql`1` })
      .from(orderItems)
      .where(eq(orderItems.productId, current.id))
      .limit(1)
    if (ordered) {
      if (current.status !== 'archived') {
        await tx
          .update(products)
          .set({ status: 'archived', archivedAt: now(), updatedAt: now() })
          .where(eq(products.id, current.id))
      }
      return readBack(tx, current.id)
    }
    const gone = await tx
      .delete(productVariants)
      .where(eq(productVariants.productId, current.id))
      .returning({ sku: productVariants.sku, images: productVariants.images, videos: productVariants.videos })
    await tx.delete(products).where(eq(products.id, current.id))
    await tx.delete(skus).where(inArray(skus.sku, [current.sku, ...gone.map((v) => v.sku)]))
    releaseMedia(assetsOfRows([current, ...gone]))
    return null
  })
}
