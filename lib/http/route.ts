import type { z } from 'zod'
import { type Later, principalFor, readAccessToken, sessionCacheKey } from '../auth/authenticate.js'
import type { Permission, Principal, Role } from '../auth/permissions.js'
import type { AccessClaims } from '../auth/tokens.js'
import { assertCronCaller } from '../cron/guard.js'
import { afterResponse } from '../platform/background.js'
import { nowMs } from '../platform/clock.js'
import { type Db, getDb } from '../platform/db.js'
import { ConfigError, deployedWarnings, env, missingRequiredSettings } from '../platform/env.js'
import { noteResponse } from '../platform/error-reporting.js'
import { requestId as newRequestId } from '../platform/ids.js'
import { log, safeError } from '../platform/logger.js'
import { recordRequest } from '../platform/metrics.js'
import { hitAndRead, type PolicyName, rateLimitHeaders, rateLimitsEnabled } from '../platform/ratelimit.js'
import { clientIp, userAgent } from './client.js'
import { corsHeaders } from './cors.js'
import { errorToResponse, forbidden, ProblemError, problemResponse, unauthorized } from './errors.js'
import { buildPath, compilePath, matchPath, type PathPattern, setCanonicalPath } from './path.js'
import { parseJson, queryObject, readBody, validate } from './validation.js'

// route(): the one wrapper every API function goes through. In order: request id, required settings,
// rate limit, authentication and authority, validation of params/query/body, the handler, one error
// mapper, one log line, metrics and error reporting (a 5xx, to Sentry) after the response. Its declaration is also the OpenAPI source.

export type AuthRequirement =
  | 'public'
  /** Public, but a valid token is looked at (e.g. staff see error details); a bad one is ignored. */
  | 'optional'
  | 'authenticated'
  /** Vercel cron targets: `Authorization: Bearer $CRON_SECRET` (lib/cron/guard.ts), no user token. */
  | 'cron'
  | { role: Role | readonly Role[] }
  | { permission: Permission }

type AnySchema = z.ZodType

export interface RouteSpec<
  P extends AnySchema = AnySchema,
  Q extends AnySchema = AnySchema,
  B extends AnySchema = AnySchema,
> {
  /** The file's path under the site root, e.g. `/api/v1/products/[product_id]`. */
  path: string
  summary: string
  description?: string
  tags: readonly string[]
  auth: AuthRequirement
  /** Named policy from lib/platform/ratelimit; `false` for none. Default `default`. */
  rateLimit?: PolicyName | false
  params?: P
  query?: Q
  body?: B
  /** Raw body instead of JSON (webhooks verify signatures over the exact bytes). */
  rawBody?: boolean
  /**
   * This route's body limit in bytes instead of MAX_BODY_BYTES (e.g. a bulk import). At most
   * VERCEL_MAX_BODY_BYTES: Vercel answers larger bodies itself, before the function runs.
   */
  maxBodyBytes?: number
  /**
   * Also accept a `text/csv` body: this function turns the CSV text into the shape of `body` (it throws a
   * ProblemError for CSV it cannot read), which is then validated like a JSON body.
   */
  csvBody?: (text: string) => unknown
  /** Schema of the success response, for the OpenAPI document. */
  response?: AnySchema
  /** Success status for the OpenAPI document (default 200). */
  status?: number
  /**
   * Content type of the success response when not JSON (e.g. Prometheus text), or every type it may
   * have (an export as CSV or JSON); a JSON type is documented with `response`, any other as text.
   */
  responseContentType?: string | readonly string[]
  /**
   * The path parameter this operation's new object fills (e.g. `order_id`): the document links its
   * response (`id`) to every operation taking that parameter (lib/openapi/links.ts).
   */
  creates?: string
  /**
   * Other documented responses besides the standard problem responses: a description (a 4xx or 5xx is
   * then problem+json), or a description and the schema of a JSON body (e.g. an unhealthy 503's report).
   */
  responses?: Record<number, string | { description: string; schema: AnySchema }>
  /** Set false for routes that must not touch the database before their handler runs. */
  db?: boolean
}

export interface Ctx<P, Q, B> {
  request: Request
  requestId: string
  url: URL
  params: P
  query: Q
  body: B
  rawBody: string
  db: Db
  principal: Principal | null
  ip: string
  userAgent: string | null
}

type Out<S> = S extends AnySchema ? z.output<S> : undefined

