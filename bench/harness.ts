// The setting of the bench's scenarios (`npm run bench -- --scenario flash-sale|soak`): the stand-ins for
// Neon and Upstash (bench/services.ts) in front of this machine's PostgreSQL and Redis, a fresh database
// migrated by the production migrator (dropped at the end), and the app as bench/server.ts serves it (the
// dev server's adapter and router, counters and the stock-hold timings of bench/instrument.ts), with rate
// limits on and their numbers raised: every client of the bench is 127.0.0.1. Each process is a child of
// its own, so the load generator does not share an event loop with the server.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import * as schema from '../db/schema/index.js'
import { configureNeonDriver, type Db, migrateNeon } from '../lib/platform/db.js'
import type { BenchStats } from './instrument.js'

export const root = fileURLToPath(new URL('..', import.meta.url))
const t0 = performance.now()
export const say = (line: string): void =>
  console.error(`[bench ${((performance.now() - t0) / 1000).toFixed(0)} s] ${line}`)

export interface App {
  url: string
  api: string
  child: ChildProcess
  stats(): Promise<BenchStats>
}

export interface Bench {
  db: Db
  databaseUrl: string
  /** Start the app (bench/server.ts) with the bench's settings plus `env`. */
  startApp(env?: Record<string, string>): Promise<App>
  cleanup(): Promise<void>
}

export const freePort = (): Promise<number> =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolve(p))
    })
  })

/** SIGTERM, then SIGKILL after 5 s; resolves once the child has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

/** Services, a migrated database of its own (`commerce_<name>_<pid>`) and a way to start the app. */
export async function startBench(name: string, opts: { keepDatabase?: boolean } = {}): Promise<Bench> {
  const children = new Set<ChildProcess>()
  const spawnTsx = (script: string, env: Record<string, string>, stdout: 'pipe' | 'ignore') => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', stdout, 'inherit'],
    })
    children.add(child)
    child.once('exit', () => children.delete(child))
    return child
  }
  const services = spawnTsx('bench/services.ts', {}, 'pipe')
  const [line] = (await once(createInterface({ input: services.stdout! }), 'line')) as [string]
  const svc = JSON.parse(line) as { wsProxy: string; upstashUrl: string; upstashToken: string }
  process.env.NEON_WS_PROXY = svc.wsProxy
  await configureNeonDriver(svc.wsProxy)

  const { Pool } = await import('@neondatabase/serverless')
  const { drizzle } = await import('drizzle-orm/neon-serverless')
  const pgUrl = new URL(process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')
  const dbName = `commerce_${name.replace(/\W/g, '_')}_${process.pid}`
  const admin = new Pool({ connectionString: pgUrl.toString(), max: 1 })
  admin.on('error', () => {})
  await admin.query(`drop database if exists ${dbName} with (force)`)
  await admin.query(`create database ${dbName}`)
  const databaseUrl = Object.assign(new URL(pgUrl), { pathname: `/${dbName}` }).toString()
  await migrateNeon(databaseUrl)
  const pool = new Pool({ connectionString: databaseUrl, max: 4 })
  pool.on('error', () => {}) // dropping the database at the end ends idle connections
  const db = drizzle({ client: pool, schema }) as unknown as Db
  const redisPrefix = `bench-${name}-${process.pid}-${Date.now()}:`

  const common = {
    DATABASE_URL: databaseUrl,
    NEON_WS_PROXY: svc.wsProxy,
    UPSTASH_REDIS_REST_URL: svc.upstashUrl,
    UPSTASH_REDIS_REST_TOKEN: svc.upstashToken,
    REDIS_PREFIX: redisPrefix,
    JWT_SECRET: 'bench-only-jwt-secret-0123456789-abcdefghijklmnop',
    LOG_LEVEL: 'warn',
    ACCESS_TOKEN_EXPIRE_MINUTES: '120',
    RATE_LIMITS: 'on',
    RATE_LIMIT_DEFAULT: '1000000000/60',
    RATE_LIMIT_AUTH_LOGIN: '1000000000/60',
    RATE_LIMIT_AUTH_LOGIN_ACCOUNT: '1000000000/300',
    MAX_UNPAID_ORDERS_PER_BUYER: '1000000',
    MAX_UNPAID_ORDERS_PER_IP: '1000000',
  }

  async function startApp(env: Record<string, string> = {}): Promise<App> {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const child = spawnTsx('bench/server.ts', { ...common, ...env, PORT: String(port) }, 'ignore')
    const stats = async () => (await (await fetch(`${url}/__bench/stats`)).json()) as BenchStats
    for (let i = 0; ; i++) {
      if (
        await stats().then(
          () => true,
          () => false,
        )
      )
        return { url, api: `${url}/api/v1`, child, stats }
      if (i > 600 || child.exitCode !== null) throw new Error('the app (bench/server.ts) did not start')
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  let cleaned = false
  async function cleanup(): Promise<void> {
    if (cleaned) return
    cleaned = true
    for (const child of children) if (child !== services) await stopChild(child)
    await pool.end().catch(() => {})
    if (!opts.keepDatabase)
      await admin.query(`drop database if exists ${dbName} with (force)`).catch(() => {})
    await admin.end().catch(() => {})
    await dropRedisKeys(redisPrefix)
    await stopChild(services)
  }
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)))
  return { db, databaseUrl, startApp, cleanup }
}

/** Delete the run's keys from this machine's Redis (TEST_REDIS_URL). */
export async function dropRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379')
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    if (keys.length) await redis.del(...keys)
    cursor = next
  } while (cursor !== '0')
  await redis.quit()
}

/** The shipping address of the bench's orders (Illinois, so tax and shipping settings apply). */
export const BENCH_ADDRESS = {
  first_name: 'Bench',
  last_name: 'Buyer',
  line1: '1 Loopback Way',
  city: 'Springfield',
  state: 'IL',
  postal_code: '62701',
  country: 'US',
}

/**
 * Run a scenario against a fresh bench (services, database, app) and exit: 1 when it reports a failure
 * or throws. Its figures go to bench/results/<name>-<time>.json (`machine`: cores and load average added).
 */
export async function runScenario(
  name: string,
  opts: { keepDatabase?: boolean },
  scenario: (bench: Bench) => Promise<{ failed: boolean; results: Record<string, unknown> }>,
): Promise<never> {
  const bench = await startBench(name, opts)
  let failed = true
  try {
    const out = await scenario(bench)
    failed = out.failed
    const startedAt = new Date().toISOString()
    const dir = join(root, 'bench/results')
    mkdirSync(dir, { recursive: true })
    const machine = { cpus: cpus().length, load: loadavg().map((l) => Math.round(l * 100) / 100) }
    writeFileSync(
      join(dir, `${name}-${startedAt.replace(/[:.]/g, '-')}.json`),
      `${JSON.stringify({ scenario: name, startedAt, machine, ...out.results }, null, 2)}\n`,
    )
  } catch (err) {
    console.error(err)
  } finally {
    await bench.cleanup()
  }
  process.exit(failed ? 1 : 0)
}

/** Sign in through the API; `Bearer <access token>`. */
export async function signIn(api: string, email: string, password: string): Promise<string> {
  const res = await fetch(`${api}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  })
  if (!res.ok) throw new Error(`login ${email}: HTTP ${res.status} ${await res.text()}`)
  return `Bearer ${((await res.json()) as { access_token: string }).access_token}`
}

/** The p-th percentile (0-100) of `values`, nearest rank; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}
