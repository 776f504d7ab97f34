// Does a failed sign-in take as long for an unknown email as for a wrong password on a real account?
// If not, response time tells an attacker which emails have accounts.
// Usage: npm run bench:login-timing [-- --samples 400 --accounts 50 --postgres]
// Not part of npm test. In-process calls of POST /api/v1/auth/login through the same file router the dev
// server uses, on an in-memory embedded database, or with --postgres on this machine's PostgreSQL
// (TEST_PG_URL, a fresh database `commerce_bench_login`) through the Neon driver and the test WebSocket
// proxy, where every statement is a network round trip as in production. The per-IP and per-account
// login limits are raised (not RATE_LIMITS=off, so the limiter still runs on both paths) and so is
// MAX_LOGIN_ATTEMPTS, so no account locks: each case stays on its own code path for every sample.
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '400' },
    accounts: { type: 'string', default: '50' },
    postgres: { type: 'boolean', default: false },
  },
})
const samples = Number(values.samples)
const accounts = Number(values.accounts)

Object.assign(process.env, {
  PGLITE_DATA_DIR: 'memory://',
  LOG_LEVEL: 'silent',
  RATE_LIMIT_AUTH_LOGIN: '1000000/60',
  RATE_LIMIT_AUTH_LOGIN_ACCOUNT: '1000000/300',
  MAX_LOGIN_ATTEMPTS: '1000000',
})
for (const name of ['DATABASE_URL', 'UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN', 'RATE_LIMITS'])
  delete process.env[name]

let stopPostgres = async () => {}
if (values.postgres) {
  const { configureNeonDriver, migrateNeon } = await import('../lib/platform/db.js')
  const { startWsProxy } = await import('../tests/support/ws-proxy.js')
  const pg = new URL(process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')
  const proxy = await startWsProxy({ pgHost: pg.hostname, pgPort: Number(pg.port || 5432) })
  await configureNeonDriver(proxy.url)
  const { Pool } = await import('@neondatabase/serverless')
  const admin = new Pool({ connectionString: pg.toString(), max: 1 })
  await admin.query('drop database if exists commerce_bench_login with (force)')
  await admin.query('create database commerce_bench_login')
  process.env.NEON_WS_PROXY = proxy.url
  process.env.DATABASE_URL = Object.assign(new URL(pg), { pathname: '/commerce_bench_login' }).toString()
  await migrateNeon(process.env.DATABASE_URL)
  stopPostgres = async () => {
    await admin.query('drop database if exists commerce_bench_login with (force)')
    await admin.end()
    await proxy.close()
  }
}

// Imported after the settings above: env() is read once, at first use.
const { createRouter, loadRoutes } = await import('../lib/http/router.js')
const { flushBackground } = await import('../lib/platform/background.js')
const { closeDatabase, getDb } = await import('../lib/platform/db.js')
const { createAccount } = await import('../lib/users/accounts.js')

const root = fileURLToPath(new URL('..', import.meta.url))
const router = createRouter(await loadRoutes(root))
const db = await getDb()
const password = 'a long unusual bench passphrase'
const known: string[] = []
for (let i = 0; i < accounts; i++) {
  known.push((await createAccount(db, { email: `known-${i}@shop.test`, password, role: 'customer' })).email)
}

async function attempt(email: string): Promise<number> {
  const t0 = performance.now()
  const res = await router(
    new Request('http://localhost/api/v1/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: 'not the right passphrase' }),
    }),
  )
  await res.text()
  const ms = performance.now() - t0
  // Outside the timed part: a request is over when its answer is; background work runs between samples.
  await flushBackground()
  if (res.status !== 401) throw new Error(`expected 401 for ${email}, got ${res.status}`)
  return ms
}

const unknown: number[] = []
const wrong: number[] = []
const paired: number[] = []
// Warm up both paths (the dummy hash, JIT, prepared plans) before measuring.
for (let i = 0; i < 20; i++) {
  await attempt(`warm-${i}@shop.test`)
  await attempt(known[i % accounts]!)
}
for (let i = 0; i < samples; i++) {
  // Alternate which case goes first so a slow moment of the machine does not favour one of them.
  const first = i % 2 === 0
  const a = first ? await attempt(`nobody-${i}@shop.test`) : 0
  const b = await attempt(known[i % accounts]!)
  const c = first ? a : await attempt(`nobody-${i}@shop.test`)
  unknown.push(c)
  wrong.push(b)
  paired.push(c - b)
}
await closeDatabase()
await stopPostgres()

const quantile = (xs: number[], p: number) => {
  const s = [...xs].sort((x, y) => x - y)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}
const f = (n: number) => n.toFixed(2)
console.log(
  `${new Date().toISOString().slice(0, 10)}, ${cpus().length} x ${cpus()[0]?.model.trim()}, Node ${process.versions.node}; ` +
    `${samples} alternating samples per case, ${accounts} known accounts, ` +
    `${values.postgres ? 'PostgreSQL through the Neon driver and a local WebSocket proxy' : 'embedded PGlite'}, in-process store`,
)
console.log('| failed login                    | median ms | p90 ms |')
console.log('| ------------------------------- | --------- | ------ |')
console.log(
  `| unknown email                   | ${f(quantile(unknown, 0.5))} | ${f(quantile(unknown, 0.9))} |`,
)
console.log(`| known email, wrong password     | ${f(quantile(wrong, 0.5))} | ${f(quantile(wrong, 0.9))} |`)
console.log(
  `difference of medians (unknown - wrong): ${f(quantile(unknown, 0.5) - quantile(wrong, 0.5))} ms; ` +
    `median of paired differences: ${f(quantile(paired, 0.5))} ms ` +
    `(p10 ${f(quantile(paired, 0.1))}, p90 ${f(quantile(paired, 0.9))})`,
)
