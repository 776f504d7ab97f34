import type { MediaAsset } from './items.js'
import type { MediaKind, MediaType, StorageConfig } from './settings.js'

// What the media code needs from a storage provider, whichever it is. Each provider module loads its SDK
// at the point of use, so the functions that may delete a file (product and variant writes) do not parse
// `cloudinary` or `@vercel/blob` when they never call them.

/** A file as the provider describes it. */
export interface FoundAsset {
  url: string
  provider_id: string
  /** Known media type, or what the provider says (`image/svg+xml`, `raw/pdf`, ...), refused later. */
  content_type: string
  bytes: number
  width?: number
  height?: number
  /** Seconds (videos, Cloudinary). */
  duration?: number
  resource_type?: 'image' | 'video'
}

/** How a client sends the file: one HTTP request, straight to the provider. */
export interface UploadRequest {
  method: 'POST' | 'PUT'
  url: string
  /** Form fields to send with the file (multipart/form-data), in any order. */
  fields: Record<string, string>
  /** The form field that carries the file; null when the body is the file itself. */
  file_field: string | null
  headers: Record<string, string>
}

export interface Ticket {
  provider_id: string
  expires_at: Date
  upload: UploadRequest
  /** Vercel Blob: the client token for `put()` of `@vercel/blob/client`. */
  client_token?: string
}

/** What a client named in a confirmation, resolved against the provider's URL rules. */
export type AssetRef = { provider_id: string; url?: string; resource_type?: MediaKind }

/** The provider could not be asked (down, slow, refused our credentials): a 502, never a 500. */
export class MediaProviderError extends Error {
  constructor(
    readonly provider: string,
    message: string,
    readonly status?: number,
  ) {
    super(message)
    this.name = 'MediaProviderError'
  }
}

/** The provider's answer within `ms`, or a MediaProviderError. */
export async function withinTime<T>(provider: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new MediaProviderError(provider, `no answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}

export const PROVIDER_TIMEOUT_MS = 10_000

/** A path segment decoded; null for a malformed escape (`%E0%A4`), which names no file. */
export function decodedPath(path: string): string | null {
  try {
    return decodeURIComponent(path)
  } catch {
    return null
  }
}

/** `raw` as an https URL of `host` without a query (a plain file URL), else null. */
export function fileUrlAt(raw: string, host: string): URL | null {
  try {
    const url = new URL(raw)
    return url.protocol === 'https:' && url.hostname === host && !url.search ? url : null
  } catch {
    return null
  }
}

export interface RemoveOutcome {
  deleted: string[]
  /** Gone already (deleted by hand at the provider, or a second removal). */
  missing: string[]
  failed: Array<{ provider_id: string; reason: string }>
}

export interface StorageProvider {
  ticket(input: { providerId: string; kind: MediaKind; type: MediaType; now: Date }): Promise<Ticket>
  /** null: not a URL of this storage (another host, another cloud or store). */
  refFromUrl(url: string): AssetRef | null
  refFromId(providerId: string): AssetRef
  /** null when the provider has no such file. */
  lookup(ref: AssetRef): Promise<FoundAsset | null>
  /** Delete files, each on its own; never throws (a failure is an outcome to log). */
  remove(assets: MediaAsset[]): Promise<RemoveOutcome>
}

export async function providerOf(config: StorageConfig): Promise<StorageProvider> {
  if (config.provider === 'cloudinary') return (await import('./cloudinary.js')).cloudinaryStorage(config)
  return (await import('./blob.js')).blobStorage(config)
}
