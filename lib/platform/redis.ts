import { Redis } from '@upstash/redis'
import { afterResponse } from './background.js'
import { nowMs } from './clock.js'
import { env, isDeployed } from './env.js'
import { configureBreaker, guarded, resetBreaker } from './redis-breaker.js'

// What may be lost or rebuilt lives here: session-state cache, metric counters, short caches.
// Upstash when configured; otherwise an in-process store with the same behaviour (one process only).
// Every Upstash request goes through the circuit breaker (./redis-breaker.ts) under one deadline,
// REDIS_TIMEOUT_MS: while the breaker is open a call throws RedisUnavailable without a request.

export interface KeyValueStore {
  readonly kind: 'upstash' | 'memory'
  get<T>(key: string): Promise<T | null>
  /** Several keys in one round trip (MGET), null for each one absent. */
  getMany<T>(keys: readonly string[]): Promise<Array<T | null>>
  set(key: string, value: unknown, ttlSeconds?: number): Promise<void>
  /** The same value under many keys, in one round trip. */
  setMany(keys: readonly string[], value: unknown, ttlSeconds: number): Promise<void>
  /** SET NX: write only when the key does not exist. Returns whether it wrote. */
  setIfAbsent(key: string, value: unknown, ttlSeconds: number): Promise<boolean>
  del(...keys: string[]): Promise<void>
  /** Many hash increments in one round trip. */
  hincrby(entries: ReadonlyArray<readonly [key: string, field: string, by: number]>): Promise<void>
  hgetall(key: string): Promise<Record<string, number>>
  /** Prepend to a list and keep its newest `max` entries. */
  pushCapped(key: string, value: unknown, max: number): Promise<void>
  list<T>(key: string, count: number): Promise<T[]>
  ping(): Promise<void>
}

class UpstashStore implements KeyValueStore {
  readonly kind = 'upstash' as const
  constructor(
    readonly client: Redis,
    private readonly prefix: string,
  ) {}
  private k(key: string) {
    return this.prefix + key
  }
  async get<T>(key: string) {
    return guarded(async () => (await this.client.get<T>(this.k(key))) ?? null)
  }
  async getMany<T>(keys: readonly string[]) {
    if (!keys.length) return []
    const values = await guarded(() => this.client.mget<Array<T | null>>(...keys.map((k) => this.k(k))))
    return values.map((v) => v ?? null)
  }
  async set(key: string, value: unknown, ttlSeconds?: number) {
    await guarded(() =>
      ttlSeconds
        ? this.client.set(this.k(key), value, { ex: ttlSeconds })
        : this.client.set(this.k(key), value),
    )
  }
  async setIfAbsent(key: string, value: unknown, ttlSeconds: number) {
    return guarded(
      async () => (await this.client.set(this.k(key), value, { ex: ttlSeconds, nx: true })) === 'OK',
    )
  }
  async setMany(keys: readonly string[], value: unknown, ttlSeconds: number) {
    if (!keys.length) return
    await guarded(() => {
      const p = this.client.pipeline()
      for (const key of keys) p.set(this.k(key), value, { ex: ttlSeconds })
      return p.exec()
    })
  }
  async del(...keys: string[]) {
    if (keys.length) await guarded(() => this.client.del(...keys.map((k) => this.k(k))))
  }
  async hincrby(entries: ReadonlyArray<readonly [string, string, number]>) {
    if (!entries.length) return
    await guarded(() => {
      const p = this.client.pipeline()
      for (const [key, field, by] of entries) p.hincrby(this.k(key), field, by)
      return p.exec()
    })
  }
  async hgetall(key: string) {
    const raw = (await guarded(() => this.client.hgetall<Record<string, unknown>>(this.k(key)))) ?? {}
    return Object.fromEntries(Object.entries(raw).map(([f, v]) => [f, Number(v)]))
  }
  async pushCapped(key: string, value: unknown, max: number) {
    await guarded(() => {
      const p = this.client.pipeline()
      p.lpush(this.k(key), JSON.stringify(value))
      p.ltrim(this.k(key), 0, max - 1)
      return p.exec()
    })
  }
  async list<T>(key: string, count: number) {
    const raw = await guarded(() => this.client.lrange<unknown>(this.k(key), 0, count - 1))
    return raw.map((r) => (typeof r === 'string' ? JSON.parse(r) : r) as T)
  }
  async ping() {
    await guarded(() => this.client.ping())
  }
}

interface Entry {
  value: unknown
  expiresAt?: number
}

