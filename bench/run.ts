// `npm run bench` (alias `npm run bench:http`): the hot paths of the API over HTTP on this machine, each
// beside a like-for-like baseline measured in the same run, with the statements, Redis requests and CPU time
// each request costs. Not part of npm test; timings are figures, not assertions.
//
//   1. bench/services.ts: the Neon WebSocket proxy in front of this machine's PostgreSQL and the Upstash
//      REST server over this machine's Redis, as the production clients reach them.
//   2. A fresh database (commerce_bench_<pid>, dropped at the end), migrated and seeded set-based (bench/catalog-seed.ts): 10,000
//      products, 50,000 variants, 200 customers, 20,000 orders, 5 SKUs with ample stock for checkout.
//   3. The statements each read issues, captured through Drizzle's logger, for the SQL baselines.
//   4. Servers, each its own process: the app (bench/server.ts: the dev server's adapter and router, rate
//      limits on with their numbers raised through their settings, statement and Redis counters) and the
//      baselines (bench/baseline-server.ts): bare node:http, a bare handler on the same adapter, route() on
//      it, each read's SQL behind node:http, /auth/me's unavoidable work, an argon2 verify loop.
//   5. autocannon against each: a warm-up, then `--runs` rounds of `--seconds` each; every round measures
//      every case once, so an endpoint and its baseline are measured close in time and their ratio is taken
//      round by round. Medians with min/max, a console table, JSON in bench/results/.
//   6. Oversell check (units sold = stock taken = ledger), a 5,000-row CSV import timing, then a PGlite smoke
//      run (health, product by id) on an embedded database seeded the same way.
//
// Usage: npm run bench [-- --seconds 5 --runs 3 --warmup 1.5 --connections 32 --only list,product
//                          --no-pglite --log-level info --keep-database]
//        npm run bench -- --scenario flash-sale|soak [its options]   (bench/flash-sale.ts, bench/soak.ts)
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { eq, type Logger, sql } from 'drizzle-orm'
import * as schema from '../db/schema/index.js'
import { hashPassword } from '../lib/auth/password.js'
import { effectivePermissions, type Principal } from '../lib/auth/permissions.js'
import { getMe } from '../lib/auth/profile.js'
import { viewerOf } from '../lib/catalog/access.js'
import { ListProductsQuery, listProducts } from '../lib/catalog/list.js'
import { getProduct } from '../lib/catalog/products.js'
import { ListOrdersQuery, listOrders } from '../lib/orders/read.js'
import { flushBackground } from '../lib/platform/background.js'
import {
  configureNeonDriver,
  type Db,
  MIGRATIONS_FOLDER,
  migrateNeon,
  pgliteExtensions,
  rowsOf,
} from '../lib/platform/db.js'
import {
  BENCH_CUSTOMER_PASSWORD,
  BENCH_DEPARTMENTS,
  BENCH_ORDER_SKUS,
  BENCH_ORDER_STOCK,
  BENCH_SIZES,
  benchCustomerEmail,
  seedBenchCatalog,
  seedBenchScale,
} from './catalog-seed.js'
import { BENCH_ADDRESS, dropRedisKeys, freePort, stopChild } from './harness.js'
import type { BenchStats } from './instrument.js'
import { progressBar } from './progress.js'
import { pairedRatios, perRequest, type Spread, spread } from './stats.js'

