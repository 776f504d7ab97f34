import type { MediaAsset } from './items.js'
import {
  type AssetRef,
  decodedPath,
  type FoundAsset,
  fileUrlAt,
  MediaProviderError,
  PROVIDER_TIMEOUT_MS,
  type RemoveOutcome,
  type StorageProvider,
  withinTime,
} from './provider.js'
import {
  type CloudinaryConfig,
  MEDIA_TYPES,
  type MediaKind,
  type MediaLimits,
  typeOfFormat,
} from './settings.js'

// Cloudinary: signed direct uploads (the SDK's api_sign_request over the parameters the client must send),
// the Admin API's resource lookup (GET /v1_1/<cloud>/resources/<image|video>/upload/<public_id>) before a
// file is attached, and the Upload API's destroy (POST /v1_1/<cloud>/<type>/destroy) once it is let go.

/** Cloudinary refuses a signed upload whose timestamp is more than an hour old. */
const SIGNATURE_VALID_SECONDS = 3600

const sdk = async () => (await import('cloudinary')).v2

/** The SDK rejects with `{ error: { http_code } }` for API answers and an Error for network failures. */
const httpCode = (err: unknown): number | undefined => {
  const e = err as { http_code?: unknown; error?: { http_code?: unknown } } | null
  const code = e?.error?.http_code ?? e?.http_code
  return typeof code === 'number' ? code : undefined
}

// The SDK's errors carry the request options, our API secret included: only the status travels on.
const failure = (what: string, err: unknown) => {
  const status = httpCode(err)
  return new MediaProviderError('cloudinary', `${what} failed${status ? ` (HTTP ${status})` : ''}`, status)
}

function found(r: Record<string, unknown>): FoundAsset | null {
  const kind = r.resource_type
  if (kind !== 'image' && kind !== 'video') return null
  const format = String(r.format ?? '')
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
  const width = num(r.width)
  const height = num(r.height)
  const duration = num(r.duration)
  return {
    url: String(r.secure_url),
    provider_id: String(r.public_id),
    content_type: typeOfFormat(kind, format) ?? `${kind}/${format || 'unknown'}`,
    bytes: Number(r.bytes),
    resource_type: kind,
    ...(width !== undefined ? { width } : {}),
    ...(height !== undefined ? { height } : {}),
    ...(duration !== undefined ? { duration } : {}),
  }
}

/** The Cloudinary formats of the allowed types of one kind (the signed `allowed_formats`). */
const formatsOf = (limits: MediaLimits, kind: MediaKind) =>
  limits.allowedTypes.flatMap((t) => (MEDIA_TYPES[t].kind === kind ? [...MEDIA_TYPES[t].formats] : []))

export function cloudinaryStorage(config: CloudinaryConfig & { limits: MediaLimits }): StorageProvider {
  const credentials = { cloud_name: config.cloudName, api_key: config.apiKey, api_secret: config.apiSecret }
  const deliveryPath = new RegExp(
    `^/${config.cloudName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/(image|video)/upload/(?:v\\d+/)?(.+?)(?:\\.[A-Za-z0-9]+)?$`,
  )

  return {
    async ticket({ providerId, kind, now }) {
      const v2 = await sdk()
      const timestamp = Math.floor(now.getTime() / 1000)
      // Every parameter here is signed: the client cannot pick another public_id, overwrite a file it
      // uploaded before (and we checked), or send a format outside the allowed list.
      const signed = {
        allowed_formats: formatsOf(config.limits, kind).join(','),
        overwrite: 'false',
        public_id: providerId,
        timestamp: String(timestamp),
      }
      const signature = v2.utils.api_sign_request(signed, config.apiSecret)
      return {
        provider_id: providerId,
        expires_at: new Date((timestamp + SIGNATURE_VALID_SECONDS) * 1000),
        upload: {
          method: 'POST',
          url: `https://api.cloudinary.com/v1_1/${config.cloudName}/${kind}/upload`,
          fields: { ...signed, api_key: config.apiKey, signature },
          file_field: 'file',
          headers: {},
        },
      }
    },

    refFromUrl(raw) {
      const url = fileUrlAt(raw, 'res.cloudinary.com')
      if (!url) return null
      const m = deliveryPath.exec(decodedPath(url.pathname) ?? '')
      if (!m) return null
      return { provider_id: m[2]!, resource_type: m[1] as MediaKind }
    },

    refFromId: (providerId) => ({ provider_id: providerId }),

    async lookup(ref: AssetRef) {
      const v2 = await sdk()
      // A public_id alone does not say whether it is an image or a video: ask for each in turn.
      for (const resource_type of ref.resource_type ? [ref.resource_type] : (['image', 'video'] as const)) {
        try {
          const r = await withinTime(
            'cloudinary',
            PROVIDER_TIMEOUT_MS,
            v2.api.resource(ref.provider_id, { ...credentials, resource_type, type: 'upload' }),
          )
          return found(r as Record<string, unknown>)
        } catch (err) {
          if (err instanceof MediaProviderError) throw err
          if (httpCode(err) === 404) continue
          throw failure('resource lookup', err)
        }
      }
      return null
    },

    async remove(assets: MediaAsset[]) {
      const v2 = await sdk()
      const outcome: RemoveOutcome = { deleted: [], missing: [], failed: [] }
      for (const a of assets) {
        try {
          const r: { result?: unknown } = await withinTime(
            'cloudinary',
            PROVIDER_TIMEOUT_MS,
            v2.uploader.destroy(a.provider_id, {
              ...credentials,
              resource_type: a.resource_type ?? 'image',
              type: 'upload',
              invalidate: true,
            }),
          )
          if (r.result === 'ok') outcome.deleted.push(a.provider_id)
          else if (r.result === 'not found') outcome.missing.push(a.provider_id)
          else outcome.failed.push({ provider_id: a.provider_id, reason: `answered ${String(r.result)}` })
        } catch (err) {
          const e = err instanceof MediaProviderError ? err : failure('destroy', err)
          outcome.failed.push({ provider_id: a.provider_id, reason: e.message })
        }
      }
      return outcome
    },
  }
}
