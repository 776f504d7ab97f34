import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
// Only the metrics function itself, as Vercel deploys it alone: the metric definitions it renders are the
// ones its own imports register, not those of every route (which the in-process router would load).
import { GET } from '../../api/v1/metrics/index.js'
import { flushBackground } from '../../lib/platform/background.js'

// docs/grafana/commerce-api-dashboard.json asks Prometheus only for series GET /api/v1/metrics exports.

const DASHBOARD = new URL('../../docs/grafana/commerce-api-dashboard.json', import.meta.url)

interface Panel {
  title?: string
  targets?: Array<{ expr?: string }>
  panels?: Panel[]
}

/** Every PromQL expression of the dashboard: panel targets and template variable queries. */
function dashboardQueries(): Array<{ where: string; expr: string }> {
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    panels: Panel[]
    templating: { list: Array<{ name: string; type: string; query?: string | { query?: string } }> }
  }
  const out: Array<{ where: string; expr: string }> = []
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ where: p.title ?? '?', expr: t.expr })
      walk(p.panels ?? [])
    }
  }
  walk(d.panels)
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue
    const q = typeof v.query === 'string' ? v.query : v.query?.query
    if (q) out.push({ where: `variable ${v.name}`, expr: q })
  }
  return out
}

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
])

/** The metric names a PromQL expression selects (Grafana's label_values(metric, label) included). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/label_values\(\s*([a-zA-Z_:][\w:]*)\s*,[^)]*\)/g, '$1')
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '') // strings
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b\d+(?:\.\d+)?(?:ms|[smhdwy])?\b/g, '') // numbers and durations
    .replace(/\$\{?\w+\}?/g, '') // Grafana variables
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // label lists
  const names = new Set<string>()
  for (const m of bare.matchAll(/[a-zA-Z_:][\w:]*/g)) {
    const after = bare.slice(m.index! + m[0].length)
    if (/^\s*\(/.test(after) || PROMQL_WORDS.has(m[0].toLowerCase())) continue // a function or keyword
    if (/^\d/.test(m[0])) continue
    names.add(m[0])
  }
  return [...names]
}

/** What Prometheus text exposition offers: each `# TYPE` family, and every series name it has. */
function exposition(text: string): { families: string[]; series: Set<string> } {
  const families: string[] = []
  const series = new Set<string>()
  for (const line of text.split('\n')) {
    const type = line.match(/^# TYPE ([a-zA-Z_:][\w:]*) (\w+)$/)
    if (type) {
      const [, name, kind] = type
      families.push(name!)
      series.add(name!)
      if (kind === 'histogram') for (const s of ['_bucket', '_sum', '_count']) series.add(name! + s)
      if (kind === 'summary') for (const s of ['_sum', '_count']) series.add(name! + s)
      continue
    }
    const sample = line.match(/^([a-zA-Z_:][\w:]*)(?:\{.*\})?\s+\S+/)
    if (sample) series.add(sample[1]!)
  }
  return { families, series }
}

describe('the Grafana dashboard', () => {
  it('reads the PromQL of its panels (sanity of the parser)', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket{route=~"$route",status!="5.."}[$__rate_interval])))',
      ),
    ).toEqual(['http_request_duration_seconds_bucket'])
    expect(metricNames('sum(a_total) / on (x) group_left (y) b offset 5m')).toEqual(['a_total', 'b'])
    expect(metricNames('label_values(http_requests_total, route)')).toEqual(['http_requests_total'])
  })

  it('queries only metrics that GET /api/v1/metrics really exports', async () => {
    // A first scrape records a request (after its response), so the second has samples of every kind.
    const first = await GET(new Request('http://localhost/api/v1/metrics'))
    expect(first.status).toBe(200)
    await flushBackground()
    const res = await GET(new Request('http://localhost/api/v1/metrics'))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
    const { families, series } = exposition(await res.text())
    expect(series).toContain('http_request_duration_seconds_bucket') // a sample, not only its TYPE

    const queries = dashboardQueries()
    expect(queries.length).toBeGreaterThan(10)
    const used = new Set<string>()
    const missing: string[] = []
    for (const { where, expr } of queries) {
      const names = metricNames(expr)
      expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0)
      for (const n of names) {
        used.add(n)
        if (!series.has(n)) missing.push(`${n} (${where})`)
      }
    }
    expect(missing).toEqual([])
    // And the other way round: every family the endpoint exports has a panel (a new metric gets one too).
    const unused = families.filter((f) => ![...used].some((u) => u === f || u.startsWith(`${f}_`)))
    expect(unused).toEqual([])
  })
})
