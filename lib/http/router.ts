import { readdirSync, statSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { pathToFileURL } from 'node:url'
import { requestId as newRequestId } from '../platform/ids.js'
import { problemResponse } from './errors.js'
import { comparePatterns, compilePath, matchPath, type PathPattern } from './path.js'

// The local stand-in for Vercel's file-system routing: every file under api/ is a function, named
// method exports are its handlers. Used by the dev server, the in-process tests and the OpenAPI export.

export const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const
export type RouteModule = Partial<Record<(typeof METHODS)[number], (request: Request) => Promise<Response>>>

export interface RouteFile {
  /** Path relative to the project root, e.g. `api/v1/products/[product_id].ts`. */
  file: string
  /** URL path, e.g. `/api/v1/products/[product_id]`. */
  path: string
  pattern: PathPattern
  module: RouteModule
}

const ROUTE_FILE = /\.(ts|js|mjs)$/

/** Files under `apiDir` that Vercel turns into functions: no `_` files or folders, no `.d.ts`. */
export function listRouteFiles(apiDir: string): string[] {
  const out: string[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('_') || name.startsWith('.')) continue
      const full = join(dir, name)
      if (statSync(full).isDirectory()) walk(full)
      else if (ROUTE_FILE.test(name) && !name.endsWith('.d.ts') && !/\.test\./.test(name)) out.push(full)
    }
  }
  walk(apiDir)
  return out
}

export function fileToPath(root: string, file: string): string {
  const rel = relative(root, file).split(sep).join('/').replace(ROUTE_FILE, '')
  const path = `/${rel}`.replace(/\/index$/, '')
  return path === '' ? '/' : path
}

export async function loadRoutes(root: string): Promise<RouteFile[]> {
  const files = listRouteFiles(join(root, 'api'))
  const routes = await Promise.all(
    files.map(async (full) => {
      const path = fileToPath(root, full)
      const module = (await import(pathToFileURL(full).href)) as RouteModule
      return { file: relative(root, full).split(sep).join('/'), path, pattern: compilePath(path), module }
    }),
  )
  return routes.sort((a, b) => comparePatterns(a.pattern, b.pattern))
}

/** Methods a module really serves (methods() fallbacks for 405/HEAD/OPTIONS excluded). */
export const allowedMethods = (m: RouteModule): string[] => {
  const own = METHODS.filter((x) => typeof m[x] === 'function' && !(m[x] as { fallback?: boolean }).fallback)
  return own.includes('GET') && !own.includes('HEAD') ? [...own, 'HEAD'] : own
}

/** Dispatch like Vercel: first matching file by precedence; unknown path 404, unknown method 405. */
export function createRouter(files: RouteFile[]): (request: Request) => Promise<Response> {
  const routes = [...files].sort((a, b) => comparePatterns(a.pattern, b.pattern))
  // Only a pattern with as many segments as the path can match it: look at those alone (in precedence
  // order), not at every file on every request.
  const bySegments = new Map<number, RouteFile[]>()
  for (const r of routes) {
    const n = r.pattern.segments.length
    bySegments.set(n, [...(bySegments.get(n) ?? []), r])
  }
  return async (request) => {
    const { pathname } = new URL(request.url)
    const path = pathname.replace(/\/+$/, '') || '/'
    const segments = path.split('/').filter(Boolean).length
    const found = bySegments.get(segments)?.find((r) => matchPath(r.pattern, path))
    if (!found) {
      return problemResponse(404, 'route_not_found', `No route matches ${pathname}.`, newRequestId())
    }
    const method = request.method.toUpperCase() as (typeof METHODS)[number]
    const handler = found.module[method]
    if (handler) return handler(request)
    if (method === 'HEAD' && found.module.GET) {
      const res = await found.module.GET(request)
      return new Response(null, { status: res.status, headers: res.headers })
    }
    const allow = allowedMethods(found.module).join(', ')
    return problemResponse(405, 'method_not_allowed', `${method} is not allowed here.`, newRequestId(), {
      headers: { allow },
      allowed_methods: allowedMethods(found.module),
    })
  }
}
