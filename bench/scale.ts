// `npm run bench:scale`: does the catalog keep its latency as it grows? The same catalog reads at 10,000
// and at 100,000 products, over HTTP against the real dev server (scripts/dev.ts, RATE_LIMITS=off) on this
// machine's PostgreSQL through the Neon driver and the test WebSocket proxy, as in production. Measured:
// the first list page with its total (the default page, no filter, and a category with a price range),
// cursor-paged lists without a total (the first page with `total=false`, and the page after by its cursor)
// and selective searches (a product SKU, a variant SKU, a product's full name; GET /products?search= and
// POST /products/search with its facets). One reference row is measured but not budgeted, because its
// work grows with the catalog by definition: a broad search (`merino sweater`, 1 product in 120).
// Budget: p99 at 100,000 within 2x of 10,000; the list pages with their total also p50 within 1.2x
// (ADR 018: the total comes from a count cached for 60 s, so a page costs the same at any size).
// The dev servers use this machine's Redis through the local Upstash-REST proxy (tests/support), as a
// deployment uses Upstash, so the count cache's read is a real round trip; `--redis none` uses the
// in-process store instead.
// Usage: npm run bench:scale [-- --seconds 3 --runs 3 --concurrency 8 --small 10000 --large 100000
//   --redis redis://127.0.0.1:6379]
// Not part of npm test or npm run bench. Databases scale_bench_small and scale_bench_large on TEST_PG_URL
// (default postgres://postgres@127.0.0.1:5432/postgres) are created fresh and dropped at the end.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import * as schema from '../db/schema/index.js'
import { configureNeonDriver, type Db, migrateNeon } from '../lib/platform/db.js'
import { startUpstashProxy, type UpstashProxy } from '../tests/support/upstash-proxy.js'
import { startWsProxy } from '../tests/support/ws-proxy.js'
import { seedBenchCatalog } from './catalog-seed.js'
import { checkIndexes, type PlanCheck } from './explain.js'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    runs: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '8' },
    small: { type: 'string', default: '10000' },
    large: { type: 'string', default: '100000' },
    redis: { type: 'string', default: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
})
const seconds = Number(values.seconds)
const runs = Number(values.runs)
const concurrency = Number(values.concurrency)
const sizes = [Number(values.small), Number(values.large)] as const
const BUDGET = 2
/** p50 budget of the list pages with their total (ADR 018). */
const P50_BUDGET = 1.2
const loadAtStart = loadavg()

const pg = new URL(process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')
const proxy = await startWsProxy({ pgHost: pg.hostname, pgPort: Number(pg.port || 5432) })
process.env.NEON_WS_PROXY = proxy.url
await configureNeonDriver(proxy.url)
const { Pool } = await import('@neondatabase/serverless')
const { drizzle } = await import('drizzle-orm/neon-serverless')
const admin = new Pool({ connectionString: pg.toString(), max: 1 })
const upstash: UpstashProxy | undefined =
  values.redis === 'none' ? undefined : await startUpstashProxy({ redisUrl: values.redis })
const dbNames = ['scale_bench_small', 'scale_bench_large']
const urlOf = (name: string) => Object.assign(new URL(pg), { pathname: `/${name}` }).toString()

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolve(p))
    })
  })

/** Redis trouble a dev server logged (warnings it writes to stderr), per catalog size. */
const redisTrouble = new Map<string, { breakerOpened: number; countReadFailed: number }>()

