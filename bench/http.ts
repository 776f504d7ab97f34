// Latency and throughput of a few hot paths against the real dev server over HTTP (loopback only).
// Usage: npm run bench:http [-- --seconds 5 --concurrency 8]
// Not part of npm test. Uses the embedded database unless DATABASE_URL is set; RATE_LIMITS=off.
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '8' } },
})
const seconds = Number(values.seconds)
const concurrency = Number(values.concurrency)

const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port
    s.close(() => resolve(p))
  })
})
const base = `http://127.0.0.1:${port}/api/v1`
const server: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'scripts/dev.ts'], {
  env: {
    ...process.env,
    PORT: String(port),
    PGLITE_DATA_DIR: 'memory://',
    RATE_LIMITS: 'off',
    LOG_LEVEL: 'error',
  },
  stdio: 'ignore',
})
try {
  for (let i = 0; ; i++) {
    const ok = await fetch(`${base}/health`).then(
      (r) => r.ok,
      () => false,
    )
    if (ok) break
    if (i > 600) throw new Error('dev server did not start')
    await new Promise((r) => setTimeout(r, 100))
  }
  const email = `bench-${Date.now()}@example.com`
  const password = 'a long unusual bench passphrase'
  const reg = await fetch(`${base}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password, first_name: 'Bench', last_name: 'Mark' }),
  }).then((r) => r.json() as Promise<{ access_token: string }>)
  const auth = { authorization: `Bearer ${reg.access_token}` }

  const cases: Array<[string, () => Promise<Response>]> = [
    ['GET /health', () => fetch(`${base}/health`)],
    ['GET /health/detailed', () => fetch(`${base}/health/detailed`)],
    ['GET /auth/me (authenticated)', () => fetch(`${base}/auth/me`, { headers: auth })],
    [
      'POST /auth/login (argon2id)',
      () =>
        fetch(`${base}/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email, password }),
        }),
    ],
  ]
  console.log(`| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | errors |`)
  console.log(`|---|---|---|---|---|---|---|`)
  for (const [name, fn] of cases) {
    const latencies: number[] = []
    let errors = 0
    const end = performance.now() + seconds * 1000
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          const t0 = performance.now()
          const res = await fn()
          await res.arrayBuffer()
          latencies.push(performance.now() - t0)
          if (!res.ok) errors++
        }
      }),
    )
    latencies.sort((a, b) => a - b)
    const q = (p: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(1)
    console.log(
      `| ${name} | ${latencies.length} | ${(latencies.length / seconds).toFixed(0)} | ${q(0.5)} | ${q(0.95)} | ${q(0.99)} | ${errors} |`,
    )
  }
  const mem = await fetch(`${base}/metrics`).then((r) => r.text())
  console.log(`\nmetrics lines: ${mem.split('\n').length}`)
} finally {
  server.kill('SIGTERM')
}
