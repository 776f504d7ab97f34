// Step 1 of `npm run build:vercel` (ADR 009): write .vercel/vercel.build.json, the vercel.json that our
// offline `vercel build --local-config` reads. It is vercel.json with every function's excludeFiles
// widened to all of node_modules except the packages a bundled function keeps (scripts/function-packages.ts):
// the next step replaces the traced node_modules with esbuild bundles made from the project's own
// node_modules, so tracing them was work thrown away (about 5 s a function: @sentry/node alone is some
// 1,900 files). vercel.json itself is unchanged, so a build that is not followed by bundling (Vercel
// building from Git) still traces everything it needs.
// Usage: tsx scripts/vercel-build-config.ts [out-file]
import { readFileSync, writeFileSync } from 'node:fs'
import { KEPT_TOP_LEVEL } from './function-packages.js'

interface FunctionConfig {
  excludeFiles?: string
  [key: string]: unknown
}

const out = process.argv[2] ?? '.vercel/vercel.build.json'
const config = JSON.parse(readFileSync('vercel.json', 'utf8')) as {
  functions?: Record<string, FunctionConfig>
}
const exclude = `node_modules/!(${KEPT_TOP_LEVEL.join('|')})/**`
const functions = config.functions ?? {}
if (Object.keys(functions).length === 0) functions['api/**/*.ts'] = {}
for (const fn of Object.values(functions)) fn.excludeFiles = exclude
config.functions = functions
writeFileSync(out, `${JSON.stringify(config, null, 2)}\n`)
console.log(`vercel-build-config: wrote ${out} (functions exclude ${exclude})`)
