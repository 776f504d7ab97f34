import { defineConfig } from 'drizzle-kit'

// `npm run db:generate` reads only the schema. `npm run db:studio` opens the configured database:
// DATABASE_URL_UNPOOLED / DATABASE_URL when set, otherwise the embedded PGlite directory of `npm run dev`.
const url = process.env.DATABASE_URL_UNPOOLED ?? process.env.DATABASE_URL

export default defineConfig({
  dialect: 'postgresql',
  schema: './db/schema/index.ts',
  out: './db/migrations',
  ...(url
    ? { dbCredentials: { url } }
    : { driver: 'pglite', dbCredentials: { url: process.env.PGLITE_DATA_DIR ?? '.data/pglite' } }),
  strict: true,
  verbose: true,
})
