import { toOpenApiPath } from '../http/path.js'
import type { Handler, RouteSpec } from '../http/route.js'
import { METHODS, type RouteFile } from '../http/router.js'
import { type JsonSchema, SchemaComponents } from './components.js'
import { linkCreatedResources, type Operation } from './links.js'
import { DEFAULT_DOCUMENT_SETTINGS, type DocumentSettings, settingComponents } from './settings.js'
import './named.js'
import { TAGS } from './tags.js'

// One OpenAPI 3.1 document from the routes' own declarations.

const PROBLEM = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail', 'code', 'request_id'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string' },
    request_id: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['path', 'message', 'code'],
        properties: { path: { type: 'string' }, message: { type: 'string' }, code: { type: 'string' } },
      },
    },
  },
}

const problemRef = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
})

const JSON_MEDIA = /^application\/([\w.+-]+\+)?json\b/i

function parameters(c: SchemaComponents, schema: RouteSpec['query'], where: 'path' | 'query'): unknown[] {
  if (!schema) return []
  const js = c.convert(schema, 'input')
  const props = (js.properties ?? {}) as Record<string, JsonSchema>
  const required = new Set((js.required ?? []) as string[])
  return Object.entries(props).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
    schema: s,
  }))
}

function pathParamsFallback(path: string): unknown[] {
  return [...path.matchAll(/\[([^\]]+)\]/g)].map((m) => ({
    name: m[1],
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }))
}

/** Who may call the operation, in words: the first thing an integrator needs after what it does. */
function access(spec: RouteSpec): string {
  const a = spec.auth
  let who: string
  if (a === 'public') who = 'Public: no token needed.'
  else if (a === 'optional') who = 'Public; a valid bearer token is taken into account when sent.'
  else if (a === 'authenticated') who = 'Needs a bearer access token.'
  else if (a === 'cron') who = 'Called by Vercel cron with `Authorization: Bearer <CRON_SECRET>`.'
  else if ('role' in a) who = `Needs a bearer access token of role ${[a.role].flat().join(' or ')}.`
  else who = `Needs a bearer access token with the \`${a.permission}\` permission.`
  return spec.rateLimit === false ? who : `${who} Rate limit policy \`${spec.rateLimit ?? 'default'}\`.`
}

function success(c: SchemaComponents, spec: RouteSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { description: spec.summary }
  if ((spec.status ?? 200) === 204) return out
  const types = [spec.responseContentType ?? 'application/json'].flat()
  const json = spec.response ? c.convert(spec.response, 'output') : {}
  out.content = Object.fromEntries(
    types.map((t) => [t, { schema: JSON_MEDIA.test(t) ? json : { type: 'string' } }]),
  )
  return out
}

