import type { Db } from '../../lib/platform/db.js'

/**
 * How many statements `fn` sends to the database. Every statement, in or out of a transaction, goes
 * through the driver session's prepareQuery (a transaction's session shares its prototype).
 */
export async function countStatements<T>(
  db: Db,
  fn: () => Promise<T>,
): Promise<{ result: T; statements: number }> {
  const proto = Object.getPrototypeOf((db as unknown as { session: object }).session)
  const original = proto.prepareQuery
  let statements = 0
  proto.prepareQuery = function (this: unknown, ...args: unknown[]) {
    statements++
    return original.apply(this, args)
  }
  try {
    const result = await fn()
    return { result, statements }
  } finally {
    proto.prepareQuery = original
  }
}
