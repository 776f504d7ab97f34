// What a Redis brownout costs a request (docs/monitoring.md, "When Redis is sick"): GET /api/v1/products
// and GET /api/v1/auth/me, in-process through the same file router the dev server uses, on an embedded
// database, with the Upstash client pointed at
//   healthy   this machine's Redis through the local Upstash-REST proxy,
//   dark      an endpoint that accepts connections and never answers, while the breaker is still closed
//             (each request waits for its deadline: the first REDIS_BREAKER_FAILURES requests of an outage),
//   open      the same dark endpoint once the breaker has opened (Redis is skipped),
//   no Redis  the in-process store (no Upstash configured), the floor.
// "Added latency once the breaker is open" is open minus no Redis, paired sample by sample.
// Usage: npm run bench:redis-brownout [-- --samples 300]
import { cpus, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { samples: { type: 'string', default: '300' } } })
const samples = Number(values.samples)

Object.assign(process.env, {
  PGLITE_DATA_DIR: 'memory://',
  LOG_LEVEL: 'silent',
  RATE_LIMIT_DEFAULT: '100000000/60',
  REDIS_BREAKER_COOLDOWN_SECONDS: '3600',
})
for (const name of ['DATABASE_URL', 'UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN', 'RATE_LIMITS'])
  delete process.env[name]

const { createRouter, loadRoutes } = await import('../lib/http/router.js')
const { flushBackground } = await import('../lib/platform/background.js')
const { closeDatabase, getDb } = await import('../lib/platform/db.js')
const { resetEnv, env } = await import('../lib/platform/env.js')
const { resetKv } = await import('../lib/platform/redis.js')
const { breakerState } = await import('../lib/platform/redis-breaker.js')
const { resetRateLimits } = await import('../lib/platform/ratelimit.js')
const { createAccount } = await import('../lib/users/accounts.js')
const { startSession } = await import('../lib/auth/sessions.js')
const { startUpstashProxy } = await import('../tests/support/upstash-proxy.js')
const { startTcpSwitch } = await import('../tests/support/tcp-switch.js')

const root = fileURLToPath(new URL('..', import.meta.url))
const router = createRouter(await loadRoutes(root))
const db = await getDb()
const user = await createAccount(db, {
  email: 'brownout@shop.test',
  password: 'a long unusual bench passphrase',
  role: 'customer',
})
const { access_token: token } = await startSession(db, user.id, { ip: '127.0.0.1', userAgent: 'bench' })

const proxy = await startUpstashProxy({ redisUrl: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' })
const relay = await startTcpSwitch({ host: '127.0.0.1', port: Number(new URL(proxy.url).port) })

function configure(redis: 'healthy' | 'dark' | 'none') {
  if (redis === 'none') {
    delete process.env.UPSTASH_REDIS_REST_URL
    delete process.env.UPSTASH_REDIS_REST_TOKEN
  } else {
    process.env.UPSTASH_REDIS_REST_URL = redis === 'healthy' ? proxy.url : relay.url
    process.env.UPSTASH_REDIS_REST_TOKEN = proxy.token
  }
  process.env.REDIS_PREFIX = `bench:brownout:${process.pid}:`
  resetEnv()
  resetKv()
  resetRateLimits()
}

async function timed(path: string, auth: boolean): Promise<number> {
  const t0 = performance.now()
  const res = await router(
    new Request(`http://localhost${path}`, { headers: auth ? { authorization: `Bearer ${token}` } : {} }),
  )
  await res.text()
  const ms = performance.now() - t0
  await flushBackground() // after-response work (metrics, cache fill) between samples, not timed
  if (res.status !== 200) throw new Error(`${path}: ${res.status}`)
  return ms
}

const cases = [
  { name: 'GET /api/v1/products', path: '/api/v1/products?limit=20', auth: false },
  { name: 'GET /api/v1/auth/me', path: '/api/v1/auth/me', auth: true },
] as const

const quantile = (xs: number[], p: number) => {
  const s = [...xs].sort((x, y) => x - y)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}
const f = (n: number) => n.toFixed(2)
const rows: string[] = []
for (const c of cases) {
  const results: Record<string, number[]> = { healthy: [], dark: [], open: [], none: [], added: [] }
  configure('healthy')
  for (let i = 0; i < 30; i++) await timed(c.path, c.auth) // warm-up: JIT, plans, the limiter's script
  for (let i = 0; i < samples; i++) {
    // one sample of each state in turn, so a slow moment of the machine lands on all of them
    configure('healthy')
    results.healthy!.push(await timed(c.path, c.auth))
    configure('none')
    const none = await timed(c.path, c.auth)
    results.none!.push(none)
    configure('dark')
    relay.setMode('blackhole')
    if (i < 10) results.dark!.push(await timed(c.path, c.auth)) // the breaker still closed: the deadline
    while (breakerState() !== 'open') await timed(c.path, c.auth)
    const open = await timed(c.path, c.auth)
    results.open!.push(open)
    results.added!.push(open - none)
    relay.setMode('pass')
  }
  for (const [state, label] of [
    ['healthy', 'Redis healthy (local Upstash proxy)'],
    ['none', 'no Redis (in-process store)'],
    ['dark', `Redis never answers, breaker closed (deadline ${env().REDIS_TIMEOUT_MS} ms)`],
    ['open', 'Redis never answers, breaker open'],
    ['added', 'added by the open breaker (open - no Redis, paired)'],
  ] as const) {
    const xs = results[state]!
    rows.push(`| ${c.name} | ${label} | ${xs.length} | ${f(quantile(xs, 0.5))} | ${f(quantile(xs, 0.99))} |`)
  }
}
await relay.close()
await proxy.close()
await closeDatabase()

console.log(
  `${new Date().toISOString().slice(0, 16)} UTC, ${cpus().length} x ${cpus()[0]?.model.trim()}, Node ${process.versions.node}, ` +
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}; in-process requests on embedded PGlite`,
)
console.log('| request | Redis | samples | median ms | p99 ms |')
console.log('| ------- | ----- | ------- | --------- | ------ |')
for (const r of rows) console.log(r)
process.exit(0)
