import { count as countOf, sql } from 'drizzle-orm'
import { products } from '../db/schema/index.js'
import type { Db } from '../lib/platform/db.js'

// A large catalog for bench/http.ts, written set-based (generate_series, a handful of statements) instead
// of one API call per product: 8 departments of 3 aisles each, `count` active products with three size
// variants each. Names combine 12 materials with 10 garments, so every pair (the text search) matches about
// count / 120 products; prices spread from 5.00 to 199.99.

export const BENCH_DEPARTMENTS = 8
const MATERIALS = [
  'Linen',
  'Merino',
  'Cotton',
  'Denim',
  'Cashmere',
  'Wool',
  'Silk',
  'Fleece',
  'Canvas',
  'Tweed',
  'Jersey',
  'Corduroy',
]
const GARMENTS = ['shirt', 'sweater', 'jacket', 'trousers', 'hoodie', 'scarf', 'dress', 'coat', 'cap', 'vest']

const textArray = (items: string[]) => sql.raw(`array[${items.map((s) => `'${s}'`).join(',')}]`)

/** Seed an empty catalog; refuses one that already has products (never mixes into real data). */
export async function seedBenchCatalog(db: Db, count: number): Promise<void> {
  const [existing] = await db.select({ n: countOf() }).from(products)
  if ((existing?.n ?? 0) > 0) throw new Error('the bench seeds an empty catalog; this database has products')
  await db.transaction(async (tx) => {
    await tx.execute(sql`insert into categories (name, slug, sort_order)
      select 'Department ' || d, 'bench-dept-' || d, d from generate_series(1, ${BENCH_DEPARTMENTS}) d`)
    await tx.execute(sql`insert into categories (name, slug, parent_id, sort_order)
      select 'Aisle ' || d || '.' || a, 'bench-dept-' || d || '-aisle-' || a, c.id, a
      from generate_series(1, ${BENCH_DEPARTMENTS}) d
      join categories c on c.slug = 'bench-dept-' || d
      cross join generate_series(1, 3) a`)
    await tx.execute(sql`insert into skus (sku, kind)
      select 'BENCH-P-' || i, 'product' from generate_series(1, ${count}) i
      union all
      select 'BENCH-P-' || i || '-' || s, 'variant' from generate_series(1, ${count}) i
        cross join unnest(array['S', 'M', 'L']) s`)
    await tx.execute(sql`insert into products (sku, name, slug, short_description, description, price_cents,
        category_id, brand, tags, status, is_visible, has_variants, images, created_at, updated_at)
      select 'BENCH-P-' || i,
        (${textArray(MATERIALS)})[1 + i % 12] || ' ' || (${textArray(GARMENTS)})[1 + (i / 12) % 10] || ' ' || i,
        'bench-product-' || i,
        'A bench product',
        'Made for load tests: soft, durable and entirely fictional.',
        500 + (i * 7919) % 19500,
        c.id,
        'Brand ' || (1 + i % 25),
        array['bench', lower((${textArray(MATERIALS)})[1 + i % 12])],
        'active', true, true,
        jsonb_build_array(jsonb_build_object('url', 'https://images.example.com/bench/' || i || '.jpg', 'position', 0)),
        now() - i * interval '1 minute', now() - i * interval '1 minute'
      from generate_series(1, ${count}) i
      join categories c on c.slug = 'bench-dept-' || (1 + i % ${BENCH_DEPARTMENTS}) || '-aisle-' || (1 + (i / ${BENCH_DEPARTMENTS}) % 3)`)
    await tx.execute(sql`insert into product_variants (product_id, sku, title, option1, inventory_quantity, position)
      select p.id, p.sku || '-' || s.size, s.size, s.size, (length(p.sku) * 7 + s.pos::int * 11) % 40, s.pos::int - 1
      from products p cross join unnest(array['S', 'M', 'L']) with ordinality s(size, pos)
      where p.sku like 'BENCH-P-%'`)
  })
  // Fresh statistics, as a catalog that has been live for a while would have.
  await db.execute(sql`analyze`)
}

/** SKUs the order bench buys: `count` active products without variants, stock tracked, `stock` units each. */
export const BENCH_ORDER_SKUS = 5
export async function seedBenchOrderProducts(db: Db, stock: number): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.execute(sql`insert into skus (sku, kind)
      select 'BENCH-O-' || i, 'product' from generate_series(1, ${BENCH_ORDER_SKUS}) i`)
    await tx.execute(sql`insert into products (sku, name, slug, description, price_cents, tags, status,
        is_visible, has_variants, track_inventory, inventory_quantity)
      select 'BENCH-O-' || i, 'Bench order item ' || i, 'bench-order-item-' || i, 'Bought by the order bench.',
        1000 + i * 250, array['bench'], 'active', true, false, true, ${stock}
      from generate_series(1, ${BENCH_ORDER_SKUS}) i`)
  })
}