export class MemoryStore implements KeyValueStore {
  readonly kind = 'memory' as const
  private data = new Map<string, Entry>()
  private live(key: string): Entry | undefined {
    const e = this.data.get(key)
    if (e?.expiresAt !== undefined && e.expiresAt <= nowMs()) {
      this.data.delete(key)
      return undefined
    }
    return e
  }
  async get<T>(key: string) {
    const v = this.live(key)?.value
    return v === undefined ? null : (structuredClone(v) as T)
  }
  async getMany<T>(keys: readonly string[]) {
    return Promise.all(keys.map((k) => this.get<T>(k)))
  }
  async set(key: string, value: unknown, ttlSeconds?: number) {
    this.data.set(key, {
      value: structuredClone(value),
      expiresAt: ttlSeconds ? nowMs() + ttlSeconds * 1000 : undefined,
    })
  }
  async setMany(keys: readonly string[], value: unknown, ttlSeconds: number) {
    for (const key of keys) await this.set(key, value, ttlSeconds)
  }
  async setIfAbsent(key: string, value: unknown, ttlSeconds: number) {
    if (this.live(key)) return false
    await this.set(key, value, ttlSeconds)
    return true
  }
  async del(...keys: string[]) {
    for (const k of keys) this.data.delete(k)
  }
  async hincrby(entries: ReadonlyArray<readonly [string, string, number]>) {
    for (const [key, field, by] of entries) {
      const h = (this.live(key)?.value as Record<string, number> | undefined) ?? {}
      h[field] = (h[field] ?? 0) + by
      this.data.set(key, { value: h })
    }
  }
  async hgetall(key: string) {
    return { ...((this.live(key)?.value as Record<string, number> | undefined) ?? {}) }
  }
  async pushCapped(key: string, value: unknown, max: number) {
    const l = [structuredClone(value), ...((this.live(key)?.value as unknown[] | undefined) ?? [])]
    this.data.set(key, { value: l.slice(0, max) })
  }
  async list<T>(key: string, count: number) {
    return ((this.live(key)?.value as T[] | undefined) ?? []).slice(0, count)
  }
  async ping() {}
}

let store: KeyValueStore | undefined
let upstash: Redis | undefined

export function redisConfigured(): boolean {
  const e = env()
  return Boolean(e.UPSTASH_REDIS_REST_URL && e.UPSTASH_REDIS_REST_TOKEN)
}

let slice: { ms: number; endsAt: number; signal: AbortSignal } | undefined
/**
 * An abort signal for a request starting now that fires between `ms` and 1.5 x `ms` later (at most
 * `ms` + 100): requests started in the same slice share one signal (one timer), where
 * AbortSignal.timeout() per request cost about a tenth of a millisecond of CPU each under load.
 */
export function sharedTimeout(ms: number): AbortSignal {
  const t = performance.now()
  const width = Math.min(100, Math.ceil(ms / 2))
  if (!slice || slice.ms !== ms || t >= slice.endsAt || slice.signal.aborted) {
    slice = { ms, endsAt: t + width, signal: AbortSignal.timeout(ms + width) }
  }
  return slice.signal
}

/** The raw Upstash client (for @upstash/ratelimit), or undefined in embedded mode. */
export function upstashClient(): Redis | undefined {
  if (!redisConfigured()) return undefined
  if (!upstash) {
    const e = env()
    upstash = new Redis({
      url: e.UPSTASH_REDIS_REST_URL!,
      token: e.UPSTASH_REDIS_REST_TOKEN!,
      // Fail fast: Redis is a cache here, Postgres answers when it is slow. No retry: a retry doubles the
      // wait of a request that is already late, and the breaker is what handles a Redis that is sick.
      retry: false,
      signal: () => sharedTimeout(e.REDIS_TIMEOUT_MS),
      // No SDK/platform headers on every request.
      enableTelemetry: false,
    })
    const client = upstash
    configureBreaker({ probe: () => client.ping(), later: afterResponse })
  }
  return upstash
}

export function kv(): KeyValueStore {
  if (store) return store
  const client = upstashClient()
  if (client) store = new UpstashStore(client, env().REDIS_PREFIX)
  else if (isDeployed()) throw new Error('Upstash settings are required in a deployed environment')
  else store = new MemoryStore()
  return store
}

/** Tests and scripts: drop the cached clients so the next call reads the environment again. */
export function resetKv(): void {
  store = undefined
  upstash = undefined
  // a new client starts with a closed breaker of its own
  resetBreaker()
}
