import { BULK_EDIT_MAX, BulkUpdateBody, bulkUpdateProducts } from '../../../lib/catalog/bulk-edit.js'
import { BulkResponse } from '../../../lib/catalog/bulk-rows.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'

// POST /api/v1/products/bulk-update – change up to 1,000 products named by id or SKU, row by row
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/products/bulk-update',
      summary: 'Update many products at once',
      description:
        `\`{ products: [{ id | sku, ...fields }] }\` (1..${BULK_EDIT_MAX} rows): each row names one product by ` +
        '`id` or `sku` and carries the fields of PUT /products/{product_id} to change (a SKU is renamed ' +
        'through PUT, not here). Every row on its own: `updated`, `unchanged` (nothing differed) or `error` ' +
        'with its `errors` (schema violations, `not_found`, `duplicate_product`, `slug_taken`, ' +
        '`unknown_category`, `product_has_variants`); the other rows still change. Own stock given as ' +
        '`inventory_quantity` is written to the ledger as `set`.',
      tags: ['products'],
      auth: { permission: 'products.write' },
      rateLimit: 'bulk',
      body: BulkUpdateBody,
      response: BulkResponse,
    },
    async ({ db, principal, body }) => json(await bulkUpdateProducts(db, body.products, principal!.userId)),
  ),
})
