import { and, eq, type Placeholder, type SQL, sql } from 'drizzle-orm'
import { z } from 'zod'
import { type ProductStatus, productStatuses, products } from '../../db/schema/index.js'
import { offsetOf, PageQuery } from '../http/pagination.js'
import { type Db, preparedPerDb } from '../platform/db.js'
import { PriceBound } from '../platform/money.js'
import { escapeLike } from '../users/export.js'
import { fieldError, type Viewer } from './access.js'
import { countKey, normaliseFilters, readCount, storeCount } from './counts.js'
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
// keyset cursor. One statement returns the page with each product's variants (json_agg subquery), read
// through the sort's index and never counting the matching products; the list's total comes from a count
// cached per filter set and viewer class (./counts.ts, ADR 018), the search's from its facet statement.

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
  total: z
    .number()
    .int()
    .optional()
    .describe(
      'Matching products. GET /products: a count at most 60 s old, taken afresh after a catalog change ' +
        'and exact on the last page. Absent with a cursor or total=false',
    ),
  pages: z.number().int().optional().describe('Absent with a cursor or total=false'),
  next_cursor: z.string().nullable().describe('Opaque keyset cursor for the next page, null at the end'),
})
export type CatalogPagination = z.infer<typeof CatalogPaginationSchema>

export interface PageRequest {
  sort: ProductSort
  page: number
  limit: number
  cursor?: string | undefined
  /**
   * false: no total, so the first page is a keyset page like a cursor page (limit and next_cursor only).
   * Otherwise a page by `page`, whose total the caller supplies (`withTotal`).
   */
  total?: boolean
  /**
   * The unfiltered catalog in the default order (`newest`), page by `page`: run as the statement prepared
   * once per database for the viewer's class, only limit and offset bound.
   */
  prepared?: boolean
}

export interface ProductPage {
  rows: ProductRow[]
  /** Keyset pages: the whole pagination. Pages by `page`: without total and pages (see withTotal). */
  pagination: CatalogPagination
  /** A page by `page` (its total is the caller's), not a keyset page. */
  byPage: boolean
  /** Rows follow this page (read as one row more than the limit). */
  more: boolean
}

export function effectiveSort(sort: ProductSort | undefined, search: string | undefined): ProductSort {
  if (sort === 'relevance' && !search?.trim()) return 'newest'
  return sort ?? (search?.trim() ? 'relevance' : 'newest')
}

type Bound = number | Placeholder

/**
 * The page statement: the page is chosen first (ids and sort key, `take` rows from `skip`), and only its
 * rows get their variants and category (select-list subqueries over every matching product would
 * otherwise run for each of them). With an index on the sort, PostgreSQL reads the index in order and
 * stops after `skip + take` matching rows: nothing here counts the matching products.
 */
function pageQuery(
  db: Db,
  o: {
    where: SQL | undefined
    orderKey: SQL
    keyset: (typeof SORT_SPEC)[KeysetSort] | undefined
    staff: boolean
    take: Bound
    skip: Bound
  },
) {
  const dir = o.keyset?.desc ? sql`desc` : sql`asc`
  const page = db
    .select({ id: products.id, sortKey: sql<string>`${o.orderKey}::text`.as('sort_key') })
    .from(products)
    .where(o.where)
    .orderBy(
      o.keyset ? sql`${o.orderKey} ${dir}` : sql`${o.orderKey} desc`,
      o.keyset ? sql`${P.id} ${dir}` : sql`${P.id}`,
    )
    .limit(o.take)
    .offset(o.skip)
    .as('page')
  return db
    .select({ ...productSelection(o.staff), sortKey: page.sortKey })
    .from(products)
    .innerJoin(page, eq(products.id, page.id))
    .orderBy(
      o.keyset ? sql`${o.keyset.column} ${dir}` : sql`${page.sortKey}::float8 desc`,
      o.keyset ? sql`${P.id} ${dir}` : sql`${P.id}`,
    )
}

// The default page (GET /products with no filter, newest first, by `page`) is the storefront's and the
// admin table's first request: its statement and its count are built once per database and run as named
// statements. Any filter, sort or cursor changes the SQL text itself, so those are built per request.
const defaultStatements = preparedPerDb((db) => {
  const page = (staff: boolean, name: string) =>
    pageQuery(db, {
      where: staff ? undefined : publiclyVisible,
      orderKey: SORT_SPEC.newest.column,
      keyset: SORT_SPEC.newest,
      staff,
      take: sql.placeholder('take'),
      skip: sql.placeholder('skip'),
    }).prepare(name)
  const count = (staff: boolean, name: string) =>
    db
      .select({ n: sql<number>`count(*)::int` })
      .from(products)
      .where(staff ? undefined : publiclyVisible)
      .prepare(name)
  return {
    page: { public: page(false, 'catalog_page_public'), staff: page(true, 'catalog_page_staff') },
    count: { public: count(false, 'catalog_count_public'), staff: count(true, 'catalog_count_staff') },
  }
})
const classOf = (viewer: Viewer) => (viewer.staff ? 'staff' : 'public')

type PageRow = ProductRow & { sortKey: string }

/**
 * One page of products for these filters, in one statement (page and variants), without a total: a page
 * by `page` reads one row more than its limit to know whether another page follows, and the caller adds
 * the total (withTotal). With a cursor, or `total: false`, keyset paging.
 */
