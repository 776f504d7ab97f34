import { VariantParams, VariantUpdate } from '../../../../../lib/catalog/schemas.js'
import { deleteVariant, updateVariant } from '../../../../../lib/catalog/variants.js'
import { VariantSchema } from '../../../../../lib/catalog/view.js'
import { methods } from '../../../../../lib/http/methods.js'
import { json, noContent, route } from '../../../../../lib/http/route.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // PUT /api/v1/products/{product_id}/variants/{variant_id} – partial update of a variant
  PUT: route(
    {
      path: '/api/v1/products/[product_id]/variants/[variant_id]',
      summary: 'Update a variant',
      description:
        '`price: null` makes the variant inherit the product’s price again. `inventory_quantity` sets an ' +
        'absolute level (ledger reason `set`). A taken SKU is a 409.',
      tags: ['products'],
      auth: { permission: 'products.write' },
      params: VariantParams,
      body: VariantUpdate,
      response: VariantSchema,
      responses: { 404: 'No such product or variant', 409: 'sku_taken or negative_stock' },
    },
    async ({ db, principal, params, body }) =>
      json(
        await updateVariant(db, params.product_id, params.variant_id, body, { actorId: principal!.userId }),
      ),
  ),
  // DELETE /api/v1/products/{product_id}/variants/{variant_id} – delete, or deactivate when ever ordered
  DELETE: route(
    {
      path: '/api/v1/products/[product_id]/variants/[variant_id]',
      summary: 'Delete a variant',
      description:
        '204 when the variant was never ordered (gone; deleting the last one leaves the product without ' +
        'variants at stock 0); 200 with the variant, now inactive, when it was ordered (its ledger and ' +
        'order lines stay intact).',
      tags: ['products'],
      auth: { permission: 'products.write' },
      params: VariantParams,
      response: VariantSchema,
      responses: { 204: 'Deleted', 404: 'No such product or variant' },
    },
    async ({ db, params }) => {
      const kept = await deleteVariant(db, params.product_id, params.variant_id)
      return kept ? json(kept) : noContent()
    },
  ),
})
