import { requestId as newRequestId } from '../platform/ids.js'
import { preflight } from './cors.js'
import { problemResponse } from './errors.js'
import type { Handler } from './route.js'

// Vercel answers a method a function does not export with a bare 405 (no problem+json, no Allow) and
// has no HEAD-from-GET or OPTIONS. So every route file exports all methods through methods():
//   export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({ GET: route(...) })

export const HTTP_METHODS = ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'] as const
export type HttpMethod = (typeof HTTP_METHODS)[number]
type Declared = Partial<Record<'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', Handler>>

export type MethodHandler = ((request: Request) => Promise<Response>) & {
  fallback?: true
  spec?: Handler['spec']
}

const fallback = (fn: (request: Request) => Promise<Response>): MethodHandler =>
  Object.assign(fn, { fallback: true as const })

export function methods(declared: Declared): Record<HttpMethod, MethodHandler> {
  const own = (Object.keys(declared) as Array<keyof Declared>).filter((m) => declared[m])
  const allow = [...own, ...(declared.GET ? ['HEAD'] : []), 'OPTIONS']
  const notAllowed = fallback(async (request) =>
    problemResponse(405, 'method_not_allowed', `${request.method} is not allowed here.`, newRequestId(), {
      headers: { allow: allow.join(', ') },
      allowed_methods: allow,
    }),
  )
  const get = declared.GET
  const head = get
    ? fallback(async (request) => {
        const res = await get(new Request(request, { method: 'GET' }))
        return new Response(null, { status: res.status, headers: res.headers })
      })
    : notAllowed
  return {
    GET: declared.GET ?? notAllowed,
    POST: declared.POST ?? notAllowed,
    PUT: declared.PUT ?? notAllowed,
    PATCH: declared.PATCH ?? notAllowed,
    DELETE: declared.DELETE ?? notAllowed,
    HEAD: head,
    OPTIONS: fallback(async (request) => preflight(request, allow)),
  }
}
