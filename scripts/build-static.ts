// `npm run build:static`: the static output Vercel serves beside the functions (vercel.json
// outputDirectory `public/`, git-ignored): a landing page and the API reference page's Scalar bundle,
// copied out of node_modules at build time so the page loads nothing from a CDN. Vercel runs it as the
// build command; `npm run build:vercel` and `npm run dev` run it too.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SCALAR_BUNDLE_PATH } from '../lib/openapi/reference-page.js'

export const PUBLIC_DIR = fileURLToPath(new URL('../public', import.meta.url))

export function buildStatic(): string[] {
  // the package's exports name no file of dist/browser: read it where npm installs it
  const scalarRoot = fileURLToPath(new URL('../node_modules/@scalar/api-reference', import.meta.url))
  const bundle = join(PUBLIC_DIR, SCALAR_BUNDLE_PATH)
  mkdirSync(dirname(bundle), { recursive: true })
  copyFileSync(join(scalarRoot, 'dist/browser/standalone.js'), bundle)
  writeFileSync(
    join(PUBLIC_DIR, 'index.html'),
    '<!doctype html><meta charset="utf-8"><title>Commerce API</title>' +
      '<p>The <a href="/api/docs">API reference</a>; <a href="/api/v1/health">/api/v1/health</a>.</p>\n',
  )
  return ['index.html', SCALAR_BUNDLE_PATH.slice(1)]
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const files = buildStatic()
  console.log(`build-static: wrote ${files.map((f) => `public/${f}`).join(', ')}`)
}
