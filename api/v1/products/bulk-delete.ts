import { BULK_EDIT_MAX, BulkDeleteBody, bulkDeleteProducts } from '../../../lib/catalog/bulk-edit.js'
import { BulkResponse } from '../../../lib/catalog/bulk-rows.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'

// POST /api/v1/products/bulk-delete – delete (or archive, when ever ordered) up to 1,000 products by id or SKU
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/products/bulk-delete',
      summary: 'Delete many products at once',
      description:
        `\`{ products: [{ id } | { sku }] }\` (1..${BULK_EDIT_MAX} rows). As DELETE /products/{product_id}: a ` +
        'product that was never ordered is `deleted` with its variants, ledger and SKUs; one that was ' +
        'ordered (the product or one of its variants) is `archived` instead, so its order lines keep their ' +
        'link. Rows that fail (`not_found`, `duplicate_product`, schema violations) are reported with ' +
        '`errors`; the other rows still apply.',
      tags: ['products'],
      auth: { permission: 'products.write' },
      rateLimit: 'bulk',
      body: BulkDeleteBody,
      response: BulkResponse,
    },
    async ({ db, body }) => json(await bulkDeleteProducts(db, body.products)),
  ),
})
