// Cold start of built Vercel functions: for EVERY function under .vercel/output/functions, a fresh Node
// process imports the handler from its .func directory (cwd = the function's root, as /var/task on Vercel)
// and answers one request, the way production runs it: the Neon driver over WebSocket (to this machine's
// PostgreSQL through the test proxy), database `commerce_bench` migrated first. Per function: bytes of the
// function directory and of its entry (plus its other JS), median/min/max cold import over N fresh
// processes, median first-request ms and RSS, and which heavy modules the import loads (one extra run
// with a module-load hook; those timings are not counted).
//
// Run `npm run build:vercel` first.
// Usage: npm run bench:cold-start -- [--runs 15] [--filter REGEX] [--dir .vercel/output/functions]
//        [--baseline DIR] [--json bench/results/cold-start.json] [--env NAME=VALUE ...]
// --env passes a setting to every function process (e.g. --env SENTRY_DSN=http://key@127.0.0.1:9/1 to
// measure with error reporting on). The after-response work (Vercel's waitUntil: metrics, the start of
// error reporting) is timed apart from the first request, as "after".
// --baseline DIR measures a second build output (e.g. a copy of an older build) in the same run,
// interleaved function by function, so the before/after ratio is not skewed by machine drift.
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs, promisify } from 'node:util'
import { configureNeonDriver, migrateNeon } from '../lib/platform/db.js'
import { startWsProxy } from '../tests/support/ws-proxy.js'

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    filter: { type: 'string' },
    dir: { type: 'string', default: '.vercel/output/functions' },
    baseline: { type: 'string' },
    json: { type: 'string', default: 'bench/results/cold-start.json' },
    env: { type: 'string', multiple: true, default: [] },
  },
})
const EXTRA_ENV = Object.fromEntries(
  (args.env ?? []).map((kv) => {
    const at = kv.indexOf('=')
    if (at < 1) throw new Error(`--env takes NAME=VALUE, got ${kv}`)
    return [kv.slice(0, at), kv.slice(at + 1)]
  }),
)
const RUNS = Math.max(1, Number(args.runs))
const FILTER = args.filter ? new RegExp(args.filter) : undefined

/** Modules that must load only in the functions that use them (issue #10). */
export const HEAVY = [
  'stripe',
  'shippo',
  'qrcode',
  'resend',
  '@node-rs/argon2',
  '@electric-sql/pglite',
  '@sentry/node',
] as const

const run = promisify(execFile)

// --- the child process -------------------------------------------------------------------------------------
// argv: [handler file, method, url]. Prints one JSON line.
const PROBE = `
// Vercel's request context, as @vercel/functions' waitUntil finds it: the after-response work is kept.
const afterWork = []
globalThis[Symbol.for('@vercel/request-context')] = { get: () => ({ waitUntil: (p) => void afterWork.push(p) }) }
const t0 = performance.now()
const mod = await import(process.argv[1])
const t1 = performance.now()
const loaded = globalThis.__coldLoaded ? [...globalThis.__coldLoaded] : []
const { createRequire } = await import('node:module')
const cjs = Object.keys(createRequire(import.meta.url).cache)
const exports = Object.keys(mod)
let method = process.argv[2]
if (method === '?') {
  // The report run: ask the function which methods it declares (OPTIONS answers Allow).
  const res = await mod.OPTIONS?.(new Request(process.argv[3], { method: 'OPTIONS' }))
  const allow = (res?.headers.get('allow') ?? 'GET').split(',').map((m) => m.trim())
  method = allow.find((m) => m !== 'HEAD' && m !== 'OPTIONS') ?? 'GET'
}
let status = 0
if (method && typeof mod[method] === 'function') {
  const res = await mod[method](new Request(process.argv[3], { method }))
  await res.arrayBuffer()
  status = res.status
}
const t2 = performance.now()
while (afterWork.length) await Promise.allSettled(afterWork.splice(0))
const t3 = performance.now()
const rss = process.memoryUsage().rss
const late = globalThis.__coldLoaded ? [...globalThis.__coldLoaded].filter((u) => !loaded.includes(u)) : []
console.log('@@cold@@' + JSON.stringify({ status, importMs: t1 - t0, firstMs: t2 - t1, afterMs: t3 - t2, rssMb: rss / 2 ** 20, method, exports, loaded: [...loaded, ...cjs], late }))
process.exit(0)
`
// Loaded with --import for the module report only: records every ESM file the loader loads.
const HOOK_REGISTER = `
import { register } from 'node:module'
import { MessageChannel } from 'node:worker_threads'
const { port1, port2 } = new MessageChannel()
globalThis.__coldLoaded = new Set()
port1.on('message', (url) => globalThis.__coldLoaded.add(url))
port1.unref()
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(`
let port
export function initialize(data) { port = data.port }
export async function load(url, context, next) { port.postMessage(url); return next(url, context) }
`)}), { parentURL: import.meta.url, data: { port: port2 }, transferList: [port2] })
`

