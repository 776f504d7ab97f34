import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DetailedHealthSchema, LivenessSchema } from '../../lib/monitoring/schemas.js'
import { SCALAR_BUNDLE_PATH } from '../../lib/openapi/reference-page.js'
import { configureNeonDriver, migrateNeon } from '../../lib/platform/db.js'
import { startFakeSentry } from '../support/sentry.js'
import { startWsProxy, type WsProxy } from '../support/ws-proxy.js'

// The Vercel build output, as deployed: `npm run build:vercel` first, then `npm run test:build`.
// Every built function runs in a child `node` process of its own with a clean environment, importing the
// compiled handler from its .func directory natively (no vitest transform, no env cache shared between
// cases), and calling its named method export with a Web Request, as Vercel's Node runtime does.
// The functions are copied out of the project first: inside it, a package missing from a bundle would
// silently resolve from the project's own node_modules.

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const FUNCS = join(ROOT, '.vercel/output/functions')
const METHODS = ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'DELETE', 'PATCH']
const RESULT = '@@vercel-function-result@@'
const run = promisify(execFile)

// Built functions run as in production: the Neon driver over WebSocket, here to this machine's PostgreSQL
// through the test proxy, on a database migrated for this run (PGlite is not in deployed bundles). No
// Redis and no provider keys: those answer not_configured.
const LOCAL_ENV: Record<string, string> = { NODE_ENV: 'test', LOG_LEVEL: 'silent' }
const PG = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const BUILD_DB = `commerce_build_${process.pid}`
let proxy: WsProxy | undefined

// Runs in the child: argv = [handler file, method, url, "list" | "call", JSON body or ""]. Also reports
// whether the argon2 addon (CommonJS, so in require's cache once loaded) was loaded at import and after
// the call. The call's after-response work (waitUntil) is awaited before the child reports.
const CHILD = `
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
const [file, method, url, mode, body] = process.argv.slice(1)
const argon2Loaded = () => Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('/@node-rs/argon2'))
// Vercel's request context, where @vercel/functions' waitUntil finds it: after-response work runs to its end.
const afterResponse = []
globalThis[Symbol.for('@vercel/request-context')] = { get: () => ({ waitUntil: (p) => void afterResponse.push(p) }) }
const t0 = performance.now()
const mod = await import(pathToFileURL(file).href)
const out = { exports: Object.keys(mod).sort(), load_ms: Math.round(performance.now() - t0), argon2_at_import: argon2Loaded() }
if (mode === 'call') {
  const init = body ? { method, body, headers: { 'content-type': 'application/json' } } : { method }
  const res = await mod[method](new Request(url, init))
  out.status = res.status
  out.headers = Object.fromEntries(res.headers)
  out.body = await res.text()
  out.argon2_after_call = argon2Loaded()
}
while (afterResponse.length) await Promise.allSettled(afterResponse.splice(0))
await new Promise((r) => setTimeout(r, 20))
process.stdout.write('\\n${RESULT}' + JSON.stringify(out) + '\\n')
process.exit(0)
`

interface VcConfig {
  handler: string
  runtime: string
  launcherType: string
  shouldAddHelpers?: boolean
}

interface ChildResult {
  exports: string[]
  load_ms: number
  argon2_at_import: boolean
  argon2_after_call?: boolean
  status?: number
  headers?: Record<string, string>
  body?: string
}

function walk(dir: string, pick: (path: string, isDir: boolean) => 'take' | 'descend' | 'skip'): string[] {
  const found: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    const what = pick(path, entry.isDirectory())
    if (what === 'take') found.push(path)
    else if (what === 'descend' && entry.isDirectory()) found.push(...walk(path, pick))
  }
  return found.sort()
}

/** Route files as Vercel sees them: no segment starting with `_` or `.`, no declaration files. */
function routeFiles(): string[] {
  return walk(join(ROOT, 'api'), (path, isDir) => {
    const name = path.slice(path.lastIndexOf(sep) + 1)
    if (name.startsWith('_') || name.startsWith('.')) return 'skip'
    if (isDir) return 'descend'
    return /\.(ts|mts|js|mjs|cjs)$/.test(name) && !name.endsWith('.d.ts') ? 'take' : 'skip'
  }).map((p) => relative(ROOT, p).split(sep).join('/'))
}

function builtFunctions(): string[] {
  return walk(FUNCS, (path, isDir) => (!isDir ? 'skip' : path.endsWith('.func') ? 'take' : 'descend')).map(
    (p) =>
      relative(FUNCS, p)
        .split(sep)
        .join('/')
        .replace(/\.func$/, ''),
  )
}

