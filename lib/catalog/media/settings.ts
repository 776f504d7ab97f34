import { ProblemError } from '../../http/errors.js'
import { type Env, env, type KNOWN_MEDIA_TYPES } from '../../platform/env.js'
import type { MediaProvider } from './items.js'

// Where uploaded files go and what they may be: Cloudinary when it is configured (CLOUDINARY_URL, or the
// three CLOUDINARY_* settings), else Vercel Blob when BLOB_READ_WRITE_TOKEN is set, else nowhere (the media
// endpoints answer 503 media_storage_not_configured). Types and sizes are settings (MEDIA_*).

/** The media types the shop can take, with Cloudinary's names for the format and a file extension. */
export const MEDIA_TYPES = {
  'image/jpeg': { kind: 'image', formats: ['jpg', 'jpeg'], ext: 'jpg' },
  'image/png': { kind: 'image', formats: ['png'], ext: 'png' },
  'image/webp': { kind: 'image', formats: ['webp'], ext: 'webp' },
  'image/avif': { kind: 'image', formats: ['avif'], ext: 'avif' },
  'image/gif': { kind: 'image', formats: ['gif'], ext: 'gif' },
  'image/heic': { kind: 'image', formats: ['heic'], ext: 'heic' },
  'video/mp4': { kind: 'video', formats: ['mp4'], ext: 'mp4' },
  'video/webm': { kind: 'video', formats: ['webm'], ext: 'webm' },
  'video/quicktime': { kind: 'video', formats: ['mov'], ext: 'mov' },
} as const satisfies Record<
  (typeof KNOWN_MEDIA_TYPES)[number],
  { kind: MediaKind; formats: readonly string[]; ext: string }
>

export type MediaKind = 'image' | 'video'
export type MediaType = keyof typeof MEDIA_TYPES

export const isMediaType = (t: string): t is MediaType => Object.hasOwn(MEDIA_TYPES, t)

/** The media type Cloudinary's `format` stands for, among the known ones. */
export function typeOfFormat(kind: MediaKind, format: string): MediaType | null {
  const f = format.toLowerCase()
  for (const [type, spec] of Object.entries(MEDIA_TYPES)) {
    if (spec.kind === kind && (spec.formats as readonly string[]).includes(f)) return type as MediaType
  }
  return null
}

export interface MediaLimits {
  allowedTypes: MediaType[]
  maxBytes: Record<MediaKind, number>
  /** Uploads go under `<folder>/<product id>/`. */
  folder: string
}

export interface CloudinaryConfig {
  provider: 'cloudinary'
  cloudName: string
  apiKey: string
  apiSecret: string
}

export interface BlobConfig {
  provider: 'vercel_blob'
  token: string
  /** From the token (`vercel_blob_rw_<store id>_<secret>`): the store's public host is `<id>.public.blob...`. */
  storeId: string
}

export type StorageConfig = (CloudinaryConfig | BlobConfig) & { limits: MediaLimits }

const CLOUDINARY_PARTS = ['CLOUDINARY_CLOUD_NAME', 'CLOUDINARY_API_KEY', 'CLOUDINARY_API_SECRET'] as const

/** `cloudinary://<api_key>:<api_secret>@<cloud_name>`, as Cloudinary's console shows it; null otherwise. */
export function parseCloudinaryUrl(value: string): Omit<CloudinaryConfig, 'provider'> | null {
  try {
    const u = new URL(value)
    if (u.protocol !== 'cloudinary:' || !u.username || !u.password || !u.hostname) return null
    return {
      cloudName: u.hostname,
      apiKey: decodeURIComponent(u.username),
      apiSecret: decodeURIComponent(u.password),
    }
  } catch {
    return null
  }
}

/** The store id in a read-write token (`vercel_blob_rw_<store id>_<secret>`); null when it has none. */
export function blobStoreId(token: string): string | null {
  const parts = token.split('_')
  return parts.length >= 5 && parts[0] === 'vercel' && parts[1] === 'blob' && parts[2] === 'rw' && parts[3]
    ? parts[3]
    : null
}

export function mediaLimits(e: Env = env()): MediaLimits {
  return {
    allowedTypes: e.MEDIA_ALLOWED_TYPES,
    maxBytes: { image: e.MEDIA_MAX_IMAGE_BYTES, video: e.MEDIA_MAX_VIDEO_BYTES },
    folder: e.MEDIA_FOLDER,
  }
}

const notConfigured = (detail: string) => new ProblemError(503, 'media_storage_not_configured', detail)

/** The configured storage, or null when neither provider is set up. */
export function storageConfig(e: Env = env()): StorageConfig | null {
  const limits = mediaLimits(e)
  if (e.CLOUDINARY_URL) {
    // env() validated the URL's form
    return { provider: 'cloudinary', ...parseCloudinaryUrl(e.CLOUDINARY_URL)!, limits }
  }
  const given = CLOUDINARY_PARTS.filter((k) => e[k])
  if (given.length === CLOUDINARY_PARTS.length) {
    return {
      provider: 'cloudinary',
      cloudName: e.CLOUDINARY_CLOUD_NAME!,
      apiKey: e.CLOUDINARY_API_KEY!,
      apiSecret: e.CLOUDINARY_API_SECRET!,
      limits,
    }
  }
  if (given.length) {
    const missing = CLOUDINARY_PARTS.filter((k) => !e[k]).join(', ')
    throw notConfigured(`Cloudinary is configured only in part: ${missing} is not set.`)
  }
  if (e.BLOB_READ_WRITE_TOKEN) {
    return {
      provider: 'vercel_blob',
      token: e.BLOB_READ_WRITE_TOKEN,
      storeId: blobStoreId(e.BLOB_READ_WRITE_TOKEN)!,
      limits,
    }
  }
  return null
}

/** The storage uploads go to; 503 media_storage_not_configured without one. */
export function requireStorage(): StorageConfig {
  const config = storageConfig()
  if (!config) {
    throw notConfigured(
      'Media uploads need a storage provider: set CLOUDINARY_URL (or CLOUDINARY_CLOUD_NAME, ' +
        'CLOUDINARY_API_KEY and CLOUDINARY_API_SECRET) or BLOB_READ_WRITE_TOKEN.',
    )
  }
  return config
}

/** The configuration that can delete a file of `provider`, when that provider is (still) configured. */
export function storageFor(provider: MediaProvider): StorageConfig | null {
  try {
    const config = storageConfig()
    if (config?.provider === provider) return config
    // Files stay deletable at Blob after a shop moved its uploads to Cloudinary, while the token is set.
    const e = env()
    if (provider === 'vercel_blob' && e.BLOB_READ_WRITE_TOKEN) {
      return {
        provider,
        token: e.BLOB_READ_WRITE_TOKEN,
        storeId: blobStoreId(e.BLOB_READ_WRITE_TOKEN)!,
        limits: mediaLimits(e),
      }
    }
    return null
  } catch {
    return null
  }
}
