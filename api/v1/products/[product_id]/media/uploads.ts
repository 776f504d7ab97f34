import { createUpload } from '../../../../../lib/catalog/media/attach.js'
import { UploadBody, UploadTicketSchema } from '../../../../../lib/catalog/media/schemas.js'
import { ProductParams } from '../../../../../lib/catalog/schemas.js'
import { methods } from '../../../../../lib/http/methods.js'
import { json, route } from '../../../../../lib/http/route.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/products/{product_id}/media/uploads – a signed direct upload of one image or video
  POST: route(
    {
      path: '/api/v1/products/[product_id]/media/uploads',
      summary: 'Start a direct upload of an image or video',
      description:
        'Answers how to send one file straight to the storage provider (it never passes through this ' +
        'API): Cloudinary (a signed upload: POST `upload.url` with `upload.fields` and the file as `file`) ' +
        'when CLOUDINARY_URL or the CLOUDINARY_* settings are set, else Vercel Blob (a client token for ' +
        'exactly `provider_id`: PUT `upload.url` with `upload.headers`, or `put()` of @vercel/blob/client) ' +
        'when BLOB_READ_WRITE_TOKEN is set. Then confirm with POST /products/{product_id}/media. The type ' +
        'must be one of MEDIA_ALLOWED_TYPES and the file at most MEDIA_MAX_IMAGE_BYTES / ' +
        'MEDIA_MAX_VIDEO_BYTES. Without a storage provider: 503 media_storage_not_configured.',
      tags: ['products'],
      auth: { permission: 'products.write' },
      params: ProductParams,
      body: UploadBody,
      response: UploadTicketSchema,
      responses: {
        404: 'No such product',
        502: 'media_provider_unavailable',
        503: 'media_storage_not_configured',
      },
    },
    async ({ db, params, body }) => json(await createUpload(db, params.product_id, body)),
  ),
})
