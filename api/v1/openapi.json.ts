import { methods } from '../../lib/http/methods.js'
import { route } from '../../lib/http/route.js'
import doc from '../../lib/openapi/openapi.json' with { type: 'json' }

const body = JSON.stringify(doc)

// GET /api/v1/openapi.json – the OpenAPI 3.1 document of every route
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/openapi.json',
      summary: 'OpenAPI document',
      tags: ['meta'],
      auth: 'public',
      db: false,
    },
    async () =>
      new Response(body, {
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'cache-control': 'public, max-age=300',
        },
      }),
  ),
})
