import { drizzle } from 'drizzle-orm/pg-proxy'
import * as schema from '../db/schema/index.js'
import { viewerOf } from '../lib/catalog/access.js'
import { catalogChanged } from '../lib/catalog/counts.js'
import { SearchBody, searchProducts } from '../lib/catalog/facets.js'
import { encodeCursor, ListProductsQuery, listProducts } from '../lib/catalog/list.js'
import { getProduct } from '../lib/catalog/products.js'
import type { Db } from '../lib/platform/db.js'

// Do the hot catalog statements use their indexes on this data? Each statement is built by the same lib
// functions the routes call (on a drizzle proxy that only records the SQL and its parameters), then run as
// EXPLAIN (ANALYZE, FORMAT JSON) through `query` on the bench's own catalog. ANALYZE, so a scan the plan
// holds but never runs (the typo fallback behind a one-time filter when strict hits exist) is told apart
// from one that reads the table. A statement passes when no executed Seq Scan on products or
// product_variants reads more than `maxSeqScanRows` (20,000): on 10,000 products PostgreSQL rightly scans
// the table for the full-text branch of a search (3.5 ms, against 6.4 ms through the GIN index with
// enable_seqscan off), and from about 20,000 on it takes the index; a scan that grows with the catalog past
// that is a failure. Every executed Seq Scan is listed either way. Not a CI test: plans depend on the data
// and its statistics.
// Used by bench/scale.ts (10,000 and 100,000 products) and by the http bench on its 10,000.

export type Query = (sql: string, params?: unknown[]) => Promise<any[]>

export interface PlanCheck {
  name: string
  /** What the statement is, e.g. the search text. */
  what: string
  ok: boolean
  /** Indexes the executed plan scans, in plan order, deduplicated. */
  indexes: string[]
  /** Executed Seq Scans on products/product_variants: "table (alias): rows read". */
  seqScans: string[]
  /** Seq Scans the plan holds but never ran (loops = 0). */
  idleSeqScans: string[]
  /** Rows read from products by every executed scan (returned + removed by filter): bounded for keyset pages. */
  productRowsRead: number
  /** Sorts whose input was more than 1,000 rows (a keyset page should sort none). */
  bigSorts: string[]
  executionMs: number
  /** Measured and listed, never failed: its work grows with the catalog by definition (a count). */
  reference?: boolean
}

export interface CheckOptions {
  /** Category slug for the list (default: the bench seed's `bench-dept-5`, else the busiest category). */
  category?: string
  /** Product whose SKU, variant SKU and name are searched (default BENCH-P-4242, else the newest). */
  productSku?: string
  /** An executed Seq Scan reading more rows than this fails the statement (default 20,000). */
  maxSeqScanRows?: number
  /** EXPLAIN ANALYZE runs per statement; the median execution time is reported (default 3). */
  repeat?: number
  print?: boolean
}

interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  Alias?: string
  'Index Name'?: string
  'Actual Loops'?: number
  'Actual Rows'?: number
  'Rows Removed by Filter'?: number
  'Rows Removed by Index Recheck'?: number
  Plans?: PlanNode[]
}

const WATCHED = new Set(['products', 'product_variants'])

function walk(node: PlanNode, visit: (n: PlanNode) => void) {
  visit(node)
  for (const child of node.Plans ?? []) walk(child, visit)
}

/**
 * Record the statements `run` issues without running them (every query answers no rows). Each capture
 * starts on a cold list count cache (a new count version), so a page by `page` issues its count too.
 */
async function capture(run: (db: Db) => Promise<unknown>) {
  await catalogChanged()
  const issued: Array<{ sql: string; params: unknown[] }> = []
  const db = drizzle(
    async (sql, params) => {
      issued.push({ sql, params })
      return { rows: [] }
    },
    { schema },
  ) as unknown as Db
  try {
    await run(db)
  } catch {
    // With no rows, a product lookup is a 404 and facets have nothing to parse: the SQL is captured already.
  }
  return issued
}

function firstPlan(rows: any[]): { Plan: PlanNode; 'Execution Time': number } {
  const raw = rows[0]?.['QUERY PLAN'] ?? Object.values(rows[0] ?? {})[0]
  const parsed = typeof raw === 'string' ? JSON.parse(raw) : raw
  return (Array.isArray(parsed) ? parsed[0] : parsed) as { Plan: PlanNode; 'Execution Time': number }
}

