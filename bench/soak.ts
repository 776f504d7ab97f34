// `npm run bench -- --scenario soak`: a bounded run of mixed traffic against PostgreSQL and Redis on this
// machine (bench/harness.ts): `--users` virtual users for `--minutes`, each repeating a weighted mix of
// browsing (catalog page, product), search, sign-in, checkout as a customer and as a guest, a staff
// member marking an order paid (manual payments) and refunding part of it. Every 5 s the app's RSS, heap
// and active resources (sockets, timers, handles) and the database's connections are sampled. Reported:
// requests and answers by status (0 5xx expected), p50/p99 per kind, and memory, resources and connections
// after the warm-up (the first fifth) against the end: flat means the last third's median within 10 % of
// the second third's. Figures, not assertions: the exit code is 1 only for a 5xx, a network error, or an
// answer the mix does not expect.
//
// Usage: npm run bench -- --scenario soak [--minutes 3] [--users 16] [--keep-database]
import { parseArgs } from 'node:util'
import { eq, sql } from 'drizzle-orm'
import * as schema from '../db/schema/index.js'
import { hashPassword } from '../lib/auth/password.js'
import { rowsOf } from '../lib/platform/db.js'
import { BENCH_CUSTOMER_PASSWORD, benchCustomerEmail, seedBenchScale } from './catalog-seed.js'
import { BENCH_ADDRESS, percentile, runScenario, say, signIn } from './harness.js'

const { values } = parseArgs({
  options: {
    scenario: { type: 'string' },
    minutes: { type: 'string', default: '3' },
    users: { type: 'string', default: '16' },
    'keep-database': { type: 'boolean', default: false },
  },
})
const minutes = Number(values.minutes)
const users = Number(values.users)
const CUSTOMERS = 60

