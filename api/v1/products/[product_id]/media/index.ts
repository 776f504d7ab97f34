import { attachMedia } from '../../../../../lib/catalog/media/attach.js'
import { AttachBody, AttachedMediaSchema } from '../../../../../lib/catalog/media/schemas.js'
import { ProductParams } from '../../../../../lib/catalog/schemas.js'
import { methods } from '../../../../../lib/http/methods.js'
import { json, route } from '../../../../../lib/http/route.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/products/{product_id}/media – attach an uploaded file to the product or a variant
  POST: route(
    {
      path: '/api/v1/products/[product_id]/media',
      summary: 'Attach an uploaded image or video',
      description:
        'Names the uploaded file by `provider_id` (from the upload ticket) or by the `url` the provider ' +
        'answered. The server asks the provider (Cloudinary Admin API, Blob head()) that the file exists, ' +
        'was uploaded for this product, and has an allowed type and size, then appends it to the ' +
        "product's `images` or `videos` (or the variant's, with `variant_id`). Refusals change nothing: " +
        '404 unknown product or a variant of another product; 422 media_url_not_allowed, ' +
        'media_outside_upload_folder, media_not_found, media_type_not_allowed, media_too_large; 409 ' +
        'media_already_attached, media_limit_reached.',
      tags: ['products'],
      auth: { permission: 'products.write' },
      params: ProductParams,
      body: AttachBody,
      response: AttachedMediaSchema,
      status: 201,
      responses: {
        404: 'No such product or variant',
        409: 'media_already_attached or media_limit_reached',
        502: 'media_provider_unavailable',
        503: 'media_storage_not_configured',
      },
    },
    async ({ db, params, body }) => json(await attachMedia(db, params.product_id, body), 201),
  ),
})
