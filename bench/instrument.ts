// Counters for the bench's servers (never loaded by the product): HTTP requests served, SQL statements
// sent (wrapping the driver's client), Redis requests sent (wrapping fetch to the Upstash URL: a /pipeline
// or a script is one request), and of those the ones whose reply arrived before the request's response was
// handed back (AsyncLocalStorage), and how many round trips in a row those were (requests sent together
// count once). Work scheduled after the
// response (metrics) starts in the same tick but answers later, so it is not among them. Plus requests in
// flight and the process's CPU time. GET /__bench/stats answers them as JSON; bench/run.ts takes deltas around a run.
import { AsyncLocalStorage } from 'node:async_hooks'

export const STATS_PATH = '/__bench/stats'

export interface BenchStats {
  /**
   * Checkouts' hold on the stock rows (bench/flash-sale.ts), one entry per committed stock take, in ms:
   * from the end of the stock statement to the end of its COMMIT (the hold after the take, what the
   * statements after it add), and from its start (waiting for the row lock included). At most the last
   * 50,000 of each.
   */
  stockHold: { afterTakeMs: number[]; fromTakeMs: number[] }
  requests: number
  sql: number
  redis: number
  /** Redis requests of a request answered before its response was returned (afterResponse work excluded). */
  redisBeforeResponse: number
  /**
   * Of those, the ones that left while none of the same request's other Redis requests was in flight: the
   * round trips its response waited for one after another (requests sent together count once).
   */
  redisRoundTripsBeforeResponse: number
  /** HTTP requests being served now. */
  inFlight: number
  /** process.cpuUsage() user + system, microseconds. */
  cpuUs: number
  rssBytes: number
  heapUsedBytes: number
  /** process.getActiveResourcesInfo(): sockets, timers, handles (a leak grows it) */
  activeResources: number
}

const counters = {
  requests: 0,
  sql: 0,
  redis: 0,
  redisBeforeResponse: 0,
  redisRoundTripsBeforeResponse: 0,
  inFlight: 0,
}
const requestState = new AsyncLocalStorage<{ responded: boolean; redisInFlight: number }>()

const stockHold: BenchStats['stockHold'] = { afterTakeMs: [], fromTakeMs: [] }
const HOLD_KEEP = 50_000

export function stats(): BenchStats {
  const cpu = process.cpuUsage()
  return {
    ...counters,
    stockHold,
    cpuUs: cpu.user + cpu.system,
    rssBytes: process.memoryUsage.rss(),
    heapUsedBytes: process.memoryUsage().heapUsed,
    activeResources: process.getActiveResourcesInfo().length,
  }
}

/** The stock statement of lib/orders/stock.ts takeStock (its first UPDATE). */
const STOCK_TAKE = 'update products p set inventory_quantity = p.inventory_quantity - w.q'
type Timed = { __stockStart?: number; __stockEnd?: number }

/** Time the stock take and the COMMIT after it on one client (the driver's connection). */
function timeStockHold(client: Timed, text: string, reply: unknown): void {
  if (!(reply instanceof Promise)) return
  const started = performance.now()
  if (text.includes(STOCK_TAKE)) {
    client.__stockStart = started
    client.__stockEnd = undefined
    reply.then(
      () => {
        client.__stockEnd = performance.now()
      },
      () => {
        client.__stockStart = undefined
      },
    )
    return
  }
  const word = text.trim().toLowerCase()
  if (word === 'rollback') client.__stockStart = client.__stockEnd = undefined
  if (word !== 'commit' || client.__stockEnd === undefined || client.__stockStart === undefined) return
  const { __stockStart: start, __stockEnd: end } = client
  client.__stockStart = client.__stockEnd = undefined
  reply.then(
    () => {
      const done = performance.now()
      stockHold.afterTakeMs.push(done - end)
      stockHold.fromTakeMs.push(done - start)
      if (stockHold.afterTakeMs.length > HOLD_KEEP) {
        stockHold.afterTakeMs.shift()
        stockHold.fromTakeMs.shift()
      }
    },
    () => {},
  )
}

export const statsJson = (): string => JSON.stringify(stats())

/** Count one request served, running `fn` (which produces its response) in its own counting context. */
export async function serveCounted<T>(fn: () => Promise<T>): Promise<T> {
  counters.requests++
  counters.inFlight++
  const state = { responded: false, redisInFlight: 0 }
  return requestState.run(state, async () => {
    try {
      return await fn()
    } finally {
      state.responded = true
      counters.inFlight--
    }
  })
}

export const countSql = (n = 1): void => {
  counters.sql += n
}

function countRedis<T>(reply: Promise<T>): Promise<T> {
  counters.redis++
  const state = requestState.getStore()
  if (!state) return reply
  const roundTrip = state.redisInFlight === 0
  state.redisInFlight++
  return reply
    .then((r) => {
      if (!state.responded) {
        counters.redisBeforeResponse++
        if (roundTrip) counters.redisRoundTripsBeforeResponse++
      }
      return r
    })
    .finally(() => {
      state.redisInFlight--
    })
}

/** Every statement through the Neon driver: Pool.query and a checked-out client's query both end here. */
export async function countNeonStatements(): Promise<void> {
  const { Client } = await import('@neondatabase/serverless')
  const proto = Client.prototype as unknown as { query: (...args: unknown[]) => unknown }
  const original = proto.query
  proto.query = function (this: unknown, ...args: unknown[]) {
    countSql()
    const reply = original.apply(this, args)
    const first = args[0] as string | { text?: unknown } | undefined
    const text = typeof first === 'string' ? first : typeof first?.text === 'string' ? first.text : ''
    timeStockHold(this as Timed, text, reply)
    return reply
  }
}

/** Statements through PGlite's public query/exec (the bench's PGlite smoke run reads only). */
export async function countPgliteStatements(): Promise<void> {
  const { PGlite } = await import('@electric-sql/pglite')
  const proto = PGlite.prototype as unknown as Record<'query' | 'exec', (...args: unknown[]) => unknown>
  for (const name of ['query', 'exec'] as const) {
    const original = proto[name]
    proto[name] = function (this: unknown, ...args: unknown[]) {
      countSql()
      return original.apply(this, args)
    }
  }
}

/** Requests to the Upstash REST URL (the @upstash/redis client calls the global fetch). */
export function countUpstashRequests(upstashUrl: string | undefined): void {
  if (!upstashUrl) return
  const original = globalThis.fetch
  globalThis.fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
    return url.startsWith(upstashUrl) ? countRedis(original(input, init)) : original(input, init)
  }
}
