import { createHash, randomUUID } from 'node:crypto'
import { afterResponse } from '../platform/background.js'
import { nowMs } from '../platform/clock.js'
import { log } from '../platform/logger.js'
import { kv } from '../platform/redis.js'
import { RedisUnavailable, untrustedBefore, whenBreakerCloses } from '../platform/redis-breaker.js'
import type { Viewer } from './access.js'
import type { CatalogFilters } from './list.js'
import { isUuid } from './schemas.js'

// The total of GET /products without counting every matching product on every request (ADR 018): a count
// per filter set and viewer class, cached in Redis for the CDN's 60 s and read together with the catalog's
// count version in one MGET. A catalog write sets a new version, so a count taken before it is not used
// after it; whatever Redis loses or misses, no count is older than COUNT_TTL_SECONDS.

/** How long a count is used: the CDN's s-maxage (lib/catalog/cache.ts PUBLIC_CACHE). */
export const COUNT_TTL_SECONDS = 60
/** A random token, set again by every catalog write; counts carry the one they were taken under. */
export const COUNT_VERSION_KEY = 'catalog:count:version'
// Only needs to outlive the counts (60 s); a day keeps an idle catalog's token.
const VERSION_TTL_SECONDS = 86_400

/** What a count depends on: the list's filters, never the sort or the page. */
export type CountFilters = CatalogFilters

/**
 * The filter set in a canonical form: equal filter sets (brands in any case, tags in any order, a
 * category id in any case) give equal keys, and a filter the viewer's class ignores (`status` for
 * customers and anonymous callers) is left out. `{}` is the unfiltered catalog.
 */
export function normaliseFilters(f: CountFilters, viewer: Viewer): Record<string, unknown> {
  const sorted = (xs: string[] | undefined) => (xs?.length ? [...new Set(xs)].sort() : undefined)
  const search = f.search?.trim().slice(0, 200)
  const n: Record<string, unknown> = {
    search: search || undefined,
    category: f.category && isUuid(f.category) ? f.category.toLowerCase() : f.category,
    brands: sorted(f.brands?.map((b) => b.toLowerCase())),
    tags: sorted(f.tags),
    minPrice: f.minPrice,
    maxPrice: f.maxPrice,
    status: viewer.staff ? f.status : undefined,
    inStock: f.inStock,
    isFeatured: f.isFeatured,
  }
  return Object.fromEntries(Object.entries(n).filter(([, v]) => v !== undefined))
}

/**
 * The cache key of a filter set's count. Staff count drafts, archived and hidden products and customers
 * do not, so the viewer class is part of the key: the two never share a count.
 */
export function countKey(filters: Record<string, unknown>, viewer: Viewer): string {
  const hash = createHash('sha256').update(JSON.stringify(filters)).digest('base64url').slice(0, 22)
  return `catalog:count:${viewer.staff ? 'staff' : 'public'}:${hash}`
}

interface CachedCount {
  n: number
  /** The count version it was taken under. */
  v: string | null
  /** When it was stored (ms): entries from before the Redis breaker last closed are not trusted. */
  at: number
}

export interface CountRead {
  /** A cached count that may be used, or undefined (none, another version, or Redis failed). */
  total: number | undefined
  /** The version read with it: what a count taken now is stored under. */
  version: string | null
  /** false when Redis could not be read (then nothing is stored either). */
  ok: boolean
}

/** One round trip (MGET of the count and the version); never throws: a failure reads as a miss. */
export async function readCount(key: string): Promise<CountRead> {
  try {
    const [entry, rawVersion] = await kv().getMany<unknown>([key, COUNT_VERSION_KEY])
    const version = rawVersion === null ? null : String(rawVersion)
    const e = entry as Partial<CachedCount> | null
    const usable =
      e !== null &&
      typeof e.n === 'number' &&
      (e.v ?? null) === version &&
      typeof e.at === 'number' &&
      e.at >= untrustedBefore() &&
      // its age on the app's clock too, not only Redis's expiry: whichever ends first
      nowMs() - e.at < COUNT_TTL_SECONDS * 1000
    return { total: usable ? e.n : undefined, version, ok: true }
  } catch (err) {
    // an open breaker logged once when it opened; anything else is worth a line
    if (!(err instanceof RedisUnavailable)) log.warn('catalog count read failed; counting', { err })
    return { total: undefined, version: null, ok: false }
  }
}

/** Store a count under the version it was read with, after the response (failures are dropped). */
export function storeCount(key: string, n: number, version: string | null): void {
  const entry: CachedCount = { n, v: version, at: nowMs() }
  afterResponse(() =>
    kv()
      .set(key, entry, COUNT_TTL_SECONDS)
      .catch((err: unknown) => {
        if (!(err instanceof RedisUnavailable)) log.warn('catalog count write failed', { err })
      }),
  )
}

let bumpLost = false

async function bump(): Promise<void> {
  try {
    await kv().set(COUNT_VERSION_KEY, randomUUID(), VERSION_TTL_SECONDS)
    bumpLost = false
  } catch (err) {
    // written once Redis answers again; until then counts are at most COUNT_TTL_SECONDS old
    bumpLost = true
    if (!(err instanceof RedisUnavailable)) log.warn('catalog count version write failed', { err })
  }
}
whenBreakerCloses(async () => {
  if (bumpLost) await bump()
})

/**
 * A write changed what the lists count (products, variants, stock, categories): counts taken before it
 * are not used after it. Awaited after the write's commit, so the writer's next list is counted afresh;
 * never throws (Redis failing leaves the counts to expire).
 */
export async function catalogChanged(): Promise<void> {
  await bump()
}

/** `catalogChanged()` after `write` succeeded, passing its result through. */
export async function afterCatalogWrite<T>(write: Promise<T>): Promise<T> {
  const result = await write
  await catalogChanged()
  return result
}
