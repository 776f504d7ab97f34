// `npm run lint:openapi`: the committed OpenAPI document (what GET /api/v1/openapi.json serves) must be
// accepted by the tools its users run: swagger-parser's validation, Spectral's `spectral:oas` ruleset with
// no error and no warning, and openapi-typescript's type generation.
import { spawnSync } from 'node:child_process'
import SwaggerParser from '@apidevtools/swagger-parser'
import openapiTS, { astToString } from 'openapi-typescript'
import { OPENAPI_FILE } from '../lib/openapi/document.js'

let failed = false
const step = async (name: string, run: () => Promise<string>) => {
  try {
    console.log(`${name}: ${await run()}`)
  } catch (err) {
    failed = true
    console.error(`${name}: FAILED\n${(err as Error).message}`)
  }
}

await step('swagger-parser', async () => {
  const api = await SwaggerParser.validate(OPENAPI_FILE)
  return `valid OpenAPI ${(api as { openapi: string }).openapi}`
})

await step('spectral (spectral:oas)', async () => {
  const run = spawnSync(
    'npx',
    ['--no-install', 'spectral', 'lint', OPENAPI_FILE, '--fail-severity', 'warn', '--display-only-failures'],
    { encoding: 'utf8' },
  )
  const out = `${run.stdout}${run.stderr}`.trim()
  if (run.status !== 0) throw new Error(out)
  return out || 'no errors, no warnings'
})

await step('openapi-typescript', async () => {
  const types = astToString(await openapiTS(new URL(`file://${OPENAPI_FILE}`)))
  return `generated ${types.split('\n').length} lines of types`
})

process.exit(failed ? 1 : 0)
