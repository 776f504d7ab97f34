// `npm run openapi`: write lib/openapi/openapi.json from the routes' declarations.
import { writeFileSync } from 'node:fs'
import { generateOpenApi, OPENAPI_FILE, serialise } from '../lib/openapi/document.js'

process.env.LOG_LEVEL ??= 'silent'
const doc = await generateOpenApi()
writeFileSync(OPENAPI_FILE, serialise(doc))
console.log(`wrote ${OPENAPI_FILE} (${Object.keys(doc.paths as object).length} paths)`)
process.exit(0)
