import { sql } from 'drizzle-orm'
import journal from '../../db/migrations/meta/_journal.json' with { type: 'json' }
import { nowMs } from '../platform/clock.js'
import { type Db, getDb } from '../platform/db.js'
import { env } from '../platform/env.js'
import { log } from '../platform/logger.js'
import { kv, redisConfigured } from '../platform/redis.js'
import { type BreakerState, breakerAllows, breakerState } from '../platform/redis-breaker.js'

// Dependency checks behind the health endpoints. Public answers carry status and latency only;
// `error`/`detail`/`breaker` fields are for staff and are stripped by `publicView`.

export interface MigrationState {
  applied: number
  expected: number
  pending: number
  latest_applied: string | null
  up_to_date: boolean
}

export interface DependencyCheck {
  status: 'healthy' | 'unhealthy' | 'not_configured' | 'reachable' | 'unreachable'
  latency_ms: number | null
  error?: string
  /** Redis only: this instance's circuit breaker (docs/monitoring.md, "When Redis is sick") */
  breaker?: BreakerState
}

export interface DatabaseCheck extends DependencyCheck {
  migrations?: MigrationState
}

const elapsed = (t0: number) => Math.round((nowMs() - t0) * 10) / 10

const reason = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 200)

async function migrationState(db: Db): Promise<MigrationState> {
  const entries = journal.entries as Array<{ tag: string; when: number }>
  let appliedAt: number[] = []
  try {
    const result = (await db.execute(
      sql`select created_at from drizzle.__drizzle_migrations order by created_at`,
    )) as unknown as { rows: Array<{ created_at: string | number }> }
    appliedAt = result.rows.map((r) => Number(r.created_at))
  } catch {
    // No migrations table: nothing applied yet.
  }
  const last = appliedAt.at(-1) ?? 0
  const pending = entries.filter((e) => e.when > last).length
  const latest = [...entries].reverse().find((e) => e.when <= last)
  return {
    applied: appliedAt.length,
    expected: entries.length,
    pending,
    latest_applied: latest?.tag ?? null,
    up_to_date: pending === 0,
  }
}

export async function checkDatabase(): Promise<DatabaseCheck> {
  const t0 = nowMs()
  try {
    const db = await getDb()
    await db.execute(sql`select 1`)
    const latency = elapsed(t0)
    return { status: 'healthy', latency_ms: latency, migrations: await migrationState(db) }
  } catch (err) {
    log.warn('database health check failed', { err })
    return { status: 'unhealthy', latency_ms: elapsed(t0), error: reason(err) }
  }
}

export async function checkRedis(): Promise<DependencyCheck> {
  if (!redisConfigured()) return { status: 'not_configured', latency_ms: null }
  // While the breaker is open the check sends nothing either: Redis is being skipped (degraded)
  if (!breakerAllows())
    return {
      status: 'unhealthy',
      latency_ms: null,
      error: 'circuit breaker open: Redis is skipped until a probe succeeds',
      breaker: breakerState(),
    }
  const t0 = nowMs()
  try {
    await kv().ping()
    return { status: 'healthy', latency_ms: elapsed(t0), breaker: breakerState() }
  } catch (err) {
    log.warn('redis health check failed', { err })
    return { status: 'unhealthy', latency_ms: elapsed(t0), error: reason(err), breaker: breakerState() }
  }
}

interface ExternalService {
  name: 'stripe' | 'shippo' | 'resend'
  key: () => string | undefined
  request: (key: string) => { url: string; headers: Record<string, string> }
  /** Some answers other than 2xx still prove the service is up and the key is accepted. */
  acceptable?: (status: number, body: string) => boolean
}

