// Step 2 of `npm run build:vercel` (ADR 009): replace each function's traced output (its compiled handler,
// our compiled lib/ and db/ files, and the node_modules Vercel traced for it) with one minified ESM bundle
// made by esbuild from the route's source, plus the chunks its lazy `await import()`s split off (loaded on
// first use, not at import). What the bundle cannot hold stays in the function's node_modules: the native
// addon @node-rs/argon2 (with its platform binding) and fxa-common-password-list, which is loaded through
// createRequire. PGlite (dev-only, ~16 MB of WebAssembly) is external and unreachable in a deployed function
// (DATABASE_URL is required there). The output stays Build Output API v3: the handler in .vc-config.json
// points at the bundle; `vercel deploy --prebuilt` uploads it as built.
//
// All functions are bundled in one process through esbuild's API, a few at a time. A per-function report
// (output file -> packages in it) goes to .vercel/bundle-meta/, outside the deployed output, for
// `npm run bench:cold-start`.
// Usage: tsx scripts/bundle-functions.ts [.vercel/output/functions]
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, sep } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build, type Metafile, type Plugin } from 'esbuild'

const FUNCS = process.argv[2] ?? '.vercel/output/functions'
const META_DIR = join(FUNCS, '..', '..', 'bundle-meta')
const CONCURRENCY = 4

/** Never bundled: a native addon, the dev-only embedded database, ws's optional native helpers. */
const EXTERNAL = [
  '@node-rs/argon2',
  '@electric-sql/pglite',
  '@electric-sql/pglite/*',
  'drizzle-orm/pglite',
  'drizzle-orm/pglite/*',
  'bufferutil',
  'utf-8-validate',
]
/** Packages kept in a function's node_modules when Vercel traced them there (see the header). */
const KEEP = (pkg: string) =>
  pkg === '@node-rs/argon2' ||
  pkg.startsWith('@node-rs/argon2-') ||
  pkg === 'fxa-common-password-list' ||
  pkg === 'incremental-encoder'

// CommonJS dependencies call require() for Node built-ins; an ESM bundle has none of its own.
const BANNER = [
  "import { createRequire as __cjsRequire } from 'node:module';",
  "import { fileURLToPath as __cjsPath } from 'node:url';",
  "import { dirname as __cjsDir } from 'node:path';",
  'const require = __cjsRequire(import.meta.url);',
  'const __filename = __cjsPath(import.meta.url);',
  'const __dirname = __cjsDir(__filename);',
].join('')

/**
 * `await import('pkg')` of a CommonJS package, split into a chunk of its own, would give only `default`
 * (esbuild cannot know a CommonJS module's export names), where Node gives the named exports too
 * (`const { Shippo } = await import('shippo')`). This plugin puts a small ESM facade in between that
 * re-exports, by name, what Node itself finds in the package (asked once per package at build time).
 */
function lazyCommonJs(): Plugin {
  const names = new Map<string, Promise<string[]>>()
  const isEsm = (file: string) => {
    if (file.endsWith('.mjs')) return true
    if (file.endsWith('.cjs')) return false
    for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
      const pkg = join(dir, 'package.json')
      if (existsSync(pkg))
        return (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: string }).type === 'module'
    }
    return false
  }
  return {
    name: 'lazy-commonjs',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.kind !== 'dynamic-import' || args.pluginData === 'facade') return undefined
        const resolved = await b.resolve(args.path, {
          kind: 'import-statement',
          resolveDir: args.resolveDir,
          importer: args.importer,
          pluginData: 'facade',
        })
        if (resolved.errors.length || resolved.external || isEsm(resolved.path)) return undefined
        return { path: resolved.path, namespace: 'lazy-commonjs', pluginData: args.path }
      })
      b.onLoad({ filter: /.*/, namespace: 'lazy-commonjs' }, async (args) => {
        let list = names.get(args.path)
        if (!list) {
          list = import(pathToFileURL(args.path).href).then((m: object) =>
            Object.keys(m).filter((k) => k !== 'default' && /^[A-Za-z_$][\w$]*$/.test(k)),
          )
          names.set(args.path, list)
        }
        const keys = await list
        return {
          contents: [
            `import * as m from ${JSON.stringify(args.path)}`,
            'export default m.default',
            ...keys.map((k) => `export const ${k} = m.${k}`),
          ].join('\n'),
          resolveDir: dirname(args.path),
          loader: 'js',
        }
      })
    },
  }
}

