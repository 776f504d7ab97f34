// Upstash-REST-compatible HTTP server over a real Redis (via ioredis), for service-backed tests.
//   POST /            one command as a JSON array       -> { result } | { error } (HTTP 400)
//   POST /pipeline    array of commands                 -> [{ result } | { error }, ...]
//   POST /multi-exec  array of commands, one MULTI/EXEC -> [{ result } | { error }, ...]
// `Authorization: Bearer <token>` is required; `Upstash-Encoding: base64` base64-encodes string replies.
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { Redis, ReplyError } from 'ioredis'

export interface UpstashProxy {
  url: string
  token: string
  /**
   * The command names of every authorised request served, in order: one entry per HTTP request (one
   * round trip for the client), a pipeline's or transaction's commands together. Tests count round trips
   * with it; `requests.length = 0` starts a new count. Only kept with `record: true` (a long load test
   * would otherwise grow it without bound).
   */
  requests: string[][]
  /**
   * With `record: true`, each request of `requests` (same index) as a span on one counter of events: its
   * start (authorised, body read) and its end (reply sent). Two requests overlapped, neither waiting for
   * the other, when each started before the other ended.
   */
  spans: Array<{ start: number; end?: number }>
  /**
   * Hold every reply until `n` requests are in flight at once (then answer them all), or until `maxWaitMs`
   * has passed; for one round of requests. It makes overlap certain when a client sends `n` requests
   * together (none can be answered before the last has arrived), and a client that sends them one after
   * another only loses `maxWaitMs`: its spans show it.
   */
  holdUntilConcurrent(n: number, maxWaitMs?: number): void
  close(): Promise<void>
}

type Arg = string | number | boolean
interface Prepared {
  name: string
  args: string[]
  /** Rewrites the reply (SCRIPT LOAD answers with the hash of the script as the client sent it). */
  fix?: (reply: unknown) => unknown
}

class BadRequest extends Error {}

// @upstash/ratelimit >= 2.1 starts its scripts with an Upstash-only flag that real Redis rejects.
const UPSTASH_SHEBANG = /^#!lua flags=allow-key-locking\r?\n/
const sha1 = (text: string) => createHash('sha1').update(text).digest('hex')

/** Replies as Upstash sends them: integers as numbers, nil as null, arrays as arrays, strings (base64). */
function toJson(reply: unknown, base64: boolean, top = true): unknown {
  if (Buffer.isBuffer(reply)) {
    // The client decodes a top-level "OK" as is, but every string inside an array as base64.
    if (!base64 || (top && reply.toString() === 'OK')) return reply.toString()
    return reply.toString('base64')
  }
  if (Array.isArray(reply)) return reply.map((r) => toJson(r, base64, false))
  if (reply instanceof Error) return reply.message
  return reply ?? null
}

function isCommand(value: unknown): value is [Arg, ...Arg[]] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((a) => ['string', 'number', 'boolean'].includes(typeof a))
  )
}