interface Sample {
  status: number
  importMs: number
  firstMs: number
  /** the after-response work of the first request (waitUntil), until it settled */
  afterMs: number
  /** modules loaded after the import (by the first request or its after-response work) */
  late: string[]
  rssMb: number
  loaded: string[]
  method?: string
  exports: string[]
}

interface FunctionResult {
  name: string
  dirBytes: number
  entryBytes: number
  /** JS files of the function other than node_modules (the bundle's chunks, or the compiled lib/ files) */
  ownJsBytes: number
  nodeModulesBytes: number
  method: string
  status: number
  importMs: { median: number; min: number; max: number }
  firstRequestMs: number
  afterResponseMs: number
  rssMb: number
  heavyAtImport: string[]
  /** heavy modules loaded by the first request or its after-response work */
  heavyAfterImport: string[]
  /** heavy modules present anywhere in the function (loaded lazily, at the point of use) */
  heavyInFunction: string[]
}

function bytesOf(path: string, pick: (p: string) => boolean = () => true): number {
  const st = statSync(path)
  if (!st.isDirectory()) return pick(path) ? st.size : 0
  let total = 0
  for (const e of readdirSync(path)) total += bytesOf(join(path, e), pick)
  return total
}

function functionsIn(root: string): string[] {
  const found: string[] = []
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue
      const p = join(dir, e.name)
      if (e.name.endsWith('.func'))
        found.push(
          relative(root, p)
            .split(sep)
            .join('/')
            .replace(/\.func$/, ''),
        )
      else walk(p)
    }
  }
  walk(root)
  return found.sort()
}

