import { createHash, randomBytes } from 'node:crypto'
import { HttpResponse, http } from 'msw'

// Cloudinary and Vercel Blob as the media tests see them: small stateful fakes behind MSW, answering the
// requests the SDKs really send with the providers' payload shapes.
// - Cloudinary Admin API, `cloudinary.v2.api.resource()`: GET /v1_1/<cloud>/resources/<image|video>/upload/
//   <public_id> (the SDK encodes the public_id as one path segment, `/` as %2F), Basic auth
//   api_key:api_secret; 200 with the resource (shape of the "Get details of a single asset" sample response
//   in Cloudinary's Node.js SDK guide), 404 `{ error: { message: "Resource not found - <id>" } }`.
// - Cloudinary Upload API, `cloudinary.v2.uploader.destroy()`: POST /v1_1/<cloud>/<type>/destroy, a
//   multipart form signed like an upload; 200 `{ result: "ok" }` or `{ result: "not found" }`.
// - Vercel Blob API as @vercel/blob 2.x calls it: head() is GET https://vercel.com/api/blob?url=<blob url>
//   (200 with url, downloadUrl, pathname, size, uploadedAt, contentType, contentDisposition, cacheControl,
//   etag; 404 `{ error: { code: "not_found", ... } }`), del() is POST https://vercel.com/api/blob/delete
//   `{ urls }`; errors `{ error: { code } }` (the shapes of the SDK's own tests, vercel/storage
//   packages/blob/src/index.node.test.ts).

export const CLOUDINARY = {
  cloud: 'shop-media-test',
  key: '614335564976464',
  secret: 'cloudinary-test-secret-not-real-0123',
} as const
export const CLOUDINARY_API = 'https://api.cloudinary.com'
export const cloudinaryEnv = {
  CLOUDINARY_URL: `cloudinary://${CLOUDINARY.key}:${CLOUDINARY.secret}@${CLOUDINARY.cloud}`,
  BLOB_READ_WRITE_TOKEN: undefined,
}

export const BLOB = {
  storeId: 'FakeStore12345',
  token: 'vercel_blob_rw_FakeStore12345_30FakeRandomCharacters12345678',
} as const
export const BLOB_API = 'https://vercel.com/api/blob'
export const blobEnv = {
  CLOUDINARY_URL: undefined,
  BLOB_READ_WRITE_TOKEN: BLOB.token,
  // The SDK retries 5xx answers ten times with backoff; its own tests turn that off the same way.
  VERCEL_BLOB_RETRIES: '0',
}
export const noStorageEnv = {
  CLOUDINARY_URL: undefined,
  CLOUDINARY_CLOUD_NAME: undefined,
  CLOUDINARY_API_KEY: undefined,
  CLOUDINARY_API_SECRET: undefined,
  BLOB_READ_WRITE_TOKEN: undefined,
}

/**
 * Cloudinary's signature as its documentation states it: the parameters (not file, cloud_name,
 * resource_type, api_key, signature), sorted by name, `name=value` joined with `&`, the API secret
 * appended, SHA-1 in hex. Written out here, not taken from the SDK, so the test checks the SDK's use.
 */
export function cloudinarySignature(params: Record<string, string>, secret: string): string {
  const skip = new Set(['file', 'cloud_name', 'resource_type', 'api_key', 'signature'])
  const toSign = Object.entries(params)
    .filter(([k, v]) => !skip.has(k) && v !== '')
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
  return createHash('sha1')
    .update(toSign + secret)
    .digest('hex')
}

const hex = (n: number) => randomBytes(n).toString('hex')

export interface CloudinaryFile {
  public_id: string
  resource_type: 'image' | 'video' | 'raw'
  format: string
  bytes: number
  width?: number
  height?: number
  duration?: number
}

export class FakeCloudinary {
  files = new Map<string, CloudinaryFile & { version: number }>()
  lookups: Array<{ resourceType: string; publicId: string; authorization: string | null }> = []
  destroys: Array<{ resourceType: string; params: Record<string, string>; signatureValid: boolean }> = []
  /** Answer destroy with this HTTP status and Cloudinary's error body instead. */
  failDestroy: number | null = null
  failLookup: number | null = null
  /** Called when a destroy arrives, before it is answered (what the catalog looks like then). */
  onDestroy: ((publicId: string) => Promise<void>) | null = null

  add(file: CloudinaryFile): string {
    const version = 1719304891
    this.files.set(`${file.resource_type}:${file.public_id}`, { ...file, version })
    return this.secureUrl(file.resource_type, file.public_id, file.format, version)
  }

  secureUrl(type: string, publicId: string, format: string, version = 1719304891) {
    return `https://res.cloudinary.com/${CLOUDINARY.cloud}/${type}/upload/v${version}/${publicId}.${format}`
  }

