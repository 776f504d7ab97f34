// `npm run db:migrate`: apply pending migrations. A deploy step, run before new functions take traffic.
// Uses DATABASE_URL_UNPOOLED (Neon's direct URL) when set, else DATABASE_URL; without either, the
// embedded PGlite in PGLITE_DATA_DIR.
import { closeDatabase, getDb, migrateNeon } from '../lib/platform/db.js'
import { env } from '../lib/platform/env.js'

const e = env()
const url = e.DATABASE_URL_UNPOOLED ?? e.DATABASE_URL
if (url) {
  await migrateNeon(url)
  console.log('migrations applied')
} else {
  await getDb() // PGlite migrates on open
  await closeDatabase()
  console.log(`migrations applied to the embedded database in ${e.PGLITE_DATA_DIR}`)
}
process.exit(0)