const SERVICES: ExternalService[] = [
  {
    name: 'stripe',
    key: () => env().STRIPE_SECRET_KEY,
    request: (key) => ({
      url: `${env().STRIPE_API_BASE}/v1/balance`,
      headers: { authorization: `Bearer ${key}` },
    }),
  },
  {
    name: 'shippo',
    key: () => env().SHIPPO_API_KEY,
    request: (key) => ({
      url: `${env().SHIPPO_API_BASE}/carrier_accounts/?results=1`,
      headers: { authorization: `ShippoToken ${key}` },
    }),
  },
  {
    name: 'resend',
    key: () => env().RESEND_API_KEY,
    request: (key) => ({
      url: `${env().RESEND_API_BASE}/domains`,
      headers: { authorization: `Bearer ${key}` },
    }),
    // A sending-only key may not list domains; Resend answering that proves it is up and knows the key.
    acceptable: (status, body) => status === 401 && body.includes('restricted_api_key'),
  },
]

const EXTERNAL_TIMEOUT_MS = 2500
const EXTERNAL_CACHE_KEY = 'health:external'
export const EXTERNAL_CACHE_SECONDS = 60

async function checkService(s: ExternalService): Promise<DependencyCheck> {
  const key = s.key()
  if (!key) return { status: 'not_configured', latency_ms: null }
  const { url, headers } = s.request(key)
  const t0 = nowMs()
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(EXTERNAL_TIMEOUT_MS) })
    const body = await res.text()
    if (res.ok || s.acceptable?.(res.status, body)) return { status: 'reachable', latency_ms: elapsed(t0) }
    return { status: 'unreachable', latency_ms: elapsed(t0), error: `HTTP ${res.status}` }
  } catch (err) {
    return { status: 'unreachable', latency_ms: elapsed(t0), error: reason(err) }
  }
}

export type ExternalChecks = Record<ExternalService['name'], DependencyCheck> & { checked_at: string }

// Last result kept in-process too, so the providers stay shielded even when Redis is unreachable.
let local: { checks: ExternalChecks; expiresAt: number } | undefined

/** Cached for 60 s in Redis (shared by instances) and in-process, so traffic cannot hammer the providers. */
export async function checkExternal(): Promise<ExternalChecks> {
  if (local && local.expiresAt > nowMs()) return local.checks
  const cached = await kv()
    .get<ExternalChecks>(EXTERNAL_CACHE_KEY)
    .catch(() => null)
  if (cached) {
    local = { checks: cached, expiresAt: Date.parse(cached.checked_at) + EXTERNAL_CACHE_SECONDS * 1000 }
    return cached
  }
  const results = await Promise.all(SERVICES.map(checkService))
  const checks = Object.fromEntries(
    SERVICES.map((s, i) => [s.name, results[i]!]),
  ) as unknown as ExternalChecks
  checks.checked_at = new Date(nowMs()).toISOString()
  local = { checks, expiresAt: nowMs() + EXTERNAL_CACHE_SECONDS * 1000 }
  await kv()
    .set(EXTERNAL_CACHE_KEY, checks, EXTERNAL_CACHE_SECONDS)
    .catch(() => undefined)
  return checks
}

/** Tests: forget the in-process copy of the outside-service checks. */
export function resetExternalCache(): void {
  local = undefined
}

export type Overall = 'healthy' | 'degraded' | 'unhealthy'

export interface DetailedHealth {
  status: Overall
  database: DatabaseCheck
  redis: DependencyCheck
  external: ExternalChecks
}

/** The database is essential; Redis, pending migrations and outside services only degrade. */
export async function checkAll(): Promise<DetailedHealth> {
  const [database, redis, external] = await Promise.all([checkDatabase(), checkRedis(), checkExternal()])
  let status: Overall = 'healthy'
  if (database.status !== 'healthy') status = 'unhealthy'
  else if (
    redis.status === 'unhealthy' ||
    database.migrations?.up_to_date === false ||
    [external.stripe, external.shippo, external.resend].some((c) => c.status === 'unreachable')
  ) {
    status = 'degraded'
  }
  return { status, database, redis, external }
}

/** Remove error details (deep) for callers who are not staff. */
export function publicView<T>(value: T): T {
  if (Array.isArray(value)) return value.map(publicView) as T
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => k !== 'error' && k !== 'breaker')
        .map(([k, v]) => [k, publicView(v)]),
    ) as T
  }
  return value
}