export async function productPage(
  db: Db,
  parts: FilterParts,
  viewer: Viewer,
  req: PageRequest,
): Promise<ProductPage> {
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
  const cursor = req.cursor && keyset ? decodeCursor(req.cursor, req.sort) : undefined
  // Keyset paging without a total: every cursor page, and a first page asked for without one.
  const keysetOnly = cursor !== undefined || (req.total === false && keyset !== undefined)
  const after =
    cursor && keyset
      ? sql`(${keyset.column}, ${P.id}) ${keyset.desc ? sql`<` : sql`>`} (${cursor.v}::${sql.raw(keyset.cast)}, ${cursor.id}::uuid)`
      : undefined
  const take = req.limit + 1
  const skip = keysetOnly ? 0 : offsetOf(req.page, req.limit)

  const rows = (req.prepared && !keysetOnly && req.sort === 'newest'
    ? await defaultStatements(db).page[classOf(viewer)].execute({ take, skip })
    : await pageQuery(db, {
        where: and(allConditions(parts), after),
        orderKey: keyset ? keyset.column : sql`(${parts.rank ?? sql`0`})`,
        keyset,
        staff: viewer.staff,
        take,
        skip,
      })) as unknown as PageRow[]

  const more = rows.length > req.limit
  const shown = rows.slice(0, req.limit)
  const last = shown.at(-1)
  const nextCursor =
    more && keyset && last ? encodeCursor({ s: req.sort as KeysetSort, v: last.sortKey, id: last.id }) : null
  return {
    rows: shown,
    byPage: !keysetOnly,
    more,
    pagination: keysetOnly
      ? { limit: req.limit, next_cursor: nextCursor }
      : { page: req.page, limit: req.limit, next_cursor: nextCursor },
  }
}

/** The pagination of a page by `page` with its total. */
export const withTotal = (p: ProductPage, total: number): CatalogPagination => ({
  page: p.pagination.page,
  limit: p.pagination.limit,
  total,
  pages: Math.ceil(total / p.pagination.limit),
  next_cursor: p.pagination.next_cursor,
})

/** Every product matching these filters, counted (the default catalog's count is a prepared statement). */
async function countMatching(db: Db, parts: FilterParts, viewer: Viewer, prepared: boolean): Promise<number> {
  const [c] = prepared
    ? await defaultStatements(db).count[classOf(viewer)].execute()
    : await db.select({ n: sql<number>`count(*)::int` }).from(products).where(allConditions(parts))
  return Number(c?.n ?? 0)
}

/**
 * What a page proves about the total, whatever a cached count says: while rows follow it, more than the
 * rows up to its end; on the last page, exactly those; an empty page past the end, at most its offset.
 */
function pageBounds(page: number, limit: number, shown: number, more: boolean) {
  const end = offsetOf(page, limit) + shown
  if (more) return { min: end + 1, max: Number.POSITIVE_INFINITY }
  if (shown > 0 || page === 1) return { min: end, max: end }
  return { min: 0, max: offsetOf(page, limit) }
}

/**
 * A page by `page` and its total (ADR 018). The page statement and the count cache's read (Redis, one
 * MGET) start together; on a miss the count runs beside the page, started once the read answered (so it
 * sees every write whose version bump the read saw), and is stored after the response. A cached count the
 * page contradicts is not answered: on the last page the page's own figure is exact; otherwise (rows
 * follow though the count says they should not, or an empty page past the end the count says exists)
 * the products are counted again. At most two statements, one on a warm cache.
 */
async function pageAndTotal(
  db: Db,
  parts: FilterParts,
  viewer: Viewer,
  req: PageRequest,
  key: string,
): Promise<{ rows: ProductRow[]; pagination: CatalogPagination }> {
  const prepared = req.prepared === true && req.sort === 'newest'
  const cached = readCount(key)
  const counting = cached.then((c) =>
    c.total === undefined ? countMatching(db, parts, viewer, prepared) : undefined,
  )
  const [page, read, counted] = await Promise.all([productPage(db, parts, viewer, req), cached, counting])
  const bounds = pageBounds(req.page, req.limit, page.rows.length, page.more)
  // Only a count started after the version was read is stored (the page may have started before it).
  let fresh = counted
  let total = counted ?? read.total ?? 0
  if ((total < bounds.min || total > bounds.max) && bounds.min !== bounds.max && fresh === undefined) {
    fresh = await countMatching(db, parts, viewer, prepared)
    total = fresh
  }
  if (fresh !== undefined && read.ok) storeCount(key, fresh, read.version)
  // Still outside after a count: a write between the two statements. The answer agrees with its page.
  total = Math.min(Math.max(total, bounds.min), bounds.max)
  return { rows: page.rows, pagination: withTotal(page, total) }
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
  const filters: CatalogFilters = {
    search: q.search,
    category: q.category,
    brands: q.brand ? [q.brand] : undefined,
    tags: q.tags,
    minPrice: q.min_price,
    maxPrice: q.max_price,
    status: q.status,
    inStock: q.in_stock,
    isFeatured: q.is_featured,
  }
  const parts = filterParts(filters, viewer)
  const normal = normaliseFilters(filters, viewer)
  const sort = effectiveSort(q.sort, q.search)
  const req: PageRequest = {
    sort,
    page: q.page,
    limit: q.limit,
    cursor: q.cursor,
    total: q.total,
    prepared: Object.keys(normal).length === 0 && sort === 'newest',
  }
  const { rows, pagination } =
    q.cursor || q.total === false
      ? await productPage(db, parts, viewer, req)
      : await pageAndTotal(db, parts, viewer, req, countKey(normal, viewer))
  return { products: rows.map((r) => toListedProduct(r, viewer.staff)), pagination }
}
