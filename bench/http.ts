// Latency and throughput of hot paths against the real dev server over HTTP (loopback only), the catalog
// over a seeded 10,000-product catalog, each catalog read beside a baseline: the same SQL through the same
// driver behind a bare node:http handler (bench/baseline-server.ts).
// Usage: npm run bench:http [-- --seconds 5 --concurrency 8 --products 10000 --buyers 32 --postgres]
// Not part of npm test. The catalog is seeded set-based into a fresh embedded database in a temporary
// directory; with --postgres into a fresh database `commerce_bench_http` on this machine's PostgreSQL
// (TEST_PG_URL) through the Neon driver and the test WebSocket proxy; with DATABASE_URL into that database
// (it must have no products). PGlite opens a directory in one process at a time, so the phases run one
// after the other: seed and capture here, then the baseline server, then the dev server (RATE_LIMITS=off),
// then the dev server again for orders: rate limits on, the unpaid caps and the request limit raised through
// their settings, 32 signed-in buyers checking out 5 SKUs; then the oversell check on the database.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { eq, inArray, type Logger, sql } from 'drizzle-orm'
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
import {
  BENCH_DEPARTMENTS,
  BENCH_ORDER_SKUS,
  seedBenchCatalog,
  seedBenchOrderProducts,
} from './catalog-seed.js'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '8' },
    products: { type: 'string', default: '10000' },
    postgres: { type: 'boolean', default: false },
    buyers: { type: 'string', default: '32' },
  },
})
const seconds = Number(values.seconds)
const concurrency = Number(values.concurrency)
const productCount = Number(values.products)
const buyerCount = Number(values.buyers)
/** Units of each order bench SKU: ample, no buyer ever meets out_of_stock. */
const ORDER_STOCK = 1_000_000

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
await seedBenchOrderProducts(opened.db, ORDER_STOCK)
const seedMs = performance.now() - seedStart
const [one] = await opened.db
  .select({ id: schema.products.id })
  .from(schema.products)
  .where(eq(schema.products.sku, 'BENCH-P-4242'))
const productId = one!.id
const orderProducts = await opened.db
  .select({ id: schema.products.id, sku: schema.products.sku })
  .from(schema.products)
  .where(
    inArray(
      schema.products.sku,
      Array.from({ length: BENCH_ORDER_SKUS }, (_, i) => `BENCH-O-${i + 1}`),
    ),
  )
const productIds = orderProducts.map((p) => p.id)
if (productIds.length !== BENCH_ORDER_SKUS) throw new Error('the order bench products were not seeded')
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

