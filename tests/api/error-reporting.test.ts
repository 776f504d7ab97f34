import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { json, route } from '../../lib/http/route.js'
import { flushBackground } from '../../lib/platform/background.js'
import { errorReportingLoaded } from '../../lib/platform/error-reporting.js'
import { restoreEnv, setEnv } from '../support/env.js'
import { outbound, useMsw } from '../support/msw.js'
import { type FakeSentry, startFakeSentry } from '../support/sentry.js'

// Error reporting as Sentry would receive it: the DSN points at a stand-in for Sentry's ingest on this
// machine (tests/support/sentry.ts), so @sentry/node's own transport sends its envelopes there and the test
// reads exactly what would have left. MSW stands guard: nothing else may leave the machine.

useMsw()
let sentry: FakeSentry

beforeAll(async () => {
  sentry = await startFakeSentry()
})

afterAll(async () => {
  await sentry.close()
})

// Personal data and secrets a failing request carries; none of it may reach Sentry.
const EMAIL = 'ada.lovelace@example.com'
const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJzaWQiOiJzLTEifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg'
const REFRESH = 'Qm9keVNlY3JldFJlZnJlc2hUb2tlbjAxMjM0NTY3ODlhYmNkZWY'
const STREET = '12 Baker Street'
const POSTCODE = 'NW1 6XE'
const PHONE = '+44 20 7946 0958'
const PASSWORD = 'correct horse battery staple'
const COOKIE = 'sess_cookie_value_4f1c2b'
const QUERY_SECRET = 'query-secret-7d3a9e'
const NOTE = 'please leave the parcel with the neighbour'
const IP = '203.0.113.9'
const PERSONAL = [EMAIL, JWT, REFRESH, STREET, POSTCODE, PHONE, PASSWORD, COOKIE, QUERY_SECRET, NOTE, IP]

/** The error events Sentry sentry.envelopes. */
const events = () =>
  sentry.envelopes.flatMap((e) =>
    e.items.filter((i) => i.header.type === 'event').map((i) => i.payload as SentryEvent),
  )

interface SentryEvent {
  event_id: string
  level?: string
  message?: string | { formatted?: string }
  release?: string
  environment?: string
  tags?: Record<string, string>
  transaction?: string
  request?: unknown
  user?: unknown
  server_name?: string
  breadcrumbs?: unknown
  exception?: { values: Array<{ type: string; value: string }> }
}

beforeEach(() => {
  sentry.envelopes.length = 0
  setEnv({
    SENTRY_DSN: sentry.dsn,
    SENTRY_RELEASE: 'shop@4f2c9e1',
    SENTRY_ENVIRONMENT: 'test',
    VERCEL_GIT_COMMIT_SHA: undefined,
  })
})

afterEach(async () => {
  await flushBackground()
  restoreEnv()
})

const ORDER_PATH = '/api/v1/things/[thing_id]/ship'
const Body = z.object({ email: z.string(), address: z.object({ line1: z.string() }).passthrough() })

/** A route whose handler fails the way a bug would: an Error carrying the data it was working on. */
const failing = route(
  {
    path: ORDER_PATH,
    summary: 'test route',
    tags: ['test'],
    auth: 'public',
    rateLimit: false,
    db: false,
    body: Body.passthrough(),
  },
  async ({ body }) => {
    const cause = new Error(
      `Failed query: insert into shipments (email, line1) values ($1, $2)\nparams: ${body.email},${body.address.line1}`,
    )
    throw new Error(
      `could not ship to ${body.address.line1} ${POSTCODE} for ${body.email} (token ${REFRESH}, authorization=Bearer ${JWT}, phone ${PHONE})`,
      { cause },
    )
  },
)

