import { count as countOf, sql } from 'drizzle-orm'
import { products } from '../db/schema/index.js'
import { type Db, rowsOf } from '../lib/platform/db.js'
import type { Progress } from './progress.js'

// The bench's data, written set-based (generate_series, a handful of statements per step) instead of one
// API call per row. The catalog: 8 departments of 3 aisles each, `count` active products with five size
// variants each. Names combine 12 materials with 10 garments, so every pair (the text search) matches about
// count / 120 products; prices spread from 5.00 to 199.99. The order history: customers (one shared
// password hash) with paid orders of one to three lines, each line a real variant of a seeded product.

export const BENCH_DEPARTMENTS = 8
export const BENCH_SIZES = ['XS', 'S', 'M', 'L', 'XL'] as const
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

const textArray = (items: readonly string[]) => sql.raw(`array[${items.map((s) => `'${s}'`).join(',')}]`)
const sizes = textArray(BENCH_SIZES)
const quiet: Progress = () => {}

/** Rows per statement for the large inserts: a progress step each, and bounded memory in the server. */
const CHUNK = 5_000

/** [from, to] ranges (1-based, inclusive) covering 1..count in chunks. */
function chunks(count: number, size = CHUNK): Array<[number, number]> {
  const out: Array<[number, number]> = []
  for (let from = 1; from <= count; from += size) out.push([from, Math.min(count, from + size - 1)])
  return out
}

