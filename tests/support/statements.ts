import type { Db } from '../../lib/platform/db.js'

type Executable = { query?: { sql?: string } }
const RUNS = ['execute', 'all', 'values'] as const

/**
 * The prototype every statement of this database's driver runs through (PGlite's or Neon's prepared query
 * class; transactions make the same class), found from a prepared query that is never executed.
 */
export function preparedQueryPrototype(db: Db): Record<string, unknown> {
  const session = (db as unknown as { session: { prepareQuery: (...args: unknown[]) => object } }).session
  return Object.getPrototypeOf(
    session.prepareQuery({ sql: 'select 1', params: [] }, undefined, undefined, false),
  ) as Record<string, unknown>
}

/**
 * How many statements `fn` sends to the database, and their SQL. Counted where a statement runs: every
 * statement, in or out of a transaction, prepared once and reused (lib/platform/db preparedPerDb) or
 * built for this call, is a prepared query of the driver's session class, and each run is one call of its
 * execute/all/values (a transaction's session makes the same class). So this counts at the driver for
 * PGlite and the Neon Pool alike, and a statement built before the count started still counts each time
 * it runs.
 */
export async function countStatements<T>(
  db: Db,
  fn: () => Promise<T>,
): Promise<{ result: T; statements: number; texts: string[] }> {
  const proto = preparedQueryPrototype(db)
  const originals = new Map<string, unknown>()
  const texts: string[] = []
  for (const name of RUNS) {
    const original = Object.hasOwn(proto, name) ? proto[name] : undefined
    if (typeof original !== 'function') continue
    originals.set(name, original)
    proto[name] = function (this: Executable, ...args: unknown[]) {
      texts.push(String(this.query?.sql ?? ''))
      return (original as (...a: unknown[]) => unknown).apply(this, args)
    }
  }
  try {
    const result = await fn()
    return { result, statements: texts.length, texts }
  } finally {
    for (const [name, original] of originals) proto[name] = original
  }
}
