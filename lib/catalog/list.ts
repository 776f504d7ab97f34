import { and, eq, type SQL, sql } from 'drizzle-orm'
import { z } from 'zod'
import { type ProductStatus, productStatuses, products } from '../../db/schema/index.js'
import { offsetOf, PageQuery } from '../http/pagination.js'
import type { Db } from '../platform/db.js'
import { PriceBound } from '../platform/money.js'
import { escapeLike } from '../users/export.js'
import { fieldError, type Viewer } from './access.js'
import { isUuid } from './schemas.js'
import {
  categoryShown,
  inStockSql,
  ListedProductSchema,
  P,
  type ProductRow,
  productSelection,
  publiclyVisible,
  toListedProduct,
} from './view.js'

// The product list (GET /products) and the page half of POST /products/search: filters, sort, page or
// keyset cursor. One statement returns the page with each product's variants (json_agg subquery) and the
// total (count(*) over ()); a second one counts only when a page past the end came back empty.

export const SORTS = [
  'newest',
  'oldest',
  'price_asc',
  'price_desc',
  'name_asc',
  'name_desc',
  'relevance',
] as const
export type ProductSort = (typeof SORTS)[number]

export interface CatalogFilters {
  search?: string | undefined
  category?: string | undefined
  brands?: string[] | undefined
  tags?: string[] | undefined
  minPrice?: number | undefined
  maxPrice?: number | undefined
  status?: ProductStatus | undefined
  inStock?: boolean | undefined
  isFeatured?: boolean | undefined
}

// --- Search ------------------------------------------------------------------------------------------------

/**
 * Full text (the generated tsvector with `to_tsquery` of sanitised tokens, each a prefix: `hood` finds
 * `hoodie`), exact or prefix SKU of the product or any variant, and a trigram fallback for typos
 * (word similarity to the name) that applies only when nothing matches strictly. All of it is one predicate.
 */
export function searchTerms(raw: string) {
  const text = raw.trim().slice(0, 200)
  const tokens = (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).slice(0, 12)
  const tsquery = tokens.map((t) => `${t}:*`).join(' & ')
  return { text, tsquery, skuPrefix: `${escapeLike(text.toLowerCase())}%` }
}

function searchSql(raw: string, viewer: Viewer): { match: SQL; rank: SQL } {
  const { text, tsquery, skuPrefix } = searchTerms(raw)
  const q = sql`to_tsquery('english'::regconfig, ${tsquery})`
  const skuHit = sql`(lower(${P.sku}) like ${skuPrefix} escape '\\' or exists (
      select 1 from product_variants mv where mv.product_id = ${P.id} and lower(mv.sku) like ${skuPrefix} escape '\\'))`
  // The matching ids, computed once per statement (an uncorrelated ARRAY subquery, so the product scan is
  // an index scan on the ids and never an OR over every product): the strict hits, each branch through its
  // index (the search_vector GIN, the lower(sku) pattern indexes of products and variants); the typo
  // fallback scans names only when the viewer could see none of the strict hits. 0.4: a one-letter slip in
  // a short word ("hoodei") scores ~0.57, under pg_trgm's default of 0.6. `union all`: an id twice in the
  // array changes nothing, and deduplicating a broad match (a prefix of every SKU) sorted it on disk.
  const hits = sql`array(
    with strict(id) as (
      ${tsquery ? sql`select sf.id from products sf where sf.search_vector @@ ${q} union all ` : sql``}select sk.id from products sk where lower(sk.sku) like ${skuPrefix} escape '\\'
      union all select sv.product_id from product_variants sv where lower(sv.sku) like ${skuPrefix} escape '\\')
    select id from strict
    union all
    select fz.id from products fz where not exists (
        select 1 from strict s join products sp on sp.id = s.id${viewer.staff ? sql`` : sql` where sp.status = 'active' and sp.is_visible`})
      and word_similarity(${text}::text, fz.name) >= 0.4)`
  const match = sql`${P.id} = any(${hits})`
  const rank = sql`(${tsquery ? sql`ts_rank(${P.searchVector}, ${q})` : sql`0`}
    + case when lower(${P.sku}) = ${text.toLowerCase()} then 10 when ${skuHit} then 5 else 0 end
    + word_similarity(${text}::text, ${P.name}))`
  return { match, rank }
}