export type Handler = ((request: Request) => Promise<Response>) & {
  spec: RouteSpec
  method?: string
}

/** Vercel's own request body cap (4.5 MB); a route's maxBodyBytes may not exceed it. */
export const VERCEL_MAX_BODY_BYTES = 4_500_000

const JSON_TYPE = /^application\/([\w.+-]+\+)?json\b/i
const CSV_TYPE = /^text\/csv\b/i

let missingLogged = false
let warned = false

export function route<P extends AnySchema, Q extends AnySchema, B extends AnySchema>(
  spec: RouteSpec<P, Q, B>,
  handler: (ctx: Ctx<Out<P>, Out<Q>, Out<B>>) => Promise<Response>,
): Handler {
  if (
    spec.maxBodyBytes !== undefined &&
    !(spec.maxBodyBytes > 0 && spec.maxBodyBytes <= VERCEL_MAX_BODY_BYTES)
  ) {
    throw new Error(`${spec.path}: maxBodyBytes must be between 1 and ${VERCEL_MAX_BODY_BYTES}`)
  }
  const pattern = compilePath(spec.path)
  const fn = async (request: Request): Promise<Response> => {
    const started = nowMs()
    const requestId = newRequestId()
    let principal: Principal | null = null
    let response: Response
    // Work the response must not wait for (a session-cache fill), started once it is ready.
    const deferred: Array<() => Promise<unknown>> = []
    let thrown: unknown
    try {
      response = await run(spec, pattern, handler, request, requestId, {
        setPrincipal: (p) => {
          principal = p
        },
        later: (task) => void deferred.push(task),
      })
    } catch (err) {
      thrown = err
      response = errorToResponse(err, requestId)
      if (!(err instanceof ProblemError)) {
        const msg = response.status === 503 ? 'database unavailable' : 'unhandled error'
        log.error(msg, { request_id: requestId, route: spec.path, err: safeError(err) })
      }
    }
    response = finish(response, requestId, request)
    const ms = nowMs() - started
    const userId = (principal as Principal | null)?.userId ?? null
    log.info('request', {
      request_id: requestId,
      method: request.method,
      route: spec.path,
      status: response.status,
      ms,
      user_id: userId,
    })
    for (const task of deferred) afterResponse(task)
    afterResponse(() => recordRequest(spec.path, request.method, response.status, ms, requestId))
    const { status } = response
    noteResponse({ status, error: thrown, requestId, route: spec.path, method: request.method })
    return response
  }
  return Object.assign(fn, { spec: spec as RouteSpec })
}

