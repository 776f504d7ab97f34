// Vercel's file-system routing, shared by the local router, route() and the OpenAPI document.
// `api/v1/products/[product_id].ts` serves /api/v1/products/<one segment>.

export interface PathPattern {
  path: string
  segments: ReadonlyArray<{ param: string } | { literal: string }>
  params: string[]
}

export function compilePath(path: string): PathPattern {
  const segments = path
    .split('/')
    .filter(Boolean)
    .map((s) => {
      const m = s.match(/^\[([a-z_][a-z0-9_]*)\]$/i)
      return m?.[1] ? { param: m[1] } : { literal: s }
    })
  return { path, segments, params: segments.flatMap((s) => ('param' in s ? [s.param as string] : [])) }
}

/** Match a request path; returns the decoded params or null. */
export function matchPath(p: PathPattern, pathname: string): Record<string, string> | null {
  const parts = pathname.split('/').filter(Boolean)
  if (parts.length !== p.segments.length) return null
  const params: Record<string, string> = {}
  for (let i = 0; i < parts.length; i++) {
    const seg = p.segments[i]!
    const part = parts[i]!
    if ('literal' in seg) {
      if (seg.literal !== part) return null
    } else {
      try {
        params[seg.param] = decodeURIComponent(part)
      } catch {
        return null
      }
    }
  }
  return params
}

/** The path of `p` with these (validated) values: the canonical form of a request's path. */
export function buildPath(p: PathPattern, params: Readonly<Record<string, unknown>>): string {
  const parts = p.segments.map((s) =>
    'literal' in s ? s.literal : encodeURIComponent(String(params[s.param] ?? '')),
  )
  return `/${parts.join('/')}`
}

// The canonical path of a request, set by route() once its params are validated (a UUID in any case
// becomes the lower-case id), so what is keyed by path (Idempotency-Key scopes) sees one form per resource.
const canonicalPaths = new WeakMap<Request, string>()
export const setCanonicalPath = (request: Request, path: string): void => {
  canonicalPaths.set(request, path)
}
export const canonicalPathOf = (request: Request): string =>
  canonicalPaths.get(request) ?? new URL(request.url).pathname

/** Static segments win over dynamic ones, earlier segments first (Vercel's precedence). */
export function comparePatterns(a: PathPattern, b: PathPattern): number {
  const n = Math.max(a.segments.length, b.segments.length)
  for (let i = 0; i < n; i++) {
    const sa = a.segments[i]
    const sb = b.segments[i]
    if (!sa || !sb) return a.segments.length - b.segments.length
    const da = 'param' in sa ? 1 : 0
    const db = 'param' in sb ? 1 : 0
    if (da !== db) return da - db
  }
  return 0
}

/** `/api/v1/products/[product_id]` -> `/api/v1/products/{product_id}` */
export const toOpenApiPath = (path: string): string => path.replace(/\[([^\]]+)\]/g, '{$1}')
