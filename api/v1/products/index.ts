import { viewerOf } from '../../../lib/catalog/access.js'
import { catalogJson } from '../../../lib/catalog/cache.js'
import { ListProductsQuery, listProducts, ProductListSchema } from '../../../lib/catalog/list.js'
import { createProduct } from '../../../lib/catalog/products.js'
import { ProductInput } from '../../../lib/catalog/schemas.js'
import { ProductSchema } from '../../../lib/catalog/view.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/products – the catalog: filters, search, sort, page or keyset cursor, variants included
  GET: route(
    {
      path: '/api/v1/products',
      summary: 'List products',
      description:
        'Customers and anonymous callers see active, visible products only; staff see all and may filter ' +
        'by `status`. `category` is an id or slug and includes its subcategories; `tags` matches any of ' +
        'the comma-separated tags; prices are major units. `cursor` (from `pagination.next_cursor`) pages ' +
        'by keyset and omits the total; relevance order pages by `page` only. The total is a count kept ' +
        'for 60 s per filter set (customers and staff apart), taken afresh after a product, variant or ' +
        'category change, and exact on the last page. Anonymous answers are publicly cacheable (60 s, ETag).',
      tags: ['products'],
      auth: 'optional',
      query: ListProductsQuery,
      response: ProductListSchema,
      responses: { 304: 'Not modified (If-None-Match)' },
    },
    async ({ request, db, query, principal }) =>
      catalogJson(request, await listProducts(db, query, viewerOf(principal))),
  ),
  // POST /api/v1/products – create a product, with inline variants in the same transaction
  POST: route(
    {
      path: '/api/v1/products',
      summary: 'Create a product',
      description:
        'The slug is generated from the name (unique) unless given. A SKU used by any product or variant ' +
        'is a 409 sku_taken; a taken slug is a 409 slug_taken. Inline `variants` are created in the same ' +
        'transaction; a product with variants holds no stock itself (give each variant its quantity).',
      tags: ['products'],
      auth: { permission: 'products.write' },
      body: ProductInput,
      response: ProductSchema,
      status: 201,
      creates: 'product_id',
      responses: { 409: 'sku_taken or slug_taken' },
    },
    async ({ db, principal, body }) =>
      json(await createProduct(db, body, { actorId: principal!.userId }), 201),
  ),
})
