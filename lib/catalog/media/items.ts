import type { ProductMedia } from '../../../db/schema/index.js'

// The items of `images` and `videos` (products and variants), and which uploaded files a change lets go.
// An item attached through the media endpoints carries server-owned fields (`provider`, `provider_id`, ...)
// that say it is a file of ours at a storage provider. Clients may send items back as they read them, so
// those fields are never taken from a request: they are dropped from input and restored from the stored
// item with the same URL. Otherwise a forged `provider_id` in a PUT could make the server delete a file
// it never attached (another product's, say) once that item is removed again.

export const MEDIA_PROVIDERS = ['cloudinary', 'vercel_blob'] as const
export type MediaProvider = (typeof MEDIA_PROVIDERS)[number]

/** How many items one product or variant holds (the product API's limits too). */
export const MAX_MEDIA = { images: 50, videos: 20 } as const

/** Fields only the server writes. */
export const SERVER_OWNED_KEYS = [
  'id',
  'provider',
  'provider_id',
  'resource_type',
  'content_type',
  'bytes',
  'width',
  'height',
  'duration',
] as const

/** A file at a storage provider that an item points at: what deleting it takes. */
export interface MediaAsset {
  provider: MediaProvider
  /** Cloudinary public_id, or the Blob pathname. */
  provider_id: string
  url: string
  /** Cloudinary's resource type (`image` or `video`); absent for Blob. */
  resource_type?: 'image' | 'video'
}

/** An item attached through the media endpoints (server-owned fields present). */
export type ManagedMedia = ProductMedia & MediaAsset & { id: string; content_type: string; bytes: number }

export const isManaged = (item: ProductMedia): item is ManagedMedia =>
  typeof item.provider === 'string' &&
  (MEDIA_PROVIDERS as readonly string[]).includes(item.provider) &&
  typeof item.provider_id === 'string' &&
  typeof item.id === 'string'

/** An item as a client may set it: server-owned fields removed. */
export function clientItem(item: ProductMedia): ProductMedia {
  const out: ProductMedia = { ...item }
  for (const k of SERVER_OWNED_KEYS) delete out[k]
  return out
}

/**
 * The list a client asked for, with the server-owned fields of items it kept (same URL) restored from
 * `stored`. Items at a new URL are plain links.
 */
export function mergeMedia(
  stored: readonly ProductMedia[],
  incoming: readonly ProductMedia[],
): ProductMedia[] {
  const managed = new Map(stored.filter(isManaged).map((m) => [m.url, m]))
  return incoming.map((raw) => {
    const item = clientItem(raw)
    const own = managed.get(item.url)
    if (!own) return item
    const restored: ProductMedia = { ...item }
    for (const k of SERVER_OWNED_KEYS) if (own[k] !== undefined) restored[k] = own[k]
    return restored
  })
}

const assetKey = (a: Pick<MediaAsset, 'provider' | 'provider_id'>) => `${a.provider}\u0000${a.provider_id}`

export const assetOf = (m: ManagedMedia): MediaAsset => ({
  provider: m.provider,
  provider_id: m.provider_id,
  url: m.url,
  ...(m.resource_type ? { resource_type: m.resource_type } : {}),
})

/** The managed files of some lists of items, each once. */
export function assetsIn(...lists: ReadonlyArray<readonly ProductMedia[] | null | undefined>): MediaAsset[] {
  const seen = new Map<string, MediaAsset>()
  for (const list of lists) {
    for (const item of list ?? []) if (isManaged(item)) seen.set(assetKey(item), assetOf(item))
  }
  return [...seen.values()]
}

/** Files the `before` lists point at and the `after` lists no longer do. */
export function droppedAssets(
  before: ReadonlyArray<readonly ProductMedia[] | null | undefined>,
  after: ReadonlyArray<readonly ProductMedia[] | null | undefined>,
): MediaAsset[] {
  const kept = new Set(assetsIn(...after).map(assetKey))
  return assetsIn(...before).filter((a) => !kept.has(assetKey(a)))
}

/** What a product patch (images/videos replaced) lets go of, compared with the stored row. */
export function droppedByPatch(
  current: { images: ProductMedia[]; videos: ProductMedia[] },
  patch: { images?: unknown; videos?: unknown },
): MediaAsset[] {
  if (patch.images === undefined && patch.videos === undefined) return []
  return droppedAssets(
    [current.images, current.videos],
    [
      (patch.images as ProductMedia[] | undefined) ?? current.images,
      (patch.videos as ProductMedia[] | undefined) ?? current.videos,
    ],
  )
}

/** Every managed file of the items of deleted rows (products, variants). */
export const assetsOfRows = (rows: ReadonlyArray<{ images?: unknown; videos?: unknown }>): MediaAsset[] =>
  assetsIn(
    ...rows.flatMap((r) => [r.images as ProductMedia[] | undefined, r.videos as ProductMedia[] | undefined]),
  )
