import type { MediaAsset } from './items.js'
import {
  type AssetRef,
  decodedPath,
  fileUrlAt,
  MediaProviderError,
  PROVIDER_TIMEOUT_MS,
  type RemoveOutcome,
  type StorageProvider,
} from './provider.js'
import type { BlobConfig, MediaLimits } from './settings.js'

// Vercel Blob: a client-upload token (`generateClientTokenFromReadWriteToken`) that allows exactly one
// pathname, one content type and the size limit; `head()` before a file is attached; `del()` once it is
// let go. Public store URLs are https://<store id>.public.blob.vercel-storage.com/<pathname>.

/** Blob's default lifetime of a client token; the answer says when it ends. */
const TOKEN_VALID_MS = 60 * 60 * 1000
/** The Blob API version @vercel/blob 2.x sends (`x-api-version`), for clients uploading without the SDK. */
const BLOB_API_VERSION = '13'

const failure = (what: string, err: unknown) =>
  new MediaProviderError(
    'vercel_blob',
    `${what} failed: ${err instanceof Error ? err.message.replace(/^Vercel Blob: /, '') : 'unknown error'}`,
  )

export function blobStorage(config: BlobConfig & { limits: MediaLimits }): StorageProvider {
  const host = `${config.storeId.toLowerCase()}.public.blob.vercel-storage.com`
  const urlOf = (pathname: string) =>
    `https://${host}/${pathname.split('/').map(encodeURIComponent).join('/')}`

  return {
    async ticket({ providerId, kind, type, now }) {
      const { generateClientTokenFromReadWriteToken } = await import('@vercel/blob/client')
      const validUntil = now.getTime() + TOKEN_VALID_MS
      const token = await generateClientTokenFromReadWriteToken({
        token: config.token,
        pathname: providerId,
        allowedContentTypes: [type],
        maximumSizeInBytes: config.limits.maxBytes[kind],
        validUntil,
        addRandomSuffix: false,
        allowOverwrite: false,
      })
      return {
        provider_id: providerId,
        expires_at: new Date(validUntil),
        client_token: token,
        upload: {
          method: 'PUT',
          url: `https://vercel.com/api/blob/?${new URLSearchParams({ pathname: providerId })}`,
          fields: {},
          file_field: null,
          headers: {
            authorization: `Bearer ${token}`,
            'x-api-version': BLOB_API_VERSION,
            'x-vercel-blob-access': 'public',
            'x-content-type': type,
          },
        },
      }
    },

    refFromUrl(raw) {
      const url = fileUrlAt(raw, host)
      if (!url) return null
      const pathname = decodedPath(url.pathname.slice(1))
      return pathname ? { provider_id: pathname, url: urlOf(pathname) } : null
    },

    refFromId: (providerId) => ({ provider_id: providerId, url: urlOf(providerId) }),

    async lookup(ref: AssetRef) {
      const { head, BlobNotFoundError } = await import('@vercel/blob')
      try {
        const h = await head(ref.url ?? urlOf(ref.provider_id), {
          token: config.token,
          abortSignal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS),
        })
        return { url: h.url, provider_id: h.pathname, content_type: h.contentType, bytes: h.size }
      } catch (err) {
        if (err instanceof BlobNotFoundError) return null
        throw failure('head', err)
      }
    },

    async remove(assets: MediaAsset[]) {
      const { del } = await import('@vercel/blob')
      const ids = assets.map((a) => a.provider_id)
      // One request for all of them; Blob answers 200 whether or not each one still existed.
      try {
        await del(
          assets.map((a) => a.url),
          { token: config.token, abortSignal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS) },
        )
        return { deleted: ids, missing: [], failed: [] } satisfies RemoveOutcome
      } catch (err) {
        const reason = failure('del', err).message
        return { deleted: [], missing: [], failed: ids.map((provider_id) => ({ provider_id, reason })) }
      }
    },
  }
}
