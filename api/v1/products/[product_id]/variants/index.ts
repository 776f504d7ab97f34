import { z } from 'zod'
import { viewerOf } from '../../../../../lib/catalog/access.js'
import { catalogJson } from '../../../../../lib/catalog/cache.js'
import { ProductParams, VariantInput } from '../../../../../lib/catalog/schemas.js'
import { createVariant, listVariants } from '../../../../../lib/catalog/variants.js'
import { VariantSchema } from '../../../../../lib/catalog/view.js'
import { methods } from '../../../../../lib/http/methods.js'
import { json, route } from '../../../../../lib/http/route.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/products/{product_id}/variants – the product's variants in position order
  GET: route(
    {
      path: '/api/v1/products/[product_id]/variants',
      summary: 'List variants',
      description: 'Customers and anonymous callers see the active variants of visible products only.',
      tags: ['products'],
      auth: 'optional',
      params: ProductParams,
      response: z.object({ variants: z.array(VariantSchema) }),
      responses: { 404: 'No such product (or not visible to you)' },
    },
    async ({ request, db, params, principal }) =>
      catalogJson(request, await listVariants(db, params.product_id, viewerOf(principal))),
  ),
  // POST /api/v1/products/{product_id}/variants – add a variant (own SKU, options, price override, stock)
  POST: route(
    {
      path: '/api/v1/products/[product_id]/variants',
      summary: 'Create a variant',
      description:
        'Without `price` the variant inherits the product’s. Adding the first variant to a product that ' +
        'still holds stock of its own is a 409 product_has_stock until that stock is set to 0. A SKU used ' +
        'by any product or variant is a 409 sku_taken.',
      tags: ['products'],
      auth: { permission: 'products.write' },
      params: ProductParams,
      body: VariantInput,
      response: VariantSchema,
      status: 201,
      creates: 'variant_id',
      responses: { 404: 'No such product', 409: 'sku_taken or product_has_stock' },
    },
    async ({ db, principal, params, body }) =>
      json(await createVariant(db, params.product_id, body, { actorId: principal!.userId }), 201),
  ),
})