// `--scenario NAME` runs bench/NAME.ts instead (flash-sale, soak), with the same arguments.
const scenarioAt = process.argv.indexOf('--scenario')
const scenario = scenarioAt > 0 ? process.argv[scenarioAt + 1] : undefined
if (scenario !== undefined) {
  if (!['flash-sale', 'soak'].includes(scenario)) throw new Error(`unknown --scenario ${scenario}`)
  await import(`./${scenario}.js`)
  await new Promise(() => {}) // the scenario ends the process
}

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1.5' },
    connections: { type: 'string', default: '32' },
    buyers: { type: 'string', default: '32' },
    products: { type: 'string', default: '10000' },
    customers: { type: 'string', default: '200' },
    orders: { type: 'string', default: '20000' },
    only: { type: 'string' },
    'no-pglite': { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'info' },
    'keep-database': { type: 'boolean', default: false },
  },
})
const seconds = Number(values.seconds)
const runs = Number(values.runs)
const warmup = Number(values.warmup)
const connections = Number(values.connections)
const buyerCount = Number(values.buyers)
const scale = {
  products: Number(values.products),
  customers: Number(values.customers),
  orders: Number(values.orders),
}
// Customers: 0 reads, 1 is the argon2 loop's hash, 2.. buy, then one per connection signs in, the last is admin.
if (scale.customers < 3 + buyerCount + connections) {
  throw new Error('--customers must be at least --buyers + --connections + 3')
}
const only = values.only ? new Set(values.only.split(',')) : undefined
const root = fileURLToPath(new URL('..', import.meta.url))
const startedAt = new Date()
const t0 = performance.now()
const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(0)} s`
const say = (line: string) => console.error(`[bench ${elapsed()}] ${line}`)

// --- Processes ------------------------------------------------------------------------------------------

const children = new Set<ChildProcess>()
const cleanups: Array<() => Promise<void>> = []
/** The proxies: stopped last, the database is dropped through them. */
let servicesChild: ChildProcess | undefined
let cleaned = false
async function cleanup(): Promise<void> {
  if (cleaned) return
  cleaned = true
  for (const child of children) if (child !== servicesChild) await stopChild(child)
  for (const fn of cleanups.reverse()) {
    await fn().catch((err: unknown) => say(`cleanup: ${err instanceof Error ? err.message : String(err)}`))
  }
  if (servicesChild) await stopChild(servicesChild)
}
process.on('SIGINT', () => void cleanup().finally(() => process.exit(130)))

function spawnTsx(script: string, env: Record<string, string>, stdout: 'pipe' | 'ignore' = 'ignore') {
  // BENCH_CPU_PROF=<dir>: every server writes a V8 CPU profile there when it stops (for finding costs).
  const profile = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : []
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', script], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', stdout, 'inherit'],
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

interface Server {
  name: string
  url: string
  child: ChildProcess
}

/** Start a server script on a free port and wait for its stats path to answer. */
async function startServer(name: string, script: string, env: Record<string, string>): Promise<Server> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const child = spawnTsx(script, { ...env, PORT: String(port) })
  for (let i = 0; ; i++) {
    const ok = await fetch(`${url}/__bench/stats`).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) return { name, url, child }
    if (i > 600 || child.exitCode !== null) throw new Error(`${name} (${script}) did not start`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

const serverStats = async (s: Server): Promise<BenchStats> =>
  (await (await fetch(`${s.url}/__bench/stats`)).json()) as BenchStats

/** The server's counters once it has finished the requests a run left in flight (at most 10 s). */
async function settledStats(s: Server): Promise<BenchStats> {
  for (let i = 0; i < 200; i++) {
    const stats = await serverStats(s)
    if (stats.inFlight === 0) {
      // Work after the response (metrics) starts with it and answers within a few milliseconds.
      await new Promise((r) => setTimeout(r, 50))
      return serverStats(s)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return serverStats(s)
}

try {
  // --- 1. Services --------------------------------------------------------------------------------------

  const services = spawnTsx('bench/services.ts', {}, 'pipe')
  servicesChild = services
  const [firstLine] = (await once(createInterface({ input: services.stdout! }), 'line')) as [string]
  const svc = JSON.parse(firstLine) as { wsProxy: string; upstashUrl: string; upstashToken: string }
  // lib reads its settings once (lib/platform/env.ts): set the proxy before the first read.
  process.env.NEON_WS_PROXY = svc.wsProxy
  await configureNeonDriver(svc.wsProxy)
  const redisPrefix = `bench-${process.pid}-${Date.now()}:`
  cleanups.push(async () => {
    await dropRedisKeys(redisPrefix)
  })

  // --- 2. Database and seed -----------------------------------------------------------------------------

  const { Pool } = await import('@neondatabase/serverless')
  const { drizzle } = await import('drizzle-orm/neon-serverless')
  const pgUrl = new URL(process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')
  // One database per run: two runs at once never drop each other's.
  const dbName = `commerce_bench_${process.pid}`
  const admin = new Pool({ connectionString: pgUrl.toString(), max: 1 })
  await admin.query(`drop database if exists ${dbName} with (force)`)
  await admin.query(`create database ${dbName}`)
  cleanups.push(async () => {
    if (!values['keep-database']) await admin.query(`drop database if exists ${dbName} with (force)`)
    await admin.end()
  })
  const databaseUrl = Object.assign(new URL(pgUrl), { pathname: `/${dbName}` }).toString()
  await migrateNeon(databaseUrl)

  type Statement = { sql: string; params: unknown[] }
  const issued: Statement[] = []
  const logger: Logger = { logQuery: (q, params) => void issued.push({ sql: q, params }) }
  const pool = new Pool({ connectionString: databaseUrl, max: 2 })
  // Dropping the database at the end ends idle connections; that is not an error here.
  pool.on('error', () => {})
  admin.on('error', () => {})
  cleanups.push(() => pool.end())
  const db = drizzle({ client: pool, schema, logger }) as unknown as Db

  const seedStart = performance.now()
  await seedBenchScale(
    db,
    { ...scale, passwordHash: await hashPassword(BENCH_CUSTOMER_PASSWORD) },
    progressBar('seed'),
  )
  const seedMs = performance.now() - seedStart
  say(
    `seeded ${scale.products} products, ${scale.products * BENCH_SIZES.length} variants, ${scale.orders} orders in ${(seedMs / 1000).toFixed(1)} s`,
  )

  // --- 3. Statements of each read -----------------------------------------------------------------------

  const one = async <T>(q: Promise<T[]>) => (await q)[0]!
  const product = await one(
    db
      .select({ id: schema.products.id })
      .from(schema.products)
      .where(eq(schema.products.sku, 'BENCH-P-4242')),
  )
  const reader = await one(
    db
      .select({ id: schema.users.id, email: schema.users.email })
      .from(schema.users)
      .where(eq(schema.users.email, benchCustomerEmail(0))),
  )
  const adminEmail = benchCustomerEmail(scale.customers - 1)
  await db.update(schema.users).set({ role: 'admin' }).where(eq(schema.users.email, adminEmail))
  const orderProducts = rowsOf<{ id: string }>(
    await db.execute(sql`select id from products where sku like 'BENCH-O-%' order by sku`),
  ).map((r) => r.id)
  if (orderProducts.length !== BENCH_ORDER_SKUS) throw new Error('the order bench products were not seeded')

  const category = `bench-dept-${1 + Math.floor(BENCH_DEPARTMENTS / 2)}`
  const listQuery = { category, min_price: '20', max_price: '120', limit: '24' }
  const searchQuery = { search: 'merino sweater', limit: '24' }
  const anonymous = viewerOf(null)
  const readerPrincipal: Principal = {
    userId: reader.id,
    sessionId: '00000000-0000-0000-0000-000000000000',
    role: 'customer',
    permissions: effectivePermissions('customer', []),
  }
  const capture = async (run: () => Promise<unknown>): Promise<Statement[]> => {
    issued.length = 0
    await run()
    return [...issued]
  }
  // The list and the search as a request on a warm count cache issues them (ADR 018): the first call
  // counts and stores its total, the captured one is the page statement alone.
  await listProducts(db, ListProductsQuery.parse(listQuery), anonymous)
  await listProducts(db, ListProductsQuery.parse(searchQuery), anonymous)
  await flushBackground()
  const statements: Record<string, Statement[]> = {
    list: await capture(() => listProducts(db, ListProductsQuery.parse(listQuery), anonymous)),
    product: await capture(() => getProduct(db, product.id, anonymous)),
    search: await capture(() => listProducts(db, ListProductsQuery.parse(searchQuery), anonymous)),
    orders: await capture(() => listOrders(db, ListOrdersQuery.parse({ limit: '20' }), readerPrincipal)),
    me: await capture(() => getMe(db, reader.id)),
  }
  const work = mkdtempSync(join(tmpdir(), 'bench-'))
  cleanups.push(async () => rmSync(work, { recursive: true, force: true }))
  const statementsFile = join(work, 'statements.json')
  writeFileSync(statementsFile, JSON.stringify(statements))
  say(
    `statements per read (captured): ${Object.entries(statements)
      .map(([k, v]) => `${k} ${v.length}`)
      .join(', ')}`,
  )

  // The scale helper's bench/explain.ts (when present on this branch): EXPLAIN ANALYZE of the hot catalog
  // statements on the bench's own data, indexes used or not. Not a CI test: plans depend on the data.
  type PlanCheck = { name: string; what?: string; ok: boolean; indexes?: string[]; seqScans?: string[] }
  let indexChecks: PlanCheck[] | undefined
  if (existsSync(join(root, 'bench/explain.ts'))) {
    const explainModule = './explain.js'
    const { checkIndexes } = (await import(explainModule)) as {
      checkIndexes: (query: (text: string, params?: unknown[]) => Promise<unknown[]>) => Promise<PlanCheck[]>
    }
    indexChecks = await checkIndexes(async (text, params) => (await pool.query(text, params)).rows)
    say(
      `index check (EXPLAIN ANALYZE on the bench data): ${indexChecks
        .map((c) => `${c.name} ${c.ok ? 'ok' : `FAILED (${c.seqScans?.join('; ')})`}`)
        .join(', ')}`,
    )
  } else {
    say('index check skipped: bench/explain.ts is not on this branch')
  }

  // --- 4. Servers -----------------------------------------------------------------------------------------

  const jwtSecret = 'bench-only-jwt-secret-0123456789-abcdefghijklmnop'
  const common = {
    DATABASE_URL: databaseUrl,
    NEON_WS_PROXY: svc.wsProxy,
    UPSTASH_REDIS_REST_URL: svc.upstashUrl,
    UPSTASH_REDIS_REST_TOKEN: svc.upstashToken,
    REDIS_PREFIX: redisPrefix,
    JWT_SECRET: jwtSecret,
    LOG_LEVEL: values['log-level'],
    ACCESS_TOKEN_EXPIRE_MINUTES: '120',
  }
  const appEnv = {
    ...common,
    RATE_LIMITS: 'on',
    // Every client is 127.0.0.1: one address for all; only the numbers are raised, the checks all run.
    RATE_LIMIT_DEFAULT: '1000000000/60',
    RATE_LIMIT_AUTH_LOGIN: '1000000000/60',
    RATE_LIMIT_AUTH_LOGIN_ACCOUNT: '1000000000/300',
    MAX_UNPAID_ORDERS_PER_BUYER: '1000000',
    MAX_UNPAID_ORDERS_PER_IP: '1000000',
  }
  const loginUser = benchCustomerEmail(1)
  const [{ password_hash: loginHash }] = rowsOf<{ password_hash: string }>(
    await db.execute(sql`select password_hash from users where email = ${loginUser}`),
  ) as [{ password_hash: string }]
  say('starting the app and the baseline servers')
  const base = (mode: string, extra: Record<string, string> = {}) =>
    startServer(mode, 'bench/baseline-server.ts', { ...common, BENCH_MODE: mode, ...extra })
  const [app, nodeHttp, adapter, routeServer, sqlServer, authMe, argon2] = await Promise.all([
    startServer('app', 'bench/server.ts', appEnv),
    base('node-http'),
    base('adapter'),
    base('route'),
    base('sql', { BENCH_STATEMENTS: statementsFile }),
    base('auth-me', { BENCH_STATEMENTS: statementsFile }),
    base('argon2', { BENCH_HASH: loginHash, BENCH_PASSWORD: BENCH_CUSTOMER_PASSWORD }),
  ])
  const api = `${app.url}/api/v1`

  // --- Sign-ins and answer checks ---------------------------------------------------------------------------

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${api}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })
  const signIn = async (email: string) => {
    const res = await post('/auth/login', { email, password: BENCH_CUSTOMER_PASSWORD })
    if (!res.ok) throw new Error(`login ${email}: HTTP ${res.status} ${await res.text()}`)
    const t = (await res.json()) as { access_token: string }
    return `Bearer ${t.access_token}`
  }
  const readerAuth = await signIn(reader.email)
  const buyers: string[] = []
  for (let i = 0; i < buyerCount; i += 4) {
    const batch = Array.from({ length: Math.min(4, buyerCount - i) }, (_, j) =>
      signIn(benchCustomerEmail(2 + i + j)),
    )
    buyers.push(...(await Promise.all(batch)))
  }
  const adminAuth = await signIn(adminEmail)

  const shippingAddress = BENCH_ADDRESS
  // One or two lines of the 5 SKUs, 1 to 3 units each, varying with every call.
  let orderCalls = 0
  const orderBody = () => {
    const n = orderCalls++
    const first = n % BENCH_ORDER_SKUS
    const items = [{ product_id: orderProducts[first]!, quantity: 1 + (n % 3) }]
    if (n % 2) items.push({ product_id: orderProducts[(first + 2) % BENCH_ORDER_SKUS]!, quantity: 1 })
    return JSON.stringify({ items, shipping_address: shippingAddress })
  }

  type Check = (res: Response) => Promise<string | null>
  const productsCheck =
    (atLeast: number): Check =>
    async (res) => {
      type Product = { variants?: Array<{ price?: unknown }>; price?: unknown }
      const body = (await res.json()) as Product & { products?: Product[] }
      const list: Product[] = body.products ?? [body]
      const real = list.every(
        (p) => p.price !== undefined && p.variants?.length === BENCH_SIZES.length && p.variants[0]?.price,
      )
      return res.ok && list.length >= atLeast && real
        ? null
        : `HTTP ${res.status}, ${list.length} products, expected ${atLeast} with ${BENCH_SIZES.length} priced variants`
    }
  const okCheck =
    (status = 200): Check =>
    async (res) =>
      res.status === status ? null : `HTTP ${res.status} ${await res.text()}`

  interface Case {
    key: string
    name: string
    server: Server
    method?: 'GET' | 'POST'
    path: string
    headers?: Record<string, string>
    body?: () => string
    /** Per-connection headers and body (each buyer its own token, each login its own account). */
    perConnection?: Array<{ headers?: Record<string, string>; body?: () => string }>
    check: Check
    /** Requests per response for CPU and counts (the argon2 loop counts verifies). */
    loop?: boolean
  }
  const json = { 'content-type': 'application/json' }
  const loginAccounts = Array.from({ length: connections }, (_, i) => benchCustomerEmail(2 + buyerCount + i))
  const allCases: Case[] = [
    {
      key: 'node_http',
      name: 'baseline: bare node:http static JSON',
      server: nodeHttp,
      path: '/',
      check: okCheck(),
    },
    {
      key: 'adapter',
      name: 'baseline: bare handler on @hono/node-server',
      server: adapter,
      path: '/',
      check: okCheck(),
    },
    {
      key: 'route',
      name: 'baseline: route() static JSON on the adapter',
      server: routeServer,
      path: '/',
      check: okCheck(),
    },
    { key: 'health', name: 'GET /health', server: app, path: '/api/v1/health', check: okCheck() },
    {
      key: 'product',
      name: 'GET /products/{id}',
      server: app,
      path: `/api/v1/products/${product.id}`,
      check: productsCheck(1),
    },
    {
      key: 'sql_product',
      name: 'baseline: product SQL on node:http',
      server: sqlServer,
      path: '/product',
      check: okCheck(),
    },
    {
      key: 'list',
      name: 'GET /products?category&price&limit=24',
      server: app,
      path: `/api/v1/products?${new URLSearchParams(listQuery)}`,
      check: productsCheck(24),
    },
    {
      key: 'sql_list',
      name: 'baseline: list SQL on node:http',
      server: sqlServer,
      path: '/list',
      check: okCheck(),
    },
    {
      key: 'search',
      name: 'GET /products?search=merino+sweater',
      server: app,
      path: `/api/v1/products?${new URLSearchParams(searchQuery)}`,
      check: productsCheck(24),
    },
    {
      key: 'sql_search',
      name: 'baseline: search SQL on node:http',
      server: sqlServer,
      path: '/search',
      check: okCheck(),
    },
    {
      key: 'orders_list',
      name: 'GET /orders?limit=20 (customer, 100 orders)',
      server: app,
      path: '/api/v1/orders?limit=20',
      headers: { authorization: readerAuth },
      check: async (res) => {
        const body = (await res.json()) as { orders?: unknown[] }
        return res.ok && body.orders?.length === 20
          ? null
          : `HTTP ${res.status}, ${body.orders?.length} orders`
      },
    },
    {
      key: 'sql_orders',
      name: 'baseline: orders SQL on node:http',
      server: sqlServer,
      path: '/orders',
      check: okCheck(),
    },
    {
      key: 'me',
      name: 'GET /auth/me',
      server: app,
      path: '/api/v1/auth/me',
      headers: { authorization: readerAuth },
      check: async (res) => {
        const body = (await res.json()) as { email?: string }
        return res.ok && body.email === reader.email ? null : `HTTP ${res.status}`
      },
    },
    {
      key: 'auth_me',
      name: 'baseline: JWT verify + Redis GET + SQL',
      server: authMe,
      path: '/',
      headers: { authorization: readerAuth },
      check: okCheck(),
    },
    {
      key: 'login',
      name: `POST /auth/login (argon2id, ${connections} accounts)`,
      server: app,
      method: 'POST',
      path: '/api/v1/auth/login',
      headers: json,
      // Each connection signs in its own account, as concurrent sign-ins are in production.
      perConnection: loginAccounts.map((email) => {
        const body = JSON.stringify({ email, password: BENCH_CUSTOMER_PASSWORD })
        return { body: () => body }
      }),
      check: okCheck(),
    },
    {
      key: 'argon2',
      name: 'baseline: argon2 verify loop',
      server: argon2,
      path: '/loop',
      check: okCheck(),
      loop: true,
    },
    {
      key: 'orders_create',
      name: `POST /orders (${buyerCount} buyers, ${BENCH_ORDER_SKUS} SKUs)`,
      server: app,
      method: 'POST',
      path: '/api/v1/orders',
      headers: json,
      body: orderBody,
      perConnection: buyers.map((authorization) => ({ headers: { authorization } })),
      check: okCheck(201),
    },
  ]
  const cases = allCases.filter((c) => !only || only.has(c.key))

  const bodyBytes: Record<string, number> = {}
  for (const c of cases) {
    const url = c.loop ? `${c.server.url}/loop?seconds=0.1&concurrency=1` : `${c.server.url}${c.path}`
    const first = c.perConnection?.[0]
    const headers = { ...c.headers, ...first?.headers }
    const res = await fetch(url, { method: c.method ?? 'GET', headers, body: (first?.body ?? c.body)?.() })
    bodyBytes[c.key] = Number(res.headers.get('content-length') ?? Number.NaN)
    const problem = await c.check(res)
    if (problem) throw new Error(`${c.name}: the answer is not the real thing: ${problem}`)
  }
  say('every answer checked (real products with priced variants, 20 orders, the signed-in profile)')

  // --- 5. Measuring -----------------------------------------------------------------------------------------

  interface RunFigures {
    rps: number
    p50: number
    p90: number
    p99: number
    errors: number
    responses: number
    bytesPerResponse: number
    sqlPerRequest: number
    redisPerRequest: number
    redisBeforeResponsePerRequest: number
    redisRoundTripsBeforeResponsePerRequest: number
    cpuMsPerRequest: number
  }

  async function measureOnce(c: Case, duration: number): Promise<RunFigures> {
    const before = await settledStats(c.server)
    let figures: Omit<
      RunFigures,
      | 'sqlPerRequest'
      | 'redisPerRequest'
      | 'redisBeforeResponsePerRequest'
      | 'redisRoundTripsBeforeResponsePerRequest'
      | 'cpuMsPerRequest'
    >
    let served: number
    if (c.loop) {
      const r = (await (
        await fetch(`${c.server.url}/loop?seconds=${duration}&concurrency=${connections}`)
      ).json()) as { verified: number; failed: number; seconds: number }
      served = r.verified + r.failed
      const nan = Number.NaN
      figures = {
        rps: r.verified / r.seconds,
        p50: nan,
        p90: nan,
        p99: nan,
        errors: r.failed,
        responses: served,
        bytesPerResponse: nan,
      }
    } else {
      let connection = 0
      const result = await autocannon({
        url: `${c.server.url}${c.path}`,
        connections: c.perConnection ? c.perConnection.length : connections,
        duration,
        method: c.method ?? 'GET',
        headers: c.headers,
        ...(c.body || c.perConnection
          ? {
              setupClient: (client: autocannon.Client) => {
                const own = c.perConnection?.[connection++ % c.perConnection.length]
                const headers = { ...c.headers, ...own?.headers }
                const body = own?.body ?? c.body
                ;(client as unknown as { setRequests: (r: unknown[]) => void }).setRequests([
                  {
                    method: c.method ?? 'GET',
                    path: c.path,
                    headers,
                    ...(body ? { setupRequest: (req: object) => ({ ...req, body: body() }) } : {}),
                  },
                ])
              },
            }
          : {}),
      })
      const responses = result.requests.total
      if (process.env.BENCH_DEBUG)
        say(
          `${c.key}: ${JSON.stringify({ ...result, latency: undefined, requests: result.requests, throughput: undefined })}`,
        )
      figures = {
        rps: responses / result.duration,
        p50: result.latency.p50,
        p90: result.latency.p90,
        p99: result.latency.p99,
        errors: result.non2xx + result.errors + result.timeouts,
        responses,
        bytesPerResponse: result.throughput.total / Math.max(1, responses),
      }
      served = 0
    }
    const after = await settledStats(c.server)
    const requests = c.loop ? served : after.requests - before.requests
    return {
      ...figures,
      sqlPerRequest: perRequest(after.sql - before.sql, requests),
      redisPerRequest: perRequest(after.redis - before.redis, requests),
      redisBeforeResponsePerRequest: perRequest(
        after.redisBeforeResponse - before.redisBeforeResponse,
        requests,
      ),
      redisRoundTripsBeforeResponsePerRequest: perRequest(
        after.redisRoundTripsBeforeResponse - before.redisRoundTripsBeforeResponse,
        requests,
      ),
      cpuMsPerRequest: perRequest((after.cpuUs - before.cpuUs) / 1000, requests),
    }
  }

  const measured = new Map<string, RunFigures[]>(cases.map((c) => [c.key, []]))
  const loadAtStart = loadavg()
  for (let round = 0; round < runs; round++) {
    for (const c of cases) {
      if (round === 0 && warmup > 0) await measureOnce(c, warmup)
      const figures = await measureOnce(c, seconds)
      measured.get(c.key)!.push(figures)
      say(
        `round ${round + 1}/${runs} ${c.key}: ${figures.rps.toFixed(0)} req/s, p99 ${figures.p99} ms, errors ${figures.errors}`,
      )
    }
  }
  const loadAtEnd = loadavg()

  // Statements of one checkout alone, with 1 line and with every SKU: the count must not grow with the lines.
  let orderStatements: { one: number; many: number } | undefined
  if (measured.has('orders_create')) {
    const statementsOf = async (lines: number) => {
      const before = await settledStats(app)
      const items = orderProducts.slice(0, lines).map((id) => ({ product_id: id, quantity: 1 }))
      const res = await post(
        '/orders',
        { items, shipping_address: shippingAddress },
        { authorization: buyers[0]! },
      )
      if (res.status !== 201) throw new Error(`checkout probe: HTTP ${res.status} ${await res.text()}`)
      const after = await settledStats(app)
      return after.sql - before.sql
    }
    orderStatements = { one: await statementsOf(1), many: await statementsOf(BENCH_ORDER_SKUS) }
  }

  // --- 6. Oversells, the CSV import --------------------------------------------------------------------------

  const [stock] = rowsOf<Record<string, string | number>>(
    await db.execute(sql`
      with p as (select id, inventory_quantity from products where sku like 'BENCH-O-%')
      select
        (select count(distinct order_id) from order_items where product_id in (select id from p)) as orders,
        (select coalesce(sum(quantity), 0) from order_items where product_id in (select id from p)) as sold,
        (select ${BENCH_ORDER_STOCK * BENCH_ORDER_SKUS} - sum(inventory_quantity) from p) as taken,
        (select coalesce(-sum(delta), 0) from inventory_ledger
          where product_id in (select id from p) and reason = 'sale') as ledger,
        (select count(*) from p where inventory_quantity < 0) as negative`),
  )
  const oversell = {
    orders: Number(stock!.orders),
    sold: Number(stock!.sold),
    taken: Number(stock!.taken),
    ledger: Number(stock!.ledger),
    negative: Number(stock!.negative),
    oversells: Math.max(0, Number(stock!.sold) - Number(stock!.taken)),
  }
  const stockAgrees =
    oversell.oversells === 0 &&
    oversell.sold === oversell.taken &&
    oversell.taken === oversell.ledger &&
    oversell.negative === 0

  // One 5,000-row CSV import (1,000 products with 4 variants each) in one request: a single timing.
  const lines = ['sku,name,description,price,tags,product_sku,option1,inventory_quantity']
  for (let i = 0; i < 1000; i++) {
    lines.push(`CSV-${i},"Bench tee ${i}","Soft, heavy jersey",19.99,tee|cotton,,,`)
    for (const size of ['S', 'M', 'L', 'XL']) lines.push(`CSV-${i}-${size},,,,,CSV-${i},${size},5`)
  }
  const csvStart = performance.now()
  const csvRes = await fetch(`${api}/products/bulk-import`, {
    method: 'POST',
    headers: { 'content-type': 'text/csv', authorization: adminAuth },
    body: lines.join('\n'),
  })
  const csvBody = (await csvRes.json()) as { results?: Array<{ status: string }> }
  const csvImport = {
    ms: performance.now() - csvStart,
    status: csvRes.status,
    rows: csvBody.results?.length ?? 0,
  }
  for (const s of [app, nodeHttp, adapter, routeServer, sqlServer, authMe, argon2]) await stopChild(s.child)

  // --- 7. PGlite smoke ----------------------------------------------------------------------------------------

  let pglite: { seedMs: number; health: RunFigures; product: RunFigures } | undefined
  if (!values['no-pglite']) {
    say('PGlite smoke run: seeding an embedded database')
    const dataDir = join(work, 'pglite')
    const [{ PGlite }, { drizzle: drizzlePglite }, { migrate }] = await Promise.all([
      import('@electric-sql/pglite'),
      import('drizzle-orm/pglite'),
      import('drizzle-orm/pglite/migrator'),
    ])
    const pgStart = performance.now()
    const client = new PGlite(dataDir, { extensions: await pgliteExtensions() })
    const lite = drizzlePglite({ client, schema })
    await migrate(lite, { migrationsFolder: MIGRATIONS_FOLDER })
    await seedBenchCatalog(lite as unknown as Db, scale.products, progressBar('pglite seed'))
    const [liteProduct] = await lite
      .select({ id: schema.products.id })
      .from(schema.products)
      .where(eq(schema.products.sku, 'BENCH-P-4242'))
    await client.close()
    const seedMsLite = performance.now() - pgStart
    const liteApp = await startServer('app (PGlite)', 'bench/server.ts', {
      ...appEnv,
      DATABASE_URL: '',
      PGLITE_DATA_DIR: dataDir,
    })
    const liteCase = (key: string, path: string, check: Check): Case => ({
      key,
      name: key,
      server: liteApp,
      path,
      check,
    })
    const liteHealth = liteCase('health', '/api/v1/health', okCheck())
    const liteProductCase = liteCase('product', `/api/v1/products/${liteProduct!.id}`, productsCheck(1))
    for (const c of [liteHealth, liteProductCase]) {
      const problem = await c.check(await fetch(`${liteApp.url}${c.path}`))
      if (problem) throw new Error(`PGlite ${c.key}: ${problem}`)
      if (warmup > 0) await measureOnce(c, warmup)
    }
    pglite = {
      seedMs: seedMsLite,
      health: await measureOnce(liteHealth, seconds),
      product: await measureOnce(liteProductCase, seconds),
    }
    await stopChild(liteApp.child)
  }

  // --- 8. Report ------------------------------------------------------------------------------------------------

  const summary = Object.fromEntries(
    cases.map((c) => {
      const rs = measured.get(c.key)!
      const of = (f: (r: RunFigures) => number) => spread(rs.map(f))
      return [
        c.key,
        {
          name: c.name,
          rps: of((r) => r.rps),
          p50: of((r) => r.p50),
          p90: of((r) => r.p90),
          p99: of((r) => r.p99),
          errors: rs.reduce((n, r) => n + r.errors, 0),
          responses: rs.reduce((n, r) => n + r.responses, 0),
          bytesPerResponse: of((r) => r.bytesPerResponse).median,
          bodyBytes: bodyBytes[c.key],
          sqlPerRequest: of((r) => r.sqlPerRequest).median,
          redisPerRequest: of((r) => r.redisPerRequest).median,
          redisBeforeResponsePerRequest: of((r) => r.redisBeforeResponsePerRequest).median,
          redisRoundTripsBeforeResponsePerRequest: of((r) => r.redisRoundTripsBeforeResponsePerRequest)
            .median,
          cpuMsPerRequest: of((r) => r.cpuMsPerRequest),
          runs: rs,
        },
      ]
    }),
  )
  const rpsOf = (key: string) => measured.get(key)?.map((r) => r.rps) ?? []
  const ratio = (a: string, b: string) => spread(pairedRatios(rpsOf(a), rpsOf(b)))

  interface Budget {
    name: string
    value: number
    limit: string
    met: boolean | null
  }
  const budgets: Budget[] = []
  const ratioBudget = (name: string, a: string, b: string, min: number | null) => {
    if (!measured.has(a) || !measured.has(b)) return
    const r = ratio(a, b)
    budgets.push({
      name: `${name} (min ${r.min.toFixed(2)}, max ${r.max.toFixed(2)})`,
      value: r.median,
      limit: min === null ? 'report' : `>= ${min}x`,
      met: min === null ? null : r.median >= min,
    })
  }
  ratioBudget('route() static / bare handler, same adapter', 'route', 'adapter', 0.8)
  ratioBudget('adapter / bare node:http', 'adapter', 'node_http', null)
  ratioBudget('GET /health / bare node:http', 'health', 'node_http', null)
  ratioBudget('product by id / its SQL baseline', 'product', 'sql_product', 0.5)
  ratioBudget('product list / its SQL baseline', 'list', 'sql_list', 0.5)
  ratioBudget('text search / its SQL baseline', 'search', 'sql_search', 0.5)
  ratioBudget('GET /auth/me / JWT + Redis GET + SQL', 'me', 'auth_me', 0.5)
  ratioBudget('GET /orders / its SQL baseline', 'orders_list', 'sql_orders', null)
  ratioBudget('login / argon2 verify loop', 'login', 'argon2', 0.8)
  const countBudget = (
    name: string,
    key: string,
    field: 'sqlPerRequest' | 'redisRoundTripsBeforeResponsePerRequest',
    max: number,
  ) => {
    const s = summary[key]
    if (!s) return
    const value = s[field]
    budgets.push({ name, value, limit: `<= ${max}`, met: value <= max + 1e-9 })
  }
  countBudget('product by id: statements per request', 'product', 'sqlPerRequest', 1)
  countBudget('product list: statements per request', 'list', 'sqlPerRequest', 2)
  countBudget('text search: statements per request', 'search', 'sqlPerRequest', 2)
  countBudget(
    'GET /auth/me: Redis round trips before the response',
    'me',
    'redisRoundTripsBeforeResponsePerRequest',
    1,
  )
  countBudget(
    'GET /orders: Redis round trips before the response',
    'orders_list',
    'redisRoundTripsBeforeResponsePerRequest',
    1,
  )
  if (indexChecks) {
    const failed = indexChecks.filter((c) => !c.ok)
    budgets.push({
      name: `indexes used by the catalog statements (EXPLAIN ANALYZE, ${indexChecks.length} statements${failed.length ? `; failed: ${failed.map((c) => c.name).join(', ')}` : ''})`,
      value: indexChecks.length - failed.length,
      limit: `= ${indexChecks.length}`,
      met: failed.length === 0,
    })
  }
  if (orderStatements) {
    budgets.push({
      name: `POST /orders: statements for 1 line vs ${BENCH_ORDER_SKUS} lines (${orderStatements.one} vs ${orderStatements.many})`,
      value: orderStatements.many - orderStatements.one,
      limit: '= 0 (does not grow with the lines)',
      met: orderStatements.many === orderStatements.one,
    })
  }
  if (measured.has('orders_create')) {
    budgets.push({
      name: 'POST /orders: oversells (sold = stock taken = ledger)',
      value: oversell.oversells,
      limit: '= 0, all three agree',
      met: stockAgrees,
    })
  }

  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-')
  const sp = (s: Spread, d = 0) => `${f(s.median, d)} (${f(s.min, d)}-${f(s.max, d)})`
  const table: string[] = []
  table.push(
    '| endpoint | req/s median (min-max) | p50 ms | p90 ms | p99 ms | errors | bytes/resp | SQL/req | Redis/req (before resp.; round trips) | CPU ms/req |',
  )
  table.push('|---|---|---|---|---|---|---|---|---|---|')
  for (const c of cases) {
    const s = summary[c.key]!
    table.push(
      `| ${s.name} | ${sp(s.rps)} | ${f(s.p50.median, 0)} | ${f(s.p90.median, 0)} | ${f(s.p99.median, 0)} | ${s.errors} | ${f(s.bytesPerResponse, 0)} | ${f(s.sqlPerRequest, 2)} | ${f(s.redisPerRequest, 2)} (${f(s.redisBeforeResponsePerRequest, 2)}; ${f(s.redisRoundTripsBeforeResponsePerRequest, 2)}) | ${sp(s.cpuMsPerRequest, 2)} |`,
    )
  }
  const budgetTable = ['| budget | value | limit | |', '|---|---|---|---|']
  for (const b of budgets) {
    budgetTable.push(
      `| ${b.name} | ${f(b.value, 2)} | ${b.limit} | ${b.met === null ? 'report' : b.met ? 'met' : 'MISSED'} |`,
    )
  }
  const totalSeconds = (performance.now() - t0) / 1000
  const machine = {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    memoryGb: Math.round(totalmem() / 1e9),
    loadAverageAtStart: loadAtStart,
    loadAverageAtEnd: loadAtEnd,
  }
  const la = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ')
  console.log(
    `\nnpm run bench, ${startedAt.toISOString()}: ${machine.nproc} cores (${machine.cpu}), node ${machine.node}, load average ${la(loadAtStart)} at the start of the measuring, ${la(loadAtEnd)} at its end`,
  )
  console.log(
    `PostgreSQL through the Neon driver and the WebSocket proxy, Redis through the Upstash client and its REST proxy; ${scale.products.toLocaleString('en')} products, ${(scale.products * BENCH_SIZES.length).toLocaleString('en')} variants, ${scale.orders.toLocaleString('en')} orders; autocannon ${connections} connections, ${runs} runs of ${seconds} s after a ${warmup} s warm-up, rounds interleaved; LOG_LEVEL=${values['log-level']}\n`,
  )
  console.log(table.join('\n'))
  console.log(`\n${budgetTable.join('\n')}`)
  console.log(
    `\norders: ${oversell.orders} bench orders; units sold ${oversell.sold}; stock taken ${oversell.taken} (inventory), ${oversell.ledger} (ledger); oversells ${oversell.oversells}${stockAgrees ? '' : ' MISMATCH'}`,
  )
  console.log(
    `5,000-row CSV import: ${f(csvImport.ms, 0)} ms (HTTP ${csvImport.status}, ${csvImport.rows} rows); seeding ${f(seedMs / 1000)} s`,
  )
  if (pglite) {
    console.log(
      `PGlite smoke (embedded, seeded in ${f(pglite.seedMs / 1000)} s): GET /health ${f(pglite.health.rps, 0)} req/s p99 ${pglite.health.p99} ms; GET /products/{id} ${f(pglite.product.rps, 0)} req/s p99 ${pglite.product.p99} ms, ${f(pglite.product.sqlPerRequest, 2)} statements/req, errors ${pglite.health.errors + pglite.product.errors}`,
    )
  }
  console.log(`total ${f(totalSeconds)} s end to end (seeding included)`)

  const results = {
    startedAt: startedAt.toISOString(),
    totalSeconds,
    machine,
    settings: {
      seconds,
      runs,
      warmup,
      connections,
      buyers: buyerCount,
      scale,
      logLevel: values['log-level'],
    },
    seedMs,
    statementsCaptured: Object.fromEntries(Object.entries(statements).map(([k, v]) => [k, v.length])),
    indexChecks,
    cases: summary,
    budgets,
    oversell,
    orderStatements,
    csvImport,
    pglite,
  }
  const dir = join(root, 'bench/results')
  mkdirSync(dir, { recursive: true })
  const text = `${JSON.stringify(results, null, 2)}\n`
  writeFileSync(join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`), text)
  // A partial run (--only) is kept under its timestamp but never replaces the full run's latest.json.
  if (!only) writeFileSync(join(dir, 'latest.json'), text)
  if (!stockAgrees) process.exitCode = 1
} catch (err) {
  process.exitCode = 1
  console.error(err)
} finally {
  await cleanup()
}
