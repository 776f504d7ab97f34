import { env } from '../platform/env.js'

// CORS for browser clients listed in CORS_ORIGINS (comma-separated origins, or `*`). Nothing is
// allowed when it is unset. Tokens travel in the Authorization header, never cookies, so no credentials.

const EXPOSED = 'x-request-id, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset, location'

export function allowedOrigin(request: Request): string | null {
  const origin = request.headers.get('origin')
  let setting: string | undefined
  try {
    setting = env().CORS_ORIGINS
  } catch {
    return null // invalid configuration: route() answers 503; allow no origin meanwhile
  }
  if (!origin || !setting) return null
  const list = setting.split(',').map((s) => s.trim().replace(/\/$/, ''))
  if (list.includes('*')) return '*'
  return list.includes(origin) ? origin : null
}

/** Headers for an actual (non-preflight) response. */
export function corsHeaders(request: Request): Record<string, string> {
  const origin = allowedOrigin(request)
  if (!origin) return {}
  return { 'access-control-allow-origin': origin, 'access-control-expose-headers': EXPOSED, vary: 'Origin' }
}

/** Preflight answer for a path serving `allow`. */
export function preflight(request: Request, allow: readonly string[]): Response {
  const headers = new Headers({ allow: allow.join(', '), 'cache-control': 'no-store' })
  const origin = allowedOrigin(request)
  if (origin) {
    headers.set('access-control-allow-origin', origin)
    headers.set('access-control-allow-methods', allow.join(', '))
    headers.set(
      'access-control-allow-headers',
      request.headers.get('access-control-request-headers') ?? 'authorization, content-type, idempotency-key',
    )
    headers.set('access-control-max-age', '600')
    headers.set('vary', 'Origin')
  }
  return new Response(null, { status: 204, headers })
}
