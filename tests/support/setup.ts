import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterAll, afterEach, expect, inject } from 'vitest'
import { flushBackground } from '../../lib/platform/background.js'
import { closeDatabase, setDatabase } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { resetRateLimits } from '../../lib/platform/ratelimit.js'
import { resetKv } from '../../lib/platform/redis.js'
import { resetBreaker } from '../../lib/platform/redis-breaker.js'
import { withDatabase } from './services.js'

// Per test file: a fresh, already-migrated database of its own, and its own Redis key prefix.
const services = inject('services')
const fileId = randomBytes(5).toString('hex')
let dropDatabase: (() => Promise<void>) | undefined

process.env.REDIS_PREFIX = `test:${fileId}:`
delete process.env.DATABASE_URL
delete process.env.UPSTASH_REDIS_REST_URL
delete process.env.UPSTASH_REDIS_REST_TOKEN
delete process.env.METRICS_TOKEN

if (services) {
  const { Pool } = await import('@neondatabase/serverless')
  const { configureNeonDriver } = await import('../../lib/platform/db.js')
  await configureNeonDriver(services.wsProxy)
  const name = `commerce_test_${fileId}`
  const admin = new Pool({ connectionString: services.pgUrl, max: 1 })
  await admin.query(`create database ${name} template ${services.template}`)
  process.env.DATABASE_URL = withDatabase(services.pgUrl, name)
  process.env.NEON_WS_PROXY = services.wsProxy
  process.env.UPSTASH_REDIS_REST_URL = services.upstashUrl
  process.env.UPSTASH_REDIS_REST_TOKEN = services.upstashToken
  // Production's 50 ms deadline is for Upstash next to the functions; the test proxy on a busy two-core
  // machine can take longer, and an opened breaker would change what every later test sees.
  // tests/services/redis-breaker.test.ts sets its own.
  process.env.REDIS_TIMEOUT_MS ??= '2000'
  dropDatabase = async () => {
    await admin.query(`drop database if exists ${name} with (force)`)
    await admin.end()
  }
} else if (/[\\/]tests[\\/]unit[\\/]/.test(expect.getState().testPath ?? '')) {
  // Unit tests use no shared database (schema.test.ts makes its own), and booting one costs about a
  // second of CPU per file. Should one reach for it after all, it gets a fresh in-memory one of its own.
  process.env.PGLITE_DATA_DIR = 'memory://'
} else {
  const { PGlite } = await import('@electric-sql/pglite')
  const { drizzle } = await import('drizzle-orm/pglite')
  const schema = await import('../../db/schema/index.js')
  const snapshot = readFileSync(inject('pgliteSnapshot'))
  const { pgliteExtensions } = await import('../../lib/platform/db.js')
  const client = new PGlite({ loadDataDir: new Blob([snapshot]), extensions: await pgliteExtensions() })
  setDatabase(drizzle({ client, schema }) as never, 'pglite', () => client.close())
}
resetEnv()
resetKv()

afterEach(async () => {
  await flushBackground()
  resetRateLimits()
  resetBreaker()
})

afterAll(async () => {
  await flushBackground()
  await closeDatabase()
  await dropDatabase?.()
})
