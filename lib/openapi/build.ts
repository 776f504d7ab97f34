import { z } from 'zod'
import { toOpenApiPath } from '../http/path.js'
import type { Handler, RouteSpec } from '../http/route.js'
import { METHODS, type RouteFile } from '../http/router.js'

// One OpenAPI 3.1 document from the routes' own declarations.

type JsonSchema = Record<string, unknown>

const toSchema = (s: z.ZodType, io: 'input' | 'output'): JsonSchema => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as JsonSchema
  return rest
}

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

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): unknown[] {
  if (!schema) return []
  const js = toSchema(schema, 'input')
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

function operation(method: string, spec: RouteSpec): Record<string, unknown> {
  const status = String(spec.status ?? 200)
  const success: Record<string, unknown> = { description: spec.summary }
  if (status !== '204') {
    success.content = spec.responseContentType
      ? { [spec.responseContentType]: { schema: { type: 'string' } } }
      : { 'application/json': { schema: spec.response ? toSchema(spec.response, 'output') : {} } }
  }
  const responses: Record<string, unknown> = { [status]: success }
  for (const [code, description] of Object.entries(spec.responses ?? {})) responses[code] = { description }
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
  if (spec.path.includes('[') && spec.auth !== 'cron' && !responses['404']) {
    responses['404'] = problemRef('Not found (or not visible to the caller)')
  }
  // Order routes decide per order: the caller may see the order yet not act on it this way.
  if (
    spec.auth === 'authenticated' &&
    /\/(orders\/\[order_id\]|returns\/\[return_id\])/.test(spec.path) &&
    !responses['403']
  ) {
    responses['403'] = problemRef('Not allowed to do this to the order')
  }
  if (spec.rateLimit !== false) responses['429'] = problemRef('Rate limited')
  responses['500'] = problemRef('Internal error')

  const params = spec.params ? parameters(spec.params, 'path') : pathParamsFallback(spec.path)
  const op: Record<string, unknown> = {
    operationId: `${method.toLowerCase()}${spec.path.replace(/^\/api/, '').replace(/[^a-zA-Z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
    summary: spec.summary,
    tags: spec.tags,
    parameters: [...params, ...parameters(spec.query, 'query')],
    responses,
  }
  if (spec.description) op.description = spec.description
  if (spec.auth === 'optional') op.security = [{}, { bearerAuth: [] }]
  else if (spec.auth === 'cron') op.security = [{ cronSecret: [] }]
  else if (spec.auth !== 'public') op.security = [{ bearerAuth: [] }]
  if (typeof spec.auth === 'object') {
    op['x-required'] = 'role' in spec.auth ? { role: spec.auth.role } : { permission: spec.auth.permission }
  }
  if (spec.body) {
    const content: Record<string, unknown> = { 'application/json': { schema: toSchema(spec.body, 'input') } }
    if (spec.csvBody) content['text/csv'] = { schema: { type: 'string' } }
    op.requestBody = { required: true, content }
  }
  return op
}

export function buildOpenApi(routes: RouteFile[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  const sorted = [...routes].sort((a, b) => a.path.localeCompare(b.path))
  for (const r of sorted) {
    for (const method of METHODS) {
      const h = r.module[method] as Handler | undefined
      if (!h?.spec) continue // methods() fallbacks (405, HEAD, OPTIONS) are not operations
      const p = toOpenApiPath(r.path)
      paths[p] ??= {}
      paths[p][method.toLowerCase()] = operation(method, h.spec)
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Commerce API',
      version,
      description: 'Fashion commerce back end: auth, users, catalog, inventory, orders, payments, shipping.',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: { Problem: PROBLEM },
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