function failingRequest(): Request {
  return new Request(`http://localhost/api/v1/things/7/ship?token=${QUERY_SECRET}&email=${EMAIL}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${JWT}`,
      cookie: `session=${COOKIE}`,
      'x-forwarded-for': IP,
    },
    body: JSON.stringify({
      email: EMAIL,
      password: PASSWORD,
      refresh_token: REFRESH,
      note: NOTE,
      address: { line1: STREET, postal_code: POSTCODE, phone: PHONE },
    }),
  })
}

describe('without SENTRY_DSN', () => {
  // First in this file: once a test with SENTRY_DSN has run, the SDK stays loaded in this process.
  it('never loads @sentry/node and sends nothing, even for a 500', async () => {
    setEnv({ SENTRY_DSN: undefined })
    const res = await failing(failingRequest())
    expect(res.status).toBe(500)
    await flushBackground()
    expect(errorReportingLoaded()).toBe(false)
    expect(sentry.envelopes).toEqual([])
    expect(outbound()).toEqual([])
  })
})

describe('with SENTRY_DSN set', () => {
  it('reports a thrown error with the request id, route pattern and release, after the response', async () => {
    const res = await failing(failingRequest())
    expect(res.status).toBe(500)
    const requestId = res.headers.get('x-request-id')
    expect(requestId).toMatch(/^req_/)

    await flushBackground() // the after-response work: start the SDK, capture, Sentry.flush(2000)
    const [event, ...others] = events()
    expect(others).toHaveLength(0)
    expect(event).toBeDefined()
    expect(event!.tags).toMatchObject({
      request_id: requestId,
      route: ORDER_PATH,
      method: 'POST',
      status: '500',
    })
    expect(event!.release).toBe('shop@4f2c9e1')
    expect(event!.environment).toBe('test')
    expect(event!.transaction).toBe(`POST ${ORDER_PATH}`)
    const [thrown] = event!.exception!.values.slice(-1)
    expect(thrown!.type).toBe('Error')
    expect(thrown!.value).toMatch(/^could not ship to \[address\]/)
    // The cause came along (linked errors), its bound parameters removed.
    expect(event!.exception!.values.map((v) => v.value).join('\n')).toContain('params: [redacted]')
    expect(outbound()).toEqual([]) // nothing but the (local) ingest was called
  })

  it('sends no email, token, address, phone, password, cookie, query secret or body text anywhere in the envelope', async () => {
    const res = await failing(failingRequest())
    expect(res.status).toBe(500)
    await flushBackground()
    expect(sentry.envelopes.length).toBeGreaterThan(0)
    const event = events()[0]!
    expect(event.request).toBeUndefined()
    expect(event.user).toBeUndefined()
    expect(event.server_name).toBeUndefined()
    expect(event.breadcrumbs).toBeUndefined()
    for (const envelope of sentry.envelopes) {
      for (const secret of PERSONAL) expect(envelope.raw).not.toContain(secret)
      // No email address of any kind (the envelope header names the DSN, whose public key has an @).
      expect(envelope.raw.replace(/"dsn":"[^"]*"/g, '')).not.toMatch(/[\w.+-]+@[\w-]+\.[\w.]+/)
    }
  })

  it('reports a 5xx answered without an exception as a message, with the same tags', async () => {
    const unavailable = route(
      { path: '/api/v1/things', summary: 's', tags: ['t'], auth: 'public', rateLimit: false, db: false },
      async () => json({ status: 'unhealthy' }, 503),
    )
    const res = await unavailable(new Request('http://localhost/api/v1/things'))
    expect(res.status).toBe(503)
    await flushBackground()
    const [event] = events()
    expect(event?.level).toBe('error')
    expect(JSON.stringify(event?.message)).toContain('GET /api/v1/things answered 503')
    expect(event?.tags).toMatchObject({ request_id: res.headers.get('x-request-id'), status: '503' })
  })

  it('reports nothing for a client error', async () => {
    const res = await failing(
      new Request('http://localhost/api/v1/things/7/ship', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"email": 1}',
      }),
    )
    expect(res.status).toBe(422)
    await flushBackground()
    expect(events()).toEqual([])
  })
})
