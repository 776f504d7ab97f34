import { getDb } from '../../lib/platform/db.js'

// Count the SQL statements the application sends, at the driver: the PGlite client (its query/exec and
// the query of each transaction handle) or the Neon Pool (its query and the query of each pooled client).
// BEGIN/COMMIT/ROLLBACK/SAVEPOINT are the transaction's frame, not statements of the work, and are left out.

type Query = (q: unknown, ...rest: unknown[]) => Promise<unknown>
const frame = /^\s*(begin|commit|rollback|savepoint|release)\b/i

export async function countStatements<T>(fn: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
  const db = await getDb()
  const client = (db as unknown as { session: { client: Record<string, unknown> } }).session.client
  const statements: string[] = []
  const record = (q: unknown) => {
    const text = typeof q === 'string' ? q : String((q as { text?: string })?.text ?? '')
    if (!frame.test(text)) statements.push(text)
  }
  const counted =
    (orig: Query): Query =>
    (q, ...rest) => {
      record(q)
      return orig(q, ...rest)
    }
  const restore: Array<() => void> = []
  const patch = (obj: Record<string, unknown>, name: string, make: (orig: Query) => Query) => {
    const orig = obj[name] as Query | undefined
    if (typeof orig !== 'function') return
    obj[name] = make(orig.bind(obj))
    restore.push(() => {
      obj[name] = orig
    })
  }
  patch(client, 'query', counted)
  patch(client, 'exec', counted)
  // PGlite: each transaction gets its own handle.
  patch(
    client,
    'transaction',
    (orig) =>
      ((cb: (tx: Record<string, unknown>) => Promise<unknown>) =>
        orig(async (tx: Record<string, unknown>) => {
          tx.query = counted((tx.query as Query).bind(tx))
          return cb(tx)
        })) as Query,
  )
  // Neon Pool: transactions run on a pooled client.
  patch(
    client,
    'connect',
    (orig) =>
      (async (...args: unknown[]) => {
        // Pool.query checks a client out with a callback: its statement is already counted by query above.
        if (typeof args.at(-1) === 'function') return (orig as (...a: unknown[]) => unknown)(...args)
        const c = (await (orig as (...a: unknown[]) => Promise<unknown>)(...args)) as Record<string, unknown>
        const own = c.query as Query
        c.query = counted(own.bind(c))
        const release = c.release as (...a: unknown[]) => unknown
        c.release = (...a: unknown[]) => {
          c.query = own
          c.release = release
          return release.apply(c, a)
        }
        return c
      }) as Query,
  )
  try {
    return { result: await fn(), statements }
  } finally {
    for (const r of restore.reverse()) r()
  }
}
