import type { Db } from '../../lib/platform/db.js'

// A seam for races that need one request to be slow at an exact point: the next statement whose SQL and
// parameters match runs for real on the database, and its result is held back from the caller until
// `release()`. Every drizzle statement goes through the driver session's prepareQuery (PGlite and Neon).

export interface HeldQuery {
  /** Resolves once the matching statement has run and its result is being held. */
  reached: Promise<void>
  release(): void
  /** Restore the driver (also releases a held result). */
  restore(): void
}

interface Prepared {
  execute(...args: unknown[]): Promise<unknown>
}

export function holdNextQuery(db: Db, matches: (sql: string, params: unknown[]) => boolean): HeldQuery {
  const proto = Object.getPrototypeOf((db as unknown as { session: object }).session)
  const original = proto.prepareQuery as (...args: unknown[]) => Prepared
  let release!: () => void
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  let reach!: () => void
  const reached = new Promise<void>((resolve) => {
    reach = resolve
  })
  let armed = true
  proto.prepareQuery = function (this: unknown, ...args: unknown[]) {
    const prepared = original.apply(this, args)
    const query = args[0] as { sql: string; params: unknown[] }
    if (armed && matches(query.sql, query.params)) {
      armed = false
      const execute = prepared.execute.bind(prepared)
      prepared.execute = async (...a: unknown[]) => {
        const result = await execute(...a)
        reach()
        await gate
        return result
      }
    }
    return prepared
  }
  return {
    reached,
    release,
    restore() {
      proto.prepareQuery = original
      release()
    },
  }
}