async function startServer(databaseUrl: string, port: number, label: string): Promise<ChildProcess> {
  // The Upstash-REST proxy runs in this process, which also generates the load: on a busy two-core machine
  // it answers slower than Upstash beside the functions, and production's 50 ms deadline then opens the
  // breaker and every list counts again for 10 s (a probe with this setup logged exactly that). As the tests do
  // (tests/support/setup.ts), the servers get a longer deadline; breaker openings are counted either way.
  const redis = upstash
    ? {
        UPSTASH_REDIS_REST_URL: upstash.url,
        UPSTASH_REDIS_REST_TOKEN: upstash.token,
        REDIS_PREFIX: `bench:scale:${process.pid}:${label}:`,
        REDIS_TIMEOUT_MS: process.env.REDIS_TIMEOUT_MS ?? '1000',
      }
    : {}
  const trouble = { breakerOpened: 0, countReadFailed: 0 }
  redisTrouble.set(label, trouble)
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/dev.ts'], {
    env: {
      ...process.env,
      ...redis,
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      NEON_WS_PROXY: proxy.url,
      RATE_LIMITS: 'off',
      LOG_LEVEL: 'warn',
      ADMIN_EMAIL: 'scale-bench-admin@example.com',
      ADMIN_PASSWORD: 'scale bench admin passphrase',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  // Warnings are counted, errors (and anything that is not a log line) passed on.
  let pending = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) {
      if (line.includes('redis circuit breaker opened')) trouble.breakerOpened++
      else if (line.includes('catalog count read failed')) trouble.countReadFailed++
      else if (!line.startsWith('{"level":"warn"') && !line.startsWith('{"level":"info"'))
        process.stderr.write(`${line}\n`)
    }
  })
  for (let i = 0; ; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/api/v1/health`).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) return child
    if (i > 600 || child.exitCode !== null) throw new Error('scripts/dev.ts did not start')
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** The servers' keys (metric counters have no expiry; counts expire in 60 s anyway). */
async function dropRedisKeys(pattern: string): Promise<void> {
  const { Redis } = await import('ioredis')
  const redis = new Redis(values.redis, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await redis.connect()
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500)
      if (keys.length) await redis.del(...keys)
      cursor = next
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  await exited
}

// --- Measuring ---------------------------------------------------------------------------------------------

interface Figures {
  requests: number
  rps: number
  p50: number
  p99: number
  errors: number
}

async function measureOnce(fn: () => Promise<Response>): Promise<Figures> {
  const latencies: number[] = []
  let errors = 0
  const end = performance.now() + seconds * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now()
        const res = await fn()
        await res.arrayBuffer()
        latencies.push(performance.now() - t0)
        if (!res.ok) errors++
      }
    }),
  )
  latencies.sort((a, b) => a - b)
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!
  return { requests: latencies.length, rps: latencies.length / seconds, p50: q(0.5), p99: q(0.99), errors }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function warmUp(fn: () => Promise<Response>): Promise<void> {
  const warm = performance.now() + 1000
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < warm) await (await fn()).arrayBuffer()
    }),
  )
}

/** The median of each figure over the runs, with the p99 range. */
function summarise(all: Figures[]) {
  return {
    requests: all.reduce((s, f) => s + f.requests, 0),
    rps: median(all.map((f) => f.rps)),
    p50: median(all.map((f) => f.p50)),
    p99: median(all.map((f) => f.p99)),
    p99Min: Math.min(...all.map((f) => f.p99)),
    p99Max: Math.max(...all.map((f) => f.p99)),
    errors: all.reduce((s, f) => s + f.errors, 0),
  }
}
type Measured = ReturnType<typeof summarise>

// --- The cases ---------------------------------------------------------------------------------------------

interface Case {
  name: string
  budgeted: boolean
  /** Also budget the p50 ratio (at most P50_BUDGET). */
  p50Budget?: boolean
  /** Products the first answer must hold (a fast 404 or an empty page would measure nothing). */
  expect: number
  request: (base: string) => () => Promise<Response>
}

const listQs = 'category=bench-dept-5&min_price=20&max_price=120&limit=24'
const json = (body: unknown) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
})

/** The cases at one size; the cursor and the searched product come from that catalog. */
async function casesFor(base: string): Promise<Case[]> {
  const first = (await (await fetch(`${base}/products?${listQs}&total=false`)).json()) as {
    pagination: { next_cursor: string | null }
  }
  const cursor = first.pagination.next_cursor
  if (!cursor) throw new Error('the first list page has no next_cursor')
  const product = (await (await fetch(`${base}/products/bench-product-4242`)).json()) as {
    sku: string
    name: string
    variants: Array<{ sku: string }>
  }
  const variantSku = product.variants[1]?.sku
  if (!variantSku) throw new Error('bench-product-4242 has no variants')
  const get = (path: string) => (b: string) => () => fetch(`${b}${path}`)
  const q = encodeURIComponent
  return [
    {
      name: 'list, default page with total',
      budgeted: true,
      p50Budget: true,
      expect: 24,
      request: get('/products?limit=24'),
    },
    {
      name: 'list, first page with total',
      budgeted: true,
      p50Budget: true,
      expect: 24,
      request: get(`/products?${listQs}`),
    },
    {
      name: 'list, first page (total=false)',
      budgeted: true,
      expect: 24,
      request: get(`/products?${listQs}&total=false`),
    },
    {
      name: 'list, cursor page',
      budgeted: true,
      expect: 24,
      request: get(`/products?${listQs}&cursor=${cursor}`),
    },
    {
      name: `search sku ${product.sku}`,
      budgeted: true,
      expect: 1,
      request: get(`/products?search=${q(product.sku)}&limit=24`),
    },
    {
      name: `search variant sku ${variantSku}`,
      budgeted: true,
      expect: 1,
      request: get(`/products?search=${q(variantSku)}&limit=24`),
    },
    {
      name: `search name "${product.name}"`,
      budgeted: true,
      expect: 1,
      request: get(`/products?search=${q(product.name)}&limit=24`),
    },
    {
      name: `POST /products/search "${product.name}" + facets`,
      budgeted: true,
      expect: 1,
      request: (b) => () => fetch(`${b}/products/search`, json({ query: product.name, limit: 24 })),
    },
    {
      name: 'ref: broad search "merino sweater"',
      budgeted: false,
      expect: 24,
      request: get('/products?search=merino+sweater&limit=24'),
    },
  ]
}

// --- Run ---------------------------------------------------------------------------------------------------
// Both catalogs are seeded first and served by two dev servers at once; each query is then measured
// alternately on the small and the large catalog (warm-up, then small, large, small, large ...), so both
// sizes meet the same load from the rest of this shared machine and the ratio compares like with like.

const started = performance.now()
interface SizeRun {
  size: number
  seedSeconds: number
  url: string
  base: string
  server?: ChildProcess
  cases: Case[]
  figures: Map<string, Measured>
  plans: PlanCheck[]
}
const results: SizeRun[] = []
try {
  for (const [i, size] of sizes.entries()) {
    const name = dbNames[i]!
    const url = urlOf(name)
    await admin.query(`drop database if exists ${name} with (force)`)
    await admin.query(`create database ${name}`)
    await migrateNeon(url)
    const pool = new Pool({ connectionString: url, max: 1 })
    const t0 = performance.now()
    process.stdout.write(`seeding ${size} products (${size * 3} variants)... `)
    await seedBenchCatalog(drizzle({ client: pool, schema }) as unknown as Db, size)
    const seedSeconds = (performance.now() - t0) / 1000
    console.log(`${seedSeconds.toFixed(1)} s`)
    await pool.end()
    results.push({ size, seedSeconds, url, base: '', cases: [], figures: new Map(), plans: [] })
  }
  for (const r of results) {
    const port = await freePort()
    r.base = `http://127.0.0.1:${port}/api/v1`
    r.server = await startServer(r.url, port, String(r.size))
    r.cases = await casesFor(r.base)
    for (const c of r.cases) {
      const res = await c.request(r.base)()
      const body = (await res.json()) as { products?: unknown[] }
      if (!res.ok || (body.products?.length ?? 0) < c.expect) {
        throw new Error(`${r.size} ${c.name}: HTTP ${res.status}, ${body.products?.length ?? 0} products`)
      }
    }
  }
  const [small, large] = results as [SizeRun, SizeRun]
  for (const [k, c] of small.cases.entries()) {
    const fns = [c.request(small.base), large.cases[k]!.request(large.base)] as const
    for (const fn of fns) await warmUp(fn)
    const samples: [Figures[], Figures[]] = [[], []]
    for (let i = 0; i < runs; i++) {
      samples[0].push(await measureOnce(fns[0]))
      samples[1].push(await measureOnce(fns[1]))
    }
    small.figures.set(c.name, summarise(samples[0]))
    large.figures.set(c.name, summarise(samples[1]))
    const a = small.figures.get(c.name)!
    const b = large.figures.get(c.name)!
    console.log(
      `  ${c.name}: p50 ${a.p50.toFixed(1)} / ${b.p50.toFixed(1)} ms, p99 ${a.p99.toFixed(1)} / ${b.p99.toFixed(1)} ms at ${small.size} / ${large.size}; load ${loadavg()[0]!.toFixed(2)}`,
    )
  }
  for (const r of results) {
    await stop(r.server!)
    r.server = undefined
    console.log(`\ncheckIndexes on ${r.size} products:`)
    const pool = new Pool({ connectionString: r.url, max: 1 })
    r.plans = await checkIndexes(async (s, p) => (await pool.query(s, p as unknown[])).rows)
    await pool.end()
  }
} finally {
  for (const r of results) if (r.server) await stop(r.server)
  for (const name of dbNames) await admin.query(`drop database if exists ${name} with (force)`)
  await admin.end()
  await proxy.close()
  await upstash?.close()
  if (upstash) await dropRedisKeys(`bench:scale:${process.pid}:*`)
}

