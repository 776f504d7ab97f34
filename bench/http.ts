// Latency and throughput of hot paths against the real dev server over HTTP (loopback only), the catalog
// over a seeded 10,000-product catalog, each catalog read beside a baseline: the same SQL through the same
// driver behind a bare node:http handler (bench/baseline-server.ts).
// Usage: npm run bench:http [-- --seconds 5 --concurrency 8 --products 10000 --postgres]
// Not part of npm test. The catalog is seeded set-based into a fresh embedded database in a temporary
// directory; with --postgres into a fresh database `commerce_bench_http` on this machine's PostgreSQL
// (TEST_PG_URL) through the Neon driver and the test WebSocket proxy; with DATABASE_URL into that database
// (it must have no products). PGlite opens a directory in one process at a time, so the phases run one
// after the other: seed and capture here, then the baseline server, then the dev server. RATE_LIMITS=off.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { eq, type Logger } from 'drizzle-orm'
import * as schema from '../db/schema/index.js'
import { viewerOf } from '../lib/catalog/access.js'
import { ListProductsQuery, listProducts } from '../lib/catalog/list.js'
import { getProduct } from '../lib/catalog/products.js'
import {
  configureNeonDriver,
  type Db,
  MIGRATIONS_FOLDER,
  migrateNeon,
  pgliteExtensions,
} from '../lib/platform/db.js'
import { BENCH_DEPARTMENTS, seedBenchCatalog } from './catalog-seed.js'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '8' },
    products: { type: 'string', default: '10000' },
    postgres: { type: 'boolean', default: false },
  },
})
const seconds = Number(values.seconds)
const concurrency = Number(values.concurrency)
const productCount = Number(values.products)

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolve(p))
    })
  })

// --- Where the catalog lives -----------------------------------------------------------------------------

const work = mkdtempSync(join(tmpdir(), 'bench-http-'))
const dbEnv: Record<string, string> = {}
const cleanups: Array<() => Promise<void>> = [async () => rmSync(work, { recursive: true, force: true })]
if (values.postgres) {
  const { startWsProxy } = await import('../tests/support/ws-proxy.js')
  const pg = new URL(process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')
  const proxy = await startWsProxy({ pgHost: pg.hostname, pgPort: Number(pg.port || 5432) })
  await configureNeonDriver(proxy.url)
  const { Pool } = await import('@neondatabase/serverless')
  const admin = new Pool({ connectionString: pg.toString(), max: 1 })
  await admin.query('drop database if exists commerce_bench_http with (force)')
  await admin.query('create database commerce_bench_http')
  dbEnv.NEON_WS_PROXY = proxy.url
  dbEnv.DATABASE_URL = Object.assign(new URL(pg), { pathname: '/commerce_bench_http' }).toString()
  cleanups.unshift(async () => {
    await admin.query('drop database if exists commerce_bench_http with (force)')
    await admin.end()
    await proxy.close()
  })
} else if (process.env.DATABASE_URL) {
  dbEnv.DATABASE_URL = process.env.DATABASE_URL
  if (process.env.NEON_WS_PROXY) dbEnv.NEON_WS_PROXY = process.env.NEON_WS_PROXY
  await configureNeonDriver(process.env.NEON_WS_PROXY)
} else {
  dbEnv.PGLITE_DATA_DIR = join(work, 'pglite')
}
const database = dbEnv.DATABASE_URL
  ? values.postgres
    ? 'PostgreSQL via the Neon driver (--postgres)'
    : 'DATABASE_URL'
  : 'embedded PGlite in a data directory'

// --- Seed, and capture the statements the catalog issues -------------------------------------------------

type Statement = { sql: string; params: unknown[] }
const issued: Statement[] = []
const logger: Logger = { logQuery: (q, params) => void issued.push({ sql: q, params }) }

async function openDatabase(): Promise<{ db: Db; close: () => Promise<void> }> {
  if (dbEnv.DATABASE_URL) {
    await migrateNeon(dbEnv.DATABASE_URL)
    const [{ Pool }, { drizzle }] = await Promise.all([
      import('@neondatabase/serverless'),
      import('drizzle-orm/neon-serverless'),
    ])
    const pool = new Pool({ connectionString: dbEnv.DATABASE_URL, max: 1 })
    return { db: drizzle({ client: pool, schema, logger }) as unknown as Db, close: () => pool.end() }
  }
  const [{ PGlite }, { drizzle }, { migrate }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
  ])
  const client = new PGlite(dbEnv.PGLITE_DATA_DIR!, { extensions: await pgliteExtensions() })
  const db = drizzle({ client, schema, logger })
  await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER })
  return { db: db as unknown as Db, close: () => client.close() }
}

