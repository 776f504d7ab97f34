import { viewerOf } from '../../../lib/catalog/access.js'
import { SearchBody, SearchResultSchema, searchProducts } from '../../../lib/catalog/facets.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/products/search – full-text search with filters, sort and facet counts
  POST: route(
    {
      path: '/api/v1/products/search',
      summary: 'Search products',
      description:
        'Full text over name, brand, tags and descriptions (each word also as a prefix), exact or prefix ' +
        'match on product and variant SKUs, and a typo-tolerant name match when nothing matches strictly. ' +
        'Facets (default all four) count with every filter except their own; price bands are 0-25, 25-50, ' +
        '50-100, 100-200 and 200+ in major units.',
      tags: ['products'],
      auth: 'optional',
      body: SearchBody,
      response: SearchResultSchema,
    },
    async ({ db, body, principal }) => json(await searchProducts(db, body, viewerOf(principal))),
  ),
})
