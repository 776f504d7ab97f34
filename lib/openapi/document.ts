import { fileURLToPath } from 'node:url'
import { loadRoutes } from '../http/router.js'
import { buildOpenApi } from './build.js'

// The committed document lib/openapi/openapi.json is generated from the route files (npm run openapi);
// a test fails when it is stale. Functions serve the committed file: each function bundles only itself.
export const OPENAPI_FILE = fileURLToPath(new URL('./openapi.json', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const DOCUMENT_VERSION = '0.1.0'

export async function generateOpenApi(): Promise<Record<string, unknown>> {
  return buildOpenApi(await loadRoutes(ROOT), DOCUMENT_VERSION)
}

export const serialise = (doc: unknown): string => `${JSON.stringify(doc, null, 2)}\n`
