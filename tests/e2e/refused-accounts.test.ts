import { spawn } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, type ExpectStatic, inject, it } from 'vitest'
import { pgliteExtensions } from '../../lib/platform/db.js'
import { ROOT } from '../support/http.js'

// A refused admin account is a setting to fix: `npm run dev` and `npm run user:create` print one line
// naming the input and the rule it breaks, and exit 1, never a stack trace; so does `npm run dev` given
// the crash test's DEV_CLOCK_OFFSET_MS where a deployment's variables are set. Each run gets its own copy of
// an already-migrated embedded database, so nothing here touches another test's data and the runs can go
// side by side. (Migrating a fresh data dir is what tests/e2e/dev-server.test.ts covers; here it would
// only add seconds of CPU to each run.)

const work = mkdtempSync(join(tmpdir(), 'commerce-refused-'))
const migrated = join(work, 'migrated')
let runs = 0

beforeAll(async () => {
  // The run's migrated snapshot (tests/support/global-setup.ts), unpacked once into a data directory.
  const { PGlite } = await import('@electric-sql/pglite')
  const snapshot = new Blob([readFileSync(inject('pgliteSnapshot'))])
  const pg = new PGlite(migrated, { loadDataDir: snapshot, extensions: await pgliteExtensions() })
  await pg.close()
})

afterAll(() => rmSync(work, { recursive: true, force: true }))

/** A data directory of its own for one run: a copy of the migrated one. */
function freshDataDir(): string {
  const dir = join(work, `run-${++runs}`)
  cpSync(migrated, dir, { recursive: true })
  return dir
}

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function runScript(script: string, args: string[], env: Record<string, string>, stdin = ''): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    PGLITE_DATA_DIR: freshDataDir(),
    LOG_LEVEL: 'info',
    ...env,
  }
  // The service suite points the tests at PostgreSQL and Redis; these runs stay on their own embedded ones.
  for (const name of [
    'DATABASE_URL',
    'DATABASE_URL_UNPOOLED',
    'UPSTASH_REDIS_REST_URL',
    'UPSTASH_REDIS_REST_TOKEN',
  ])
    delete childEnv[name]
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: ROOT,
      env: childEnv,
      stdio: 'pipe',
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    // A server that started after all would never exit on its own. Generous: on a busy machine starting
    // tsx and migrating an embedded database alone can take a minute.
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000)
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(stdin)
  })
}

function expectOneLineRefusal(expect: ExpectStatic, run: Run, line: string): void {
  expect(run.code).toBe(1)
  expect(run.stderr.trim()).toBe(line)
  const all = run.stdout + run.stderr
  expect(all).not.toMatch(/^\s+at /m)
  expect(all).not.toContain('AccountError')
}

describe.concurrent('npm run dev with a refused ADMIN_EMAIL or ADMIN_PASSWORD', () => {
  it('names ADMIN_PASSWORD and the rule when the password contains the email name, and exits 1', async ({
    expect,
  }) => {
    const run = await runScript('scripts/dev.ts', [], {
      PORT: '0',
      ADMIN_EMAIL: 'admin@shop.test',
      ADMIN_PASSWORD: 'Shop-Admin-2026!',
    })
    expectOneLineRefusal(expect, run, 'ADMIN_PASSWORD: must not contain the email address or its name part')
    expect(run.stdout).not.toContain('Commerce API on')
  }, 180_000)

  it('names ADMIN_EMAIL when it is not an email address', async ({ expect }) => {
    const run = await runScript('scripts/dev.ts', [], {
      PORT: '0',
      ADMIN_EMAIL: 'admin-at-shop',
      ADMIN_PASSWORD: 'a long unusual passphrase',
    })
    expectOneLineRefusal(expect, run, 'ADMIN_EMAIL: not a valid email address')
    expect(run.stdout).not.toContain('Commerce API on')
  }, 180_000)
})

describe.concurrent('npm run dev with DEV_CLOCK_OFFSET_MS (the crash test moves its clock)', () => {
  it('refuses it wherever a deployment variable is set, in one line, and exits 1', async ({ expect }) => {
    const run = await runScript('scripts/dev.ts', [], {
      PORT: '0',
      DEV_CLOCK_OFFSET_MS: '660000',
      VERCEL_ENV: 'development',
    })
    expectOneLineRefusal(
      expect,
      run,
      'DEV_CLOCK_OFFSET_MS: for local tests only; refused with NODE_ENV=production, VERCEL or VERCEL_ENV set',
    )
    expect(run.stdout).not.toContain('Commerce API on')
  }, 180_000)
})

describe.concurrent('npm run user:create with a refused password', () => {
  it('names the password and the rule, creates nothing and exits 1', async ({ expect }) => {
    const run = await runScript(
      'scripts/user-create.ts',
      ['--email', 'admin@shop.test', '--role', 'admin', '--password-stdin'],
      {},
      'Shop-Admin-2026!\n',
    )
    expectOneLineRefusal(
      expect,
      run,
      'password: must not contain the email address or its name part (account not created)',
    )
    expect(run.stdout).not.toContain('created admin')
  }, 180_000)

  it('still creates the account when the password keeps the rules', async ({ expect }) => {
    const run = await runScript(
      'scripts/user-create.ts',
      ['--email', 'admin@shop.test', '--role', 'admin', '--password-stdin'],
      {},
      'a long unusual passphrase\n',
    )
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^created admin admin@shop\.test \([0-9a-f-]{36}\)$/m)
  }, 180_000)
})