// Where the functions run: a copy outside the project (see above), made in beforeAll.
let runDir = ''
const funcDir = (name: string) => join(runDir || FUNCS, `${name}.func`)

function vcConfig(name: string): VcConfig {
  return JSON.parse(readFileSync(join(funcDir(name), '.vc-config.json'), 'utf8')) as VcConfig
}

async function invoke(
  name: string,
  opts: {
    method?: string
    path?: string
    env?: Record<string, string>
    mode?: 'list' | 'call'
    body?: unknown
  } = {},
): Promise<ChildResult> {
  const dir = funcDir(name)
  const { handler } = vcConfig(name)
  const url = `http://localhost${opts.path ?? `/${name.replace(/\/index$/, '')}`}`
  const { stdout } = await run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      CHILD,
      join(dir, handler),
      opts.method ?? 'GET',
      url,
      opts.mode ?? 'call',
      opts.body === undefined ? '' : JSON.stringify(opts.body),
    ],
    // On Vercel the function's working directory is its own root (/var/task).
    {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', ...(opts.env ?? LOCAL_ENV) },
      timeout: 50_000,
      maxBuffer: 16 * 1024 * 1024,
    },
  )
  const line = stdout.split('\n').find((l) => l.startsWith(RESULT))
  if (!line) throw new Error(`no result from ${name}; stdout:\n${stdout}`)
  return JSON.parse(line.slice(RESULT.length)) as ChildResult
}

async function withAdmin<T>(fn: (query: (sql: string) => Promise<unknown>) => Promise<T>): Promise<T> {
  const { Pool } = await import('@neondatabase/serverless')
  const admin = new Pool({ connectionString: PG, max: 1 })
  try {
    return await fn((sql) => admin.query(sql))
  } finally {
    await admin.end()
  }
}

beforeAll(async () => {
  if (!existsSync(FUNCS)) {
    throw new Error(`${FUNCS} does not exist: run \`npm run build:vercel\` before \`npm run test:build\``)
  }
  const tmp = mkdtempSync(join(tmpdir(), 'vercel-functions-'))
  cpSync(FUNCS, join(tmp, 'functions'), { recursive: true, verbatimSymlinks: true })
  runDir = join(tmp, 'functions')

  proxy = await startWsProxy({ pgHost: new URL(PG).hostname, pgPort: Number(new URL(PG).port || 5432) })
  process.env.NEON_WS_PROXY = proxy.url
  await configureNeonDriver(proxy.url)
  await withAdmin(async (q) => {
    await q(`drop database if exists ${BUILD_DB}`)
    await q(`create database ${BUILD_DB}`)
  })
  const url = Object.assign(new URL(PG), { pathname: `/${BUILD_DB}` }).toString()
  await migrateNeon(url)
  Object.assign(LOCAL_ENV, { DATABASE_URL: url, NEON_WS_PROXY: proxy.url })
})

afterAll(async () => {
  if (runDir) rmSync(join(runDir, '..'), { recursive: true, force: true })
  if (proxy) {
    await withAdmin((q) => q(`drop database if exists ${BUILD_DB} with (force)`)).catch(() => undefined)
    await proxy.close()
  }
})

describe('vercel build output', () => {
  it('leaves the embedded database (PGlite, ~16 MB of WebAssembly) out of every deployed bundle', () => {
    for (const name of builtFunctions()) {
      expect(existsSync(join(FUNCS, `${name}.func`, 'node_modules/@electric-sql/pglite')), name).toBe(false)
    }
  })

  it('has exactly one function per route file under api/', () => {
    const expected = routeFiles().map((f) => f.replace(/\.(ts|mts|js|mjs|cjs)$/, ''))
    expect(expected.length).toBeGreaterThan(0)
    expect(builtFunctions()).toEqual(expected.sort())
  })

  it('describes every function as an ESM Node 22 lambda whose compiled handler is in the bundle', () => {
    for (const name of builtFunctions()) {
      const config = vcConfig(name)
      expect(config.runtime, name).toBe('nodejs22.x')
      expect(config.launcherType, name).toBe('Nodejs')
      expect(config.handler, name).toMatch(/\.m?js$/)
      expect(existsSync(join(funcDir(name), config.handler)), name).toBe(true)
      // The compiled handler is ESM only because the bundled package.json says so.
      const pkg = JSON.parse(readFileSync(join(funcDir(name), 'package.json'), 'utf8')) as { type?: string }
      expect(pkg.type, name).toBe('module')
    }
  })

  it('every built handler loads in plain Node and exports named HTTP method functions', async () => {
    for (const name of builtFunctions()) {
      const { exports } = await invoke(name, { mode: 'list' })
      const methods = exports.filter((e) => METHODS.includes(e))
      expect(methods.length, `${name} exports ${exports.join(', ')}`).toBeGreaterThan(0)
      expect(exports, name).not.toContain('default')
    }
  })
})