async function run<P extends AnySchema, Q extends AnySchema, B extends AnySchema>(
  spec: RouteSpec<P, Q, B>,
  pattern: PathPattern,
  handler: (ctx: Ctx<Out<P>, Out<Q>, Out<B>>) => Promise<Response>,
  request: Request,
  requestId: string,
  { setPrincipal, later }: { setPrincipal: (p: Principal | null) => void; later: Later },
): Promise<Response> {
  const missing = safeMissingSettings()
  if (missing.length) {
    if (!missingLogged) log.error('refusing to serve: missing required settings', { settings: missing })
    missingLogged = true
    return problemResponse(
      503,
      'missing_configuration',
      `This deployment is missing required settings: ${missing.join(', ')}.`,
      requestId,
      { missing_settings: missing },
    )
  }

  if (!warned) {
    warned = true
    for (const w of deployedWarnings()) log.warn(w)
  }

  const url = new URL(request.url)
  const ip = clientIp(request)
  // Who is asking comes before what they sent: an anonymous bad request is a 401, not a 422. The token
  // is verified first (CPU only); then the rate limit is counted and the session state read from Redis,
  // both sent at once, so an authenticated request waits for one Redis round trip before its response on
  // a warm session cache (a miss reads Postgres and fills the cache after the response; ADR 011).
  const open = spec.auth === 'public' || spec.auth === 'optional'
  const db = spec.db !== false || !open ? await getDb() : (undefined as unknown as Db)
  const wantsToken =
    spec.auth !== 'public' &&
    spec.auth !== 'cron' &&
    (spec.auth !== 'optional' || request.headers.has('authorization'))
  let claims: AccessClaims | null = null
  let tokenError: unknown
  if (wantsToken) {
    try {
      claims = await readAccessToken(request)
    } catch (err) {
      tokenError = err
    }
  }
  const policyName = spec.rateLimit ?? 'default'
  const gate = await hitAndRead(
    policyName && rateLimitsEnabled() ? policyName : null,
    `ip:${ip}`,
    claims ? sessionCacheKey(claims.sid) : undefined,
  )

  let limitHeaders: Record<string, string> = {}
  if (gate.limit) {
    limitHeaders = rateLimitHeaders(gate.limit)
    if (!gate.limit.allowed) {
      throw new ProblemError(429, 'rate_limited', 'Too many requests; try again later.', {
        headers: limitHeaders,
      })
    }
  }
  const resolve = async () => (claims ? principalFor(db ?? (await getDb()), claims, gate.read, later) : null)

  let principal: Principal | null = null
  if (spec.auth === 'cron') {
    assertCronCaller(request, ip)
  } else if (spec.auth === 'optional') {
    principal = tokenError ? null : await resolve().catch(() => null)
  } else if (spec.auth !== 'public') {
    if (tokenError) throw tokenError
    principal = await resolve()
    authorize(spec.auth, principal)
  }
  setPrincipal(principal)

  const rawParams = matchPath(pattern, url.pathname) ?? {}
  const params = spec.params ? validate(spec.params, rawParams, 'params') : rawParams
  setCanonicalPath(request, buildPath(pattern, { ...rawParams, ...(params as Record<string, unknown>) }))
  const query = spec.query ? validate(spec.query, queryObject(url, pattern.params), 'query') : {}

  let rawBody = ''
  let body: unknown
  if (spec.body || spec.rawBody) {
    rawBody = await readBody(request, spec.maxBodyBytes ?? env().MAX_BODY_BYTES)
    if (spec.body) {
      const type = request.headers.get('content-type') ?? ''
      const csv = spec.csvBody && CSV_TYPE.test(type) ? spec.csvBody : undefined
      if (rawBody !== '' && !csv && !JSON_TYPE.test(type)) {
        const accepted = spec.csvBody ? 'application/json or text/csv' : 'application/json'
        throw new ProblemError(415, 'unsupported_media_type', `Send the body as ${accepted}.`)
      }
      body = validate(spec.body, csv ? csv(rawBody) : parseJson(rawBody), 'body')
    }
  }

  const response = await handler({
    request,
    requestId,
    url,
    params: params as Out<P>,
    query: query as Out<Q>,
    body: body as Out<B>,
    rawBody,
    db,
    principal,
    ip,
    userAgent: userAgent(request),
  })
  return withHeaders(response, limitHeaders)
}

/** Set headers, copying the response first when its headers are immutable (e.g. Response.redirect). */
function withHeaders(response: Response, headers: Record<string, string>): Response {
  const entries = Object.entries(headers)
  if (!entries.length) return response
  try {
    for (const [k, v] of entries) response.headers.set(k, v)
    return response
  } catch {
    const copy = new Response(response.body, response)
    for (const [k, v] of entries) copy.headers.set(k, v)
    return copy
  }
}

function authorize(
  req: Exclude<AuthRequirement, 'public' | 'optional' | 'cron'>,
  principal: Principal | null,
): void {
  if (!principal) throw unauthorized()
  if (typeof req === 'string') return
  if ('role' in req) {
    const roles = typeof req.role === 'string' ? [req.role] : req.role
    if (!roles.includes(principal.role)) throw forbidden()
  } else if (!principal.permissions.has(req.permission)) {
    throw forbidden(`This needs the ${req.permission} permission.`)
  }
}

function safeMissingSettings(): string[] {
  try {
    return missingRequiredSettings()
  } catch (err) {
    if (err instanceof ConfigError) return err.settings
    throw err
  }
}

function finish(response: Response, requestId: string, request: Request): Response {
  const cors = corsHeaders(request)
  // A handler's own Vary (e.g. Authorization on publicly cacheable reads) is kept beside CORS's Origin.
  const vary = response.headers.get('vary')
  if (vary && cors.vary) cors.vary = `${vary}, ${cors.vary}`
  return withHeaders(response, {
    ...cors,
    'x-request-id': requestId,
    'cache-control': response.headers.get('cache-control') ?? 'no-store',
    'x-content-type-options': 'nosniff',
  })
}

// Response helpers: the one way handlers answer.
export function json(data: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(data), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  })
}

export function noContent(headers: Record<string, string> = {}): Response {
  return new Response(null, { status: 204, headers })
}
