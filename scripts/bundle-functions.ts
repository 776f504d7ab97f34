// Step 2 of `npm run build:vercel` (ADR 009): replace each function's traced output (its compiled handler,
// our compiled lib/ and db/ files, and the node_modules Vercel traced for it) with a minified ESM bundle
// made by esbuild from the route's source: index.js and the chunks it imports; what its lazy
// `await import()`s need is in chunks loaded on first use, not at import. What the bundle cannot hold stays in the function's node_modules: the native
// addon @node-rs/argon2 (with its platform binding) and fxa-common-password-list, which is loaded through
// createRequire. PGlite (dev-only, ~16 MB of WebAssembly) is external and unreachable in a deployed function
// (DATABASE_URL is required there). The output stays Build Output API v3: the handler in .vc-config.json
// points at the bundle; `vercel deploy --prebuilt` uploads it as built.
//
// By default one esbuild build covers every route (each module parsed once, ~6 s for the 89), its chunks
// shared between the entries in a staging directory; each function then gets its entry and the chunks it
// imports. `--separate` builds each function on its own instead (4 at a time): fewer, larger chunks and
// about 10 ms less cold import, but 70-170 s of bundling here instead of ~6 s (CI runs this). A report
// (output file -> packages in it) goes to .vercel/bundle-meta/, outside the deployed output, for
// `npm run bench:cold-start`.
// Usage: tsx scripts/bundle-functions.ts [--separate] [.vercel/output/functions]
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { basename, dirname, join, relative, sep } from 'node:path'
import { pathToFileURL } from 'node:url'
import { type BuildOptions, build, type Metafile, type Plugin } from 'esbuild'
import { keptInFunction } from './function-packages.js'

const SHARED = !process.argv.includes('--separate')
const FUNCS = process.argv.slice(2).find((a) => !a.startsWith('--')) ?? '.vercel/output/functions'
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
const KEEP = keptInFunction

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

async function bundleOne(dir: string) {
  const configFile = join(dir, '.vc-config.json')
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as VcConfig
  const entry = sourceOf(config.handler)
  prune(dir)
  const result = await build({
    ...OPTIONS,
    entryPoints: { index: entry },
    outdir: dir,
  })
  return finish(dir, config, entry, result.metafile, dir)
}

const OPTIONS = {
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
} satisfies BuildOptions

function finish(dir: string, config: VcConfig, entry: string, metafile: Metafile, outRoot: string) {
  const configFile = join(dir, '.vc-config.json')
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
    `${JSON.stringify({ entry, outputs: outputsReport(metafile, outRoot) }, null, 2)}\n`,
  )
  const js = Object.keys(metafile.outputs).filter((f) => !f.endsWith('.map'))
  return { name, bytes: js.reduce((s, f) => s + statSync(f).size, 0), files: js.length }
}

/**
 * The default: one esbuild build over every route (each module parsed once), chunks shared between the
 * entries in a staging directory; then each function gets its entry as index.js and the chunks it imports,
 * statically or lazily.
 */
async function bundleShared(dirs: string[]) {
  const staging = join(FUNCS, '..', '..', 'bundle-staging')
  rmSync(staging, { recursive: true, force: true })
  const jobs = dirs.map((dir) => {
    const config = JSON.parse(readFileSync(join(dir, '.vc-config.json'), 'utf8')) as VcConfig
    const key = relative(FUNCS, dir)
      .split(sep)
      .join('__')
      .replace(/\.func$/, '')
    return { dir, config, entry: sourceOf(config.handler), key }
  })
  for (const j of jobs) prune(j.dir)
  const result = await build({
    ...OPTIONS,
    entryPoints: Object.fromEntries(jobs.map((j) => [j.key, j.entry])),
    outdir: staging,
  })
  const outputs = result.metafile.outputs
  const done = []
  for (const j of jobs) {
    const entryOut = join(staging, `${j.key}.js`).split(sep).join('/')
    const rootKey = Object.keys(outputs).find((k) => k.endsWith(`/${j.key}.js`) || k === entryOut)
    if (!rootKey) throw new Error(`no output for ${j.key}`)
    const closure = new Set<string>([rootKey])
    const stack = [rootKey]
    while (stack.length) {
      for (const imp of outputs[stack.pop()!]!.imports) {
        if (imp.external || closure.has(imp.path)) continue
        closure.add(imp.path)
        stack.push(imp.path)
      }
    }
    const sub: Metafile = { inputs: {}, outputs: {} }
    for (const file of closure) {
      const target = file === rootKey ? join(j.dir, 'index.js') : join(j.dir, relative(staging, file))
      mkdirSync(dirname(target), { recursive: true })
      copyFileSync(file, target)
      if (existsSync(`${file}.map`))
        copyFileSync(`${file}.map`, join(dirname(target), `${basename(file)}.map`))
      sub.outputs[target] = outputs[file]!
    }
    done.push(finish(j.dir, j.config, j.entry, sub, j.dir))
  }
  rmSync(staging, { recursive: true, force: true })
  return done
}

const started = performance.now()
if (!existsSync(FUNCS)) throw new Error(`${FUNCS} does not exist: run vercel build first`)
rmSync(META_DIR, { recursive: true, force: true })
const dirs = functionDirs(FUNCS)
const done: Array<ReturnType<typeof finish>> = []
if (SHARED) done.push(...(await bundleShared(dirs)))
else {
  let next = 0
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < dirs.length) done.push(await bundleOne(dirs[next++]!))
    }),
  )
}
const sizes = done.map((d) => d.bytes).sort((a, b) => a - b)
console.log(
  `bundle-functions: ${done.length} functions bundled in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
    `JS per function ${(sizes[0]! / 1024).toFixed(0)}-${(sizes[sizes.length - 1]! / 1024).toFixed(0)} KB`,
)