function judge(
  name: string,
  what: string,
  plan: { Plan: PlanNode; 'Execution Time': number },
  maxSeqScanRows: number,
): PlanCheck {
  const indexes: string[] = []
  const seqScans: string[] = []
  const idleSeqScans: string[] = []
  const bigSorts: string[] = []
  let productRowsRead = 0
  let worstSeqScan = 0
  walk(plan.Plan, (n) => {
    const loops = n['Actual Loops'] ?? 0
    const read = ((n['Actual Rows'] ?? 0) + (n['Rows Removed by Filter'] ?? 0)) * loops
    if (n['Index Name'] && loops > 0 && !indexes.includes(n['Index Name'])) indexes.push(n['Index Name'])
    if (n['Relation Name'] === 'products' && loops > 0) productRowsRead += read
    if (n['Node Type'] === 'Seq Scan' && n['Relation Name'] && WATCHED.has(n['Relation Name'])) {
      const label = `${n['Relation Name']} (${n.Alias ?? n['Relation Name']})`
      if (loops > 0) {
        seqScans.push(`${label}: ${read} rows read`)
        worstSeqScan = Math.max(worstSeqScan, read)
      } else idleSeqScans.push(label)
    }
    if (n['Node Type'] === 'Sort' && loops > 0) {
      const input = n.Plans?.[0]
      const rows = input ? (input['Actual Rows'] ?? 0) * (input['Actual Loops'] ?? 1) : 0
      if (rows > 1000) bigSorts.push(`${rows} rows`)
    }
  })
  return {
    name,
    what,
    ok: worstSeqScan <= maxSeqScanRows,
    indexes,
    seqScans,
    idleSeqScans,
    productRowsRead,
    bigSorts,
    executionMs: Number(plan['Execution Time'] ?? 0),
  }
}

/**
 * EXPLAIN (ANALYZE, FORMAT JSON) the hot catalog statements as the app issues them: the list with a
 * category and price filter (page 1 with its total, page 1 with `total=false`, the page after via its
 * cursor), selective searches (a product SKU, a variant SKU, a product's full name) as the list issues
 * them and POST /products/search's facet statement, and the product by id.
 */
