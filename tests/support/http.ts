import { fileURLToPath } from 'node:url'
import { setSocketAddress } from '../../lib/http/client.js'
import { createRouter, loadRoutes, type RouteFile } from '../../lib/http/router.js'
import { flushBackground } from '../../lib/platform/background.js'
import { assertMatchesContract } from './contract.js'

// In-process calls through the same file-system router the dev server uses.
export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

let routes: Promise<RouteFile[]> | undefined
export const allRoutes = (): Promise<RouteFile[]> => {
  routes ??= loadRoutes(ROOT)
  return routes
}

export interface CallOptions {
  body?: unknown
  rawBody?: string
  token?: string
  headers?: Record<string, string>
  /** The caller's socket address, as the local server records it (e.g. `127.0.0.1`). */
  socketAddress?: string
  /**
   * Every response is checked against the served OpenAPI document (tests/support/contract.ts). A test that
   * provokes a response outside the document on purpose says why here, and that one response is not.
   */
  outsideContract?: string
}

export interface CallResult {
  status: number
  headers: Headers
  text: string
  /** Parsed JSON body (problem+json included), or undefined. */
  body: any
}

export async function request(method: string, path: string, opts: CallOptions = {}): Promise<Response> {
  const headers = new Headers(opts.headers)
  if (opts.token) headers.set('authorization', `Bearer ${opts.token}`)
  let body: string | undefined = opts.rawBody
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body)
    if (!headers.has('content-type')) headers.set('content-type', 'application/json')
  }
  const router = createRouter(await allRoutes())
  const req = new Request(new URL(path, 'http://localhost'), { method, headers, body })
  setSocketAddress(req, opts.socketAddress)
  const res = await router(req)
  if (opts.outsideContract === undefined) {
    const text = await res.clone().text()
    assertMatchesContract({ method, url: req.url, status: res.status, headers: res.headers, text })
  } else if (!opts.outsideContract.trim()) {
    throw new Error('outsideContract needs the reason this response is outside the OpenAPI document')
  }
  return res
}

export async function call(method: string, path: string, opts: CallOptions = {}): Promise<CallResult> {
  const res = await request(method, path, opts)
  const text = await res.text()
  await flushBackground()
  const type = res.headers.get('content-type') ?? ''
  return {
    status: res.status,
    headers: res.headers,
    text,
    body: /json/.test(type) && text ? JSON.parse(text) : undefined,
  }
}
