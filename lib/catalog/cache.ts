import { createHash } from 'node:crypto'
import { json } from '../http/route.js'

// Storefront reads by anonymous callers are the same for everyone: the CDN may keep them for a minute
// and serve them stale while it revalidates, and an ETag lets a client revalidate for a 304. Anything a
// signed-in caller reads may depend on who they are (staff fields, hidden products), so it stays
// `no-store` (route() sets that when the handler set no cache-control).

export const PUBLIC_CACHE = 'public, s-maxage=60, stale-while-revalidate=300'

/** Anonymous = no Authorization header at all (an invalid token is not a public request either). */
export const isAnonymous = (request: Request): boolean => !request.headers.has('authorization')

const etagOf = (body: string) => `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`

function matches(ifNoneMatch: string | null, etag: string): boolean {
  if (!ifNoneMatch) return false
  if (ifNoneMatch.trim() === '*') return true
  return ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)
}

/** JSON for a catalog read: publicly cacheable with an ETag (and 304) for anonymous callers. */
export function catalogJson(request: Request, data: unknown): Response {
  if (!isAnonymous(request)) return json(data)
  const body = JSON.stringify(data)
  const etag = etagOf(body)
  const headers = { etag, 'cache-control': PUBLIC_CACHE, vary: 'Authorization' }
  if (matches(request.headers.get('if-none-match'), etag)) return new Response(null, { status: 304, headers })
  return new Response(body, {
    status: 200,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  })
}
