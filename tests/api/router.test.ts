import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { comparePatterns, compilePath } from '../../lib/http/path.js'
import { createRouter, fileToPath, listRouteFiles, METHODS, type RouteFile } from '../../lib/http/router.js'
import { allRoutes, call, ROOT } from '../support/http.js'

// The local stand-in for Vercel's file-system routing, and the real api/ tree it serves.

/** A RouteFile whose GET answers with its own file name, so a test can see which file won. */
function fakeRoute(file: string, methods: readonly string[] = ['GET']): RouteFile {
  const path = fileToPath('/project', `/project/${file}`)
  const module = Object.fromEntries(methods.map((m) => [m, async () => new Response(file)]))
  return { file, path, pattern: compilePath(path), module }
}

const dispatch = async (routes: RouteFile[], method: string, path: string) => {
  const res = await createRouter(routes)(new Request(new URL(path, 'http://localhost'), { method }))
  return { status: res.status, headers: res.headers, text: await res.text() }
}

describe('dispatch through the real api/ tree', () => {
  it('answers 404 problem+json route_not_found for an unknown path', async () => {
    const res = await call('GET', '/api/v1/no-such-thing')
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(res.body).toMatchObject({ status: 404, code: 'route_not_found' })
    expect(res.body.request_id).toBe(res.headers.get('x-request-id'))
  })

  it('answers 405 with an Allow header for a method the file does not export', async () => {
    const res = await call('DELETE', '/api/v1/health')
    expect(res.status).toBe(405)
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    const allow = (res.headers.get('allow') ?? '').split(/,\s*/)
    expect(allow).toEqual(expect.arrayContaining(['GET', 'HEAD']))
    expect(allow).not.toContain('DELETE')
    expect(allow).not.toContain('POST')
    expect(res.body).toMatchObject({ code: 'method_not_allowed', allowed_methods: allow })
  })

  it('answers HEAD on a GET route with its status and headers but no body', async () => {
    const get = await call('GET', '/api/v1/health')
    const head = await call('HEAD', '/api/v1/health')
    expect(get.status).toBe(200)
    expect(get.text).not.toBe('')
    expect(head.status).toBe(200)
    expect(head.text).toBe('')
    expect(head.headers.get('content-type')).toBe(get.headers.get('content-type'))
    expect(head.headers.get('x-request-id')).toMatch(/^req_/)
  })

  it('serves a path with a trailing slash like the path without it', async () => {
    expect((await call('GET', '/api/v1/health/')).status).toBe(200)
  })
})

describe('precedence', () => {
  const dynamic = fakeRoute('api/v1/orders/[order_id].ts')
  const exported = fakeRoute('api/v1/orders/export.ts')

  it('sorts a static file before a dynamic one', () => {
    expect(comparePatterns(exported.pattern, dynamic.pattern)).toBeLessThan(0)
    expect(comparePatterns(dynamic.pattern, exported.pattern)).toBeGreaterThan(0)
    expect(
      [dynamic, exported].sort((a, b) => comparePatterns(a.pattern, b.pattern)).map((r) => r.file),
    ).toEqual(['api/v1/orders/export.ts', 'api/v1/orders/[order_id].ts'])
  })

  it('sends /orders/export to export.ts and any other id to [order_id].ts', async () => {
    const routes = [exported, dynamic]
    expect((await dispatch(routes, 'GET', '/api/v1/orders/export')).text).toBe('api/v1/orders/export.ts')
    expect((await dispatch(routes, 'GET', '/api/v1/orders/123')).text).toBe('api/v1/orders/[order_id].ts')
  })

  it('lets the static file win whatever order the files are listed in', async () => {
    // Directory order: '[' sorts before 'e', so a plain listing puts [order_id].ts first.
    const routes = [dynamic, exported]
    expect((await dispatch(routes, 'GET', '/api/v1/orders/export')).text).toBe('api/v1/orders/export.ts')
  })

  it('answers 405 from the file that matched, not from a dynamic sibling with that method', async () => {
    const routes = [
      fakeRoute('api/v1/orders/export.ts'),
      fakeRoute('api/v1/orders/[order_id].ts', ['GET', 'DELETE']),
    ]
    const res = await dispatch(routes, 'DELETE', '/api/v1/orders/export')
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('GET, HEAD')
  })
})

describe('method fallbacks of the router', () => {
  it('answers HEAD from a file that exports only GET, without a body', async () => {
    const routes = [fakeRoute('api/v1/things/index.ts')]
    const res = await dispatch(routes, 'HEAD', '/api/v1/things')
    expect(res.status).toBe(200)
    expect(res.text).toBe('')
  })

  it('answers 405 with Allow listing GET and HEAD for a file that exports only GET', async () => {
    const res = await dispatch([fakeRoute('api/v1/things/index.ts')], 'POST', '/api/v1/things')
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('GET, HEAD')
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  })

  it('answers 404 route_not_found for a path no file matches', async () => {
    const res = await dispatch([fakeRoute('api/v1/things/index.ts')], 'GET', '/api/v1/other')
    expect(res.status).toBe(404)
    expect(JSON.parse(res.text)).toMatchObject({ code: 'route_not_found' })
  })
})