describe('built functions answer Web requests (Neon driver; no Redis, no provider keys)', () => {
  it('GET /api/v1/health', async () => {
    const res = await invoke('api/v1/health/index', { path: '/api/v1/health' })
    expect(res.exports).toEqual(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'])
    expect(res.status).toBe(200)
    expect(res.headers?.['content-type']).toMatch(/^application\/json/)
    expect(res.headers?.['cache-control']).toBe('no-store')
    expect(res.headers?.['x-request-id']).toBeTruthy()
    const body = LivenessSchema.parse(JSON.parse(res.body ?? ''))
    expect(body.status).toBe('healthy')
    expect(Number.isNaN(Date.parse(body.timestamp))).toBe(false)
  })

  it('GET /api/docs: the reference page, whose Scalar bundle is in the static output it names', async () => {
    const res = await invoke('api/docs', { path: '/api/docs' })
    expect(res.status, res.body).toBe(200)
    expect(res.headers?.['content-type']).toMatch(/^text\/html/)
    const src = /<script src="([^"]+)"><\/script>/.exec(res.body ?? '')?.[1]
    expect(src).toBe(SCALAR_BUNDLE_PATH)
    const bundle = join(ROOT, '.vercel/output/static', src!)
    expect(
      existsSync(bundle),
      `${bundle} missing: the build command (npm run build:static) did not run`,
    ).toBe(true)
    expect(readFileSync(bundle, 'utf8')).toContain('createApiReference')
  })

  it('GET /api/v1/health/detailed (the Neon driver bundled in the function, on a migrated database)', async () => {
    const res = await invoke('api/v1/health/detailed')
    expect(res.status, res.body).toBe(200)
    expect(res.headers?.['content-type']).toMatch(/^application\/json/)
    const body = DetailedHealthSchema.parse(JSON.parse(res.body ?? ''))
    expect(['healthy', 'degraded']).toContain(body.status)
    expect(body.checks.database.status).toBe('healthy')
    expect(body.checks.database.latency_ms).toEqual(expect.any(Number))
    expect(body.checks.redis.status).toBe('not_configured')
    expect(body.checks.external.stripe.status).toBe('not_configured')
  })

  it('GET /api/v1/metrics', async () => {
    const res = await invoke('api/v1/metrics/index', { path: '/api/v1/metrics' })
    expect(res.exports).toEqual(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'])
    expect(res.status, res.body).toBe(200)
    expect(res.headers?.['content-type']).toMatch(/^text\/plain/)
    expect(res.body).toMatch(/^# (HELP|TYPE) /m)
    // Counters defined by other functions' code (sign-in's) are exported by this bundle too.
    for (const family of ['auth_events_total', 'auth_failed_logins_total', 'auth_mfa_events_total'])
      expect(res.body).toMatch(new RegExp(`^# TYPE ${family} counter$`, 'm'))
  })

  it("answers a method the file does not declare with 405 problem+json and Allow (not Vercel's bare 405)", async () => {
    const res = await invoke('api/v1/health/index', { path: '/api/v1/health', method: 'POST' })
    expect(res.status).toBe(405)
    expect(res.headers?.['content-type']).toBe('application/problem+json')
    expect(res.headers?.allow).toBe('GET, HEAD, OPTIONS')
    expect(JSON.parse(res.body ?? '')).toMatchObject({ status: 405, code: 'method_not_allowed' })
  })
})

describe('built functions in a deployed environment with nothing configured', () => {
  const DEPLOYED_ENV = { VERCEL: '1', VERCEL_ENV: 'production', LOG_LEVEL: 'silent' }

  for (const [name, path] of [
    ['api/v1/health/index', '/api/v1/health'],
    ['api/v1/health/detailed', '/api/v1/health/detailed'],
  ] as const) {
    it(`GET ${path} refuses with 503 problem+json naming DATABASE_URL`, async () => {
      // PGLITE_DATA_DIR unset: the default .data/pglite would appear in the function's directory if the
      // deployed path ever fell back to the embedded database.
      rmSync(join(funcDir(name), '.data'), { recursive: true, force: true })
      const res = await invoke(name, { path, env: DEPLOYED_ENV })
      expect(res.status).toBe(503)
      expect(res.headers?.['content-type']).toBe('application/problem+json')
      const body = JSON.parse(res.body ?? '') as Record<string, unknown>
      expect(body).toMatchObject({ status: 503, code: 'missing_configuration', title: 'Service Unavailable' })
      expect(body.missing_settings).toEqual(expect.arrayContaining(['DATABASE_URL']))
      expect(String(body.detail)).toContain('DATABASE_URL')
      expect(existsSync(join(funcDir(name), '.data'))).toBe(false)
    })
  }
})

describe('bundled functions (ADR 009)', () => {
  it('are one minified ESM bundle each: no traced node_modules beyond the kept packages, no compiled lib/', () => {
    const kept = /^(@node-rs\/argon2(-.+)?|fxa-common-password-list|incremental-encoder)$/
    for (const name of builtFunctions()) {
      const dir = join(FUNCS, `${name}.func`)
      expect(vcConfig(name).handler, name).toBe('index.js')
      expect(existsSync(join(dir, 'lib')), name).toBe(false)
      expect(existsSync(join(dir, 'api')), name).toBe(false)
      const nm = join(dir, 'node_modules')
      const pkgs = existsSync(nm)
        ? readdirSync(nm).flatMap((p) =>
            p.startsWith('@') ? readdirSync(join(nm, p)).map((q) => `${p}/${q}`) : [p],
          )
        : []
      for (const pkg of pkgs) expect(pkg, `${name} keeps ${pkg}`).toMatch(kept)
    }
  })

  it('do not load the argon2 addon at import, not even the password functions', async () => {
    for (const name of ['api/v1/auth/login', 'api/v1/auth/me', 'api/v1/health/index']) {
      const res = await invoke(name, { mode: 'list' })
      expect(res.argon2_at_import, name).toBe(false)
    }
  })
})

describe('native addon @node-rs/argon2 in the bundles', () => {
  const hashing = existsSync(FUNCS)
    ? builtFunctions().filter((name) =>
        existsSync(join(FUNCS, `${name}.func`, 'node_modules/@node-rs/argon2')),
      )
    : []

  it('functions that hash passwords (register, login, ...) keep the addon and its linux binding unbundled', () => {
    expect(hashing).toEqual(expect.arrayContaining(['api/v1/auth/login', 'api/v1/auth/register']))
    for (const name of hashing) {
      const dir = funcDir(name)
      expect(existsSync(join(dir, 'node_modules/@node-rs/argon2/package.json')), name).toBe(true)
      const bindings = readdirSync(join(dir, 'node_modules/@node-rs')).filter((d) => d.startsWith('argon2-'))
      expect(bindings, name).toContain('argon2-linux-x64-gnu')
    }
  })

  it('register then login through the built functions: argon2 hashes and verifies from the bundle', async () => {
    const email = `cold-${process.pid}@example.com`
    const password = 'plum-Orbit-7-lantern'
    const registered = await invoke('api/v1/auth/register', {
      method: 'POST',
      body: { email, password, first_name: 'Cold', last_name: 'Start' },
    })
    expect(registered.status, registered.body).toBe(201)
    expect(registered.argon2_at_import).toBe(false)
    expect(registered.argon2_after_call).toBe(true)

    const login = await invoke('api/v1/auth/login', { method: 'POST', body: { email, password } })
    expect(login.status, login.body).toBe(200)
    expect(login.argon2_after_call).toBe(true)
    const tokens = JSON.parse(login.body ?? '') as { access_token?: string; token_type?: string }
    expect(tokens.token_type).toBe('bearer')
    expect(tokens.access_token).toEqual(expect.any(String))

    const wrong = await invoke('api/v1/auth/login', {
      method: 'POST',
      body: { email, password: `${password}x` },
    })
    expect(wrong.status, wrong.body).toBe(401)
  })
})

describe('error reporting from the bundles (ADR 015)', () => {
  it("a 5xx reaches Sentry's ingest with its request id, through the SDK loaded lazily from the bundle", async () => {
    const sentry = await startFakeSentry()
    try {
      // A deployed environment without its settings answers 503: a 5xx without an exception.
      const res = await invoke('api/v1/health/index', {
        path: '/api/v1/health',
        env: {
          VERCEL_ENV: 'production',
          LOG_LEVEL: 'silent',
          SENTRY_DSN: sentry.dsn,
          SENTRY_RELEASE: 'build-test',
        },
      })
      expect(res.status).toBe(503)
      const events = sentry.envelopes.flatMap((e) =>
        e.items.filter((i) => i.header.type === 'event').map((i) => i.payload as Record<string, unknown>),
      )
      expect(events).toHaveLength(1)
      expect(events[0]).toMatchObject({
        level: 'error',
        release: 'build-test',
        tags: { request_id: res.headers?.['x-request-id'], route: '/api/v1/health', status: '503' },
      })
    } finally {
      await sentry.close()
    }
  })
})
