import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from './http.js'

// `npm run dev` as a child process on a free port and a fresh embedded database (in the service-backed
// suite, the caller's PostgreSQL database and Redis, like production), for tests over real HTTP.

export interface DevServer {
  base: string
  /** everything the server printed so far */
  output(): string
  /** SIGTERM: the server closes its database and exits */
  stop(): Promise<void>
  /**
   * SIGKILL: the process dies on the spot, as a crashed function does (no handler runs, nothing is
   * flushed). Resolves once it has exited. A new startDevServer with the same DATABASE_URL continues on
   * the same database.
   */
  kill(): Promise<void>
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })

export async function startDevServer(extraEnv: Record<string, string | undefined> = {}): Promise<DevServer> {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const dataDir = mkdtempSync(join(tmpdir(), 'commerce-dev-'))
  const env: Record<string, string | undefined> = {
    ...process.env,
    PORT: String(port),
    PGLITE_DATA_DIR: join(dataDir, 'pglite'),
    LOG_LEVEL: 'warn',
    ...extraEnv,
  }
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k]
  let output = ''
  const server: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'scripts/dev.ts'], {
    cwd: ROOT,
    env,
    stdio: 'pipe',
  })
  server.stdout?.on('data', (d) => {
    output += d
  })
  server.stderr?.on('data', (d) => {
    output += d
  })
  const end = async (signal: 'SIGTERM' | 'SIGKILL') => {
    if (server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((r) => server.once('exit', r))
      server.kill(signal)
      await exited
    }
    rmSync(dataDir, { recursive: true, force: true })
  }
  const stop = () => end('SIGTERM')
  // the start-up poll is not checked against the document: it may meet a server that is not listening yet
  const deadline = Date.now() + 90_000
  for (;;) {
    try {
      const res = await fetch(`${base}/api/v1/health`)
      if (res.ok) break
    } catch {
      // not listening yet
    }
    if (server.exitCode !== null) {
      await stop()
      throw new Error(`dev server exited early:\n${output}`)
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`dev server did not answer within 90 s:\n${output}`)
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  return { base, output: () => output, stop, kill: () => end('SIGKILL') }
}
