// The baseline for bench/http.ts: the catalog's own statements (captured text and parameters in
// BENCH_STATEMENTS) replayed through the same driver behind a bare node:http handler, rows sent as JSON.
// No router, validation, auth or view mapping: what is left is the database and the driver.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { pgliteExtensions } from '../lib/platform/db.js'

type Statement = { sql: string; params: unknown[] }
const statements = JSON.parse(readFileSync(process.env.BENCH_STATEMENTS!, 'utf8')) as Record<
  string,
  Statement
>

let query: (s: Statement) => Promise<unknown[]>
let close: () => Promise<void>
if (process.env.DATABASE_URL) {
  const { configureNeonDriver } = await import('../lib/platform/db.js')
  const { Pool } = await import('@neondatabase/serverless')
  await configureNeonDriver(process.env.NEON_WS_PROXY)
  // The dev server's pool size (lib/platform/db.ts).
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 10 })
  query = async (s) => (await pool.query(s.sql, s.params)).rows
  close = () => pool.end()
} else {
  const { PGlite } = await import('@electric-sql/pglite')
  const client = new PGlite(process.env.PGLITE_DATA_DIR!, { extensions: await pgliteExtensions() })
  query = async (s) => (await client.query(s.sql, s.params)).rows
  close = () => client.close()
}

const server = createServer((req, res) => {
  const name = (req.url ?? '/').slice(1)
  if (name === 'ready') return void res.end('ok')
  const statement = statements[name]
  if (!statement) return void res.writeHead(404).end()
  query(statement).then(
    (rows) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(rows)),
    (err: unknown) => res.writeHead(500).end(String(err)),
  )
}).listen(Number(process.env.PORT), '127.0.0.1')

const stop = () => {
  server.close(() => close().finally(() => process.exit(0)))
  server.closeAllConnections()
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
