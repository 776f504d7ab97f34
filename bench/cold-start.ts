// Cold start of built Vercel functions: a fresh Node process imports the handler from
// .vercel/output/functions and answers one request. Run `npm run build:vercel` first.
// Usage: npm run bench:cold-start
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const FUNCS = '.vercel/output/functions'
if (!existsSync(FUNCS)) throw new Error('run `npm run build:vercel` first')
const probe = `
const t0 = performance.now()
const mod = await import(process.argv[1])
const t1 = performance.now()
const res = await mod.GET(new Request('http://localhost' + process.argv[2]))
await res.text()
const t2 = performance.now()
const rss = process.memoryUsage().rss
console.log(JSON.stringify({ status: res.status, importMs: t1 - t0, firstMs: t2 - t1, rssMb: rss / 2 ** 20 }))
process.exit(0)
`
const targets: Array<[string, string]> = [
  ['api/v1/health/index', '/api/v1/health'],
  ['api/v1/auth/me', '/api/v1/auth/me'],
  ['api/v1/metrics/index', '/api/v1/metrics'],
]
console.log('| function | import ms | first request ms | RSS MB | status |')
console.log('|---|---|---|---|---|')
for (const [name, path] of targets) {
  const dir = join(FUNCS, `${name}.func`)
  const handler = JSON.parse(readFileSync(join(dir, '.vc-config.json'), 'utf8')).handler as string
  const runs = Array.from({ length: 5 }, () =>
    JSON.parse(
      execFileSync(
        process.execPath,
        ['--input-type=module', '-e', probe, join(process.cwd(), dir, handler), path],
        {
          cwd: dir,
          env: { PATH: process.env.PATH, PGLITE_DATA_DIR: 'memory://', LOG_LEVEL: 'silent' },
        },
      ).toString(),
    ),
  )
  const med = (k: string) =>
    runs
      .map((r) => r[k] as number)
      .sort((a, b) => a - b)[2]!
      .toFixed(0)
  console.log(`| ${name} | ${med('importMs')} | ${med('firstMs')} | ${med('rssMb')} | ${runs[0].status} |`)
}
