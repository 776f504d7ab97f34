// Cold start of built Vercel functions: a fresh Node process imports the handler from
// .vercel/output/functions and answers one request, the way production runs it: the Neon driver over
// WebSocket (to this machine's PostgreSQL through the test proxy), database `commerce_bench` migrated first.
// Run `npm run build:vercel` first. Usage: npm run bench:cold-start
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { configureNeonDriver, migrateNeon } from '../lib/platform/db.js'
import { startWsProxy } from '../tests/support/ws-proxy.js'

const run = promisify(execFile)
const PG = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const proxy = await startWsProxy({ pgHost: new URL(PG).hostname, pgPort: Number(new URL(PG).port || 5432) })
await configureNeonDriver(proxy.url)
const { Pool } = await import('@neondatabase/serverless')
const admin = new Pool({ connectionString: PG, max: 1 })
const exists = await admin.query(`select 1 from pg_database where datname = 'commerce_bench'`)
if (!exists.rowCount) await admin.query('create database commerce_bench')
await admin.end()
const benchUrl = Object.assign(new URL(PG), { pathname: '/commerce_bench' }).toString()
process.env.NEON_WS_PROXY = proxy.url
await migrateNeon(benchUrl)

const FUNCS = '.vercel/output/functions'
if (!existsSync(FUNCS)) throw new Error('run `npm run build:vercel` first')
const probe = `
const t0 = performance.now()
const mod = await import(process.argv[1])
const t1 = performance.now()
const res = await mod.GET(new Request('http://localhost' + process.argv[2]))
await res.text()
const t2 = performance.now()
const rss = process.memoryUsage().rss
console.log(JSON.stringify({ status: res.status, importMs: t1 - t0, firstMs: t2 - t1, rssMb: rss / 2 ** 20 }))
process.exit(0)
`
const targets: Array<[string, string]> = [
  ['api/v1/health/index', '/api/v1/health'],
  ['api/v1/auth/me', '/api/v1/auth/me'],
  ['api/v1/metrics/index', '/api/v1/metrics'],
]
console.log('| function | import ms | first request ms | RSS MB | status |')
console.log('|---|---|---|---|---|')
for (const [name, path] of targets) {
  const dir = join(FUNCS, `${name}.func`)
  const handler = JSON.parse(readFileSync(join(dir, '.vc-config.json'), 'utf8')).handler as string
  const runs: Array<Record<string, number>> = []
  for (let n = 0; n < 5; n++) {
    const { stdout } = await run(
      process.execPath,
      ['--input-type=module', '-e', probe, join(process.cwd(), dir, handler), path],
      {
        cwd: dir,
        env: {
          PATH: process.env.PATH,
          DATABASE_URL: benchUrl,
          NEON_WS_PROXY: proxy.url,
          LOG_LEVEL: 'silent',
        },
      },
    )
    runs.push(JSON.parse(stdout))
  }
  const med = (k: string) =>
    runs
      .map((r) => r[k] as number)
      .sort((a, b) => a - b)[2]!
      .toFixed(0)
  console.log(`| ${name} | ${med('importMs')} | ${med('firstMs')} | ${med('rssMb')} | ${runs[0]?.status} |`)
}
await proxy.close()
process.exit(0)
