// The app as `npm run dev` serves it (the @hono/node-server adapter in front of createRouter(loadRoutes),
// the socket address recorded for clientIp), instrumented for the bench: statements through the database
// driver and requests to Upstash are counted (bench/instrument.ts), and GET /__bench/stats, answered before
// the router, reports the counters and this process's CPU time. No migration or demo seed: bench/run.ts
// prepares the database. Usage (by bench/run.ts): PORT=… DATABASE_URL=… tsx bench/server.ts
import { fileURLToPath } from 'node:url'
import { serve } from '@hono/node-server'
import { setSocketAddress } from '../lib/http/client.js'
import { createRouter, loadRoutes } from '../lib/http/router.js'
import { closeDatabase, getDb } from '../lib/platform/db.js'
import {
  countNeonStatements,
  countPgliteStatements,
  countUpstashRequests,
  STATS_PATH,
  serveCounted,
  statsJson,
} from './instrument.js'

if (process.env.DATABASE_URL) await countNeonStatements()
else await countPgliteStatements()
countUpstashRequests(process.env.UPSTASH_REDIS_REST_URL)

const root = fileURLToPath(new URL('..', import.meta.url))
const router = createRouter(await loadRoutes(root))
await getDb() // connect (and, for PGlite, migrate) before the first measured request

const server = serve({
  port: Number(process.env.PORT),
  hostname: '127.0.0.1',
  fetch: (request: Request, nodeEnv: { incoming?: { socket?: { remoteAddress?: string } } }) => {
    if (request.url.endsWith(STATS_PATH)) {
      return new Response(statsJson(), { headers: { 'content-type': 'application/json' } })
    }
    return serveCounted(() => {
      setSocketAddress(request, nodeEnv.incoming?.socket?.remoteAddress)
      return router(request)
    })
  },
})

const stop = () => {
  server.close()
  closeDatabase().finally(() => process.exit(0))
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
