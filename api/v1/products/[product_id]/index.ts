import { viewerOf } from '../../../../lib/catalog/access.js'
import { catalogJson } from '../../../../lib/catalog/cache.js'
import { deleteProduct, getProduct, updateProduct } from '../../../../lib/catalog/products.js'
import { ProductParams, ProductUpdate } from '../../../../lib/catalog/schemas.js'
import { ProductSchema } from '../../../../lib/catalog/view.js'
import { methods } from '../../../../lib/http/methods.js'
import { json, noContent, route } from '../../../../lib/http/route.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/products/{product_id} – one product (by id or slug) with its variants and category
  GET: route(
    {
      path: '/api/v1/products/[product_id]',
      summary: 'Get a product',
      description:
        'By id or slug. A product that is not active and visible is a 404 for customers and anonymous ' +
        'callers. Variant prices are the effective ones; staff also see cost prices and `inherits_price`. ' +
        'Anonymous answers are publicly cacheable (60 s, ETag).',
      tags: ['products'],
      auth: 'optional',
      params: ProductParams,
      response: ProductSchema,
      responses: { 304: 'Not modified (If-None-Match)', 404: 'No such product (or not visible to you)' },
    },
    async ({ request, db, params, principal }) =>
      catalogJson(request, await getProduct(db, params.product_id, viewerOf(principal))),
  ),
  // PUT /api/v1/products/{product_id} – partial update
  PUT: route(
    {
      path: '/api/v1/products/[product_id]',
      summary: 'Update a product',
      description:
        'Only the given fields change. `inventory_quantity` sets the own stock of a product without ' +
        'variants (ledger reason `set`); for one with variants it is a 422. A taken SKU or slug is a 409.',
      tags: ['products'],
      auth: { permission: 'products.write' },
      params: ProductParams,
      body: ProductUpdate,
      response: ProductSchema,
      responses: { 404: 'No such product', 409: 'sku_taken, slug_taken or negative_stock' },
    },
    async ({ db, principal, params, body }) =>
      json(await updateProduct(db, params.product_id, body, { actorId: principal!.userId })),
  ),
  // DELETE /api/v1/products/{product_id} – delete, or archive when it was ever ordered
  DELETE: route(
    {
      path: '/api/v1/products/[product_id]',
      summary: 'Delete a product',
      description:
        '204 when the product was never ordered (it is gone with its variants and SKUs); 200 with the ' +
        'product, now `archived`, when it was ordered (its order lines keep their link).',
      tags: ['products'],
      auth: { permission: 'products.write' },
      params: ProductParams,
      response: ProductSchema,
      responses: { 204: 'Deleted', 404: 'No such product' },
    },
    async ({ db, params }) => {
      const archived = await deleteProduct(db, params.product_id)
      return archived ? json(archived) : noContent()
    },
  ),
})
