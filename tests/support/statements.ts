import type { Db } from '../../lib/platform/db.js'

/**
 * How many statements `fn` sends to the database, and their SQL. Every statement, in or out of a
 * transaction, goes through the driver session's prepareQuery (a transaction's session shares its
 * prototype), so this counts at the driver for PGlite and the Neon Pool alike.
 */
export async function countStatements<T>(
  db: Db,
  fn: () => Promise<T>,
): Promise<{ result: T; statements: number; texts: string[] }> {
  const proto = Object.getPrototypeOf((db as unknown as { session: object }).session)
  const original = proto.prepareQuery
  const texts: string[] = []
  proto.prepareQuery = function (this: unknown, ...args: unknown[]) {
    texts.push(String((args[0] as { sql?: string })?.sql ?? ''))
    return original.apply(this, args)
  }
  try {
    const result = await fn()
    return { result, statements: texts.length, texts }
  } finally {
    proto.prepareQuery = original
  }
}