// --- Filters -----------------------------------------------------------------------------------------------

/**
 * The category and all its subcategories (`union` stops at a cycle, should one ever exist). For customers
 * and anonymous callers a hidden category matches nothing and hidden subtrees are left out, as in
 * GET /categories.
 */
const inCategoryTree = (raw: string, staff: boolean) => sql`${P.categoryId} in (
  with recursive tree(id) as (
    select r.id from categories r where ${isUuid(raw) ? sql`r.id = ${raw.toLowerCase()}::uuid` : sql`r.slug = ${raw}`}${
      staff ? sql`` : sql` and ${categoryShown('r')}`
    }
    union select c.id from categories c join tree t on c.parent_id = t.id${staff ? sql`` : sql` where c.is_visible`})
  select id from tree)`

export interface FilterParts {
  /** Conditions every facet shares (visibility, status, search, tags, featured). */
  base: SQL[]
  category: SQL | undefined
  brand: SQL | undefined
  price: SQL | undefined
  stock: SQL | undefined
  rank: SQL | undefined
}

export function filterParts(f: CatalogFilters, viewer: Viewer): FilterParts {
  const base: SQL[] = []
  if (!viewer.staff) base.push(publiclyVisible)
  else if (f.status) base.push(eq(products.status, f.status))
  let rank: SQL | undefined
  if (f.search?.trim()) {
    const s = searchSql(f.search, viewer)
    base.push(s.match)
    rank = s.rank
  }
  if (f.tags?.length) base.push(sql`${P.tags} && ${`{${f.tags.map(pgArrayItem).join(',')}}`}::text[]`)
  if (f.isFeatured !== undefined) base.push(eq(products.isFeatured, f.isFeatured))
  const brands = f.brands?.map((b) => b.toLowerCase())
  const priceConds: SQL[] = []
  if (f.minPrice !== undefined) priceConds.push(sql`${P.priceCents} >= ${f.minPrice}`)
  if (f.maxPrice !== undefined) priceConds.push(sql`${P.priceCents} <= ${f.maxPrice}`)
  return {
    base,
    category: f.category ? inCategoryTree(f.category, viewer.staff) : undefined,
    brand: brands?.length
      ? sql`lower(${P.brand}) in (${sql.join(
          brands.map((b) => sql`${b}`),
          sql`, `,
        )})`
      : undefined,
    price: priceConds.length ? and(...priceConds) : undefined,
    stock: f.inStock === undefined ? undefined : f.inStock ? inStockSql : sql`not ${inStockSql}`,
    rank,
  }
}

