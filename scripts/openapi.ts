// `npm run openapi`: write lib/openapi/openapi.json from the routes' declarations, then the typed client's
// types (clients/typescript/schema.d.ts) from that document.
import { writeFileSync } from 'node:fs'
import { CLIENT_TYPES_FILE, generateClientTypes } from '../clients/typescript/generate.js'
import { generateOpenApi, OPENAPI_FILE, serialise } from '../lib/openapi/document.js'

process.env.LOG_LEVEL ??= 'silent'
const doc = await generateOpenApi()
writeFileSync(OPENAPI_FILE, serialise(doc))
console.log(`wrote ${OPENAPI_FILE} (${Object.keys(doc.paths as object).length} paths)`)
writeFileSync(CLIENT_TYPES_FILE, await generateClientTypes())
console.log(`wrote ${CLIENT_TYPES_FILE}`)
process.exit(0)