  private resource(f: CloudinaryFile & { version: number }) {
    return {
      asset_id: hex(16),
      public_id: f.public_id,
      format: f.format,
      version: f.version,
      resource_type: f.resource_type,
      type: 'upload',
      created_at: '2024-06-25T08:41:31Z',
      bytes: f.bytes,
      ...(f.width !== undefined ? { width: f.width, height: f.height } : {}),
      ...(f.duration !== undefined ? { duration: f.duration } : {}),
      backup: true,
      asset_folder: '',
      display_name: f.public_id.split('/').pop(),
      url: this.secureUrl(f.resource_type, f.public_id, f.format, f.version).replace('https:', 'http:'),
      secure_url: this.secureUrl(f.resource_type, f.public_id, f.format, f.version),
      next_cursor: hex(32),
      derived: [],
    }
  }

  handlers() {
    const basic = `Basic ${Buffer.from(`${CLOUDINARY.key}:${CLOUDINARY.secret}`).toString('base64')}`
    return [
      http.get(
        `${CLOUDINARY_API}/v1_1/:cloud/resources/:resourceType/upload/:publicId`,
        ({ request, params }) => {
          const publicId = decodeURIComponent(String(params.publicId))
          const resourceType = String(params.resourceType)
          const authorization = request.headers.get('authorization')
          this.lookups.push({ resourceType, publicId, authorization })
          if (params.cloud !== CLOUDINARY.cloud || authorization !== basic) {
            return HttpResponse.json({ error: { message: 'Invalid Signature' } }, { status: 401 })
          }
          if (this.failLookup) {
            return HttpResponse.json({ error: { message: 'General Error' } }, { status: this.failLookup })
          }
          const f = this.files.get(`${resourceType}:${publicId}`)
          if (!f)
            return HttpResponse.json(
              { error: { message: `Resource not found - ${publicId}` } },
              { status: 404 },
            )
          return HttpResponse.json(this.resource(f))
        },
      ),
      http.post(`${CLOUDINARY_API}/v1_1/:cloud/:resourceType/destroy`, async ({ request, params }) => {
        const form = await request.formData()
        const fields = Object.fromEntries([...form.entries()].map(([k, v]) => [k, String(v)]))
        const signatureValid =
          fields.api_key === CLOUDINARY.key &&
          fields.signature === cloudinarySignature(fields, CLOUDINARY.secret)
        const resourceType = String(params.resourceType)
        this.destroys.push({ resourceType, params: fields, signatureValid })
        await this.onDestroy?.(fields.public_id!)
        if (!signatureValid)
          return HttpResponse.json({ error: { message: 'Invalid Signature' } }, { status: 401 })
        if (this.failDestroy) {
          return HttpResponse.json({ error: { message: 'General Error' } }, { status: this.failDestroy })
        }
        const key = `${resourceType}:${fields.public_id}`
        const existed = this.files.delete(key)
        return HttpResponse.json({ result: existed ? 'ok' : 'not found' })
      }),
    ]
  }

  destroyedIds(): string[] {
    return this.destroys.filter((d) => d.signatureValid).map((d) => d.params.public_id!)
  }
}

export interface BlobFile {
  pathname: string
  contentType: string
  size: number
}

export class FakeBlob {
  files = new Map<string, BlobFile>()
  heads: Array<{ url: string; authorization: string | null }> = []
  deletes: Array<{ urls: string[]; authorization: string | null }> = []
  failDelete: string | null = null

  urlOf(pathname: string) {
    return `https://${BLOB.storeId.toLowerCase()}.public.blob.vercel-storage.com/${pathname}`
  }

  add(file: BlobFile): string {
    this.files.set(file.pathname, file)
    return this.urlOf(file.pathname)
  }

  handlers() {
    const bearer = `Bearer ${BLOB.token}`
    return [
      http.get(BLOB_API, ({ request }) => {
        const url = new URL(request.url).searchParams.get('url') ?? ''
        const authorization = request.headers.get('authorization')
        this.heads.push({ url, authorization })
        if (authorization !== bearer)
          return HttpResponse.json({ error: { code: 'forbidden' } }, { status: 403 })
        const pathname = decodeURIComponent(new URL(url).pathname.slice(1))
        const f = this.files.get(pathname)
        if (!f) {
          return HttpResponse.json(
            { error: { code: 'not_found', message: 'The requested blob does not exist' } },
            { status: 404 },
          )
        }
        const fileUrl = this.urlOf(f.pathname)
        return HttpResponse.json({
          url: fileUrl,
          downloadUrl: `${fileUrl}?download=1`,
          pathname: f.pathname,
          size: f.size,
          uploadedAt: '2023-05-04T15:12:07.818Z',
          contentType: f.contentType,
          contentDisposition: `inline; filename="${f.pathname.split('/').pop()}"`,
          cacheControl: 'public, max-age=2592000',
          etag: `"${hex(8)}"`,
        })
      }),
      http.post(`${BLOB_API}/delete`, async ({ request }) => {
        const { urls } = (await request.json()) as { urls: string[] }
        const authorization = request.headers.get('authorization')
        this.deletes.push({ urls, authorization })
        if (authorization !== bearer)
          return HttpResponse.json({ error: { code: 'forbidden' } }, { status: 403 })
        if (this.failDelete) return HttpResponse.json({ error: { code: this.failDelete } }, { status: 403 })
        for (const u of urls) this.files.delete(decodeURIComponent(new URL(u).pathname.slice(1)))
        return HttpResponse.json(urls)
      }),
    ]
  }
}
