import { viewerOf } from '../../../../../lib/catalog/access.js'
import { getInventory, InventorySchema, setInventory } from '../../../../../lib/catalog/inventory.js'
import { InventorySetBody, ProductParams } from '../../../../../lib/catalog/schemas.js'
import { methods } from '../../../../../lib/http/methods.js'
import { json, route } from '../../../../../lib/http/route.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/products/{product_id}/inventory – stock of the product and each variant, low-stock flags
  GET: route(
    {
      path: '/api/v1/products/[product_id]/inventory',
      summary: 'Get stock levels',
      description:
        'A product without variants holds its own stock; with variants its figure is the sum over active ' +
        'variants. Low stock is per variant for products with variants, per product otherwise.',
      tags: ['inventory'],
      auth: 'optional',
      params: ProductParams,
      response: InventorySchema,
      responses: { 404: 'No such product (or not visible to you)' },
    },
    async ({ db, params, principal }) => json(await getInventory(db, params.product_id, viewerOf(principal))),
  ),
  // PUT /api/v1/products/{product_id}/inventory – set absolute stock levels
  PUT: route(
    {
      path: '/api/v1/products/[product_id]/inventory',
      summary: 'Set stock levels',
      description:
        '`{ inventory_quantity }` for a product without variants, `{ variants: [{ id, inventory_quantity }] }` ' +
        'for one with variants (the other form is a 422). Each change writes a ledger row (reason `set`, ' +
        'your `reason` as its note).',
      tags: ['inventory'],
      auth: { permission: 'inventory.write' },
      params: ProductParams,
      body: InventorySetBody,
      response: InventorySchema,
      responses: { 404: 'No such product or variant' },
    },
    async ({ db, principal, params, body }) =>
      json(await setInventory(db, params.product_id, body, principal!.userId)),
  ),
})
