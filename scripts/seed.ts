// `npm run seed`: the demo catalog (categories, products with size and colour variants, stock) into the
// configured database: DATABASE_URL, or the embedded PGlite in PGLITE_DATA_DIR. It seeds an empty
// catalog only, so running it again changes nothing. `npm run dev` does the same on start.
// `npm run seed -- --scale bench`: instead the bench data set (bench/catalog-seed.ts): 10,000 products with
// 50,000 variants, 200 customers with 20,000 orders, the order bench's SKUs; an empty catalog only, with a
// progress bar on stderr. The customers sign in as bench-customer-<n>@example.com with the bench password.
import { parseArgs } from 'node:util'
import { BENCH_CUSTOMER_PASSWORD, BENCH_SCALE, BENCH_SIZES, seedBenchScale } from '../bench/catalog-seed.js'
import { progressBar } from '../bench/progress.js'
import { hashPassword } from '../lib/auth/password.js'
import { closeDatabase, getDb, migrateNeon } from '../lib/platform/db.js'
import { env, isDeployed } from '../lib/platform/env.js'
import { seedDemoCatalog } from '../lib/seed/demo.js'

const { values } = parseArgs({ options: { scale: { type: 'string' } } })
if (values.scale !== undefined && values.scale !== 'bench') {
  console.error(`--scale: the only scale is "bench" (got "${values.scale}")`)
  process.exit(2)
}
if (isDeployed()) {
  console.error('npm run seed is for development databases; it refuses a deployed environment')
  process.exit(1)
}
const e = env()
if (e.DATABASE_URL) await migrateNeon(e.DATABASE_URL_UNPOOLED ?? e.DATABASE_URL)
const db = await getDb()
if (values.scale === 'bench') {
  const started = performance.now()
  try {
    await seedBenchScale(
      db,
      { ...BENCH_SCALE, passwordHash: await hashPassword(BENCH_CUSTOMER_PASSWORD) },
      progressBar('seed'),
    )
  } catch (err) {
    await closeDatabase()
    console.error(err instanceof Error ? err.message : String(err))
    process.exit(1)
  }
  await closeDatabase()
  console.log(
    `seeded the bench data set: ${BENCH_SCALE.products.toLocaleString('en')} products, ${(BENCH_SCALE.products * BENCH_SIZES.length).toLocaleString('en')} variants, ${BENCH_SCALE.orders.toLocaleString('en')} orders in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  )
  process.exit(0)
}
const seeded = await seedDemoCatalog(db)
await closeDatabase()
console.log(seeded ? 'seeded the demo catalog' : 'the catalog already has products: nothing seeded')
process.exit(0)