describe('route files', () => {
  let root: string

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'router-test-'))
    for (const file of [
      'api/index.ts',
      'api/v1/health/index.ts',
      'api/v1/health/redis.ts',
      'api/v1/openapi.json.ts',
      'api/v1/products/[product_id].ts',
      'api/v1/products/[product_id]/variants/[variant_id].ts',
      'api/v1/_private.ts',
      'api/v1/_lib/helper.ts',
      'api/v1/products/_shared/schema.ts',
      'api/v1/.hidden.ts',
      'api/v1/types.d.ts',
      'api/v1/products/products.test.ts',
      'api/v1/README.md',
    ]) {
      const full = join(root, file)
      mkdirSync(dirname(full), { recursive: true })
      writeFileSync(full, 'export {}\n')
    }
  })

  afterAll(() => rmSync(root, { recursive: true, force: true }))

  it('lists only files that become functions: no _ files or folders, no dotfiles, types, tests or docs', () => {
    const files = listRouteFiles(join(root, 'api')).map((f) =>
      f
        .slice(root.length + 1)
        .split('\\')
        .join('/'),
    )
    expect(files.sort()).toEqual(
      [
        'api/index.ts',
        'api/v1/health/index.ts',
        'api/v1/health/redis.ts',
        'api/v1/openapi.json.ts',
        'api/v1/products/[product_id].ts',
        'api/v1/products/[product_id]/variants/[variant_id].ts',
      ].sort(),
    )
  })

  it('maps a file to its URL path, index.ts to its folder', () => {
    const path = (file: string) => fileToPath(root, join(root, file))
    expect(path('api/v1/health/index.ts')).toBe('/api/v1/health')
    expect(path('api/index.ts')).toBe('/api')
    expect(path('api/v1/health/redis.ts')).toBe('/api/v1/health/redis')
    expect(path('api/v1/openapi.json.ts')).toBe('/api/v1/openapi.json')
    expect(path('api/v1/products/[product_id]/variants/[variant_id].ts')).toBe(
      '/api/v1/products/[product_id]/variants/[variant_id]',
    )
  })
})

describe('the real api/ tree', () => {
  let routes: RouteFile[]

  beforeAll(async () => {
    routes = await allRoutes()
  })

  it('loads every route file', () => {
    expect(routes.length).toBeGreaterThan(0)
    expect(routes.map((r) => r.file)).toContain('api/v1/metrics/business.ts')
    expect(listRouteFiles(join(ROOT, 'api'))).toHaveLength(routes.length)
  })

  it('declares in route() the same path the file serves', () => {
    const mismatches: string[] = []
    let checked = 0
    for (const r of routes) {
      for (const m of METHODS) {
        const spec = (r.module[m] as { spec?: { path: string } } | undefined)?.spec
        if (!spec) continue
        checked++
        if (spec.path !== r.path) mismatches.push(`${m} ${r.file}: declares ${spec.path}, serves ${r.path}`)
      }
    }
    expect(checked).toBeGreaterThan(0)
    expect(mismatches).toEqual([])
  })

  it('exports at least one method from every route file', () => {
    const empty = routes
      .filter((r) => !METHODS.some((m) => typeof r.module[m] === 'function'))
      .map((r) => r.file)
    expect(empty).toEqual([])
  })

  it('never maps two files to one path', () => {
    const seen = new Map<string, string>()
    const dupes: string[] = []
    for (const r of routes) {
      const shape = r.pattern.segments.map((s) => ('param' in s ? '[]' : s.literal)).join('/')
      const prev = seen.get(shape)
      if (prev) dupes.push(`${prev} and ${r.file}`)
      seen.set(shape, r.file)
    }
    expect(dupes).toEqual([])
  })

  it('uses one placeholder name per position under a resource', () => {
    const names = new Map<string, Set<string>>()
    for (const r of routes) {
      r.pattern.segments.forEach((s, i) => {
        if (!('param' in s)) return
        const prefix = r.pattern.segments
          .slice(0, i)
          .map((p) => ('param' in p ? '[]' : p.literal))
          .join('/')
        names.set(prefix, (names.get(prefix) ?? new Set()).add(s.param))
      })
    }
    const clashes = [...names]
      .filter(([, set]) => set.size > 1)
      .map(([prefix, set]) => `${prefix}: ${[...set]}`)
    expect(clashes).toEqual([])
  })

  it('answers every declared GET path (no route is shadowed by another file)', () => {
    const shadowed: string[] = []
    for (const r of routes) {
      const concrete = r.pattern.segments.map((s) => ('param' in s ? 'x' : s.literal)).join('/')
      const winner = routes.find((o) => {
        const parts = concrete.split('/')
        return (
          o.pattern.segments.length === parts.length &&
          o.pattern.segments.every((s, i) => 'param' in s || s.literal === parts[i])
        )
      })
      if (winner !== r && winner?.pattern.path !== r.pattern.path)
        shadowed.push(`${r.file} by ${winner?.file}`)
    }
    expect(shadowed).toEqual([])
  })
})
