import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getResponse, type RequestHandler } from 'msw'
import type { SetupServer } from 'msw/node'
import { SHIPPO_API, STRIPE_API } from './msw.js'

// Stripe and Shippo for an API running in another process (a dev server the test starts, kills and
// restarts): a node:http listener per provider that answers through the same stateful MSW handlers the
// in-process tests use (tests/support/stripe.ts, shippo.ts), via msw's getResponse. The child reaches them
// through STRIPE_API_BASE and SHIPPO_API_BASE.
//
// Every request is logged (provider, method, route with ids replaced by `:id`). A trap stops one request
// at a crash point: `before` — the request has arrived and the provider never acts; `after` — the
// provider acts (the refund is made, the label bought, the PaymentIntent created), and its answer is
// never sent. Either way the request is held open until the test kills the caller.

export type Provider = 'stripe' | 'shippo'

export interface ProviderRequest {
  provider: Provider
  method: string
  /** the path with ids replaced by `:id`, without the query: `POST /v1/refunds`, `GET /rates/:id` */
  route: string
  url: string
  idempotencyKey: string | null
  body: string
}

/** `stripe POST /v1/refunds` */
export const callName = (r: Pick<ProviderRequest, 'provider' | 'method' | 'route'>) =>
  `${r.provider} ${r.method} ${r.route}`

export type CrashWhen = 'before' | 'after'

interface Trap {
  call: string
  when: CrashWhen
  caught?: ProviderRequest
  arrived: (r: ProviderRequest) => void
}

const ORIGIN: Record<Provider, string> = { stripe: STRIPE_API, shippo: SHIPPO_API }

// Stripe ids (pi_..., re_...) and Shippo's 32-hex object ids
const ID_SEGMENT = /^(?:[a-z]{2,4}_[A-Za-z0-9]+|[0-9a-f]{32})$/

export function routeOf(pathname: string): string {
  const segments = pathname.replace(/\/+$/, '').split('/')
  return segments.map((s) => (ID_SEGMENT.test(s) ? ':id' : s)).join('/') || '/'
}

/** Collects the handlers fakeShippo() installs with `server.use`, for a server that is not MSW's. */
export function handlerSink(): { server: SetupServer; handlers: RequestHandler[] } {
  const handlers: RequestHandler[] = []
  const server = { use: (...h: RequestHandler[]) => handlers.unshift(...h) } as unknown as SetupServer
  return { server, handlers }
}

const HOP_BY_HOP = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive'])

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

export interface FakeProviders {
  /** STRIPE_API_BASE and SHIPPO_API_BASE for the child */
  env: { STRIPE_API_BASE: string; SHIPPO_API_BASE: string }
  /** every request so far, in arrival order */
  log: ProviderRequest[]
  /** requests no handler answered (a test should expect none) */
  unhandled: ProviderRequest[]
  /**
   * Arm a trap on the next request of `call` (`stripe POST /v1/refunds`). Resolves with the request once it
   * is caught: with `after`, once the provider has acted. Retries of a caught request (the same
   * Idempotency-Key) are held as well, without acting.
   */
  trap(call: string, when: CrashWhen): Promise<ProviderRequest>
  /** traps armed and not yet sprung */
  armed(): string[]
  /** let go of every held request (after their caller died); their keys are served normally again */
  release(): void
  close(): Promise<void>
}

export async function startFakeProviders(
  handlers: Record<Provider, RequestHandler[]>,
): Promise<FakeProviders> {
  const log: ProviderRequest[] = []
  const unhandled: ProviderRequest[] = []
  const traps: Trap[] = []
  const held = new Set<ServerResponse>()
  const caughtKeys = new Set<string>()

  const listen = async (provider: Provider) => {
    const server = createServer((req, res) => {
      serve(provider, req, res).catch((err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' })
        res.end(`fake ${provider}: ${String(err)}`)
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
  }

  async function serve(provider: Provider, req: IncomingMessage, res: ServerResponse) {
    const body = await readBody(req)
    const url = new URL(req.url ?? '/', ORIGIN[provider])
    const method = req.method ?? 'GET'
    const key = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : null
    const entry: ProviderRequest = {
      provider,
      method,
      route: routeOf(url.pathname),
      url: url.toString(),
      idempotencyKey: key,
      body,
    }
    log.push(entry)
    const hold = () => {
      held.add(res)
      res.on('close', () => held.delete(res))
    }
    // a retry (the SDK's) of a request caught at a crash point: the caller is about to die, it gets nothing
    if (key && caughtKeys.has(`${provider} ${key}`)) return hold()
    const trap = traps.find((t) => !t.caught && t.call === callName(entry))
    if (trap) {
      trap.caught = entry
      if (key) caughtKeys.add(`${provider} ${key}`)
    }
    if (trap?.when === 'before') {
      hold()
      trap.arrived(entry)
      return
    }
    const headers = new Headers()
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name)) continue
      headers.set(name, Array.isArray(value) ? value.join(', ') : value)
    }
    const request = new Request(url, {
      method,
      headers,
      ...(method === 'GET' || method === 'HEAD' ? {} : { body }),
    })
    const response = await getResponse(handlers[provider], request)
    if (trap) {
      // the provider acted; its answer never leaves
      hold()
      trap.arrived(entry)
      return
    }
    if (!response) {
      unhandled.push(entry)
      res.writeHead(501, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: `fake ${provider} has no handler for ${callName(entry)}` }))
      return
    }
    if (response.type === 'error') {
      res.destroy()
      return
    }
    const payload = Buffer.from(await response.arrayBuffer())
    const out: Record<string, string> = {}
    response.headers.forEach((v, k) => {
      if (!HOP_BY_HOP.has(k)) out[k] = v
    })
    out['content-length'] = String(payload.length)
    res.writeHead(response.status, out)
    res.end(payload)
  }

  const stripe = await listen('stripe')
  const shippo = await listen('shippo')

  return {
    env: { STRIPE_API_BASE: stripe.base, SHIPPO_API_BASE: shippo.base },
    log,
    unhandled,
    trap(call, when) {
      return new Promise((arrived) => traps.push({ call, when, arrived }))
    },
    armed: () => traps.filter((t) => !t.caught).map((t) => `${t.call} (${t.when})`),
    release() {
      for (const res of held) res.destroy()
      held.clear()
      // the callers are dead: the same key from now on is a recovery's, and the provider answers it
      caughtKeys.clear()
    },
    async close() {
      for (const res of held) res.destroy()
      await Promise.all(
        [stripe.server, shippo.server].map(
          (s) =>
            new Promise<void>((resolve) => {
              s.closeAllConnections()
              s.close(() => resolve())
            }),
        ),
      )
    },
  }
}
