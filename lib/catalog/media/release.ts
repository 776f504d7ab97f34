import { sql } from 'drizzle-orm'
import { afterResponse } from '../../platform/background.js'
import { type Db, getDb, rowsOf } from '../../platform/db.js'
import { log } from '../../platform/logger.js'
import type { MediaAsset, MediaProvider } from './items.js'
import { providerOf } from './provider.js'
import { storageFor } from './settings.js'

// Files let go by a change (a media item removed, images replaced, a variant or product deleted) are
// deleted at their provider only once that change has committed: never before, because a rolled-back change
// still shows them, and never inside the transaction, which would hold row locks during an HTTP call.
// The deletion runs after the response (waitUntil on Vercel); a failure there is logged, never the client's
// error, and leaves an orphaned file, which costs storage but breaks no page.

/**
 * Run `work` in one transaction; the files it hands to `release` are deleted at their provider after the
 * commit. A transaction that throws releases nothing. Each attempt starts with an empty list.
 */
export async function transactionReleasingMedia<T>(
  db: Db,
  work: (tx: Db, release: (assets: MediaAsset[]) => void) => Promise<T>,
): Promise<T> {
  let released: MediaAsset[] = []
  const result = await db.transaction((tx) => {
    released = []
    return work(tx, (assets) => void released.push(...assets))
  })
  releaseAfterCommit(released)
  return result
}

/** Delete these files after the response; call it only once the change that let them go has committed. */
export function releaseAfterCommit(assets: MediaAsset[]): void {
  if (!assets.length) return
  afterResponse(() => deleteUnused(assets))
}

/**
 * The URLs some product or variant still shows (an item may have been copied by URL into another list,
 * where it is a plain link): one statement, a scan of the catalog's media only when files are deleted.
 */
async function stillShown(db: Db, urls: string[]): Promise<Set<string>> {
  const result = await db.execute(sql`
    select u.url from jsonb_array_elements_text(${JSON.stringify(urls)}::jsonb) as u(url)
    where exists (select 1 from products p where p.images @> jsonb_build_array(jsonb_build_object('url', u.url))
                    or p.videos @> jsonb_build_array(jsonb_build_object('url', u.url)))
       or exists (select 1 from product_variants v where v.images @> jsonb_build_array(jsonb_build_object('url', u.url))
                    or v.videos @> jsonb_build_array(jsonb_build_object('url', u.url)))`)
  return new Set(rowsOf<{ url: string }>(result).map((r) => r.url))
}

export async function deleteUnused(assets: MediaAsset[]): Promise<void> {
  try {
    const shown = await stillShown(await getDb(), [...new Set(assets.map((a) => a.url))])
    const byProvider = new Map<MediaProvider, MediaAsset[]>()
    for (const a of assets) {
      if (shown.has(a.url)) {
        log.info('media file kept: still shown elsewhere', {
          provider: a.provider,
          provider_id: a.provider_id,
        })
        continue
      }
      byProvider.set(a.provider, [...(byProvider.get(a.provider) ?? []), a])
    }
    for (const [provider, list] of byProvider) {
      const config = storageFor(provider)
      if (!config) {
        log.warn('media files not deleted: their provider is not configured', {
          provider,
          provider_ids: list.map((a) => a.provider_id),
        })
        continue
      }
      const outcome = await (await providerOf(config)).remove(list)
      if (outcome.deleted.length) log.info('media files deleted', { provider, provider_ids: outcome.deleted })
      if (outcome.missing.length) {
        log.info('media files already gone at the provider', { provider, provider_ids: outcome.missing })
      }
      for (const f of outcome.failed) {
        log.error('media file not deleted', { provider, provider_id: f.provider_id, reason: f.reason })
      }
    }
  } catch (err) {
    // The catalog read or an SDK import failed: the files stay, the change stands.
    log.error('media files not deleted', {
      provider_ids: assets.map((a) => a.provider_id),
      reason: err instanceof Error ? err.message.slice(0, 300) : 'unknown error',
    })
  }
}
