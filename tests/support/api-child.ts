import { startSession } from '../../lib/auth/sessions.js'
import { setClock } from '../../lib/platform/clock.js'
import { getDb } from '../../lib/platform/db.js'
import { fetchChecked } from './contract.js'
import { type DevServer, startDevServer } from './dev-server.js'

// The API as a child process (`npm run dev` on the test file's database, which it inherits through
// DATABASE_URL) that a test kills and starts again, each time with its clock some minutes on
// (DEV_CLOCK_OFFSET_MS). The test's own clock follows, so the staff token it mints is valid on the
// child's clock.

export interface Req {
  method: string
  path: string
  token?: string
  /** Idempotency-Key */
  key?: string
  body?: unknown
  /** a body sent as is (a signed webhook) */
  raw?: string
  headers?: Record<string, string>
}

export function requestInit(r: Req): RequestInit {
  return {
    method: r.method,
    headers: {
      ...(r.body !== undefined || r.raw !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(r.token ? { authorization: `Bearer ${r.token}` } : {}),
      ...(r.key ? { 'idempotency-key': r.key } : {}),
      ...r.headers,
    },
    ...(r.raw !== undefined ? { body: r.raw } : r.body !== undefined ? { body: JSON.stringify(r.body) } : {}),
  }
}

export interface Answer {
  status: number
  headers: Headers
  text: string
  // biome-ignore lint/suspicious/noExplicitAny: answers are read loosely; the contract check validated them
  body: any
}

export class ApiChild {
  /** how far the child's clock is ahead of the real one */
  minutes = 0
  /** the staff account's access token, minted on the child's clock (tokens last 15 minutes) */
  staff = ''
  private dev: DevServer | undefined

  constructor(private readonly opts: { env: Record<string, string | undefined>; staffId: string }) {}

  /** A new child whose clock is `minutes` ahead; the test's clock moves with it. */
  async start(minutes: number): Promise<void> {
    this.minutes = minutes
    const offset = minutes * 60_000
    setClock(() => Date.now() + offset)
    this.dev = await startDevServer({ ...this.opts.env, DEV_CLOCK_OFFSET_MS: String(offset) })
    const session = await startSession(await getDb(), this.opts.staffId, {
      ip: '127.0.0.1',
      userAgent: 'api-child',
    })
    this.staff = session.access_token
  }

  /** SIGKILL: the process dies where it stands */
  kill = () => this.dev!.kill()
  stop = async () => {
    await this.dev?.stop()
    setClock(undefined)
  }

  /** The request, unchecked: for one whose server is about to die. */
  send = (r: Req): Promise<Response> => fetch(`${this.dev!.base}${r.path}`, requestInit(r))

  /** The request, its answer checked against the OpenAPI document. */
  async call(r: Req): Promise<Answer> {
    const res = await fetchChecked(`${this.dev!.base}${r.path}`, requestInit(r))
    const text = await res.text()
    return { status: res.status, headers: res.headers, text, body: text ? JSON.parse(text) : null }
  }
}
