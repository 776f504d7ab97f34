import { and, inArray, sql } from 'drizzle-orm'
import { z } from 'zod'
import { products } from '../../db/schema/index.js'
import type { Principal } from '../auth/permissions.js'
import { notFound } from '../http/errors.js'
import type { Db } from '../platform/db.js'
import { fieldError, productKey, productNotFound, viewerOf } from './access.js'
import { isUuid } from './schemas.js'
import {
  inStockSql,
  ListedProductSchema,
  P,
  type ProductRow,
  productSelection,
  publiclyVisible,
  toListedProduct,
} from './view.js'

// GET /products/recommendations: products bought together with a product (or with what a customer
// bought), from order_items in one query, then the same category, then the same brand. Never hidden or
// out-of-stock products, never the seed products themselves. A customer's recommendations are theirs (or
// staff's with orders.view); anyone else gets the 404 an unknown customer gets.

export const RecommendationsQuery = z.object({
  product_id: z.string().min(1).max(200).optional().describe('Product id or slug'),
  customer_id: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('Default: the signed-in caller. Only that customer, or staff with orders.view'),
  limit: z.coerce.number().int().min(1).max(50).default(8),
})
export type RecommendationsInput = z.output<typeof RecommendationsQuery>

export const REASONS = ['bought_together', 'same_category', 'same_brand'] as const
export const RecommendationsSchema = z.object({
  based_on: z.enum(['product', 'customer']),
  products: z.array(ListedProductSchema.extend({ reason: z.enum(REASONS) })),
})

/** Whose purchases seed the answer, or which product; resolves the defaults and the 404/422 refusals. */
function seedOf(q: RecommendationsInput, principal: Principal | null) {
  if (q.product_id && q.customer_id) {
    throw fieldError('customer_id', 'Give product_id or customer_id, not both.', 'one_of')
  }
  if (q.product_id) return { kind: 'product' as const, productId: q.product_id }
  const customerId = q.customer_id ?? principal?.userId
  if (!customerId) {
    throw fieldError('product_id', 'Give a product_id, or sign in for your own recommendations.', 'required')
  }
  const mayRead = principal && (principal.userId === customerId || principal.permissions.has('orders.view'))
  if (!mayRead || !isUuid(customerId)) throw notFound('customer')
  return { kind: 'customer' as const, customerId: customerId.toLowerCase() }
}

export async function recommendProducts(db: Db, q: RecommendationsInput, principal: Principal | null) {
  const seed = seedOf(q, principal)
  const viewer = viewerOf(principal)
  const seedSql =
    seed.kind === 'product'
      ? sql`select id, category_id, brand from products where ${productKey(seed.productId)}${viewer.staff ? sql`` : sql` and ${publiclyVisible}`}`
      : sql`select distinct p.id, p.category_id, p.brand from orders o
          join order_items oi on oi.order_id = o.id join products p on p.id = oi.product_id
          where o.user_id = ${seed.customerId}::uuid and o.status <> 'cancelled'`
  const picked = (await db.execute(sql`
    with seed as (${seedSql}),
    together as (
      select oi2.product_id as id, count(distinct oi2.order_id) as score
      from order_items oi1
      join orders o on o.id = oi1.order_id and o.status <> 'cancelled'
      join order_items oi2 on oi2.order_id = oi1.order_id
      where oi1.product_id in (select id from seed)
        and oi2.product_id is not null and oi2.product_id not in (select id from seed)
      group by oi2.product_id)
    select ${P.id} as id,
      case when t.id is not null then 'bought_together'
           when ${P.categoryId} in (select category_id from seed) then 'same_category'
           else 'same_brand' end as reason
    from ${products} left join together t on t.id = ${P.id}
    where ${publiclyVisible} and ${inStockSql}
      and ${P.id} not in (select id from seed)
      and (t.id is not null
        or ${P.categoryId} in (select category_id from seed where category_id is not null)
        or lower(${P.brand}) in (select lower(brand) from seed where brand is not null))
    order by coalesce(t.score, 0) desc,
      coalesce(${P.categoryId} in (select category_id from seed where category_id is not null), false) desc,
      ${P.createdAt} desc, ${P.id}
    limit ${q.limit}
  `)) as unknown as { rows: Array<{ id: string; reason: (typeof REASONS)[number] }> }

  if (seed.kind === 'product' && !picked.rows.length) {
    // Nothing to recommend, or no such (visible) product: only the latter is a 404.
    const [exists] = await db
      .select({ id: products.id })
      .from(products)
      .where(and(productKey(seed.productId), viewer.staff ? undefined : publiclyVisible))
      .limit(1)
    if (!exists) throw productNotFound()
  }
  const ids = picked.rows.map((r) => r.id)
  const rows = ids.length
    ? ((await db
        .select(productSelection(false))
        .from(products)
        .where(inArray(products.id, ids))) as ProductRow[])
    : []
  const byId = new Map(rows.map((r) => [r.id, r]))
  return {
    based_on: seed.kind,
    products: picked.rows
      .filter((r) => byId.has(r.id))
      .map((r) => ({ ...toListedProduct(byId.get(r.id)!, false), reason: r.reason })),
  }
}
