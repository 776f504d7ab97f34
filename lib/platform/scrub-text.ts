// Personal data and secrets taken out of free text (error messages) before it is logged or leaves for an
// outside service (error reporting). Key-based redaction (the logger's) handles structured data; this is
// the defensive layer for what a message may quote: emails, tokens, credentials, query strings, addresses.
// It imports nothing of ours, so the logger and lib/platform/scrub.ts can both use it.

/** Text without the bound query parameters drizzle appends to its errors (`params: ...`, up to the stack). */
export function stripBoundParams(text: string): string {
  return text.replace(/\bparams:[\s\S]*?(?=\n\s+at |$)/g, 'params: [redacted]')
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const FIELD =
  /pass(?:word)?|secret|token|authorization|cookie|api[_-]?key|signature|otp|email|phone|first_name|last_name|address|line1|line2|street|city|postal_code|zip|ip/
const STREET_WORDS = [
  'Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|Blvd|Drive|Dr|Way|Court|Ct|Place|Pl|Square|Sq',
  'Terrace|Close|Crescent|Gardens|Hill|Parkway|Highway|Strasse|Straße|Weg|Gasse|Rue|Calle|Via',
]
  .join('|')
  .split('|')
  .flatMap((w) => [w, w.toLowerCase()])
  .join('|')
const RULES: Array<[RegExp, string | ((match: string) => string)]> = [
  [/\b(bearer|basic)\s+[\w.~+/=-]+/gi, '$1 [redacted]'],
  // `"key": "value"`, `key=value`, `key: value` for keys that name personal data or secrets
  [
    new RegExp(
      `(["']?\\b(?:\\w*_)?(?:${FIELD.source})\\w*["']?\\s*[:=]\\s*)("[^"]*"|'[^']*'|[^\\s,;&)}\\]]+)`,
      'gi',
    ),
    '$1[redacted]',
  ],
  [/\beyJ[\w-]*\.[\w-]*\.[\w-]*/g, '[token]'],
  [/[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+/g, '[email]'],
  // a query string may carry anything (tokens, emails): the path stays, the query goes
  [/((?:https?:\/\/[^\s/?#"']+)?\/[^\s?#"']*)\?[^\s#"']*/g, '$1?[query]'],
  [/\+\d[\d\s().-]{6,}\d/g, '[phone]'],
  [/\b\d{1,3}(?:\.\d{1,3}){3}\b/g, '[ip]'],
  // a house number and capitalised words ending in a street word; postcodes of the UK, Canada, ZIP+4
  [
    new RegExp(`\\b\\d{1,5}[a-zA-Z]?,?\\s+(?:[A-Z][\\w'.-]*\\s+){1,4}(?:${STREET_WORDS})\\b\\.?`, 'g'),
    '[address]',
  ],
  [/\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b/g, '[postcode]'],
  [/\b[A-Z]\d[A-Z]\s?\d[A-Z]\d\b/g, '[postcode]'],
  [/\b\d{5}-\d{4}\b/g, '[postcode]'],
  // long opaque strings (keys, refresh tokens, hashes), but not UUIDs, which name rows and are no secret
  [/\b[\w-]{32,}\b/g, (m) => (UUID.test(m) ? m : '[secret]')],
]

/** Free text without emails, tokens, credentials, query strings, phone numbers, street addresses. */
export function scrubText(text: string): string {
  let out = stripBoundParams(text)
  for (const [pattern, replacement] of RULES) {
    out = out.replace(pattern, replacement as string)
  }
  return out
}
