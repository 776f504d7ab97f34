import { z } from 'zod'
import { type FieldError, ProblemError, unprocessable } from './errors.js'

/** A UUID in any case, lower-cased: paths, bodies and idempotency scopes all see one canonical id. */
export const Uuid = z.uuid().toLowerCase()

/** An email address in a response: every stored one was validated on the way in (or is the erased form). */
export const EmailAddress = z.string().meta({ format: 'email' })

export function issuesToFieldErrors(issues: readonly z.core.$ZodIssue[], prefix?: string): FieldError[] {
  return issues.map((i) => ({
    path: [prefix, ...i.path.map(String)].filter((s) => s !== undefined && s !== '').join('.'),
    message: i.message,
    code: i.code,
  }))
}

/** Paths of strings holding a NUL character, which PostgreSQL text cannot store. */
function nulPaths(value: unknown, path: string[] = [], out: string[] = []): string[] {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) out.push(path.join('.'))
  } else if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) nulPaths(v, [...path, String(i)], out)
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) nulPaths(v, [...path, k], out)
    if (Object.keys(value).some((k) => k.includes('\u0000'))) out.push(path.join('.'))
  }
  return out
}

export function validate<T extends z.ZodType>(schema: T, input: unknown, where: string): z.output<T> {
  const prefix = where === 'body' ? [] : [where]
  const nul = nulPaths(input, prefix)
  if (nul.length) {
    throw unprocessable(
      nul.map((p) => ({ path: p, message: 'Must not contain NUL characters.', code: 'invalid_character' })),
    )
  }
  const r = schema.safeParse(input)
  if (r.success) return r.data
  throw unprocessable(issuesToFieldErrors(r.error.issues, where === 'body' ? undefined : where))
}

/** Query string as an object; a repeated key becomes an array. */
export function queryObject(url: URL, drop: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [k, v] of url.searchParams) {
    if (drop.includes(k)) continue
    const prev = out[k]
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v]
  }
  return out
}

/** Read a body up to `max` bytes; more is a 413 without buffering the rest. */
export async function readBody(request: Request, max: number): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? Number.NaN)
  if (declared > max) throw tooLarge(max)
  if (!request.body) return ''
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > max) {
      await reader.cancel()
      throw tooLarge(max)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

const tooLarge = (max: number) =>
  new ProblemError(413, 'payload_too_large', `The request body is larger than ${max} bytes.`)

export function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    throw new ProblemError(400, 'malformed_json', 'The request body is not valid JSON.')
  }
}
