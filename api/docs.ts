import { randomBytes } from 'node:crypto'
import { methods } from '../lib/http/methods.js'
import { route } from '../lib/http/route.js'
import { referencePage, referencePagePolicy } from '../lib/openapi/reference-page.js'

// GET /api/docs – the API reference page (Scalar) over GET /api/v1/openapi.json
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/docs',
      summary: 'API reference page',
      description:
        "An HTML page that renders this API's OpenAPI document with Scalar, and can send requests to this " +
        'deployment from its request panel. Everything it loads comes from this origin.',
      tags: ['meta'],
      auth: 'public',
      db: false,
      responseContentType: 'text/html',
    },
    async () => {
      const nonce = randomBytes(16).toString('base64')
      return new Response(referencePage(nonce), {
        headers: {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': referencePagePolicy(nonce),
          'referrer-policy': 'no-referrer',
          'x-frame-options': 'DENY',
          'cache-control': 'no-store',
        },
      })
    },
  ),
})
