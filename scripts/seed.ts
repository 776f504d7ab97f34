// `npm run seed`: the demo catalog (categories, products with size and colour variants, stock) into the
// configured database: DATABASE_URL, or the embedded PGlite in PGLITE_DATA_DIR. It seeds an empty
// catalog only, so running it again changes nothing. `npm run dev` does the same on start.
import { closeDatabase, getDb, migrateNeon } from '../lib/platform/db.js'
import { env, isDeployed } from '../lib/platform/env.js'
import { seedDemoCatalog } from '../lib/seed/demo.js'

if (isDeployed()) {
  console.error('npm run seed is for development databases; it refuses a deployed environment')
  process.exit(1)
}
const e = env()
if (e.DATABASE_URL) await migrateNeon(e.DATABASE_URL_UNPOOLED ?? e.DATABASE_URL)
const seeded = await seedDemoCatalog(await getDb())
await closeDatabase()
console.log(seeded ? 'seeded the demo catalog' : 'the catalog already has products: nothing seeded')
process.exit(0)
