import { type SQL, sql } from 'drizzle-orm'
import { z } from 'zod'
import { productStatuses, products } from '../../db/schema/index.js'
import type { Db } from '../platform/db.js'
import { currencyExponent, PriceBound } from '../platform/money.js'
import type { Viewer } from './access.js'
import {
  CatalogPaginationSchema,
  effectiveSort,
  type FilterParts,
  filterParts,
  productPage,
  SORTS,
  withTotal,
} from './list.js'
import { categoryShown, inStockSql, ListedProductSchema, P, toListedProduct } from './view.js'

// POST /products/search: the list's filters and sort in a body, plus facet counts. Two statements at
// most: the page (lib/catalog/list.ts) and one facet statement, which also gives the total. Facets are
// disjunctive: each one counts with every filter except its own, so a storefront can offer the other
// brands while one brand is chosen.

export const FACETS = ['category', 'brand', 'price', 'in_stock'] as const
type Facet = (typeof FACETS)[number]

/** Price bands in major units; the last one is open. */
const PRICE_BANDS: Array<[number, number | null]> = [
  [0, 25],
  [25, 50],
  [50, 100],
  [100, 200],
  [200, null],
]

export const SearchBody = z.strictObject({
  query: z.string().trim().max(200).optional(),
  filters: z
    .strictObject({
      category: z.string().trim().min(1).max(200).optional().describe('Id or slug, subcategories included'),
      brand: z.array(z.string().trim().min(1).max(100)).max(50).optional().describe('Any of them'),
      tags: z.array(z.string().trim().min(1).max(50)).max(50).optional().describe('Any of them'),
      min_price: PriceBound.optional(),
      max_price: PriceBound.optional(),
      in_stock: z.boolean().optional(),
      is_featured: z.boolean().optional(),
      status: z.enum(productStatuses).optional().describe('Staff only'),
    })
    .optional(),
  facets: z.array(z.enum(FACETS)).max(4).optional().describe('Default: all four'),
  sort: z.enum(SORTS).optional(),
  page: z.number().int().min(1).default(1),
  limit: z.number().int().min(1).max(100).default(20),
  cursor: z.string().max(1000).optional(),
})
export type SearchInput = z.output<typeof SearchBody>

export const FacetsSchema = z.object({
  category: z
    .array(z.object({ id: z.string(), slug: z.string(), name: z.string(), count: z.number().int() }))
    .optional(),
  brand: z.array(z.object({ value: z.string(), count: z.number().int() })).optional(),
  price: z
    .array(z.object({ min: z.number(), max: z.number().nullable(), count: z.number().int() }))
    .optional(),
  in_stock: z.array(z.object({ value: z.boolean(), count: z.number().int() })).optional(),
})
type Facets = z.infer<typeof FacetsSchema>

export const SearchResultSchema = z.object({
  products: z.array(ListedProductSchema),
  pagination: CatalogPaginationSchema,
  facets: FacetsSchema,
})

const ok = (c: SQL | undefined) => c ?? sql`true`

/** One statement: the total and the requested facets over the matching products. */
async function facetCounts(db: Db, parts: FilterParts, wanted: readonly Facet[], viewer: Viewer) {
  const scale = 10 ** currencyExponent()
  const except = (skip: 'cat' | 'brand' | 'price' | 'stock') =>
    sql.raw(
      (['cat', 'brand', 'price', 'stock'] as const)
        .filter((k) => k !== skip)
        .map((k) => `${k}_ok`)
        .join(' and '),
    )
  const selects: SQL[] = [
    sql`(select count(*)::int from base where cat_ok and brand_ok and price_ok and stock_ok) as total`,
  ]
  if (wanted.includes('category')) {
    selects.push(sql`(select coalesce(json_agg(x order by x.count desc, x.name), '[]'::json) from (
        select c.id, c.slug, c.name, count(*)::int as count from base b join categories c on c.id = b.category_id
        where ${except('cat')}${viewer.staff ? sql`` : sql` and ${categoryShown('c')}`} group by c.id) x) as category`)
  }
  if (wanted.includes('brand')) {
    selects.push(sql`(select coalesce(json_agg(json_build_object('value', x.brand, 'count', x.count) order by x.count desc, x.brand), '[]'::json) from (
        select brand, count(*)::int as count from base where brand is not null and ${except('brand')} group by brand) x) as brand`)
  }
  if (wanted.includes('price')) {
    const bands = PRICE_BANDS.map(
      ([lo, hi]) =>
        sql`count(*) filter (where price_cents >= ${lo * scale}${hi === null ? sql`` : sql` and price_cents < ${hi * scale}`})::int`,
    )
    selects.push(
      sql`(select json_build_array(${sql.join(bands, sql`, `)}) from base where ${except('price')}) as price`,
    )
  }
  if (wanted.includes('in_stock')) {
    selects.push(sql`(select json_build_array(count(*) filter (where in_stock)::int, count(*) filter (where not in_stock)::int)
        from base where ${except('stock')}) as in_stock`)
  }
  const result = (await db.execute(sql`
    with base as (
      select ${P.id} as id, ${P.categoryId} as category_id, ${P.brand} as brand,
        ${P.priceCents} as price_cents, ${inStockSql} as in_stock,
        ${ok(parts.category)} as cat_ok, ${ok(parts.brand)} as brand_ok,
        ${ok(parts.price)} as price_ok, ${ok(parts.stock)} as stock_ok
      from ${products}
      where ${parts.base.length ? sql.join(parts.base, sql` and `) : sql`true`}
    )
    select ${sql.join(selects, sql`, `)}
  `)) as unknown as { rows: Array<Record<string, unknown>> }
  const r = result.rows[0] ?? {}
  const parse = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T
  const facets: Facets = {}
  if (wanted.includes('category')) facets.category = parse(r.category)
  if (wanted.includes('brand')) facets.brand = parse(r.brand)
  if (wanted.includes('price')) {
    const counts = parse<number[]>(r.price)
    facets.price = PRICE_BANDS.map(([min, max], i) => ({ min, max, count: Number(counts[i] ?? 0) }))
  }
  if (wanted.includes('in_stock')) {
    const [yes, no] = parse<number[]>(r.in_stock)
    facets.in_stock = [
      { value: true, count: Number(yes ?? 0) },
      { value: false, count: Number(no ?? 0) },
    ]
  }
  return { total: Number(r.total ?? 0), facets }
}

export async function searchProducts(db: Db, body: SearchInput, viewer: Viewer) {
  const f = body.filters ?? {}
  const parts = filterParts(
    {
      search: body.query,
      category: f.category,
      brands: f.brand,
      tags: f.tags,
      minPrice: f.min_price,
      maxPrice: f.max_price,
      status: f.status,
      inStock: f.in_stock,
      isFeatured: f.is_featured,
    },
    viewer,
  )
  const wanted = body.facets ?? FACETS
  // The two statements are independent: on a pool they run side by side.
  const [page, counted] = await Promise.all([
    productPage(db, parts, viewer, {
      sort: effectiveSort(body.sort, body.query),
      page: body.page,
      limit: body.limit,
      cursor: body.cursor,
    }),
    facetCounts(db, parts, wanted, viewer),
  ])
  const pagination = page.byPage ? withTotal(page, counted.total) : page.pagination
  return {
    products: page.rows.map((r) => toListedProduct(r, viewer.staff)),
    pagination,
    facets: counted.facets,
  }
}