await runScenario('soak', { keepDatabase: values['keep-database'] }, async (bench) => {
  let failed = false
  await seedBenchScale(bench.db, {
    products: 2000,
    customers: CUSTOMERS + 1,
    orders: 2000,
    passwordHash: await hashPassword(BENCH_CUSTOMER_PASSWORD),
  })
  const staffEmail = benchCustomerEmail(CUSTOMERS)
  await bench.db.update(schema.users).set({ role: 'admin' }).where(eq(schema.users.email, staffEmail))
  const products = rowsOf<{ id: string }>(
    await bench.db.execute(sql`select id from products where sku like 'BENCH-O-%' order by sku`),
  ).map((r) => r.id)
  const browse = rowsOf<{ id: string }>(
    await bench.db.execute(sql`select id from products where sku like 'BENCH-P-%' order by sku limit 200`),
  ).map((r) => r.id)
  const app = await bench.startApp()
  const staff = await signIn(app.api, staffEmail, BENCH_CUSTOMER_PASSWORD)
  const address = BENCH_ADDRESS

  type Kind = 'list' | 'product' | 'search' | 'login' | 'order' | 'guest_order' | 'pay' | 'refund'
  const timings = new Map<Kind, number[]>()
  const statuses = new Map<string, number>()
  const unexpected: string[] = []
  let n = 0
  const pick = <T>(xs: readonly T[]) => xs[n++ % xs.length]!
  async function request(
    kind: Kind,
    path: string,
    init: { method?: string; auth?: string; body?: unknown } = {},
    expect: number[] = [200],
  ): Promise<{ status: number; body: { id?: string; access_token?: string } | null }> {
    const started = performance.now()
    let status = 0
    let body: { id?: string; access_token?: string } | null = null
    try {
      const res = await fetch(`${app.api}${path}`, {
        method: init.method ?? 'GET',
        headers: {
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(init.auth ? { authorization: init.auth } : {}),
        },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      })
      status = res.status
      body = (await res.json().catch(() => null)) as typeof body
    } catch {
      status = 0
    }
    const list = timings.get(kind) ?? []
    list.push(performance.now() - started)
    timings.set(kind, list)
    const key = `${kind} ${status}`
    statuses.set(key, (statuses.get(key) ?? 0) + 1)
    if (!expect.includes(status) && unexpected.length < 20) unexpected.push(key)
    return { status, body }
  }

  const deadline = performance.now() + minutes * 60_000
  async function user(u: number) {
    const email = benchCustomerEmail(u % CUSTOMERS)
    let auth = await signIn(app.api, email, BENCH_CUSTOMER_PASSWORD)
    for (let round = 0; performance.now() < deadline; round++) {
      await request('list', `/products?limit=24&sort=${pick(['newest', 'price_asc', 'name_asc'])}`)
      await request('product', `/products/${pick(browse)}`)
      await request(
        'search',
        `/products?search=${pick(['merino', 'linen shirt', 'wool coat', 'sweater'])}&limit=12`,
      )
      if (round % 10 === 9) {
        const login = await request('login', '/auth/login', {
          method: 'POST',
          body: { email, password: BENCH_CUSTOMER_PASSWORD },
        })
        if (login.body?.access_token) auth = `Bearer ${login.body.access_token}`
      }
      if (round % 3 !== 2) continue
      const guest = round % 6 === 5
      const order = await request(
        guest ? 'guest_order' : 'order',
        '/orders',
        {
          method: 'POST',
          ...(guest ? {} : { auth }),
          body: {
            items: [{ product_id: pick(products), quantity: 1 + (round % 2) }],
            shipping_address: address,
            ...(guest ? { customer_email: `soak-guest-${u}-${round}@example.com` } : {}),
          },
        },
        [201],
      )
      const id = order.body?.id
      if (!id) continue
      const paid = await request('pay', `/orders/${id}/mark-paid`, { method: 'POST', auth: staff, body: {} })
      if (paid.status === 200 && round % 4 === 3) {
        await request('refund', `/orders/${id}/refund`, {
          method: 'POST',
          auth: staff,
          body: { amount: 1, reason: 'soak' },
        })
      }
    }
  }

  interface Sample {
    at: number
    rssMb: number
    heapMb: number
    activeResources: number
    dbConnections: number
  }
  const samples: Sample[] = []
  const t0 = performance.now()
  const dbName = new URL(bench.databaseUrl).pathname.slice(1)
  const sample = async () => {
    const s = await app.stats()
    const [c] = rowsOf<{ n: string | number }>(
      await bench.db.execute(sql`select count(*) as n from pg_stat_activity where datname = ${dbName}`),
    )
    samples.push({
      at: Math.round((performance.now() - t0) / 1000),
      rssMb: Math.round(s.rssBytes / 1e5) / 10,
      heapMb: Math.round(s.heapUsedBytes / 1e5) / 10,
      activeResources: s.activeResources,
      dbConnections: Number(c!.n),
    })
  }
  say(`soak: ${users} users for ${minutes} min`)
  await sample()
  const sampler = setInterval(() => void sample(), 5000)
  const before = await app.stats()
  await Promise.all(Array.from({ length: users }, (_, u) => user(u)))
  clearInterval(sampler)
  // let after-response work finish, then the resting figures
  await new Promise((r) => setTimeout(r, 3000))
  await sample()
  const after = await app.stats()

  const median = (xs: number[]) => percentile(xs, 50)
  const thirds = (pick: (s: Sample) => number) => {
    const warm = samples.slice(Math.ceil(samples.length / 5))
    const k = Math.floor(warm.length / 3)
    const mid = median(warm.slice(k, 2 * k).map(pick))
    const end = median(warm.slice(2 * k).map(pick))
    return { warm: pick(warm[0]!), mid, end, growth: Math.round(((end - mid) / mid) * 1000) / 10 }
  }
  const memory = {
    rssMb: thirds((s) => s.rssMb),
    heapMb: thirds((s) => s.heapMb),
    activeResources: thirds((s) => s.activeResources),
    dbConnections: thirds((s) => s.dbConnections),
  }
  const answers = Object.fromEntries([...statuses.entries()].sort())
  const serverErrors = [...statuses.entries()]
    .filter(([k]) => Number(k.split(' ')[1]) >= 500 || k.endsWith(' 0'))
    .reduce((s, [, v]) => s + v, 0)
  const perKind = Object.fromEntries(
    [...timings.entries()].map(([k, v]) => [
      k,
      {
        n: v.length,
        p50Ms: Math.round(percentile(v, 50) * 10) / 10,
        p99Ms: Math.round(percentile(v, 99) * 10) / 10,
      },
    ]),
  )
  const requests = after.requests - before.requests
  if (serverErrors > 0 || unexpected.length > 0) failed = true
  console.table(perKind)
  console.table(memory)
  say(
    `${requests} requests in ${minutes} min, ${serverErrors} 5xx or network errors, unexpected: ${unexpected.join(', ') || 'none'}`,
  )
  return {
    failed,
    results: {
      settings: { minutes, users },
      requests,
      serverErrors,
      unexpected,
      answers,
      perKind,
      memory,
      samples,
    },
  }
})
