import { OptimizeBody, OptimizeResponse, optimizeProduct } from '../../../../lib/catalog/optimize.js'
import { ProductParams } from '../../../../lib/catalog/schemas.js'
import { methods } from '../../../../lib/http/methods.js'
import { json, route } from '../../../../lib/http/route.js'

// POST /api/v1/products/{product_id}/optimize – content and SEO suggestions for a product, optionally applied
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/products/[product_id]/optimize',
      summary: 'Suggest (and apply) content and SEO improvements',
      description:
        'Deterministic checks, no outside service: name length (15..70 characters), SEO title (missing, ' +
        'over 60), description (missing, under 30 words), SEO description (missing, over 160), slug ' +
        'quality (long, numbered or not from the name, when the name’s slug is free), images (missing, ' +
        'without alt text), tags (missing), compare_at_price not above price. Each suggestion names the ' +
        '`field`, a `code`, the `reason`, the `current` and a `proposed` value (API shape), and whether it ' +
        'is `safe`. With `{ apply: true }` the safe ones (filling an empty SEO title or description or ' +
        'image alt texts, removing a compare-at price not above the price) are applied in one ' +
        'transaction; the answer lists the `applied` fields, the suggestions that remain and the product.',
      tags: ['products'],
      auth: { permission: 'products.write' },
      params: ProductParams,
      body: OptimizeBody,
      response: OptimizeResponse,
      responses: { 404: 'No such product' },
    },
    async ({ db, params, body, principal }) =>
      json(await optimizeProduct(db, params.product_id, body?.apply ?? false, principal!.userId)),
  ),
})