/** `clients` loops calling `fn(client)` for `seconds` after a short warm-up; `ok` decides an error. */
async function measure(
  fn: (client: number) => Promise<Response>,
  clients = concurrency,
  ok: (res: Response) => boolean = (res) => res.ok,
): Promise<Figures> {
  // A short warm-up (JIT, database caches), not counted.
  const warm = performance.now() + Math.min(1, seconds / 3) * 1000
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (performance.now() < warm) await (await fn(client)).arrayBuffer()
    }),
  )
  const latencies: number[] = []
  let errors = 0
  const end = performance.now() + seconds * 1000
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      while (performance.now() < end) {
        const t0 = performance.now()
        const res = await fn(client)
        await res.arrayBuffer()
        latencies.push(performance.now() - t0)
        if (!ok(res)) errors++
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
let phase2Failed = true
const server = await start(
  'scripts/dev.ts',
  {
    PORT: String(port),
    RATE_LIMITS: 'off',
    LOG_LEVEL: 'error',
    ADMIN_EMAIL: 'bench-admin@example.com',
    ADMIN_PASSWORD: 'bench admin passphrase for imports',
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

  const mem = await fetch(`${base}/metrics`).then((r) => r.text())
  console.log(
    `\nmetrics lines: ${mem.split('\n').length}; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  )
  phase2Failed = false
} finally {
  await stop(server)
  if (phase2Failed) for (const cleanup of cleanups) await cleanup()
}

// --- Phase 3: orders, with rate limits on -------------------------------------------------------------------
// Checkout under the real rules (per-buyer advisory lock, the unpaid caps counted in the order's
// transaction, the per-IP request limit): only the limits' numbers are raised, through their settings.
// Every order is a real stock sale, so afterwards the units sold are compared with the stock taken.

const f1 = (n: number) => n.toFixed(1)
try {
  const orderPort = await freePort()
  const ordersBase = `http://127.0.0.1:${orderPort}/api/v1`
  const orderServer = await start(
    'scripts/dev.ts',
    {
      PORT: String(orderPort),
      LOG_LEVEL: 'error',
      MAX_UNPAID_ORDERS_PER_BUYER: '1000000',
      MAX_UNPAID_ORDERS_PER_IP: '1000000',
      // Every client is 127.0.0.1: one address for all buyers.
      RATE_LIMIT_DEFAULT: '100000000/60',
      RATE_LIMIT_AUTH_REGISTER: '10000/3600',
    },
    `${ordersBase}/health`,
  )
  try {
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${ordersBase}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      })
    const stamp = Date.now()
    /** Registers `n` customers (a few at a time: argon2id) and returns their bearer headers. */
    const customers = async (n: number, prefix: string) => {
      const out: Array<Record<string, string>> = []
      for (let i = 0; i < n; i += 4) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(4, n - i) }, async (_, j) => {
            const res = await post('/auth/register', {
              email: `bench-${prefix}-${i + j}-${stamp}@example.com`,
              password: 'a long unusual bench passphrase',
              first_name: 'Bench',
              last_name: `Buyer ${i + j}`,
            })
            if (!res.ok) throw new Error(`register: HTTP ${res.status} ${await res.text()}`)
            const { access_token } = (await res.json()) as { access_token: string }
            return { authorization: `Bearer ${access_token}` }
          }),
        )
        out.push(...batch)
      }
      return out
    }
    const shipping_address = {
      first_name: 'Bench',
      last_name: 'Buyer',
      line1: '1 Loopback Way',
      city: 'Springfield',
      state: 'IL',
      postal_code: '62701',
      country: 'US',
    }
    // One or two lines of the 5 SKUs, 1 to 3 units each, varying with every call.
    let calls = 0
    const orderBody = () => {
      const n = calls++
      const first = n % BENCH_ORDER_SKUS
      const items = [{ product_id: productIds[first]!, quantity: 1 + (n % 3) }]
      if (n % 2) items.push({ product_id: productIds[(first + 2) % BENCH_ORDER_SKUS]!, quantity: 1 })
      return { items, shipping_address }
    }
    const statuses = new Map<number, number>()
    const createOrder = async (headers: Record<string, string>) => {
      const res = await post('/orders', orderBody(), headers)
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      return res
    }

    // A customer with 50 orders reads the first page of 20 (newest first).
    const [lister] = await customers(1, 'lister')
    for (let i = 0; i < 50; i++) {
      const res = await createOrder(lister!)
      if (res.status !== 201) throw new Error(`order ${i}: HTTP ${res.status} ${await res.text()}`)
    }
    const listUrl = `${ordersBase}/orders?limit=20`
    const page = (await fetch(listUrl, { headers: lister! }).then((r) => r.json())) as {
      orders?: unknown[]
    }
    if (page.orders?.length !== 20) throw new Error(`GET /orders: ${page.orders?.length} orders, expected 20`)
    const list = await measure(() => fetch(listUrl, { headers: lister! }))

    // Checkout: every buyer signed in with its own token, all at once.
    const buyers = await customers(buyerCount, 'buyer')
    const checkout = await measure(
      (client) => createOrder(buyers[client]!),
      buyerCount,
      (res) => res.status === 201,
    )
    const healthy = await fetch(`${ordersBase}/health`).then((r) => r.status)
    if (healthy !== 200) throw new Error('the order server did not stay healthy')

    console.log(
      `\n| orders, ${database}, rate limits on | clients | requests | req/s | p50 ms | p95 ms | p99 ms | errors |`,
    )
    console.log(`|---|---|---|---|---|---|---|---|`)
    const row = (name: string, clients: number, m: Figures) =>
      console.log(
        `| ${name} | ${clients} | ${m.requests} | ${m.rps.toFixed(0)} | ${f1(m.p50)} | ${f1(m.p95)} | ${f1(m.p99)} | ${m.errors} |`,
      )
    row(`POST /orders (${buyerCount} signed-in buyers, ${BENCH_ORDER_SKUS} SKUs)`, buyerCount, checkout)
    row('GET /orders?limit=20 (a customer with 50 orders)', concurrency, list)
    console.log(
      `\nPOST /orders statuses (warm-up and the 50 setup orders included): ${[...statuses]
        .map(([k, v]) => `${k} x${v}`)
        .join(', ')}`,
    )
  } finally {
    await stop(orderServer)
  }

  // The server is gone (PGlite: one process per directory); count sold against taken.
  const check = await openDatabase()
  try {
    const result = await check.db.execute(sql`
        with p as (select id, inventory_quantity from products where sku like 'BENCH-O-%')
        select
          (select count(distinct order_id) from order_items where product_id in (select id from p)) as orders,
          (select coalesce(sum(quantity), 0) from order_items where product_id in (select id from p)) as sold,
          (select ${ORDER_STOCK * BENCH_ORDER_SKUS} - sum(inventory_quantity) from p) as taken,
          (select coalesce(-sum(delta), 0) from inventory_ledger
            where product_id in (select id from p) and reason = 'sale') as ledger,
          (select count(*) from p where inventory_quantity < 0) as negative`)
    const [r] = (result as unknown as { rows: Array<Record<string, string | number>> }).rows
    const sold = Number(r!.sold)
    const taken = Number(r!.taken)
    const ledger = Number(r!.ledger)
    const oversells = Math.max(0, sold - taken)
    console.log(
      `\norders: ${r!.orders}; units sold ${sold}; stock taken ${taken} (inventory), ${ledger} (ledger); ` +
        `oversells: ${oversells}`,
    )
    if (oversells !== 0 || sold !== taken || taken !== ledger || Number(r!.negative) !== 0) {
      process.exitCode = 1
      console.log('MISMATCH: units sold, stock taken and the inventory ledger must agree')
    }
  } finally {
    await check.close()
  }
} finally {
  for (const cleanup of cleanups) await cleanup()
}
