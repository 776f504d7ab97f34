import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { servicesMode, TEST_PG_URL, TEST_REDIS_URL, withDatabase } from './services.js'
import { startUpstashProxy } from './upstash-proxy.js'
import { startWsProxy } from './ws-proxy.js'

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteSnapshot: string
    services: {
      wsProxy: string
      pgUrl: string
      template: string
      upstashUrl: string
      upstashToken: string
    } | null
  }
}

// Migrate once per run. Embedded: a PGlite data dir dumped to a file each test file loads (~0.5 s).
// Services: a migrated template database each test file copies with CREATE DATABASE ... TEMPLATE.
export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'commerce-test-'))
  const { PGlite } = await import('@electric-sql/pglite')
  const { drizzle } = await import('drizzle-orm/pglite')
  const { migrate } = await import('drizzle-orm/pglite/migrator')
  const { pgliteExtensions } = await import('../../lib/platform/db.js')
  const pg = new PGlite({ extensions: await pgliteExtensions() })
  await migrate(drizzle({ client: pg }), { migrationsFolder: 'db/migrations' })
  const dump = await pg.dumpDataDir('none')
  await pg.close()
  const snapshot = join(dir, 'pglite.tar')
  writeFileSync(snapshot, Buffer.from(await dump.arrayBuffer()))
  project.provide('pgliteSnapshot', snapshot)

  if (!servicesMode) {
    project.provide('services', null)
    return () => rmSync(dir, { recursive: true, force: true })
  }

  const ws = await startWsProxy({
    pgHost: new URL(TEST_PG_URL).hostname,
    pgPort: Number(new URL(TEST_PG_URL).port || 5432),
  })
  const upstash = await startUpstashProxy({ redisUrl: TEST_REDIS_URL })
  process.env.NEON_WS_PROXY = ws.url
  const { Pool } = await import('@neondatabase/serverless')
  const { configureNeonDriver, migrateNeon } = await import('../../lib/platform/db.js')
  await configureNeonDriver(ws.url)
  const template = `commerce_tpl_${process.pid}`
  const admin = new Pool({ connectionString: TEST_PG_URL, max: 1 })
  await admin.query(`drop database if exists ${template}`)
  await admin.query(`create database ${template}`)
  await migrateNeon(withDatabase(TEST_PG_URL, template))
  project.provide('services', {
    wsProxy: ws.url,
    pgUrl: TEST_PG_URL,
    template,
    upstashUrl: upstash.url,
    upstashToken: upstash.token,
  })

  return async () => {
    await admin.query(`drop database if exists ${template} with (force)`).catch(() => undefined)
    await admin.end()
    await Promise.all([ws.close(), upstash.close()])
    rmSync(dir, { recursive: true, force: true })
  }
}