interface VcConfig {
  handler: string
  [key: string]: unknown
}

function functionDirs(root: string): string[] {
  const found: string[] = []
  for (const e of readdirSync(root, { withFileTypes: true })) {
    if (!e.isDirectory()) continue
    const p = join(root, e.name)
    if (e.name.endsWith('.func')) found.push(p)
    else found.push(...functionDirs(p))
  }
  return found.sort()
}

/** The route's source file for a compiled handler path (api/v1/x.js -> api/v1/x.ts). */
function sourceOf(handler: string): string {
  const base = handler.replace(/\.(m?js|cjs)$/, '')
  for (const ext of ['.ts', '.mts', '.js', '.mjs']) if (existsSync(base + ext)) return base + ext
  throw new Error(`no source file for handler ${handler}`)
}

const packageOf = (input: string) =>
  input
    .match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//g)
    ?.pop()
    ?.slice(13, -1)

/** Output file (relative to the function) -> the packages (or "app") whose code it holds. */
function outputsReport(meta: Metafile, dir: string): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const [file, o] of Object.entries(meta.outputs)) {
    if (file.endsWith('.map')) continue
    const pkgs = new Set(Object.keys(o.inputs).map((i) => packageOf(i) ?? 'app'))
    out[relative(dir, file).split(sep).join('/')] = [...pkgs].sort()
  }
  return out
}

function prune(dir: string): void {
  for (const entry of readdirSync(dir)) {
    if (entry === '.vc-config.json' || entry === 'node_modules') continue
    rmSync(join(dir, entry), { recursive: true, force: true })
  }
  const nm = join(dir, 'node_modules')
  if (!existsSync(nm)) return
  for (const entry of readdirSync(nm)) {
    const scoped = entry.startsWith('@')
    const names = scoped ? readdirSync(join(nm, entry)).map((s) => `${entry}/${s}`) : [entry]
    for (const name of names) if (!KEEP(name)) rmSync(join(nm, name), { recursive: true, force: true })
    if (scoped && readdirSync(join(nm, entry)).length === 0) rmSync(join(nm, entry), { recursive: true })
  }
  if (readdirSync(nm).length === 0) rmSync(nm, { recursive: true })
}

async function bundleOne(dir: string): Promise<{ name: string; bytes: number; files: number }> {
  const configFile = join(dir, '.vc-config.json')
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as VcConfig
  const entry = sourceOf(config.handler)
  prune(dir)
  const result = await build({
    entryPoints: { index: entry },
    outdir: dir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    minify: true,
    sourcemap: 'linked',
    sourcesContent: false,
    chunkNames: 'chunks/[name]-[hash]',
    banner: { js: BANNER },
    external: EXTERNAL,
    metafile: true,
    logLevel: 'error',
    legalComments: 'none',
    plugins: [lazyCommonJs()],
  })
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ type: 'module' })}\n`)
  writeFileSync(configFile, `${JSON.stringify({ ...config, handler: 'index.js' }, null, 2)}\n`)
  const name = relative(FUNCS, dir)
    .split(sep)
    .join('/')
    .replace(/\.func$/, '')
  const metaFile = join(META_DIR, `${name}.json`)
  mkdirSync(join(metaFile, '..'), { recursive: true })
  writeFileSync(
    metaFile,
    `${JSON.stringify({ entry, outputs: outputsReport(result.metafile, dir) }, null, 2)}\n`,
  )
  const js = Object.keys(result.metafile.outputs).filter((f) => !f.endsWith('.map'))
  return { name, bytes: js.reduce((s, f) => s + statSync(f).size, 0), files: js.length }
}

const started = performance.now()
if (!existsSync(FUNCS)) throw new Error(`${FUNCS} does not exist: run vercel build first`)
rmSync(META_DIR, { recursive: true, force: true })
const dirs = functionDirs(FUNCS)
const done: Array<Awaited<ReturnType<typeof bundleOne>>> = []
let next = 0
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < dirs.length) done.push(await bundleOne(dirs[next++]!))
  }),
)
const sizes = done.map((d) => d.bytes).sort((a, b) => a - b)
console.log(
  `bundle-functions: ${done.length} functions bundled in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
    `JS per function ${(sizes[0]! / 1024).toFixed(0)}-${(sizes[sizes.length - 1]! / 1024).toFixed(0)} KB`,
)
