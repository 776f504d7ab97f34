import { z } from 'zod'

// Route schemas become JSON Schema through zod, and every schema named with `.meta({ id })` becomes one
// component under #/components/schemas, referenced from wherever it is used. That is also how recursive
// schemas (the category tree) are written: a `$ref` inside an OpenAPI 3.1 schema resolves against the
// document root, so zod's per-schema `$defs` would point nowhere once the schema is placed in an operation.

export type JsonSchema = Record<string, unknown>

const DEFS = '#/$defs/'
export const COMPONENTS = '#/components/schemas/'

const UNNAMED = 'An unnamed recursive schema: name it with .meta({ id }) so it becomes a component'

/** zod's `#/$defs/X` as `#/components/schemas/X`; any other reference (`#`, zod's `__schemaN`) is refused. */
function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs)
  if (!value || typeof value !== 'object') return value
  const out: JsonSchema = {}
  for (const [k, v] of Object.entries(value)) {
    if (k !== '$ref') {
      out[k] = rewriteRefs(v)
      continue
    }
    const name = typeof v === 'string' && v.startsWith(DEFS) ? v.slice(DEFS.length) : ''
    if (!name || name.startsWith('__schema')) throw new Error(`${UNNAMED} (a $ref to ${String(v)})`)
    out[k] = COMPONENTS + name
  }
  return out
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

export class SchemaComponents {
  readonly schemas: Record<string, JsonSchema>
  readonly #given: ReadonlySet<string>

  /** `given`: components whose content is written by hand (those that depend on settings), not by zod. */
  constructor(given: Record<string, JsonSchema> = {}) {
    this.schemas = { ...given }
    this.#given = new Set(Object.keys(given))
  }

  /** `s` as an inline JSON Schema; its named parts are collected as components. */
  convert(s: z.ZodType, io: 'input' | 'output'): JsonSchema {
    const { $schema: _drop, $defs, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as JsonSchema
    for (const [name, def] of Object.entries(($defs ?? {}) as Record<string, JsonSchema>)) {
      if (name.startsWith('__schema')) throw new Error(`${UNNAMED}: ${JSON.stringify(def).slice(0, 120)}…`)
      this.add(name, rewriteRefs(def) as JsonSchema)
    }
    return rewriteRefs(rest) as JsonSchema
  }

  add(name: string, schema: JsonSchema): void {
    if (this.#given.has(name)) return
    const known = this.schemas[name]
    if (known && !same(known, schema)) {
      // One name, two shapes (e.g. a schema read as request input and as response output differs):
      // a reader of the document could not tell which one a $ref means.
      throw new Error(
        `Component ${name} has two different shapes: ${JSON.stringify(known)} and ${JSON.stringify(schema)}`,
      )
    }
    this.schemas[name] = schema
  }
}
