// The bench's like-for-like baselines (bench/run.ts starts one process per mode, BENCH_MODE):
//   node-http  bare node:http answering a small JSON
//   adapter    the same answer from a bare fetch handler behind @hono/node-server, the app's local adapter
//   route      the same answer from a route() (auth public, no rate limit, no database) on that adapter
//   sql        bare node:http replaying an endpoint's own statements (captured text and parameters in
//              BENCH_STATEMENTS, GET /<name>) through the same driver and pool size, rows sent as JSON
//   auth-me    bare node:http doing what GET /auth/me cannot avoid: jose jwtVerify with a CryptoKey made
//              once, one Upstash GET of the session's key, the endpoint's statements
//   argon2     GET /loop?seconds=&concurrency= runs an argon2 verify loop of BENCH_HASH alone (no HTTP per
//              verify) and answers its count; the login endpoint's ceiling
// Every mode answers GET /__bench/stats (bench/instrument.ts) for the CPU and statement counts.

import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { serve } from '@hono/node-server'
import {
  countNeonStatements,
  countUpstashRequests,
  STATS_PATH,
  serveCounted,
  statsJson,
} from './instrument.js'

type Statement = { sql: string; params: unknown[] }
const mode = process.env.BENCH_MODE
const port = Number(process.env.PORT)
const payload = () => ({ status: 'healthy', version: '0.1.0' })
let close: () => Promise<void> = async () => {}

/** A bare node:http server; `handle` answers every path but the stats path. */
function bare(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void) {
  return createServer((req, res) => {
    if (req.url === STATS_PATH) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(statsJson())
      return
    }
    serveCounted(async () => handle(req, res)).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err))
    })
  }).listen(port, '127.0.0.1')
}

const sendJson = (res: ServerResponse, body: unknown) =>
  void res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body))

/** The endpoint's statements through the Neon Pool, sized like the app's (lib/platform/db.ts). */
async function neonPool() {
  const { configureNeonDriver } = await import('../lib/platform/db.js')
  const { Pool } = await import('@neondatabase/serverless')
  await configureNeonDriver(process.env.NEON_WS_PROXY)
  await countNeonStatements()
  const pool = new Pool({
    connectionString: process.env.DATABASE_URL,
    max: 10,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: 5_000,
  })
  close = () => pool.end()
  return async (statements: Statement[]) => {
    const out: unknown[][] = []
    for (const s of statements) out.push((await pool.query(s.sql, s.params)).rows)
    return out
  }
}

const loadStatements = () =>
  JSON.parse(readFileSync(process.env.BENCH_STATEMENTS!, 'utf8')) as Record<string, Statement[]>

let server: { close: (cb?: () => void) => unknown }
if (mode === 'node-http') {
  server = bare((_req, res) => sendJson(res, payload()))
} else if (mode === 'adapter' || mode === 'route') {
  let handler: (request: Request) => Promise<Response>
  if (mode === 'route') {
    // route() records metrics after the response (Redis when configured, as in production): counted too.
    countUpstashRequests(process.env.UPSTASH_REDIS_REST_URL)
    const { json, route } = await import('../lib/http/route.js')
    handler = route(
      { path: '/bench', summary: 'bench', tags: ['bench'], auth: 'public', rateLimit: false, db: false },
      async () => json(payload()),
    )
  } else {
    handler = async () =>
      new Response(JSON.stringify(payload()), {
        headers: { 'content-type': 'application/json; charset=utf-8' },
      })
  }
  server = serve({
    port,
    hostname: '127.0.0.1',
    fetch: (request: Request) =>
      request.url.endsWith(STATS_PATH)
        ? new Response(statsJson(), { headers: { 'content-type': 'application/json' } })
        : serveCounted(() => handler(request)),
  })
} else if (mode === 'sql') {
  const statements = loadStatements()
  const run = await neonPool()
  server = bare(async (req, res) => {
    const list = statements[(req.url ?? '/').slice(1)]
    if (!list) return void res.writeHead(404).end()
    sendJson(res, await run(list))
  })
} else if (mode === 'auth-me') {
  const [{ jwtVerify }, { Redis }] = await Promise.all([import('jose'), import('@upstash/redis')])
  const statements = loadStatements().me!
  const run = await neonPool()
  countUpstashRequests(process.env.UPSTASH_REDIS_REST_URL)
  const redis = new Redis({
    url: process.env.UPSTASH_REDIS_REST_URL!,
    token: process.env.UPSTASH_REDIS_REST_TOKEN!,
    retry: { retries: 1, backoff: () => 50 },
  })
  const key = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(process.env.JWT_SECRET!),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['verify'],
  )
  const prefix = process.env.REDIS_PREFIX ?? 'commerce:'
  server = bare(async (req, res) => {
    const token = req.headers.authorization?.slice('Bearer '.length) ?? ''
    const { payload: claims } = await jwtVerify(token, key, {
      algorithms: ['HS256'],
      issuer: 'commerce-api',
      audience: 'commerce-api',
      requiredClaims: ['sub', 'jti', 'exp', 'iat'],
    })
    const session = await redis.get(`${prefix}session:${String(claims.sid)}`)
    sendJson(res, { session: session !== null, rows: await run(statements) })
  })
} else if (mode === 'argon2') {
  const { verify } = await import('@node-rs/argon2')
  const hash = process.env.BENCH_HASH!
  const password = process.env.BENCH_PASSWORD!
  server = bare(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://bench')
    if (url.pathname !== '/loop') return void res.writeHead(404).end()
    const seconds = Number(url.searchParams.get('seconds') ?? 5)
    const concurrency = Number(url.searchParams.get('concurrency') ?? 1)
    const end = performance.now() + seconds * 1000
    let verified = 0
    let failed = 0
    const started = performance.now()
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          if (await verify(hash, password)) verified++
          else failed++
        }
      }),
    )
    sendJson(res, { verified, failed, seconds: (performance.now() - started) / 1000 })
  })
} else {
  throw new Error(`BENCH_MODE: unknown mode ${mode}`)
}

const stop = () => {
  server.close(() => void close().finally(() => process.exit(0)))
  ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
