import { readFileSync } from 'node:fs'
import { expect, it } from 'vitest'
import { CLIENT_TYPES_FILE, generateClientTypes } from '../../clients/typescript/generate.js'

// The typed client (clients/typescript) is generated from the committed OpenAPI document: a change of the
// document without `npm run openapi` leaves the client describing an API that no longer exists.
it('the typed client is generated from the committed OpenAPI document (npm run openapi)', async () => {
  const committed = readFileSync(CLIENT_TYPES_FILE, 'utf8')
  expect(committed, 'clients/typescript/schema.d.ts is stale: run npm run openapi').toBe(
    await generateClientTypes(),
  )
  // the types name the API's operations, not an empty document's
  expect(committed).toContain('"/api/v1/orders/{order_id}/return"')
}, 60_000)
