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
    ADMIN_EMAIL: 'bench-admin@example.com',
    ADMIN_PASSWORD: 'bench admin passphrase for imports',
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
  // One 5,000-row CSV import (1,000 products with 4 variants each) in one request, then the same file
  // again (every row unchanged): a single timing each, not a throughput figure.
  const admin = await fetch(`${base}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email: 'bench-admin@example.com',
      password: 'bench admin passphrase for imports',
    }),
  }).then((r) => r.json() as Promise<{ access_token: string }>)
  const lines = ['sku,name,description,price,tags,product_sku,option1,inventory_quantity']
  for (let i = 0; i < 1000; i++) {
    lines.push(`BENCH-${i},"Bench tee ${i}","Soft, heavy jersey",19.99,tee|cotton,,,`)
    for (const size of ['S', 'M', 'L', 'XL']) lines.push(`BENCH-${i}-${size},,,,,BENCH-${i},${size},5`)
  }
  const csv = lines.join('\n')
  console.log(`\n| 5,000-row CSV import (${(csv.length / 1e6).toFixed(2)} MB) | ms | statuses |`)
  console.log(`|---|---|---|`)
  for (const run of ['first (created)', 'again (unchanged)']) {
    const t0 = performance.now()
    const res = await fetch(`${base}/products/bulk-import`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv', authorization: `Bearer ${admin.access_token}` },
      body: csv,
    })
    const body = (await res.json()) as { results?: Array<{ status: string }> }
    const ms = performance.now() - t0
    const statuses = new Map<string, number>()
    for (const r of body.results ?? []) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
    const summary = [...statuses].map(([k, v]) => `${k} ${v}`).join(', ') || `HTTP ${res.status}`
    console.log(`| ${run} | ${ms.toFixed(0)} | ${summary} |`)
  }

  const mem = await fetch(`${base}/metrics`).then((r) => r.text())
  console.log(`\nmetrics lines: ${mem.split('\n').length}`)
} finally {
  server.kill('SIGTERM')
}
