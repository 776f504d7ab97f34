// The bench's stand-ins for Neon and Upstash, in a process of their own so their work does not share an
// event loop with the servers or the load generator: the WebSocket-to-TCP proxy in front of this machine's
// PostgreSQL (tests/support/ws-proxy.ts) and the Upstash REST server over this machine's Redis
// (tests/support/upstash-proxy.ts). Prints one JSON line with their addresses, then serves until SIGTERM.
// Usage (by bench/run.ts): tsx bench/services.ts   (TEST_PG_URL, TEST_REDIS_URL)
import { startUpstashProxy } from '../tests/support/upstash-proxy.js'
import { startWsProxy } from '../tests/support/ws-proxy.js'

const pg = new URL(process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')
const ws = await startWsProxy({ pgHost: pg.hostname, pgPort: Number(pg.port || 5432) })
const upstash = await startUpstashProxy({ redisUrl: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' })
console.log(JSON.stringify({ wsProxy: ws.url, upstashUrl: upstash.url, upstashToken: upstash.token }))

const stop = () => {
  Promise.all([ws.close(), upstash.close()]).finally(() => process.exit(0))
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
