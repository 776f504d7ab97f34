import { Registry } from 'prom-client'
import { now } from './clock.js'
import { log } from './logger.js'
import { kv } from './redis.js'
import { RedisUnavailable } from './redis-breaker.js'

// Metrics aggregated across function instances: every instance adds to Redis hashes (in-process in
// development) after its response; /metrics reads them back and renders Prometheus text with prom-client.

type Labels = Record<string, string>

export interface MetricDef {
  name: string
  help: string
  type: 'counter' | 'histogram' | 'gauge'
  labels: readonly string[]
  /** Histogram bucket upper bounds, in the metric's unit. */
  buckets?: readonly number[]
}

const key = (name: string) => `metrics:${name}`
const SEP = '\u001f'

export const defineCounter = (name: string, help: string, labels: readonly string[]): MetricDef => ({
  name,
  help,
  type: 'counter',
  labels,
})
export const defineHistogram = (
  name: string,
  help: string,
  labels: readonly string[],
  buckets: number[],
): MetricDef => ({ name, help, type: 'histogram', labels, buckets })

const labelField = (def: MetricDef, labels: Labels) => def.labels.map((l) => labels[l] ?? '').join(SEP)

export type Increment = readonly [key: string, field: string, by: number]

export function counterIncrement(def: MetricDef, labels: Labels, by = 1): Increment[] {
  return [[key(def.name), labelField(def, labels), by]]
}

/** Histograms keep per-bucket counts (non-cumulative), a count and a sum scaled by 1000 (integers). */
export function histogramIncrements(def: MetricDef, labels: Labels, value: number): Increment[] {
  const base = labelField(def, labels)
  const bucket = def.buckets!.find((b) => value <= b)
  return [
    [key(def.name), `${base}${SEP}le=${bucket ?? '+Inf'}`, 1],
    [key(def.name), `${base}${SEP}count`, 1],
    [key(def.name), `${base}${SEP}sum`, Math.round(value * 1000)],
  ]
}

// Increments are summed in process and written by one write at a time, and writes start at most every
// WRITE_SPACING_MS: what arrives meanwhile goes out, summed, in the next one. At low traffic that is one
// write per request, as before (the last write was long ago, so nothing waits); under load one write carries
// many requests' increments, a few dozen Redis requests a second per instance instead of one per response.
// The wait is after the response (afterResponse keeps the instance alive for it on Vercel).
const WRITE_SPACING_MS = 50
const queued = new Map<string, Map<string, number>>()
let nextWrite: Promise<void> | undefined
let writing: Promise<void> | undefined
let lastWriteAt = Number.NEGATIVE_INFINITY
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

function takeQueued(): Increment[] {
  const out: Increment[] = []
  for (const [k, fields] of queued) for (const [field, by] of fields) out.push([k, field, by])
  queued.clear()
  return out
}

async function write(increments: Increment[]): Promise<void> {
  try {
    await kv().hincrby(increments)
  } catch (err) {
    // skipped while the Redis breaker is open (it logged once); counts of that time are lost
    if (!(err instanceof RedisUnavailable)) log.warn('metrics write failed', { err })
  }
}

/**
 * Add increments; resolves once a Redis write carrying them has finished (at most one round trip per
 * write, any number of increments). Failures are logged, never thrown.
 */
export function record(increments: Increment[]): Promise<void> {
  for (const [k, field, by] of increments) {
    let fields = queued.get(k)
    if (!fields) {
      fields = new Map()
      queued.set(k, fields)
    }
    fields.set(field, (fields.get(field) ?? 0) + by)
  }
  nextWrite ??= (writing ?? Promise.resolve()).then(async () => {
    const wait = lastWriteAt + WRITE_SPACING_MS - performance.now()
    if (wait > 0) await pause(wait)
    nextWrite = undefined
    lastWriteAt = performance.now()
    const w = write(takeQueued())
    writing = w
    await w
    if (writing === w) writing = undefined
  })
  return nextWrite
}

