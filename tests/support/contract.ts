import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { comparePatterns, compilePath, matchPath, type PathPattern } from '../../lib/http/path.js'
import { servedDocument } from '../../lib/openapi/served.js'

// Every response the route and end-to-end tests see is checked against the document the API serves
// (GET /api/v1/openapi.json): its status is documented for the operation, its content type is one the
// operation declares for that status, and a JSON body is valid against that schema. OpenAPI 3.1 schemas
// are JSON Schema 2020-12, so ajv's 2020 mode validates them as written; each validator is compiled once
// per process, on first use.

type Json = Record<string, any>
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void
const DOC_ID = 'openapi.json'
const JSON_MEDIA = /^application\/([\w.+-]+\+)?json$/

interface Documented {
  pattern: PathPattern
  path: string
  operations: Record<string, Json>
}

let state: { documented: Documented[]; ajv: Ajv2020; validators: Map<string, ValidateFunction> } | undefined

function load() {
  if (state) return state
  const doc = servedDocument() as Json
  const documented = Object.entries(doc.paths as Record<string, Record<string, Json>>)
    .map(([path, operations]) => ({
      path,
      operations,
      pattern: compilePath(path.replace(/\{([^}]+)\}/g, '[$1]')),
    }))
    .sort((a, b) => comparePatterns(a.pattern, b.pattern))
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false, logger: false })
  addFormats(ajv)
  // Amounts are decimals: 29.99 is a multiple of 0.01, though 29.99 / 0.01 is not an integer in binary
  // floating point. A power-of-ten step is checked on the number's decimal digits instead.
  ajv.removeKeyword('multipleOf')
  ajv.addKeyword({
    keyword: 'multipleOf',
    type: 'number',
    schemaType: 'number',
    validate: (step: number, value: number) => {
      const decimals = Math.round(-Math.log10(step))
      const text = String(value)
      if (step <= 1 && 10 ** -decimals === step && !/e/i.test(text)) {
        return (text.split('.')[1] ?? '').length <= decimals
      }
      const q = value / step
      return Math.abs(q - Math.round(q)) < 1e-9 * Math.max(1, Math.abs(q))
    },
  })
  ajv.addSchema(doc, DOC_ID)
  state = { documented, ajv, validators: new Map() }
  return state
}

const pointer = (...parts: string[]) =>
  `${DOC_ID}#/${parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`

const mediaType = (header: string | null) => (header ?? '').split(';')[0]!.trim().toLowerCase()

export interface ObservedResponse {
  method: string
  /** The request URL (absolute or a path). */
  url: string
  status: number
  headers: Headers
  text: string
}

/** What in `res` the document does not describe; empty when it matches. */
export function contractViolations(res: ObservedResponse): string[] {
  const { documented, ajv, validators } = load()
  const pathname = new URL(res.url, 'http://localhost').pathname.replace(/\/+$/, '') || '/'
  const method = res.method.toUpperCase()
  const body = (() => {
    try {
      return JSON.parse(res.text) as { code?: string }
    } catch {
      return undefined
    }
  })()
  const entry = documented.find((d) => matchPath(d.pattern, pathname))
  // The router's own answers belong to no operation: an unknown path, a method the file does not serve,
  // and CORS preflights.
  if (!entry)
    return res.status === 404 && body?.code === 'route_not_found' ? [] : [`no documented path matches`]
  if (method === 'OPTIONS') return []
  const opMethod = method === 'HEAD' ? 'get' : method.toLowerCase()
  const op = entry.operations[opMethod]
  if (!op) {
    return res.status === 405 && body?.code === 'method_not_allowed'
      ? []
      : [`${method} is not documented for ${entry.path}`]
  }
  const responses = op.responses as Record<string, Json>
  const key = [String(res.status), `${String(res.status)[0]}XX`, 'default'].find((k) => responses[k])
  if (!key)
    return [`status ${res.status} is not documented (documented: ${Object.keys(responses).join(', ')})`]
  if (method === 'HEAD') return []
  const content = responses[key]!.content as Record<string, Json> | undefined
  if (!content)
    return res.text === '' ? [] : [`status ${res.status} is documented without a body, but one was sent`]
  const type = mediaType(res.headers.get('content-type'))
  const declared = Object.keys(content).find((t) => mediaType(t) === type)
  if (!declared)
    return [
      `content type "${type}" is not documented for ${res.status} (documented: ${Object.keys(content).join(', ')})`,
    ]
  if (!JSON_MEDIA.test(type)) return []
  if (body === undefined) return [`the ${type} body is not JSON`]
  const id = `${opMethod} ${entry.path} ${key} ${declared}`
  let validate = validators.get(id)
  if (!validate) {
    validate = ajv.compile({
      $ref: pointer('paths', entry.path, opMethod, 'responses', key, 'content', declared, 'schema'),
    })
    validators.set(id, validate)
  }
  if (validate(body)) return []
  return (validate.errors ?? []).map(
    (e) =>
      `body${e.instancePath || ''} ${e.message}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}`,
  )
}

/** Throws, naming every difference, when `res` is not what the document says this request may answer. */
export function assertMatchesContract(res: ObservedResponse): void {
  const problems = contractViolations(res)
  if (!problems.length) return
  const path = new URL(res.url, 'http://localhost').pathname
  throw new Error(
    `${res.method} ${path} answered ${res.status}, which the OpenAPI document does not describe:\n` +
      problems.map((p) => `  - ${p}`).join('\n') +
      `\nbody: ${res.text.slice(0, 600)}\n` +
      'Fix the code or the route declaration (then npm run openapi), or, for a response that is outside ' +
      'the document on purpose, pass { outsideContract: "<why>" } to this call.',
  )
}

/** The response of `fetch`, checked against the document first (end-to-end tests). */
export async function fetchChecked(input: string | Request, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(input, init)
  assertMatchesContract({
    method: init.method ?? (typeof input === 'string' ? 'GET' : input.method),
    url: typeof input === 'string' ? input : input.url,
    status: res.status,
    headers: res.headers,
    text: await res.clone().text(),
  })
  return res
}
