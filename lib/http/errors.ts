import { isDatabaseUnavailable } from '../platform/db-errors.js'

// One error type with a code; one place that turns errors into RFC 9457 problem+json.

/** Seconds a client is asked to wait when the database cannot be reached. */
export const DATABASE_RETRY_AFTER_SECONDS = 5

export interface FieldError {
  path: string
  message: string
  code: string
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
}

export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail?: string,
    readonly extra: { errors?: FieldError[]; headers?: Record<string, string>; [k: string]: unknown } = {},
  ) {
    super(detail ?? code)
    this.name = 'ProblemError'
  }
}

export const badRequest = (code: string, detail?: string) => new ProblemError(400, code, detail)
export const unauthorized = (detail = 'Authentication is required.', code = 'unauthorized') =>
  new ProblemError(401, code, detail, { headers: { 'www-authenticate': 'Bearer' } })
export const forbidden = (detail = 'You are not allowed to do this.', code = 'forbidden') =>
  new ProblemError(403, code, detail)
export const notFound = (what = 'resource', code = 'not_found') =>
  new ProblemError(404, code, `The ${what} was not found.`)
export const conflict = (code: string, detail?: string) => new ProblemError(409, code, detail)
export const unprocessable = (errors: FieldError[], detail = 'The request has invalid fields.') =>
  new ProblemError(422, 'validation_failed', detail, { errors })

/** A 422 about one field; its code is the problem's code too (e.g. `variant_required`), unless `invalid`. */
export const fieldError = (path: string, message: string, code = 'invalid') =>
  new ProblemError(422, code === 'invalid' ? 'validation_failed' : code, message, {
    errors: [{ path, message, code }],
  })

export function problemBody(
  status: number,
  code: string,
  detail: string | undefined,
  requestId: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const { headers: _headers, ...rest } = extra
  return {
    type: `urn:commerce-api:problem:${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail: detail ?? TITLES[status] ?? 'Error',
    code,
    request_id: requestId,
    ...rest,
  }
}

export function problemResponse(
  status: number,
  code: string,
  detail: string | undefined,
  requestId: string,
  extra: Record<string, unknown> & { headers?: Record<string, string> } = {},
): Response {
  const headers = new Headers({ 'content-type': 'application/problem+json', 'x-request-id': requestId })
  for (const [k, v] of Object.entries(extra.headers ?? {})) headers.set(k, v)
  return new Response(JSON.stringify(problemBody(status, code, detail, requestId, extra)), {
    status,
    headers,
  })
}

/** Any thrown value as a Response. Unknown errors become a 500 that says nothing about internals. */
export function errorToResponse(err: unknown, requestId: string): Response {
  if (err instanceof ProblemError) {
    return problemResponse(err.status, err.code, err.detail, requestId, err.extra)
  }
  // The database is unreachable (refused, terminated, timed out): the client's request may well be fine
  // and worth retrying, so it is a 503 with Retry-After, never a 500.
  if (isDatabaseUnavailable(err)) {
    return problemResponse(
      503,
      'database_unavailable',
      'The database cannot be reached right now; try again shortly.',
      requestId,
      { headers: { 'retry-after': String(DATABASE_RETRY_AFTER_SECONDS) } },
    )
  }
  // PostgreSQL data exceptions (class 22: NUL bytes, unparseable dates, out-of-range values) come from
  // values a client sent; they are that client's 422, never a 500.
  const code = sqlState(err)
  if (code?.startsWith('22')) {
    return problemResponse(
      422,
      'invalid_value',
      'A value in the request cannot be stored or compared.',
      requestId,
    )
  }
  // A deadlock or serialization failure rolled the whole transaction back: nothing changed, and the same
  // request may succeed a moment later. A 409 the client can retry, not a 500.
  if (code === '40P01' || code === '40001') {
    return problemResponse(
      409,
      'concurrent_update',
      'Another request changed the same data at the same time; nothing was changed. Try again.',
      requestId,
      { headers: { 'retry-after': '1' } },
    )
  }
  return problemResponse(500, 'internal_error', 'Something went wrong on our side.', requestId)
}

function sqlState(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } }
  const code = typeof e?.cause?.code === 'string' ? e.cause.code : e?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}