/** The one statement `run` issues (the catalog promises one per read); throws if it issues another count. */
async function captureOne(run: () => Promise<unknown>): Promise<Statement> {
  issued.length = 0
  await run()
  if (issued.length !== 1) throw new Error(`expected one statement, the catalog issued ${issued.length}`)
  return issued[0]!
}

const category = `bench-dept-${1 + Math.floor(BENCH_DEPARTMENTS / 2)}`
const listQuery = { category, min_price: '20', max_price: '120', limit: '24' }
const searchText = 'merino sweater'
const searchQuery = { search: searchText, limit: '24' }
const anonymous = viewerOf(null)

const seedStart = performance.now()
const opened = await openDatabase()
await seedBenchCatalog(opened.db, productCount)
const seedMs = performance.now() - seedStart
const [one] = await opened.db
  .select({ id: schema.products.id })
  .from(schema.products)
  .where(eq(schema.products.sku, 'BENCH-P-4242'))
const productId = one!.id
const statements: Record<string, Statement> = {
  list: await captureOne(() => listProducts(opened.db, ListProductsQuery.parse(listQuery), anonymous)),
  product: await captureOne(() => getProduct(opened.db, productId, anonymous)),
  search: await captureOne(() => listProducts(opened.db, ListProductsQuery.parse(searchQuery), anonymous)),
}
await opened.close()
const statementsFile = join(work, 'statements.json')
writeFileSync(statementsFile, JSON.stringify(statements))
console.log(
  `seeded ${productCount} products (${productCount * 3} variants) in ${(seedMs / 1000).toFixed(1)} s`,
)

// --- Measuring --------------------------------------------------------------------------------------------

interface Figures {
  requests: number
  rps: number
  p50: number
  p95: number
  p99: number
  errors: number
}

async function measure(
  fn: (worker: number) => Promise<Response>,
  workers = concurrency,
  onAnswer?: (res: Response, body: ArrayBuffer) => void,
): Promise<Figures> {
  // A short warm-up (JIT, database caches), not counted.
  const warm = performance.now() + Math.min(1, seconds / 3) * 1000
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (performance.now() < warm) {
        const res = await fn(w)
        const body = await res.arrayBuffer()
        onAnswer?.(res, body)
      }
    }),
  )
  const latencies: number[] = []
  let errors = 0
  const end = performance.now() + seconds * 1000
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (performance.now() < end) {
        const t0 = performance.now()
        const res = await fn(w)
        const body = await res.arrayBuffer()
        onAnswer?.(res, body)
        latencies.push(performance.now() - t0)
        if (!res.ok) errors++
      }
    }),
  )
  latencies.sort((a, b) => a - b)
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!
  const rps = latencies.length / seconds
  return { requests: latencies.length, rps, p50: q(0.5), p95: q(0.95), p99: q(0.99), errors }
}

async function start(script: string, env: Record<string, string>, ready: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ...dbEnv, ...env },
    stdio: 'ignore',
  })
  for (let i = 0; ; i++) {
    const ok = await fetch(ready).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) return child
    if (i > 600 || child.exitCode !== null) throw new Error(`${script} did not start`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  await exited
}

/** A catalog answer must be the real thing (products with variants), not a fast 404 or an empty page. */
async function expectProducts(res: Response, what: string, atLeast: number): Promise<void> {
  const body = (await res.json()) as { products?: Array<{ variants: unknown[] }>; variants?: unknown[] }
  const list = body.products ?? [body]
  if (!res.ok || list.length < atLeast || !list.every((p) => p.variants?.length === 3)) {
    throw new Error(
      `${what}: HTTP ${res.status}, ${list.length} products, expected ${atLeast} with 3 variants each`,
    )
  }
}

// --- Phase 1: the baseline ---------------------------------------------------------------------------------

const catalogCases = [
  ['GET /products?category&min_price&max_price&limit=24', 'list'],
  ['GET /products/{id}', 'product'],
  [`GET /products?search=${searchText.replace(' ', '+')}&limit=24`, 'search'],
] as const
const baseline = new Map<string, Figures>()
{
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const child = await start(
    'bench/baseline-server.ts',
    { PORT: String(port), BENCH_STATEMENTS: statementsFile },
    `${url}/ready`,
  )
  try {
    for (const [, key] of catalogCases) baseline.set(key, await measure(() => fetch(`${url}/${key}`)))
  } finally {
    await stop(child)
  }
}

// --- Phase 2: the dev server ---------------------------------------------------------------------------------