/** Seed an empty catalog; refuses one that already has products (never mixes into real data). */
export async function seedBenchCatalog(db: Db, count: number, progress: Progress = quiet): Promise<void> {
  const [existing] = await db.select({ n: countOf() }).from(products)
  if ((existing?.n ?? 0) > 0) throw new Error('the bench seeds an empty catalog; this database has products')
  const parts = chunks(count)
  // Steps: categories, then per chunk skus + products + variants, then analyze.
  const total = 2 + parts.length * 3
  let done = 0
  const step = (label: string) => progress(++done, total, label)
  await db.transaction(async (tx) => {
    await tx.execute(sql`insert into categories (name, slug, sort_order)
      select 'Department ' || d, 'bench-dept-' || d, d from generate_series(1, ${BENCH_DEPARTMENTS}) d`)
    await tx.execute(sql`insert into categories (name, slug, parent_id, sort_order)
      select 'Aisle ' || d || '.' || a, 'bench-dept-' || d || '-aisle-' || a, c.id, a
      from generate_series(1, ${BENCH_DEPARTMENTS}) d
      join categories c on c.slug = 'bench-dept-' || d
      cross join generate_series(1, 3) a`)
    step('categories')
    for (const [from, to] of parts) {
      await tx.execute(sql`insert into skus (sku, kind)
        select 'BENCH-P-' || i, 'product' from generate_series(${from}::int, ${to}::int) i
        union all
        select 'BENCH-P-' || i || '-' || s, 'variant' from generate_series(${from}::int, ${to}::int) i
          cross join unnest(${sizes}) s`)
      step(`skus ${to.toLocaleString('en')}/${count.toLocaleString('en')}`)
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
        from generate_series(${from}::int, ${to}::int) i
        join categories c on c.slug = 'bench-dept-' || (1 + i % ${BENCH_DEPARTMENTS}) || '-aisle-' || (1 + (i / ${BENCH_DEPARTMENTS}) % 3)`)
      step(`products ${to.toLocaleString('en')}/${count.toLocaleString('en')}`)
      await tx.execute(sql`insert into product_variants (product_id, sku, title, option1, inventory_quantity, position)
        select p.id, p.sku || '-' || s.size, s.size, s.size, (length(p.sku) * 7 + s.pos::int * 11) % 40, s.pos::int - 1
        from generate_series(${from}::int, ${to}::int) i
        join products p on p.sku = 'BENCH-P-' || i
        cross join unnest(${sizes}) with ordinality s(size, pos)`)
      step(
        `variants ${(to * BENCH_SIZES.length).toLocaleString('en')}/${(count * BENCH_SIZES.length).toLocaleString('en')}`,
      )
    }
  })
  // Fresh statistics, as a catalog that has been live for a while would have.
  await db.execute(sql`analyze`)
  step('analyze')
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

/** The seeded customers' emails, 0-based; all share one password. */
export const benchCustomerEmail = (n: number) => `bench-customer-${n}@example.com`
export const BENCH_CUSTOMER_PASSWORD = 'a long unusual bench passphrase'

/**
 * `customers` verified customers sharing `passwordHash`, and `orders` paid orders spread evenly over them
 * (customer n has every order i with i % customers = n), newest first by number; lines reference real
 * variants of the seeded catalog (seedBenchCatalog first), totals are the sum of the lines.
 */
export async function seedBenchOrders(
  db: Db,
  opts: { customers: number; orders: number; passwordHash: string },
  progress: Progress = quiet,
): Promise<void> {
  const parts = chunks(opts.orders)
  const total = 1 + parts.length * 2 + 2
  let done = 0
  const step = (label: string) => progress(++done, total, label)
  await db.transaction(async (tx) => {
    await tx.execute(sql`insert into users (email, password_hash, first_name, last_name, role, is_active,
        is_verified, email_verified_at)
      select 'bench-customer-' || n || '@example.com', ${opts.passwordHash}, 'Bench', 'Customer ' || n,
        'customer', true, true, now()
      from generate_series(0, ${opts.customers - 1}) n`)
    step(`customers ${opts.customers}`)
    // The variants numbered 0..n-1 once, keyed: each order line finds its variant by an index lookup.
    await tx.execute(sql`create temporary table bench_variants on commit drop as
      select row_number() over (order by v.id) - 1 as n, v.id, v.product_id, v.title, v.sku, p.name,
        coalesce(v.price_cents, p.price_cents) as price
      from product_variants v join products p on p.id = v.product_id
      where p.sku like 'BENCH-P-%'`)
    await tx.execute(sql`alter table bench_variants add primary key (n)`)
    const [counted] = rowsOf<{ c: string | number }>(
      await tx.execute(sql`select count(*) as c from bench_variants`),
    )
    const variantCount = Number(counted?.c ?? 0)
    if (variantCount === 0) throw new Error('seed the catalog (seedBenchCatalog) before the orders')
    const address = sql`jsonb_build_object('first_name', 'Bench', 'last_name', 'Customer', 'line1',
      '1 Loopback Way', 'city', 'Springfield', 'state', 'IL', 'postal_code', '62701', 'country', 'US')`
    for (const [from, to] of parts) {
      await tx.execute(sql`insert into orders (user_id, email, status, financial_status, fulfillment_status,
          currency, billing_address, shipping_address, source, metadata, created_at, updated_at)
        select u.id, u.email, 'confirmed', 'paid', 'unfulfilled', 'USD', ${address}, ${address}, 'web',
          jsonb_build_object('bench', i), now() - i * interval '3 minutes', now() - i * interval '3 minutes'
        from generate_series(${from}::int, ${to}::int) i
        join users u on u.email = 'bench-customer-' || (i % ${opts.customers}) || '@example.com'`)
      step(`orders ${to.toLocaleString('en')}/${opts.orders.toLocaleString('en')}`)
      // One to three lines per order, each a variant picked by a stride through all seeded variants.
      await tx.execute(sql`insert into order_items (order_id, product_id, variant_id, product_name,
          variant_title, sku, quantity, unit_price_cents, subtotal_cents, total_amount_cents)
        select o.id, v.product_id, v.id, v.name, v.title, v.sku, 1 + (o.i + j) % 2, v.price,
          v.price * (1 + (o.i + j) % 2), v.price * (1 + (o.i + j) % 2)
        from (select id, (metadata->>'bench')::int as i from orders
              where metadata ? 'bench' and (metadata->>'bench')::int between ${from}::int and ${to}::int) o
        cross join generate_series(1, 1 + o.i % 3) j
        join bench_variants v on v.n = (o.i::bigint * 7919 + j * 104729) % ${variantCount}::bigint`)
      step(`order lines ${to.toLocaleString('en')}/${opts.orders.toLocaleString('en')}`)
    }
    await tx.execute(sql`update orders o set subtotal_cents = s.t, total_amount_cents = s.t, paid_amount_cents = s.t
      from (select order_id, sum(total_amount_cents) as t from order_items group by order_id) s
      where s.order_id = o.id and o.metadata ? 'bench'`)
    step('order totals')
  })
  await db.execute(sql`analyze`)
  step('analyze')
}

/** The bench scale (`npm run seed -- --scale bench`): 10,000 products, 50,000 variants, 20,000 orders. */
export const BENCH_SCALE = { products: 10_000, customers: 200, orders: 20_000 } as const

/** Units of each order bench SKU: ample, no buyer ever meets out_of_stock. */
export const BENCH_ORDER_STOCK = 1_000_000

/** Everything the bench needs in an empty database, with one progress bar over all steps. */
export async function seedBenchScale(
  db: Db,
  opts: { products: number; customers: number; orders: number; passwordHash: string },
  progress: Progress = quiet,
): Promise<void> {
  // Weights: a product chunk costs about as much as an order chunk.
  const catalogSteps = 2 + chunks(opts.products).length * 3
  const orderSteps = 1 + chunks(opts.orders).length * 2 + 2
  const total = catalogSteps + 1 + orderSteps
  await seedBenchCatalog(db, opts.products, (d, _t, label) => progress(d, total, label))
  await seedBenchOrderProducts(db, BENCH_ORDER_STOCK)
  progress(catalogSteps + 1, total, 'order products')
  await seedBenchOrders(db, opts, (d, _t, label) => progress(catalogSteps + 1 + d, total, label))
}