// --- Report ------------------------------------------------------------------------------------------------

const [small, large] = results as [SizeRun, SizeRun]
const f1 = (n: number) => n.toFixed(1)
const rows = small.cases.map((c) => {
  const a = small.figures.get(c.name)!
  const b = large.figures.get(c.name)!
  const ratio = b.p99 / a.p99
  const p50Ratio = b.p50 / a.p50
  const met = ratio <= BUDGET && (!c.p50Budget || p50Ratio <= P50_BUDGET)
  return {
    name: c.name,
    a,
    b,
    ratio,
    p50Ratio,
    p50Budget: c.p50Budget ?? false,
    verdict: c.budgeted ? (met ? 'met' : 'MISSED') : 'not budgeted',
  }
})
console.log(
  `\n## Scale: ${small.size} -> ${large.size} products (budget: p99 at most ${BUDGET}x; list pages with their total also p50 at most ${P50_BUDGET}x), ${runs} runs of ${seconds} s, ${concurrency} connections, ${upstash ? 'Redis through the Upstash-REST proxy' : 'in-process store (no Redis)'}, median (p99 min-max)`,
)
console.log(
  `| query | p50 ${small.size} | p99 ${small.size} | req/s ${small.size} | p50 ${large.size} | p99 ${large.size} | req/s ${large.size} | p50 ratio | p99 ratio | budget |`,
)
console.log('|---|---|---|---|---|---|---|---|---|---|')
for (const r of rows) {
  console.log(
    `| ${r.name} | ${f1(r.a.p50)} | ${f1(r.a.p99)} (${f1(r.a.p99Min)}-${f1(r.a.p99Max)}) | ${r.a.rps.toFixed(0)} | ${f1(r.b.p50)} | ${f1(r.b.p99)} (${f1(r.b.p99Min)}-${f1(r.b.p99Max)}) | ${r.b.rps.toFixed(0)} | ${r.p50Ratio.toFixed(2)}x${r.p50Budget ? ` (<= ${P50_BUDGET}x)` : ''} | ${r.ratio.toFixed(2)}x | ${r.verdict} |`,
  )
}
console.log(
  `\n## The statements on the database (EXPLAIN ANALYZE, median of 3): execution ms and product rows read`,
)
console.log(
  `| statement | ms ${small.size} | ms ${large.size} | ratio | rows read ${small.size} | rows read ${large.size} | indexes |`,
)
console.log('|---|---|---|---|---|---|---|')
for (const a of small.plans) {
  const b = large.plans.find((p) => p.name === a.name)
  if (!b) continue
  console.log(
    `| ${a.name} | ${a.executionMs.toFixed(2)} | ${b.executionMs.toFixed(2)} | ${(b.executionMs / a.executionMs).toFixed(2)}x | ${a.productRowsRead} | ${b.productRowsRead} | ${a.reference ? 'not judged' : a.ok && b.ok ? 'pass' : 'FAIL'} |`,
  )
}
const errors = rows.reduce((s, r) => s + r.a.errors + r.b.errors, 0)
const plansOk = results.every((r) => r.plans.every((p) => p.ok))
console.log(
  `\nerrors: ${errors}; indexes: ${plansOk ? 'every statement passes at both sizes' : 'a statement FAILS (above)'}; seeding ${f1(small.seedSeconds)} s + ${f1(large.seedSeconds)} s; total ${f1((performance.now() - started) / 1000)} s; ${cpus().length} CPUs, load average ${loadAtStart
    .map((l) => l.toFixed(2))
    .join(' ')} at the start, ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} at the end`,
)
if (upstash) {
  const t = (size: number) => redisTrouble.get(String(size)) ?? { breakerOpened: 0, countReadFailed: 0 }
  console.log(
    `Redis (deadline ${process.env.REDIS_TIMEOUT_MS ?? '1000'} ms): breaker opened ${t(small.size).breakerOpened} / ${t(large.size).breakerOpened} times, count reads failed ${t(small.size).countReadFailed} / ${t(large.size).countReadFailed} at ${small.size} / ${large.size} (each failure or open-breaker interval counts instead of reading the cache)`,
  )
}

mkdirSync('bench/results', { recursive: true })
const file = `bench/results/scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`
writeFileSync(
  file,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      sizes,
      seconds,
      runs,
      concurrency,
      budget: BUDGET,
      p50Budget: P50_BUDGET,
      redis: upstash ? 'upstash-rest-proxy' : 'in-process',
      load: { start: loadAtStart, end: loadavg() },
      redisTrouble: Object.fromEntries(redisTrouble),
      rows: rows.map((r) => ({
        query: r.name,
        small: r.a,
        large: r.b,
        p50Ratio: r.p50Ratio,
        p99Ratio: r.ratio,
        p50Budgeted: r.p50Budget,
        verdict: r.verdict,
      })),
      plans: Object.fromEntries(results.map((r) => [r.size, r.plans])),
    },
    null,
    2,
  ),
)
console.log(`wrote ${file}`)
const missed = rows.some((r) => r.verdict === 'MISSED')
process.exit(missed || errors > 0 || !plansOk ? 1 : 0)
