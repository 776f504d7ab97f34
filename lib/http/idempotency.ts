import { createHash } from 'node:crypto'
import { and, eq, lte } from 'drizzle-orm'
import { idempotencyKeys } from '../../db/schema/index.js'
import type { Db } from '../platform/db.js'
import { badRequest, conflict } from './errors.js'
import { canonicalPathOf } from './path.js'
import { json } from './route.js'

// Idempotency-Key for writes that move money or goods (orders, refunds, fulfilments, shipments,
// payments). The key row is written in the same transaction as the change, so a replay exists exactly
// when the change committed. Same key + same body -> the first answer again; same key + another body ->
// 409 idempotency_key_reused. Two racing requests with one key: the second one's insert waits on the
// unique index, finds the first one's row, rolls its own change back and replays the first answer.
// Keys are scoped to the caller and the route, and purged after 24 h (cleanup cron).

export const IDEMPOTENCY_HEADER = 'idempotency-key'
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/

export interface StoredAnswer {
  status: number
  body: unknown
}

export interface IdempotencyContext {
  db: Db
  request: Request
  /** who is calling: `user:<id>`, or `guest:<sha256 of the lower-cased email>` */
  caller: string
  /** the validated body (hashed canonically: key order does not matter) */
  body: unknown
}

export interface Saver {
  /** Store the answer in the change's transaction (a no-op without an Idempotency-Key). */
  save(tx: Pick<Db, 'insert'>, answer: StoredAnswer): Promise<void>
  /** whether the request carried a key */
  readonly active: boolean
}

class IdempotencyRace extends Error {}

export const guestCaller = (email: string) =>
  `guest:${createHash('sha256').update(email.trim().toLowerCase()).digest('hex')}`

/**
 * Run a money-moving write under the request's Idempotency-Key. `run` performs the change in a
 * transaction and calls `saver.save(tx, answer)` inside it. `rebuild` turns a stored answer into the
 * response (default: the stored body as JSON) — e.g. orders store only their id and rebuild the order.
 */
export async function withIdempotency(
  ctx: IdempotencyContext,
  run: (saver: Saver) => Promise<Response>,
  rebuild: (stored: StoredAnswer) => Promise<Response> = async (s) => json(s.body, s.status),
): Promise<Response> {
  const key = ctx.request.headers.get(IDEMPOTENCY_HEADER)
  if (key === null) return run({ active: false, save: async () => {} })
  if (!KEY_PATTERN.test(key)) {
    throw badRequest('invalid_idempotency_key', 'Idempotency-Key must be 1-255 visible ASCII characters.')
  }
  // the canonical path: an id in upper case is the same resource, so the same scope
  const scope = `${ctx.caller} ${ctx.request.method} ${canonicalPathOf(ctx.request)}`
  const requestHash = createHash('sha256').update(canonicalJson(ctx.body)).digest('hex')

  const replay = async (): Promise<Response | null> => {
    const [prior] = await ctx.db
      .select()
      .from(idempotencyKeys)
      .where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key)))
    if (!prior) return null
    if (prior.expiresAt.getTime() <= Date.now()) {
      await ctx.db
        .delete(idempotencyKeys)
        .where(and(eq(idempotencyKeys.id, prior.id), lte(idempotencyKeys.expiresAt, new Date())))
      return null
    }
    if (prior.requestHash !== requestHash) {
      throw conflict('idempotency_key_reused', 'This Idempotency-Key was used with a different request body.')
    }
    const res = await rebuild({ status: prior.responseStatus ?? 200, body: prior.responseBody })
    res.headers.set('idempotent-replayed', 'true')
    return res
  }

  const first = await replay()
  if (first) return first
  try {
    return await run({
      active: true,
      save: async (tx, answer) => {
        const inserted = await tx
          .insert(idempotencyKeys)
          .values({
            key,
            scope,
            requestHash,
            responseStatus: answer.status,
            responseBody: answer.body,
            expiresAt: new Date(Date.now() + IDEMPOTENCY_TTL_MS),
          })
          .onConflictDoNothing()
          .returning({ id: idempotencyKeys.id })
        if (inserted.length === 0) throw new IdempotencyRace()
      },
    })
  } catch (err) {
    if (!(err instanceof IdempotencyRace)) throw err
    const again = await replay()
    if (again) return again
    throw conflict('idempotency_key_in_use', 'A request with this Idempotency-Key is still in progress.')
  }
}

/** JSON with object keys sorted, so `{a,b}` and `{b,a}` hash alike. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null'
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}