export async function checkIndexes(query: Query, opts: CheckOptions = {}): Promise<PlanCheck[]> {
  const anonymous = viewerOf(null)
  const category =
    opts.category ??
    (
      await query(`select slug from categories where slug = 'bench-dept-5'
        union all (select c.slug from categories c join products p on p.category_id = c.id
          group by c.slug order by count(*) desc limit 1) limit 1`)
    )[0]?.slug
  const sku = opts.productSku ?? 'BENCH-P-4242'
  const [product] = await query(
    `(select p.id, p.sku, p.name, (select v.sku from product_variants v where v.product_id = p.id order by v.position limit 1) as variant_sku
       from products p where p.sku = $1)
     union all (select p.id, p.sku, p.name, (select v.sku from product_variants v where v.product_id = p.id order by v.position limit 1)
       from products p where p.status = 'active' and p.is_visible order by p.created_at desc limit 1) limit 1`,
    [sku],
  )
  if (!product) throw new Error('checkIndexes: the catalog has no products')

  const statements: Array<{
    name: string
    what: string
    sql: string
    params: unknown[]
    reference?: boolean
  }> = []
  type Pick = number | ((s: { sql: string }) => boolean)
  const add = async (
    name: string,
    what: string,
    run: (db: Db) => Promise<unknown>,
    pick: Pick = 0,
    reference = false,
  ) => {
    const issued = await capture(run)
    const s = typeof pick === 'number' ? issued[pick] : issued.find(pick)
    if (!s) throw new Error(`checkIndexes: ${name} issued no statement`)
    statements.push({ name, what, ...s, reference })
  }
  // A page by `page` issues its page statement and, on a cold count cache (as every capture starts), the
  // count beside it (ADR 018), in either order.
  const isCount = (s: { sql: string }) => /^select count\(\*\)/i.test(s.sql.trim())
  const isPage = (s: { sql: string }) => !isCount(s)
  const listQuery = { category, min_price: '20', max_price: '120', limit: '24' }
  await add(
    'list',
    `category ${category}, price 20-120, page 1 with total`,
    (db) => listProducts(db, ListProductsQuery.parse(listQuery), anonymous),
    isPage,
  )
  await add('list (total=false)', `category ${category}, price 20-120, first keyset page`, (db) =>
    listProducts(db, ListProductsQuery.parse({ ...listQuery, total: 'false' }), anonymous),
  )
  // The cursor of the first page's last row, from the first page run for real.
  const first = statements[1]!
  const pageRows = await query(first.sql, first.params)
  const last = pageRows[Math.min(23, pageRows.length - 1)]
  if (last) {
    const cursor = encodeCursor({ s: 'newest', v: String(last.sort_key), id: String(last.id) })
    await add('list (cursor)', `category ${category}, price 20-120, page 2 by cursor`, (db) =>
      listProducts(db, ListProductsQuery.parse({ ...listQuery, cursor }), anonymous),
    )
  }
  await add(
    'list default page',
    'no filter, newest, page 1 with total (prepared)',
    (db) => listProducts(db, ListProductsQuery.parse({ limit: '24' }), anonymous),
    isPage,
  )
  await add(
    'ref: list count',
    `category ${category}, price 20-120: the count of a cold cache`,
    (db) => listProducts(db, ListProductsQuery.parse(listQuery), anonymous),
    isCount,
    true,
  )
  await add(
    'ref: default count',
    'no filter: the count of a cold cache (prepared)',
    (db) => listProducts(db, ListProductsQuery.parse({ limit: '24' }), anonymous),
    isCount,
    true,
  )
  const searches: Array<[string, string]> = [
    ['search (sku)', String(product.sku)],
    ['search (variant sku)', String(product.variant_sku ?? product.sku)],
    ['search (name)', String(product.name)],
  ]
  for (const [name, text] of searches) {
    await add(
      name,
      JSON.stringify(text),
      (db) => listProducts(db, ListProductsQuery.parse({ search: text, limit: '24' }), anonymous),
      isPage,
    )
  }
  // POST /products/search issues the page (as above) and the facet statement, second.
  await add(
    'search facets',
    JSON.stringify(String(product.name)),
    (db) => searchProducts(db, SearchBody.parse({ query: String(product.name), limit: 24 }), anonymous),
    1,
  )
  await add('product by id', String(product.id), (db) => getProduct(db, String(product.id), anonymous))

  const checks: PlanCheck[] = []
  for (const s of statements) {
    const runs: PlanCheck[] = []
    for (let i = 0; i < Math.max(1, opts.repeat ?? 3); i++) {
      const rows = await query(`explain (analyze, format json) ${s.sql}`, s.params)
      const check = judge(s.name, s.what, firstPlan(rows), opts.maxSeqScanRows ?? 20_000)
      runs.push(s.reference ? { ...check, ok: true, reference: true } : check)
    }
    const ms = runs.map((r) => r.executionMs).sort((a, b) => a - b)
    // The last run's plan (warm caches), the median time; a statement fails if any run fails.
    checks.push({ ...runs.at(-1)!, ok: runs.every((r) => r.ok), executionMs: ms[Math.floor(ms.length / 2)]! })
  }
  if (opts.print !== false) printChecks(checks)
  return checks
}

export function printChecks(checks: PlanCheck[]): void {
  console.table(
    checks.map((c) => ({
      statement: c.name,
      what: c.what.length > 40 ? `${c.what.slice(0, 37)}...` : c.what,
      indexes: c.reference
        ? 'not judged (a count)'
        : !c.ok
          ? 'SEQ SCAN'
          : c.seqScans.length
            ? 'ok (small seq scan)'
            : 'ok',
      'ms (explain analyze)': Number(c.executionMs.toFixed(2)),
      'product rows read': c.productRowsRead,
    })),
  )
  for (const c of checks) {
    const verdict = c.reference ? 'ref ' : c.ok ? 'pass' : 'FAIL'
    console.log(`${verdict}  ${c.name}: ${c.indexes.join(', ') || 'no index'}`)
    for (const s of c.seqScans) console.log(`      seq scan ${s}`)
    if (c.idleSeqScans.length) console.log(`      never executed: seq scan ${c.idleSeqScans.join(', ')}`)
    for (const s of c.bigSorts) console.log(`      sort of ${s}`)
  }
}
