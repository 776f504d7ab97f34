import { methods } from '../../lib/http/methods.js'
import { route } from '../../lib/http/route.js'
import { servedDocumentBody } from '../../lib/openapi/served.js'

// GET /api/v1/openapi.json – the OpenAPI 3.1 document of every route
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/openapi.json',
      summary: 'OpenAPI document',
      description:
        "This API's OpenAPI 3.1 document. Amounts follow this deployment's SHOP_CURRENCY and new " +
        'passwords its PASSWORD_MIN_LENGTH (components `Money`, `Price`, `Amount`, `NewPassword`).',
      tags: ['meta'],
      auth: 'public',
      db: false,
    },
    async () =>
      new Response(servedDocumentBody(), {
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'cache-control': 'public, max-age=300',
        },
      }),
  ),
})
