// `npm run dev`: the API on http://localhost:$PORT (default 3000), served from the same api/ files Vercel
// deploys. Without DATABASE_URL it uses the embedded PGlite in PGLITE_DATA_DIR, migrated and seeded.
import { existsSync, readFileSync, statSync } from 'node:fs'
import { extname, join, normalize, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { serve } from '@hono/node-server'
import { setSocketAddress } from '../lib/http/client.js'
import { createRouter, loadRoutes } from '../lib/http/router.js'
import { setClock } from '../lib/platform/clock.js'
import { closeDatabase, getDb, migrateNeon } from '../lib/platform/db.js'
import { env, isDeployed } from '../lib/platform/env.js'
import { log } from '../lib/platform/logger.js'
import { ensureAdmin, seedDemoCatalog } from '../lib/seed/demo.js'
import { AccountError } from '../lib/users/accounts.js'
import { buildStatic, PUBLIC_DIR } from './build-static.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const port = Number(process.env.PORT ?? 3000)
const ADMIN_VARIABLE = { email: 'ADMIN_EMAIL', password: 'ADMIN_PASSWORD' } as const

// DEV_CLOCK_OFFSET_MS moves this server's clock (lib/platform/clock.ts) ahead by that many milliseconds:
// the crash test (tests/services/crash-points.test.ts) restarts the server "later" to run the recovery
// that waits for time to pass (a refund's retry after 10 minutes, a label claim after 2, unpaid orders
// after 30). It exists only in this development script, which no deployment runs, and it is refused
// wherever a deployment's variables are set.
const clockOffset = process.env.DEV_CLOCK_OFFSET_MS
if (clockOffset !== undefined && clockOffset !== '') {
  const refuse = (why: string) => {
    console.error(`DEV_CLOCK_OFFSET_MS: ${why}`)
    process.exit(1)
  }
  if (process.env.NODE_ENV === 'production' || process.env.VERCEL_ENV || process.env.VERCEL)
    refuse('for local tests only; refused with NODE_ENV=production, VERCEL or VERCEL_ENV set')
  const offset = Number(clockOffset)
  if (!Number.isSafeInteger(offset)) refuse('must be a whole number of milliseconds')
  setClock(() => Date.now() + offset)
}

const routes = await loadRoutes(root)
const router = createRouter(routes)

// The static output as Vercel serves it (public/: the landing page, the reference page's Scalar bundle),
// built here as the deploy's build command builds it; any path outside /api/ is a file of it or a 404.
buildStatic()
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
}
function staticFile(request: Request): Response | undefined {
  const { pathname } = new URL(request.url)
  if (pathname.startsWith('/api/') || pathname === '/api') return undefined
  if (request.method !== 'GET' && request.method !== 'HEAD') return undefined
  let decoded: string
  try {
    decoded = decodeURIComponent(pathname)
  } catch {
    return undefined
  }
  const file = normalize(join(PUBLIC_DIR, decoded, decoded.endsWith('/') ? 'index.html' : ''))
  if (!file.startsWith(PUBLIC_DIR + sep) || !existsSync(file) || !statSync(file).isFile()) return undefined
  return new Response(request.method === 'HEAD' ? null : readFileSync(file), {
    headers: {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'x-content-type-options': 'nosniff',
      'cache-control': 'public, max-age=0, must-revalidate',
    },
  })
}

const embedded = !env().DATABASE_URL
if (isDeployed()) throw new Error('scripts/dev.ts is for development; deployed code runs as Vercel functions')
// Development against a real PostgreSQL is migrated like the embedded one.
if (!embedded) await migrateNeon(env().DATABASE_URL_UNPOOLED ?? env().DATABASE_URL!)
const db = await getDb()
{
  const seeded = await seedDemoCatalog(db)
  const admin = await ensureAdmin(db, {
    email: process.env.ADMIN_EMAIL ?? 'admin@example.com',
    password: process.env.ADMIN_PASSWORD ?? 'demo-shop-passphrase-change-me',
  }).catch(async (err: unknown) => {
    // A refused ADMIN_EMAIL / ADMIN_PASSWORD is a setting to fix, not a crash: one line, no stack.
    if (!(err instanceof AccountError)) throw err
    console.error(`${ADMIN_VARIABLE[err.field]}: ${err.message}`)
    await closeDatabase()
    process.exit(1)
  })
  if (seeded) log.info('seeded the demo catalog')
  console.log(
    admin.created
      ? `Admin account: ${admin.email} with the password from ADMIN_PASSWORD (default "demo-shop-passphrase-change-me").`
      : `Admin account: ${admin.email} (already existed; its password is unchanged).`,
  )
}

const server = serve({
  port,
  fetch: (request: Request, nodeEnv: { incoming?: { socket?: { remoteAddress?: string } } }) => {
    setSocketAddress(request, nodeEnv.incoming?.socket?.remoteAddress)
    return staticFile(request) ?? router(request)
  },
})

console.log(
  `Commerce API on http://localhost:${port}/api/v1/health, its reference page on http://localhost:${port}/api/docs (${routes.length} routes; database: ${
    embedded ? `embedded PGlite in ${env().PGLITE_DATA_DIR}` : 'DATABASE_URL'
  }).\nSign in: curl -X POST localhost:${port}/api/v1/auth/login -H 'content-type: application/json' -d '{"email":"<admin email>","password":"<password>"}'`,
)

// Close the embedded database cleanly so its data directory stays consistent.
const stop = () => {
  server.close()
  closeDatabase().finally(() => process.exit(0))
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
