import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import * as schema from '../../db/schema/index.js'
import { env, isDeployed } from './env.js'
import { log } from './logger.js'

// Driver selection (ADR 001): no DATABASE_URL -> embedded PGlite (development and `npm test`), migrated
// on start; DATABASE_URL -> the Neon serverless Pool over WebSocket, as in production.

export type Schema = typeof schema

/** The rows of a raw `db.execute(sql...)` result (both drivers answer `{ rows }`). */
export const rowsOf = <T>(result: unknown): T[] => (result as { rows: T[] }).rows
export type Db = PgDatabase<PgQueryResultHKT, Schema>
export type DriverKind = 'pglite' | 'neon'

/**
 * Statements built once per database instance for hot paths: Drizzle assembles the SQL and the result
 * mapping at `.prepare(name)`, and every call then only binds its placeholders (on PostgreSQL the name
 * also makes it a named protocol-level statement, parsed once per connection). Cached per db object, so
 * tests that swap the database with setDatabase() (and transactions) get statements of their own.
 * Names must be unique per SQL text.
 */
export function preparedPerDb<T>(build: (db: Db) => T): (db: Db) => T {
  const built = new WeakMap<Db, T>()
  return (db) => {
    let statements = built.get(db)
    if (statements === undefined) {
      statements = build(db)
      built.set(db, statements)
    }
    return statements
  }
}

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../db/migrations', import.meta.url))

interface Connection {
  db: Db
  kind: DriverKind
  close(): Promise<void>
}

let connection: Promise<Connection> | undefined

export async function getDb(): Promise<Db> {
  return (await getConnection()).db
}

export async function driverKind(): Promise<DriverKind> {
  return (await getConnection()).kind
}

function getConnection(): Promise<Connection> {
  if (!connection) {
    connection = connect()
    // A failed start is retried by the next request instead of being cached forever.
    connection.catch(() => {
      connection = undefined
    })
  }
  return connection
}

async function connect(): Promise<Connection> {
  const e = env()
  if (e.DATABASE_URL) return connectNeon(e.DATABASE_URL)
  if (isDeployed(e)) throw new Error('DATABASE_URL is required in a deployed environment')
  return connectPglite(e.PGLITE_DATA_DIR)
}

/** Point the Neon driver at a local WebSocket-to-TCP proxy in front of a plain PostgreSQL. */
export async function configureNeonDriver(proxy: string | undefined): Promise<void> {
  const { neonConfig } = await import('@neondatabase/serverless')
  if (typeof globalThis.WebSocket === 'undefined') {
    neonConfig.webSocketConstructor = (await import('ws')).default
  }
  if (proxy) {
    neonConfig.wsProxy = () => proxy
    neonConfig.useSecureWebSocket = false
    neonConfig.pipelineTLS = false
    neonConfig.pipelineConnect = false
  }
}

async function connectNeon(url: string): Promise<Connection> {
  const [{ Pool }, { drizzle }, { attachDatabasePool }] = await Promise.all([
    import('@neondatabase/serverless'),
    import('drizzle-orm/neon-serverless'),
    import('@vercel/functions'),
  ])
  await configureNeonDriver(env().NEON_WS_PROXY)
  // A bounded connect: an unreachable database answers 503 database_unavailable within seconds instead
  // of holding the function until the platform's timeout.
  const pool = new Pool({
    connectionString: url,
    max: 10,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: 5_000,
  })
  pool.on('error', (err: Error) => log.error('database pool error', { err }))
  // Fluid compute: release idle connections while the instance is suspended.
  attachDatabasePool(pool)
  const db = drizzle({ client: pool, schema }) as unknown as Db
  return { db, kind: 'neon', close: () => pool.end() }
}

/**
 * Extensions every PGlite must be created with (migrations create them; PGlite has only those passed to its
 * constructor): pg_trgm for typo-tolerant product search. Loaded lazily, like PGlite itself.
 */
export async function pgliteExtensions() {
  const { pg_trgm } = await import('@electric-sql/pglite/contrib/pg_trgm')
  return { pg_trgm }
}

async function connectPglite(dataDir: string): Promise<Connection> {
  const [{ PGlite }, { drizzle }, { migrate }, extensions] = await Promise.all([
    import('@electric-sql/pglite'),
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
    pgliteExtensions(),
  ])
  const memory = dataDir.startsWith('memory://')
  if (!memory) mkdirSync(dataDir, { recursive: true })
  const client = memory ? new PGlite({ extensions }) : new PGlite(dataDir, { extensions })
  const db = drizzle({ client, schema })
  await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER })
  return { db: db as unknown as Db, kind: 'pglite', close: () => client.close() }
}

/** Tests: use this database (an already-migrated PGlite or a per-file PostgreSQL database). */
export function setDatabase(db: Db, kind: DriverKind, close: () => Promise<void> = async () => {}): void {
  connection = Promise.resolve({ db, kind, close })
}

export async function closeDatabase(): Promise<void> {
  const c = connection
  connection = undefined
  if (c) await (await c).close()
}

/** Apply pending migrations to DATABASE_URL_UNPOOLED (or DATABASE_URL): the deploy step. */
export async function migrateNeon(url: string): Promise<void> {
  const [{ Pool }, { drizzle }, { migrate }] = await Promise.all([
    import('@neondatabase/serverless'),
    import('drizzle-orm/neon-serverless'),
    import('drizzle-orm/neon-serverless/migrator'),
  ])
  await configureNeonDriver(env().NEON_WS_PROXY)
  const pool = new Pool({ connectionString: url, max: 1 })
  try {
    await migrate(drizzle({ client: pool }), { migrationsFolder: MIGRATIONS_FOLDER })
  } finally {
    await pool.end()
  }
}