/** An element of a text[] literal, quoted so commas, quotes and braces stay part of the tag. */
const pgArrayItem = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`

export const allConditions = (p: FilterParts): SQL | undefined =>
  and(...p.base, p.category, p.brand, p.price, p.stock)

// --- Sort and cursor -----------------------------------------------------------------------------------------

const SORT_SPEC = {
  newest: { column: P.createdAt, cast: 'timestamptz', desc: true },
  oldest: { column: P.createdAt, cast: 'timestamptz', desc: false },
  price_asc: { column: P.priceCents, cast: 'integer', desc: false },
  price_desc: { column: P.priceCents, cast: 'integer', desc: true },
  name_asc: { column: P.name, cast: 'text', desc: false },
  name_desc: { column: P.name, cast: 'text', desc: true },
} as const
export type KeysetSort = keyof typeof SORT_SPEC

export interface Cursor {
  s: KeysetSort
  v: string
  id: string
}

export const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify(c)).toString('base64url')

function decodeCursor(raw: string, sort: ProductSort): Cursor {
  let c: Partial<Cursor> | undefined
  try {
    c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<Cursor>
  } catch {
    c = undefined
  }
  if (!c || typeof c.v !== 'string' || typeof c.id !== 'string' || !isUuid(c.id) || c.s !== sort) {
    throw fieldError(
      'cursor',
      'This cursor is not valid for this sort; start again without it.',
      'invalid_cursor',
    )
  }
  return c as Cursor
}

export const CatalogPaginationSchema = z.object({
  page: z.number().int().optional().describe('Absent with a cursor or total=false'),
  limit: z.number().int(),
  total: z.number().int().optional().describe('Absent with a cursor or total=false'),
  pages: z.number().int().optional().describe('Absent with a cursor or total=false'),
  next_cursor: z.string().nullable().describe('Opaque keyset cursor for the next page, null at the end'),
})
export type CatalogPagination = z.infer<typeof CatalogPaginationSchema>

export interface PageRequest {
  sort: ProductSort
  page: number
  limit: number
  cursor?: string | undefined
  /** false when another statement gives the total (search's facets): never a second count here. */
  countPastEnd?: boolean
  /**
   * false: no total, so the statement reads only the page through the sort's index instead of every
   * matching product (keyset paging from the first page on, as with a cursor).
   */
  total?: boolean
}

export function effectiveSort(sort: ProductSort | undefined, search: string | undefined): ProductSort {
  if (sort === 'relevance' && !search?.trim()) return 'newest'
  return sort ?? (search?.trim() ? 'relevance' : 'newest')
}

/**
 * One page of products for these filters: one statement (page, variants, total); a second one counts only
 * when a page past the end is empty. With a cursor, keyset paging and no total.
 */
export async function productPage(
  db: Db,
  parts: FilterParts,
  viewer: Viewer,
  req: PageRequest,
): Promise<{ rows: ProductRow[]; pagination: CatalogPagination }> {
  const where = allConditions(parts)
  if (req.sort === 'relevance' && req.cursor) {
    throw fieldError('cursor', 'Relevance order pages by `page`; a cursor needs another sort.')
  }
  if (req.sort === 'relevance' && req.total === false) {
    throw fieldError(
      'total',
      'Relevance order pages by `page` with a total; `total=false` needs another sort.',
    )
  }
  const keyset = req.sort === 'relevance' ? undefined : SORT_SPEC[req.sort]
  const dir = keyset?.desc ? sql`desc` : sql`asc`
  const orderKey = keyset ? keyset.column : sql`(${parts.rank ?? sql`0`})`
  const cursor = req.cursor && keyset ? decodeCursor(req.cursor, req.sort) : undefined
  // Keyset paging without a total: every cursor page, and a first page asked for without one.
  const keysetOnly = cursor !== undefined || (req.total === false && keyset !== undefined)
  const after =
    cursor && keyset
      ? sql`(${keyset.column}, ${P.id}) ${keyset.desc ? sql`<` : sql`>`} (${cursor.v}::${sql.raw(keyset.cast)}, ${cursor.id}::uuid)`
      : undefined

  // The page is chosen first (ids, sort key, total) and only its rows get their variants and category:
  // select-list subqueries beside a window function would otherwise run for every matching product.
  const page = db
    .select({
      id: products.id,
      sortKey: sql<string>`${orderKey}::text`.as('sort_key'),
      total: (keysetOnly ? sql<number>`0` : sql<number>`(count(*) over ())::int`).as('total'),
    })
    .from(products)
    .where(and(where, after))
    .orderBy(
      keyset ? sql`${orderKey} ${dir}` : sql`${orderKey} desc`,
      keyset ? sql`${P.id} ${dir}` : sql`${P.id}`,
    )
    .limit(keysetOnly ? req.limit + 1 : req.limit)
    .offset(keysetOnly ? 0 : offsetOf(req.page, req.limit))
    .as('page')
  const rows = (await db
    .select({ ...productSelection(viewer.staff), sortKey: page.sortKey, total: page.total })
    .from(products)
    .innerJoin(page, eq(products.id, page.id))
    .orderBy(
      keyset ? sql`${keyset.column} ${dir}` : sql`${page.sortKey}::float8 desc`,
      keyset ? sql`${P.id} ${dir}` : sql`${P.id}`,
    )) as unknown as Array<ProductRow & { sortKey: string; total: number }>

  const cursorOf = (r: { sortKey: string; id: string }) =>
    keyset ? encodeCursor({ s: req.sort as KeysetSort, v: r.sortKey, id: r.id }) : null
  if (keysetOnly) {
    const more = rows.length > req.limit
    const shown = rows.slice(0, req.limit)
    return {
      rows: shown,
      pagination: { limit: req.limit, next_cursor: more ? cursorOf(shown.at(-1)!) : null },
    }
  }
  return finishPage(db, where, rows, req, cursorOf)
}

async function finishPage<R extends ProductRow & { total: number }>(
  db: Db,
  where: SQL | undefined,
  rows: R[],
  req: PageRequest,
  cursorOf: (r: R & { sortKey: string }) => string | null,
) {
  let total = rows[0] ? Number(rows[0].total) : 0
  if (!rows.length && req.page > 1 && req.countPastEnd !== false) {
    const [c] = await db.select({ n: sql<number>`count(*)::int` }).from(products).where(where)
    total = Number(c?.n ?? 0)
  }
  const more = offsetOf(req.page, req.limit) + rows.length < total
  return {
    rows,
    pagination: {
      page: req.page,
      limit: req.limit,
      total,
      pages: Math.ceil(total / req.limit),
      next_cursor: more && rows.length ? cursorOf(rows.at(-1)! as R & { sortKey: string }) : null,
    },
  }
}

// --- GET /products -----------------------------------------------------------------------------------------

const Flag = z.enum(['true', 'false']).transform((v) => v === 'true')

export const ListProductsQuery = PageQuery.extend({
  search: z.string().trim().max(200).optional().describe('Full text, SKU prefix, typo-tolerant name match'),
  category: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .optional()
    .describe('Category id or slug, subcategories included'),
  brand: z.string().trim().min(1).max(100).optional().describe('Case-insensitive'),
  tags: z
    .string()
    .max(2000)
    .transform((s) =>
      s
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
    )
    .optional()
    .describe('Comma-separated; products with any of them'),
  min_price: PriceBound.optional().describe('Major units, inclusive'),
  max_price: PriceBound.optional().describe('Major units, inclusive'),
  status: z.enum(productStatuses).optional().describe('Staff only (others always see active products)'),
  in_stock: Flag.optional(),
  is_featured: Flag.optional(),
  sort: z
    .enum(SORTS)
    .optional()
    .describe(
      'newest (default), oldest, price_asc, price_desc, name_asc, name_desc, relevance (default with search)',
    ),
  cursor: z
    .string()
    .max(1000)
    .optional()
    .describe('pagination.next_cursor of the previous page (keyset paging)'),
  total: Flag.optional().describe(
    'false: no total; the first page is then a keyset page like a cursor page (limit and next_cursor only)',
  ),
})
export type ListProductsInput = z.output<typeof ListProductsQuery>

export const ProductListSchema = z.object({
  products: z.array(ListedProductSchema),
  pagination: CatalogPaginationSchema,
})

export async function listProducts(db: Db, q: ListProductsInput, viewer: Viewer) {
  const parts = filterParts(
    {
      search: q.search,
      category: q.category,
      brands: q.brand ? [q.brand] : undefined,
      tags: q.tags,
      minPrice: q.min_price,
      maxPrice: q.max_price,
      status: q.status,
      inStock: q.in_stock,
      isFeatured: q.is_featured,
    },
    viewer,
  )
  const { rows, pagination } = await productPage(db, parts, viewer, {
    sort: effectiveSort(q.sort, q.search),
    page: q.page,
    limit: q.limit,
    cursor: q.cursor,
    total: q.total,
  })
  return { products: rows.map((r) => toListedProduct(r, viewer.staff)), pagination }
}
