import { removeMedia } from '../../../../../lib/catalog/media/attach.js'
import { MediaParams } from '../../../../../lib/catalog/media/schemas.js'
import { methods } from '../../../../../lib/http/methods.js'
import { noContent, route } from '../../../../../lib/http/route.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // DELETE /api/v1/products/{product_id}/media/{media_id} – remove an uploaded image or video
  DELETE: route(
    {
      path: '/api/v1/products/[product_id]/media/[media_id]',
      summary: 'Remove an uploaded image or video',
      description:
        'Removes the item with this `id` from the product or the variant holding it (204). The file is ' +
        'deleted at its provider after the change has committed, in after-response work; a failure there ' +
        'is logged and never changes the answer.',
      tags: ['products'],
      auth: { permission: 'products.write' },
      params: MediaParams,
      responses: { 204: 'Removed', 404: 'No such product or media item' },
    },
    async ({ db, params }) => {
      await removeMedia(db, params.product_id, params.media_id)
      return noContent()
    },
  ),
})