export async function startUpstashProxy(
  opts: { port?: number; redisUrl?: string; token?: string; record?: boolean } = {},
): Promise<UpstashProxy> {
  const {
    port = 0,
    redisUrl = 'redis://127.0.0.1:6379',
    token = randomBytes(16).toString('hex'),
    record = false,
  } = opts
  // RESP2 like Upstash; upper-case names below also keep ioredis's reply transformers out of the way.
  const redis = new Redis(redisUrl, { protocol: 2, maxRetriesPerRequest: 1, lazyConnect: true })
  const onConnectError = () => {} // the rejected connect() below reports it
  redis.on('error', onConnectError)
  await redis.connect().catch((error: unknown) => {
    redis.disconnect()
    throw error
  })
  redis.off('error', onConnectError)
  const scriptShas = new Map<string, string>() // sha1(script as sent) -> sha1(script run by Redis)
  const requests: string[][] = []
  const spans: UpstashProxy['spans'] = []
  let clock = 0
  let inFlight = 0
  let hold: { n: number; release: () => void; released: Promise<void> } | undefined
  const waitForHold = async (): Promise<void> => {
    const h = hold
    if (!h) return
    if (inFlight >= h.n) {
      hold = undefined
      h.release()
    }
    await h.released
  }

  function strip(script: string): { script: string; fix?: Prepared['fix'] } {
    if (!UPSTASH_SHEBANG.test(script)) return { script }
    const stripped = script.replace(UPSTASH_SHEBANG, '')
    const original = sha1(script)
    scriptShas.set(original, sha1(stripped))
    return { script: stripped, fix: () => Buffer.from(original) }
  }

  function prepare(command: unknown): Prepared {
    if (!isCommand(command))
      throw new BadRequest('ERR a command is a non-empty JSON array of strings/numbers')
    const name = String(command[0]).toUpperCase()
    const args = command.slice(1).map(String)
    const sub = args[0]?.toUpperCase()
    if ((name === 'EVAL' || name === 'EVAL_RO') && args[0] !== undefined) {
      args[0] = strip(args[0]).script
    } else if ((name === 'EVALSHA' || name === 'EVALSHA_RO') && args[0] !== undefined) {
      args[0] = scriptShas.get(args[0].toLowerCase()) ?? args[0]
    } else if (name === 'SCRIPT' && sub === 'LOAD' && args[1] !== undefined) {
      const { script, fix } = strip(args[1])
      args[1] = script
      return { name, args, fix }
    } else if (name === 'SCRIPT' && sub === 'EXISTS') {
      return { name, args: args.map((a, i) => (i === 0 ? a : (scriptShas.get(a.toLowerCase()) ?? a))) }
    }
    return { name, args }
  }

  async function batch(body: unknown, transaction: boolean, base64: boolean): Promise<unknown[]> {
    if (!Array.isArray(body) || body.length === 0)
      throw new BadRequest('ERR expected a non-empty array of commands')
    const prepared = body.map(prepare)
    const chain = transaction ? redis.multi() : redis.pipeline()
    for (const { name, args } of prepared) chain.callBuffer(name, ...args)
    const replies = await chain.exec()
    if (replies === null) throw new Error('EXECABORT Transaction discarded')
    return replies.map(([error, reply], i) =>
      error ? { error: error.message } : { result: toJson(prepared[i]?.fix?.(reply) ?? reply, base64) },
    )
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, payload: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(payload))
    }
    if (req.headers.authorization !== `Bearer ${token}`) return send(401, { error: 'Unauthorized' })
    if (req.method !== 'POST') return send(405, { error: 'Method not allowed' })
    const path = new URL(req.url ?? '/', 'http://proxy').pathname.replace(/\/+$/, '')
    if (path !== '' && path !== '/pipeline' && path !== '/multi-exec')
      return send(404, { error: 'Not found' })

    const chunks: Buffer[] = []
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk)
    const base64 = String(req.headers['upstash-encoding']).toLowerCase() === 'base64'
    try {
      const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      const commands = path === '' ? [body] : Array.isArray(body) ? body : []
      if (record) {
        requests.push(commands.map((c) => (Array.isArray(c) ? String(c[0]).toUpperCase() : '?')))
        const span: { start: number; end?: number } = { start: clock++ }
        spans.push(span)
        res.once('finish', () => {
          span.end = clock++
        })
      }
      inFlight++
      res.once('close', () => inFlight--)
      await waitForHold()
      if (path !== '') return send(200, await batch(body, path === '/multi-exec', base64))
      const { name, args, fix } = prepare(body)
      const reply = await redis.callBuffer(name, ...args)
      send(200, { result: toJson(fix ? fix(reply) : reply, base64) })
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      const clientError =
        error instanceof ReplyError || error instanceof BadRequest || error instanceof SyntaxError
      send(clientError ? 400 : 500, { error: message })
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(JSON.stringify({ error: String(error) }))
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  }).catch((error: unknown) => {
    redis.disconnect()
    throw error
  })
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('upstash proxy: no TCP address')

  return {
    url: `http://127.0.0.1:${address.port}`,
    token,
    requests,
    spans,
    holdUntilConcurrent(n, maxWaitMs = 500) {
      let release = () => {}
      const released = new Promise<void>((resolve) => {
        release = resolve
      })
      const h = { n, release: () => {}, released }
      const timer = setTimeout(() => {
        if (hold === h) hold = undefined
        release()
      }, maxWaitMs)
      timer.unref()
      h.release = () => {
        clearTimeout(timer)
        release()
      }
      hold = h
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await redis.quit()
    },
  }
}
