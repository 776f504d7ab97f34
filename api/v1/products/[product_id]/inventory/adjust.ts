import { AdjustResultSchema, adjustInventory } from '../../../../../lib/catalog/inventory.js'
import { InventoryAdjustBody, ProductParams } from '../../../../../lib/catalog/schemas.js'
import { methods } from '../../../../../lib/http/methods.js'
import { json, route } from '../../../../../lib/http/route.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/products/{product_id}/inventory/adjust – relative, atomic stock change into the ledger
  POST: route(
    {
      path: '/api/v1/products/[product_id]/inventory/adjust',
      summary: 'Adjust stock',
      description:
        'One conditional UPDATE: `delta` is applied only while the result stays at or above 0 under the ' +
        'deny policy (otherwise 409 insufficient_stock, nothing changes). A product with variants needs ' +
        '`variant_id` (422). The ledger row has reason `adjustment`, you as actor and `reason` as its note.',
      tags: ['inventory'],
      auth: { permission: 'inventory.write' },
      params: ProductParams,
      body: InventoryAdjustBody,
      response: AdjustResultSchema,
      responses: { 404: 'No such product or variant', 409: 'insufficient_stock' },
    },
    async ({ db, principal, params, body }) =>
      json(await adjustInventory(db, params.product_id, body, principal!.userId)),
  ),
})
