import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fetchChecked } from '../support/contract.js'
import { ROOT } from '../support/http.js'

// The real dev server over real HTTP, as a client would use it: `npm run dev` on a fresh data dir. Every
// answer is checked against the OpenAPI document (fetchChecked); the start-up poll is not, since it may
// meet a server that is not listening yet.

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })

let server: ChildProcess
let base: string
let output = ''
const dataDir = mkdtempSync(join(tmpdir(), 'commerce-dev-'))

beforeAll(async () => {
  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  const env = {
    ...process.env,
    PORT: String(port),
    PGLITE_DATA_DIR: join(dataDir, 'pglite'),
    LOG_LEVEL: 'warn',
  }
  // In the service-backed suite the server uses this file's PostgreSQL database and Redis, like production.
  server = spawn(process.execPath, ['--import', 'tsx', 'scripts/dev.ts'], { cwd: ROOT, env, stdio: 'pipe' })
  server.stdout?.on('data', (d) => {
    output += d
  })
  server.stderr?.on('data', (d) => {
    output += d
  })
  const deadline = Date.now() + 90_000
  for (;;) {
    try {
      const res = await fetch(`${base}/api/v1/health`)
      if (res.ok) break
    } catch {
      // not listening yet
    }
    if (server.exitCode !== null) throw new Error(`dev server exited early:\n${output}`)
    if (Date.now() > deadline) throw new Error(`dev server did not answer within 90 s:\n${output}`)
    await new Promise((r) => setTimeout(r, 250))
  }
})

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r))
    server.kill('SIGTERM')
    await exited
  }
  rmSync(dataDir, { recursive: true, force: true })
})

describe('npm run dev', () => {
  it('serves /api/v1/health over HTTP with 200 and the liveness body', async () => {
    const res = await fetchChecked(`${base}/api/v1/health`)
    expect(res.status).toBe(200)
    expect(res.headers.get('x-request-id')).toMatch(/^req_/)
    const body = await res.json()
    expect(body).toMatchObject({ status: 'healthy', version: expect.any(String) })
    expect(Date.parse(body.timestamp)).not.toBeNaN()
  })

  it('answers unknown paths with 404 problem+json and wrong methods with 405 and Allow', async () => {
    const missing = await fetchChecked(`${base}/api/v1/no-such-thing`)
    expect(missing.status).toBe(404)
    expect(missing.headers.get('content-type')).toBe('application/problem+json')
    expect((await missing.json()).code).toBe('route_not_found')

    const wrong = await fetchChecked(`${base}/api/v1/health`, { method: 'DELETE' })
    expect(wrong.status).toBe(405)
    expect(wrong.headers.get('allow')).toContain('GET')
  })

  it('has a migrated, seeded database behind /health/database and the demo admin announced', async () => {
    const res = await fetchChecked(`${base}/api/v1/health/database`)
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.status).toBe('healthy')
    expect(body.migrations.up_to_date).toBe(true)
    expect(output).toContain('Admin account:')
  })
})