export const httpRequests = defineCounter(
  'http_requests_total',
  'HTTP requests by route, method and status',
  ['method', 'route', 'status'],
)
export const httpDuration = defineHistogram(
  'http_request_duration_seconds',
  'HTTP request duration by route and method',
  ['method', 'route'],
  [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
)

export interface RecentError {
  at: string
  method: string
  route: string
  status: number
  request_id: string
}
export const RECENT_ERRORS_KEY = 'status:recent_errors'

export async function recordRequest(
  route: string,
  method: string,
  status: number,
  ms: number,
  requestId: string,
): Promise<void> {
  await record([
    ...counterIncrement(httpRequests, { method, route, status: String(status) }),
    ...histogramIncrements(httpDuration, { method, route }, ms / 1000),
  ])
  if (status >= 500) {
    const entry: RecentError = { at: now().toISOString(), method, route, status, request_id: requestId }
    await kv()
      .pushCapped(RECENT_ERRORS_KEY, entry, 20)
      .catch((err) => {
        if (!(err instanceof RedisUnavailable)) log.warn('recent error write failed', { err })
      })
  }
}

export interface GaugeValue {
  name: string
  help: string
  value: number
  /** a value read from the database that only grows (rendered as a counter; name it *_total) */
  type?: 'gauge' | 'counter'
  /** labelled series instead of the single `value` */
  series?: Array<{ labels: Labels; value: number }>
}

/** Prometheus text exposition of the given counters and histograms, plus gauges computed at scrape time. */
export async function renderMetrics(
  metrics: readonly MetricDef[],
  gauges: GaugeValue[] = [],
): Promise<{ body: string; contentType: string }> {
  const registry = new Registry()
  for (const g of gauges) {
    registry.registerMetric({
      name: g.name,
      get: async () => ({
        name: g.name,
        help: g.help,
        type: g.type ?? 'gauge',
        values: g.series ?? [{ labels: {}, value: g.value }],
        aggregator: 'sum',
      }),
    } as never)
  }
  const all = [...metrics]
  // Redis unreachable (or skipped by the open breaker): the shared counters are left out of this answer
  // (a gap, not a reset to 0 that Prometheus would read as a restart); the gauges still answer.
  let unavailable: unknown
  const hashes = await Promise.all(
    all.map((d) =>
      kv()
        .hgetall(key(d.name))
        .catch((err: unknown) => {
          unavailable = err
          return undefined
        }),
    ),
  )
  if (unavailable && !(unavailable instanceof RedisUnavailable))
    log.warn('metrics read failed; counters left out', { err: unavailable })
  all.forEach((def, i) => {
    const hash = hashes[i]
    if (!hash) return
    const values = def.type === 'histogram' ? histogramValues(def, hash) : plainValues(def, hash)
    registry.registerMetric({
      name: def.name,
      get: async () => ({ name: def.name, help: def.help, type: def.type, values, aggregator: 'sum' }),
    } as never)
  })
  return { body: await registry.metrics(), contentType: registry.contentType }
}

const parseLabels = (def: MetricDef, parts: string[]): Labels =>
  Object.fromEntries(def.labels.map((l, i) => [l, parts[i] ?? '']))

function plainValues(def: MetricDef, hash: Record<string, number>) {
  return Object.entries(hash).map(([field, value]) => ({ labels: parseLabels(def, field.split(SEP)), value }))
}

function histogramValues(def: MetricDef, hash: Record<string, number>) {
  const series = new Map<
    string,
    { labels: Labels; buckets: Map<string, number>; count: number; sum: number }
  >()
  for (const [field, value] of Object.entries(hash)) {
    const parts = field.split(SEP)
    const kind = parts.pop()!
    const id = parts.join(SEP)
    let s = series.get(id)
    if (!s) {
      s = { labels: parseLabels(def, parts), buckets: new Map(), count: 0, sum: 0 }
      series.set(id, s)
    }
    if (kind === 'count') s.count = value
    else if (kind === 'sum') s.sum = value / 1000
    else s.buckets.set(kind.slice(3), value)
  }
  const out: Array<{ labels: Labels; value: number; metricName: string }> = []
  for (const s of series.values()) {
    let cumulative = 0
    for (const b of [...def.buckets!.map(String), '+Inf']) {
      cumulative += s.buckets.get(b) ?? 0
      out.push({ labels: { ...s.labels, le: b }, value: cumulative, metricName: `${def.name}_bucket` })
    }
    out.push({ labels: s.labels, value: s.sum, metricName: `${def.name}_sum` })
    out.push({ labels: s.labels, value: s.count, metricName: `${def.name}_count` })
  }
  return out
}
