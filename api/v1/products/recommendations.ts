import { catalogJson } from '../../../lib/catalog/cache.js'
import {
  RecommendationsQuery,
  RecommendationsSchema,
  recommendProducts,
} from '../../../lib/catalog/recommendations.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/products/recommendations – bought together, then same category, then same brand
  GET: route(
    {
      path: '/api/v1/products/recommendations',
      summary: 'Recommend products',
      description:
        'For `product_id` (id or slug), or for `customer_id` (default: the signed-in caller; only that ' +
        'customer or staff with orders.view, a 404 otherwise). Never hidden or out-of-stock products. ' +
        'Answers for a customer are never publicly cacheable.',
      tags: ['products'],
      auth: 'optional',
      query: RecommendationsQuery,
      response: RecommendationsSchema,
      responses: { 404: 'No such product or customer (or not yours)' },
    },
    async ({ request, db, query, principal }) => {
      const result = await recommendProducts(db, query, principal)
      return result.based_on === 'product' ? catalogJson(request, result) : json(result)
    },
  ),
})
