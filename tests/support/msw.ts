import { delay, HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll } from 'vitest'

// Stripe, Shippo and Resend as the tests see them: MSW handlers answering with the providers' recorded
// shapes. Nothing reaches the internet: any request to another host fails the call (onUnhandledRequest
// 'error'). Loopback requests pass, because the service-backed suite reaches its local Upstash-REST proxy
// through fetch as well.

export const STRIPE_API = 'https://api.stripe.com'
export const SHIPPO_API = 'https://api.goshippo.com'
export const RESEND_API = 'https://api.resend.com'

/** Keys the fake providers accept. Anything else is answered the way the real service answers it. */
export const KEYS = {
  stripe: 'sk_test_51Health0000000000000000000000',
  shippo: 'shippo_test_0000000000000000000000000000health',
  resend: 're_Health00_FullAccess000000000000',
  /** A Resend key with "Sending access" only: it may send, not list domains. */
  resendSendingOnly: 're_Health00_SendingOnly00000000000',
} as const

export type Service = 'stripe' | 'shippo' | 'resend'

// --- Recorded shapes --------------------------------------------------------------------------------

export const stripeBalance = {
  object: 'balance',
  available: [{ amount: 0, currency: 'usd', source_types: { card: 0 } }],
  connect_reserved: [{ amount: 0, currency: 'usd' }],
  livemode: false,
  pending: [{ amount: 0, currency: 'usd', source_types: { card: 0 } }],
}

export const stripeInvalidKey = (key: string) => ({
  error: {
    message: `Invalid API Key provided: ${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}`,
    type: 'invalid_request_error',
  },
})

export const shippoCarrierAccounts = {
  next: null,
  previous: null,
  results: [
    {
      carrier: 'usps',
      object_id: 'b741b99f95e841639b54272834bc478c',
      object_owner: 'shop@example.com',
      account_id: 'shippo_usps_account',
      parameters: {},
      test: true,
      active: true,
      is_shippo_account: true,
      metadata: '',
      carrier_name: 'USPS',
      carrier_images: {
        '75': 'https://shippo-static.s3.amazonaws.com/providers/75/USPS.png',
        '200': 'https://shippo-static.s3.amazonaws.com/providers/200/USPS.png',
      },
    },
  ],
}

export const shippoInvalidToken = { detail: 'Invalid token.' }

export const resendDomains = {
  object: 'list',
  has_more: false,
  data: [
    {
      id: 'd91cd9bd-1176-453e-8fc1-35364d380206',
      name: 'example.com',
      status: 'verified',
      created_at: '2025-04-26T20:21:26.347412+00:00',
      region: 'us-east-1',
    },
  ],
}

export const resendRestrictedKey = {
  statusCode: 401,
  name: 'restricted_api_key',
  message: 'This API key is restricted to only send emails',
}

export const resendInvalidKey = { statusCode: 401, name: 'validation_error', message: 'API key is invalid' }

export const resendMissingKey = {
  statusCode: 401,
  name: 'missing_api_key',
  message: 'Missing API key in the authorization header.',
}

/** POST /emails accepted: Resend answers 200 with the new email's id. */
export const resendEmailSent = (id: string) => ({ id })

export const resendRateLimited = {
  statusCode: 429,
  name: 'rate_limit_exceeded',
  message:
    'Too many requests. You can only make 2 requests per second. See rate limit response headers for more information. Or contact support to increase rate limit.',
}

export const resendInvalidTo = {
  statusCode: 422,
  name: 'validation_error',
  message:
    'Invalid `to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.',
}

export const resendServerError = {
  statusCode: 500,
  name: 'application_error',
  message: 'An unexpected error occurred.',
}

// --- Handlers -----------------------------------------------------------------------------------------

const stripeHandler = http.get(`${STRIPE_API}/v1/balance`, ({ request }) => {
  const auth = request.headers.get('authorization') ?? ''
  if (auth === `Bearer ${KEYS.stripe}`) return HttpResponse.json(stripeBalance)
  return HttpResponse.json(stripeInvalidKey(auth.replace(/^Bearer /, '')), {
    status: 401,
    headers: { 'www-authenticate': 'Bearer realm="Stripe"' },
  })
})

// Shippo's list endpoint; MSW matches the path whatever the query (`?results=1`).
const shippoHandler = http.get(`${SHIPPO_API}/carrier_accounts/`, ({ request }) => {
  if (request.headers.get('authorization') === `ShippoToken ${KEYS.shippo}`) {
    return HttpResponse.json(shippoCarrierAccounts)
  }
  return HttpResponse.json(shippoInvalidToken, { status: 401 })
})

const resendHandler = http.get(`${RESEND_API}/domains`, ({ request }) => {
  const auth = request.headers.get('authorization')
  if (!auth) return HttpResponse.json(resendMissingKey, { status: 401 })
  if (auth === `Bearer ${KEYS.resend}`) return HttpResponse.json(resendDomains)
  if (auth === `Bearer ${KEYS.resendSendingOnly}`)
    return HttpResponse.json(resendRestrictedKey, { status: 401 })
  return HttpResponse.json(resendInvalidKey, { status: 401 })
})

export const handlers = [stripeHandler, shippoHandler, resendHandler]

const routes: Record<Service, { method: 'get'; url: string }> = {
  stripe: { method: 'get', url: `${STRIPE_API}/v1/balance` },
  shippo: { method: 'get', url: `${SHIPPO_API}/carrier_accounts/` },
  resend: { method: 'get', url: `${RESEND_API}/domains` },
}

/** The service's endpoint fails at the network level (connection reset / DNS failure). */
export const networkError = (service: Service) => http.get(routes[service].url, () => HttpResponse.error())

/** The service accepts the connection and never answers (the caller's timeout has to end it). */
export const hangs = (service: Service) =>
  http.get(routes[service].url, async () => {
    await delay('infinite')
    return HttpResponse.json({})
  })

/** The service answers with a server error. */
export const serverError = (service: Service, status = 503) =>
  http.get(routes[service].url, () => HttpResponse.json({ error: 'unavailable' }, { status }))

// --- Server -------------------------------------------------------------------------------------------

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1'])

export const server = setupServer(...handlers)

export interface OutboundRequest {
  service: Service | 'other'
  method: string
  url: string
  authorization: string | null
}

const seen: OutboundRequest[] = []

server.events.on('request:start', ({ request }) => {
  const url = new URL(request.url)
  if (LOOPBACK.has(url.hostname)) return
  const origin = url.origin
  const service: OutboundRequest['service'] =
    origin === STRIPE_API
      ? 'stripe'
      : origin === SHIPPO_API
        ? 'shippo'
        : origin === RESEND_API
          ? 'resend'
          : 'other'
  seen.push({
    service,
    method: request.method,
    url: request.url,
    authorization: request.headers.get('authorization'),
  })
})

/** Every non-loopback request MSW saw since the last reset, in order. */
export const outbound = (service?: Service): OutboundRequest[] =>
  service ? seen.filter((r) => r.service === service) : [...seen]

export const resetOutbound = (): void => {
  seen.length = 0
}

/** Start intercepting for this test file; handlers and the request log reset after each test. */
export function useMsw(): typeof server {
  beforeAll(() => {
    server.listen({
      onUnhandledRequest(request, print) {
        if (LOOPBACK.has(new URL(request.url).hostname)) return
        print.error()
      },
    })
  })
  afterEach(() => {
    server.resetHandlers()
    resetOutbound()
  })
  afterAll(() => {
    server.close()
  })
  return server
}
