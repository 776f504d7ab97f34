import committed from './openapi.json' with { type: 'json' }
import { currentSettings, withSettings } from './settings.js'

// The document GET /api/v1/openapi.json serves: the committed one with this deployment's settings
// (SHOP_CURRENCY, PASSWORD_MIN_LENGTH) written into the components that depend on them.

let cached: { key: string; doc: typeof committed; body: string } | undefined

function current() {
  const settings = currentSettings()
  const key = JSON.stringify(settings)
  if (cached?.key !== key) {
    const doc = withSettings(committed, settings)
    cached = { key, doc, body: JSON.stringify(doc) }
  }
  return cached
}

export const servedDocument = () => current().doc
export const servedDocumentBody = () => current().body
