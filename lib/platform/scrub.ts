import { redact } from './logger.js'
import { scrubText } from './scrub-text.js'

export { scrubText }

// Personal data and secrets taken out of what leaves for an outside service (error reporting): free text
// by the rules of lib/platform/scrub-text.ts (which the logger applies to error messages as well),
// structured data by the logger's key-based redaction and then those rules.

/** Structured data: secret and personal keys redacted (as in logs), every remaining string scrubbed. */
export function scrubData(value: unknown): unknown {
  return scrubStrings(redact(value))
}

function scrubStrings(value: unknown): unknown {
  if (typeof value === 'string') return scrubText(value)
  if (Array.isArray(value)) return value.map(scrubStrings)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubStrings(v)]))
}