/** The package a loaded file belongs to: node_modules/<pkg>/..., or a bundle chunk's inputs (metafile). */
function packagesOf(file: string, meta: BundleMeta | undefined, funcDir: string): string[] {
  const m = file.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//g)
  if (m) return [m[m.length - 1]!.replace(/^node_modules\//, '').replace(/\/$/, '')]
  if (!meta) return []
  const rel = relative(funcDir, file).split(sep).join('/')
  return meta.outputs[rel] ?? []
}

/** Written by scripts/bundle-functions.ts next to (not inside) the build output: chunk -> packages. */
interface BundleMeta {
  outputs: Record<string, string[]>
}

function readMeta(funcsRoot: string, name: string): BundleMeta | undefined {
  const file = join(funcsRoot, '..', '..', 'bundle-meta', `${name}.json`)
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BundleMeta) : undefined
}

function heavyIn(pkgs: Iterable<string>): string[] {
  const set = new Set(pkgs)
  return HEAVY.filter((h) => set.has(h))
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

// --- set-up: PostgreSQL through the Neon driver, as deployed ------------------------------------------------
const PG = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const proxy = await startWsProxy({ pgHost: new URL(PG).hostname, pgPort: Number(new URL(PG).port || 5432) })
await configureNeonDriver(proxy.url)
const { Pool } = await import('@neondatabase/serverless')
const admin = new Pool({ connectionString: PG, max: 1 })
const exists = await admin.query(`select 1 from pg_database where datname = 'commerce_bench'`)
if (!exists.rowCount) await admin.query('create database commerce_bench')
await admin.end()
const benchUrl = Object.assign(new URL(PG), { pathname: '/commerce_bench' }).toString()
process.env.NEON_WS_PROXY = proxy.url
await migrateNeon(benchUrl)

const PLACEHOLDER_ID = '00000000-0000-4000-8000-000000000000'
const urlFor = (name: string) =>
  `http://localhost/${name.replace(/\/index$/, '').replace(/\[[^\]]+\]/g, PLACEHOLDER_ID)}`

async function probe(funcsRoot: string, name: string, method: string, hook: boolean): Promise<Sample> {
  const dir = resolve(funcsRoot, `${name}.func`)
  const handler = JSON.parse(readFileSync(join(dir, '.vc-config.json'), 'utf8')).handler as string
  const { stdout } = await run(
    process.execPath,
    [
      ...(hook ? ['--import', `data:text/javascript,${encodeURIComponent(HOOK_REGISTER)}`] : []),
      '--input-type=module',
      '-e',
      PROBE,
      pathToFileURL(join(dir, handler)).href,
      method,
      urlFor(name),
    ],
    {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: benchUrl,
        NEON_WS_PROXY: proxy.url,
        LOG_LEVEL: 'silent',
        ...EXTRA_ENV,
      },
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    },
  )
  const line = stdout.split('\n').find((l) => l.startsWith('@@cold@@'))
  if (!line) throw new Error(`no result from ${name}: ${stdout}`)
  return JSON.parse(line.slice('@@cold@@'.length)) as Sample
}

async function measure(funcsRoot: string, name: string): Promise<FunctionResult> {
  const dir = resolve(funcsRoot, `${name}.func`)
  const handler = JSON.parse(readFileSync(join(dir, '.vc-config.json'), 'utf8')).handler as string
  const meta = readMeta(funcsRoot, name)
  // The module report run (with the load hook) also tells which method the function exports.
  const first = await probe(funcsRoot, name, '?', true)
  const packages = (urls: string[]) =>
    urls.flatMap((u) => packagesOf(u.startsWith('file:') ? fileURLToPath(u) : u, meta, dir))
  const heavyAtImport = heavyIn(packages(first.loaded))
  const heavyAfterImport = heavyIn(packages(first.late)).filter((h) => !heavyAtImport.includes(h))
  const exported = first.method ?? 'GET'
  const samples: Sample[] = []
  for (let i = 0; i < RUNS; i++) samples.push(await probe(funcsRoot, name, exported, false))
  const nm = join(dir, 'node_modules')
  const inFunction = meta
    ? Object.values(meta.outputs).flat()
    : existsSync(nm)
      ? readdirSync(nm).flatMap((p) =>
          p.startsWith('@') ? readdirSync(join(nm, p)).map((s) => `${p}/${s}`) : [p],
        )
      : []
  if (existsSync(join(nm, '@node-rs/argon2'))) inFunction.push('@node-rs/argon2')
  const imports = samples.map((s) => s.importMs)
  return {
    name,
    dirBytes: bytesOf(dir),
    entryBytes: statSync(join(dir, handler)).size,
    ownJsBytes: bytesOf(dir, (p) => /\.m?js$/.test(p) && !p.includes(`${sep}node_modules${sep}`)),
    nodeModulesBytes: existsSync(nm) ? bytesOf(nm) : 0,
    method: exported,
    status: samples[0]?.status ?? 0,
    importMs: { median: median(imports), min: Math.min(...imports), max: Math.max(...imports) },
    firstRequestMs: median(samples.map((s) => s.firstMs)),
    afterResponseMs: median(samples.map((s) => s.afterMs)),
    rssMb: median(samples.map((s) => s.rssMb)),
    heavyAtImport,
    heavyAfterImport,
    heavyInFunction: heavyIn(inFunction),
  }
}

const kb = (b: number) => `${(b / 1024).toFixed(0)} KB`
const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MB`
const f0 = (n: number) => n.toFixed(0)

function summary(results: FunctionResult[]) {
  const med = results.map((r) => r.importMs.median)
  const spreadOf = (xs: number[]) => ({ min: Math.min(...xs), median: median(xs), max: Math.max(...xs) })
  return {
    functions: results.length,
    importMedianMs: spreadOf(med),
    firstRequestMs: spreadOf(results.map((r) => r.firstRequestMs)),
    afterResponseMs: spreadOf(results.map((r) => r.afterResponseMs)),
    dirBytes: {
      min: Math.min(...results.map((r) => r.dirBytes)),
      max: Math.max(...results.map((r) => r.dirBytes)),
    },
    totalBytes: results.reduce((s, r) => s + r.dirBytes, 0),
  }
}

const roots: Array<[string, string]> = [['current', args.dir]]
if (args.baseline) roots.unshift(['baseline', args.baseline])
for (const [, root] of roots)
  if (!existsSync(root)) throw new Error(`${root} does not exist: run npm run build:vercel`)
const names = functionsIn(args.dir).filter((n) => !FILTER || FILTER.test(n))
const results: Record<string, FunctionResult[]> = Object.fromEntries(roots.map(([k]) => [k, []]))
const started = Date.now()
for (const [i, name] of names.entries()) {
  for (const [label, root] of roots) {
    if (!existsSync(join(root, `${name}.func`))) continue
    const r = await measure(root, name)
    results[label]!.push(r)
    process.stderr.write(
      `[${i + 1}/${names.length}] ${label.padEnd(8)} ${name}: import ${f0(r.importMs.median)} ms (${f0(r.importMs.min)}-${f0(r.importMs.max)}), first ${f0(r.firstRequestMs)} ms, after ${f0(r.afterResponseMs)} ms, ${mb(r.dirBytes)}, heavy at import: ${r.heavyAtImport.join(' ') || '-'}, after import: ${r.heavyAfterImport.join(' ') || '-'}\n`,
    )
  }
}

for (const [label] of roots) {
  const rs = results[label]!
  console.log(
    `\n### ${label} (${label === 'baseline' ? args.baseline : args.dir}), ${RUNS} fresh processes each`,
  )
  console.log(
    '| function | import ms median (min-max) | first request ms | after-response ms | RSS MB | function dir | entry | own JS | node_modules | heavy at import | heavy loaded by the first request | heavy in function (lazy) | status |',
  )
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
  for (const r of rs) {
    const lazy = r.heavyInFunction.filter((h) => !r.heavyAtImport.includes(h))
    console.log(
      `| ${r.name} | ${f0(r.importMs.median)} (${f0(r.importMs.min)}-${f0(r.importMs.max)}) | ${f0(r.firstRequestMs)} | ${f0(r.afterResponseMs)} | ${f0(r.rssMb)} | ${mb(r.dirBytes)} | ${kb(r.entryBytes)} | ${kb(r.ownJsBytes)} | ${mb(r.nodeModulesBytes)} | ${r.heavyAtImport.join(' ') || '-'} | ${r.heavyAfterImport.join(' ') || '-'} | ${lazy.join(' ') || '-'} | ${r.method} ${r.status} |`,
    )
  }
  const s = summary(rs)
  console.log(
    `\n${label}: ${s.functions} functions; median import per function: min ${f0(s.importMedianMs.min)} ms, median ${f0(s.importMedianMs.median)} ms, max ${f0(s.importMedianMs.max)} ms; first request median ${f0(s.firstRequestMs.median)} ms (${f0(s.firstRequestMs.min)}-${f0(s.firstRequestMs.max)}); after-response work median ${f0(s.afterResponseMs.median)} ms (${f0(s.afterResponseMs.min)}-${f0(s.afterResponseMs.max)}); function dirs ${mb(s.dirBytes.min)}-${mb(s.dirBytes.max)}, ${mb(s.totalBytes)} in all`,
  )
}
if (results.baseline?.length && results.current?.length) {
  const b = summary(results.baseline)
  const c = summary(results.current)
  console.log(
    `\ncurrent / baseline, same run: median import min ${(c.importMedianMs.min / b.importMedianMs.min).toFixed(2)}x, median ${(c.importMedianMs.median / b.importMedianMs.median).toFixed(2)}x, max ${(c.importMedianMs.max / b.importMedianMs.max).toFixed(2)}x; bytes ${(c.totalBytes / b.totalBytes).toFixed(3)}x`,
  )
}

const out = {
  date: new Date().toISOString(),
  node: process.version,
  runs: RUNS,
  filter: args.filter ?? null,
  env: Object.keys(EXTRA_ENV),
  seconds: Math.round((Date.now() - started) / 1000),
  ...Object.fromEntries(
    roots.map(([label, root]) => [
      label,
      { dir: root, summary: summary(results[label]!), functions: results[label] },
    ]),
  ),
}
mkdirSync(dirname(args.json), { recursive: true })
writeFileSync(args.json, `${JSON.stringify(out, null, 2)}\n`)
console.log(`\nwrote ${args.json} (${out.seconds} s)`)
await proxy.close()
process.exit(0)