const port = await freePort()
const base = `http://127.0.0.1:${port}/api/v1`
const server = await start(
  'scripts/dev.ts',
  {
    PORT: String(port),
    RATE_LIMITS: 'off',
    LOG_LEVEL: 'error',
    ADMIN_EMAIL: 'bench-admin@example.com',
    ADMIN_PASSWORD: 'bench admin passphrase for imports',
    // 32 buyers order for seconds on end: the unpaid-order caps are raised by their settings
    MAX_UNPAID_ORDERS_PER_BUYER: '1000000',
    MAX_UNPAID_ORDERS_PER_IP: '1000000',
  },
  `${base}/health`,
)
try {
  const email = `bench-${Date.now()}@example.com`
  const password = 'a long unusual bench passphrase'
  const reg = await fetch(`${base}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password, first_name: 'Bench', last_name: 'Mark' }),
  }).then((r) => r.json() as Promise<{ access_token: string }>)
  const auth = { authorization: `Bearer ${reg.access_token}` }

  const cases: Array<[string, () => Promise<Response>]> = [
    ['GET /health', () => fetch(`${base}/health`)],
    ['GET /health/detailed', () => fetch(`${base}/health/detailed`)],
    ['GET /auth/me (authenticated)', () => fetch(`${base}/auth/me`, { headers: auth })],
    [
      'POST /auth/login (argon2id)',
      () =>
        fetch(`${base}/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email, password }),
        }),
    ],
  ]
  const f1 = (n: number) => n.toFixed(1)
  console.log(`\n| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | errors |`)
  console.log(`|---|---|---|---|---|---|---|`)
  for (const [name, fn] of cases) {
    const m = await measure(fn)
    console.log(
      `| ${name} | ${m.requests} | ${m.rps.toFixed(0)} | ${f1(m.p50)} | ${f1(m.p95)} | ${f1(m.p99)} | ${m.errors} |`,
    )
  }

  // Anonymous catalog reads, as a storefront makes them (no If-None-Match: every answer is built).
  const catalogUrl = {
    list: `${base}/products?${new URLSearchParams(listQuery)}`,
    product: `${base}/products/${productId}`,
    search: `${base}/products?${new URLSearchParams(searchQuery)}`,
  }
  await expectProducts(await fetch(catalogUrl.list), 'list', 24)
  await expectProducts(await fetch(catalogUrl.product), 'product', 1)
  await expectProducts(await fetch(catalogUrl.search), 'search', 24)
  console.log(
    `\n| ${productCount.toLocaleString('en')} products, ${database} | route req/s | p50 ms | p99 ms | baseline req/s | p50 ms | p99 ms | route / baseline req/s |`,
  )
  console.log(`|---|---|---|---|---|---|---|---|`)
  for (const [name, key] of catalogCases) {
    const r = await measure(() => fetch(catalogUrl[key]))
    const b = baseline.get(key)!
    const errors = r.errors + b.errors ? ` (errors: route ${r.errors}, baseline ${b.errors})` : ''
    console.log(
      `| ${name} | ${r.rps.toFixed(0)} | ${f1(r.p50)} | ${f1(r.p99)} | ${b.rps.toFixed(0)} | ${f1(b.p50)} | ${f1(b.p99)} | ${(r.rps / b.rps).toFixed(2)}${errors} |`,
    )
  }

  // One 5,000-row CSV import (1,000 products with 4 variants each) in one request, then the same file
  // again (every row unchanged): a single timing each, not a throughput figure.
  const admin = await fetch(`${base}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email: 'bench-admin@example.com',
      password: 'bench admin passphrase for imports',
    }),
  }).then((r) => r.json() as Promise<{ access_token: string }>)
  const lines = ['sku,name,description,price,tags,product_sku,option1,inventory_quantity']
  for (let i = 0; i < 1000; i++) {
    lines.push(`BENCH-${i},"Bench tee ${i}","Soft, heavy jersey",19.99,tee|cotton,,,`)
    for (const size of ['S', 'M', 'L', 'XL']) lines.push(`BENCH-${i}-${size},,,,,BENCH-${i},${size},5`)
  }
  const csv = lines.join('\n')
  console.log(`\n| 5,000-row CSV import (${(csv.length / 1e6).toFixed(2)} MB) | ms | statuses |`)
  console.log(`|---|---|---|`)
  for (const run of ['first (created)', 'again (unchanged)']) {
    const t0 = performance.now()
    const res = await fetch(`${base}/products/bulk-import`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv', authorization: `Bearer ${admin.access_token}` },
      body: csv,
    })
    const body = (await res.json()) as { results?: Array<{ status: string }> }
    const ms = performance.now() - t0
    const statuses = new Map<string, number>()
    for (const r of body.results ?? []) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
    const summary = [...statuses].map(([k, v]) => `${k} ${v}`).join(', ') || `HTTP ${res.status}`
    console.log(`| ${run} | ${ms.toFixed(0)} | ${summary} |`)
  }

  // POST /orders: 32 signed-in buyers at once over 5 SKUs with ample stock (manual payment, no shipping
  // rates), then one customer's GET /orders. Every unit in a 201 must have left stock, and no more.
  const staff = { 'content-type': 'application/json', authorization: `Bearer ${admin.access_token}` }
  const INITIAL = 1_000_000
  const skuCsv = ['sku,name,price,inventory_quantity,status']
  for (let i = 0; i < 5; i++) skuCsv.push(`BENCH-ORDER-${i},"Bench order item ${i}",9.99,${INITIAL},active`)
  const imported = (await fetch(`${base}/products/bulk-import`, {
    method: 'POST',
    headers: { ...staff, 'content-type': 'text/csv' },
    body: skuCsv.join('\n'),
  }).then((r) => r.json())) as { results: Array<{ id: string }> }
  const skuIds = imported.results.map((r) => r.id)
  const buyers: string[] = []
  for (let b = 0; b < 32; b += 4) {
    const batch = await Promise.all(
      [0, 1, 2, 3].map((k) =>
        fetch(`${base}/auth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            email: `bench-buyer-${b + k}-${Date.now()}@example.com`,
            password,
            first_name: 'Buyer',
            last_name: String(b + k),
          }),
        }).then((r) => r.json() as Promise<{ access_token: string }>),
      ),
    )
    buyers.push(...batch.map((r) => r.access_token))
  }
  const address = {
    first_name: 'Bench',
    last_name: 'Buyer',
    line1: '1 Main St',
    city: 'Springfield',
    state: 'IL',
    postal_code: '62701',
    country: 'US',
  }
  const sold = new Map<string, number>()
  let turn = 0
  const orderStatuses = new Map<number, number>()
  let firstRefusal: string | undefined
  const placing = await measure(
    (w) => {
      const sku = skuIds[turn++ % skuIds.length]!
      const quantity = 1 + (turn % 3)
      return fetch(`${base}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${buyers[w]}` },
        body: JSON.stringify({ items: [{ product_id: sku, quantity }], shipping_address: address }),
      })
    },
    buyers.length,
    (res, body) => {
      orderStatuses.set(res.status, (orderStatuses.get(res.status) ?? 0) + 1)
      if (res.status !== 201) {
        firstRefusal ??= Buffer.from(body).toString('utf8').slice(0, 300)
        return
      }
      const order = JSON.parse(Buffer.from(body).toString('utf8')) as {
        items: Array<{ product_id: string; quantity: number }>
      }
      for (const it of order.items) sold.set(it.product_id, (sold.get(it.product_id) ?? 0) + it.quantity)
    },
  )
  let oversold = 0
  let mismatch = 0
  for (const id of skuIds) {
    const p = (await fetch(`${base}/products/${id}`, { headers: staff }).then((r) => r.json())) as {
      inventory_quantity: number
    }
    const taken = INITIAL - p.inventory_quantity
    if (p.inventory_quantity < 0) oversold += -p.inventory_quantity
    mismatch += Math.abs(taken - (sold.get(id) ?? 0))
  }
  const listing = await measure((w) =>
    fetch(`${base}/orders?limit=20`, { headers: { authorization: `Bearer ${buyers[w % buyers.length]}` } }),
  )
  console.log(`\n| orders | workers | requests | req/s | p50 ms | p95 ms | p99 ms | errors |`)
  console.log(`|---|---|---|---|---|---|---|---|`)
  for (const [name, m, w] of [
    ['POST /orders (32 buyers, 5 SKUs)', placing, buyers.length],
    ["GET /orders (a customer's own)", listing, concurrency],
  ] as const) {
    console.log(
      `| ${name} | ${w} | ${m.requests} | ${m.rps.toFixed(0)} | ${f1(m.p50)} | ${f1(m.p95)} | ${f1(m.p99)} | ${m.errors} |`,
    )
  }
  const units = [...sold.values()].reduce((a, b) => a + b, 0)
  console.log(
    `\nPOST /orders statuses: ${[...orderStatuses].map(([k, v]) => `${k} x${v}`).join(', ')}; units sold ${units}; oversold units ${oversold}; stock taken vs units in 201 answers differs by ${mismatch}`,
  )
  if (firstRefusal) console.log(`first refusal: ${firstRefusal}`)
  if (oversold || mismatch) process.exitCode = 1

  const mem = await fetch(`${base}/metrics`).then((r) => r.text())
  console.log(
    `\nmetrics lines: ${mem.split('\n').length}; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  )
} finally {
  await stop(server)
  for (const cleanup of cleanups) await cleanup()
}