function operation(c: SchemaComponents, method: string, spec: RouteSpec): Record<string, unknown> {
  const responses: Record<string, unknown> = { [String(spec.status ?? 200)]: success(c, spec) }
  if (spec.body) {
    responses['400'] = problemRef('Malformed JSON')
    responses['413'] = problemRef(
      spec.maxBodyBytes ? `Body larger than ${spec.maxBodyBytes} bytes` : 'Body too large',
    )
    if (spec.csvBody) responses['415'] = problemRef('Neither JSON nor CSV')
  }
  if (spec.body || spec.query || spec.params) responses['422'] = problemRef('Validation failed')
  if (spec.auth === 'cron') {
    responses['401'] = problemRef('Missing or wrong cron secret')
  } else if (spec.auth !== 'public' && spec.auth !== 'optional') {
    responses['401'] = problemRef('Missing or invalid token')
    if (spec.auth !== 'authenticated') responses['403'] = problemRef('Not allowed')
  }
  // A path with an id names one object: an unknown one, or one the caller may not see, is a 404.
  if (spec.path.includes('[') && spec.auth !== 'cron') {
    responses['404'] = problemRef('Not found (or not visible to the caller)')
  }
  // Order routes decide per order: the caller may see the order yet not act on it this way.
  if (spec.auth === 'authenticated' && /\/(orders\/\[order_id\]|returns\/\[return_id\])/.test(spec.path)) {
    responses['403'] = problemRef('Not allowed to do this to the order')
  }
  if (spec.rateLimit !== false) responses['429'] = problemRef('Rate limited')
  responses['500'] = problemRef('Internal error')
  responses['503'] = problemRef(
    'Unavailable: a required setting is missing in this deployment (missing_configuration), or the ' +
      'database cannot be reached (database_unavailable, with Retry-After)',
  )
  // The route's own, more precise descriptions win over the generic ones above. A 4xx or 5xx may still
  // come from route() itself, so it keeps the problem+json body beside the route's own.
  for (const [code, declared] of Object.entries(spec.responses ?? {})) {
    const { description, schema } = typeof declared === 'string' ? { description: declared } : declared
    const problem = Number(code) >= 400 ? problemRef(description).content : {}
    const own = schema ? { 'application/json': { schema: c.convert(schema, 'output') } } : {}
    const content = { ...own, ...problem }
    responses[code] = Object.keys(content).length ? { description, content } : { description }
  }

  const params = spec.params ? parameters(c, spec.params, 'path') : pathParamsFallback(spec.path)
  const op: Record<string, unknown> = {
    operationId: `${method.toLowerCase()}${spec.path.replace(/^\/api/, '').replace(/[^a-zA-Z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ? ch.toUpperCase() : ''))}`,
    summary: spec.summary,
    description: spec.description ? `${spec.description}\n\n${access(spec)}` : access(spec),
    tags: spec.tags,
    parameters: [...params, ...parameters(c, spec.query, 'query')],
    responses,
  }
  if (spec.auth === 'optional') op.security = [{}, { bearerAuth: [] }]
  else if (spec.auth === 'cron') op.security = [{ cronSecret: [] }]
  else if (spec.auth !== 'public') op.security = [{ bearerAuth: [] }]
  if (typeof spec.auth === 'object') {
    op['x-required'] = 'role' in spec.auth ? { role: spec.auth.role } : { permission: spec.auth.permission }
  }
  if (spec.body) {
    const content: Record<string, unknown> = { 'application/json': { schema: c.convert(spec.body, 'input') } }
    if (spec.csvBody) content['text/csv'] = { schema: { type: 'string' } }
    op.requestBody = { required: true, content }
  }
  return op
}

export function buildOpenApi(
  routes: RouteFile[],
  version: string,
  settings: DocumentSettings = DEFAULT_DOCUMENT_SETTINGS,
): Record<string, unknown> {
  const components = new SchemaComponents({ Problem: PROBLEM, ...settingComponents(settings) })
  const paths: Record<string, Record<string, unknown>> = {}
  const operations: Operation[] = []
  const sorted = [...routes].sort((a, b) => a.path.localeCompare(b.path))
  for (const r of sorted) {
    for (const method of METHODS) {
      const h = r.module[method] as Handler | undefined
      if (!h?.spec) continue // methods() fallbacks (405, HEAD, OPTIONS) are not operations
      const unknownTags = h.spec.tags.filter((t) => !(t in TAGS))
      if (unknownTags.length) {
        throw new Error(`${method} ${r.path}: tags ${unknownTags.join(', ')} are not in lib/openapi/tags.ts`)
      }
      const p = toOpenApiPath(r.path)
      const op = operation(components, method, h.spec)
      paths[p] ??= {}
      paths[p][method.toLowerCase()] = op
      operations.push({ path: p, spec: h.spec, op })
    }
  }
  linkCreatedResources(operations)
  return {
    openapi: '3.1.0',
    info: {
      title: 'Commerce API',
      version,
      description:
        'Fashion commerce back end: auth, users, catalog, inventory, orders, payments, shipping. Errors ' +
        'are RFC 9457 `application/problem+json`; money is a JSON number in major units of the shop ' +
        'currency (components `Money`, `Price`, `Amount`).',
      contact: { name: 'Commerce API maintainers' },
      license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' },
    },
    servers: [{ url: '/' }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(components.schemas).sort(([a], [b]) => a.localeCompare(b))),
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        cronSecret: {
          type: 'http',
          scheme: 'bearer',
          description: 'The CRON_SECRET setting; Vercel sends it to scheduled jobs.',
        },
      },
    },
  }
}
