import type { Db } from '../../lib/platform/db.js'
import { preparedQueryPrototype } from './statements.js'

// A seam for races that need one request to be slow at an exact point: the next statement whose SQL and
// parameters match runs for real on the database, and its result is held back from the caller until
// `release()`. Hooked where statements run (the driver's prepared query class, PGlite and Neon), so a
// statement prepared once and reused (lib/platform/db preparedPerDb) is matched on each run, with the
// values bound to its placeholders among its parameters.

export interface HeldQuery {
  /** Resolves once the matching statement has run and its result is being held. */
  reached: Promise<void>
  release(): void
  /** Restore the driver (also releases a held result). */
  restore(): void
}

type Execute = (this: PreparedLike, placeholders?: Record<string, unknown>) => Promise<unknown>
interface PreparedLike {
  query?: { sql: string; params: unknown[] }
}

export function holdNextQuery(db: Db, matches: (sql: string, params: unknown[]) => boolean): HeldQuery {
  const proto = preparedQueryPrototype(db)
  const original = proto.execute as Execute
  let release!: () => void
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  let reach!: () => void
  const reached = new Promise<void>((resolve) => {
    reach = resolve
  })
  let armed = true
  proto.execute = async function (this: PreparedLike, placeholders?: Record<string, unknown>) {
    const sql = this.query?.sql ?? ''
    const params = [...(this.query?.params ?? []), ...Object.values(placeholders ?? {})]
    if (!(armed && matches(sql, params))) return original.call(this, placeholders)
    armed = false
    const result = await original.call(this, placeholders)
    reach()
    await gate
    return result
  } satisfies Execute
  return {
    reached,
    release,
    restore() {
      proto.execute = original
      release()
    },
  }
}
