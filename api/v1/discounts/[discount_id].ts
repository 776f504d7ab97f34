import { methods } from '../../../lib/http/methods.js'
import { json, noContent, route } from '../../../lib/http/route.js'
import {
  DiscountParams,
  DiscountSchema,
  DiscountUpdate,
  deleteDiscount,
  getDiscount,
  updateDiscount,
} from '../../../lib/orders/discount-settings.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/discounts/{discount_id} – one discount code with times_used
  GET: route(
    {
      path: '/api/v1/discounts/[discount_id]',
      summary: 'Get a discount code',
      tags: ['pricing'],
      auth: { permission: 'orders.view' },
      params: DiscountParams,
      response: DiscountSchema,
      responses: { 404: 'No such discount' },
    },
    async ({ db, params }) => json(await getDiscount(db, params.discount_id)),
  ),
  // PUT /api/v1/discounts/{discount_id} – partial update (a new type needs its value)
  PUT: route(
    {
      path: '/api/v1/discounts/[discount_id]',
      summary: 'Update a discount code',
      description: 'A `usage_limit` below `times_used` is a 422; a taken code is a 409 discount_code_taken.',
      tags: ['pricing'],
      auth: { permission: 'settings.manage' },
      params: DiscountParams,
      body: DiscountUpdate,
      response: DiscountSchema,
      responses: { 404: 'No such discount', 409: 'discount_code_taken' },
    },
    async ({ db, params, body }) => json(await updateDiscount(db, params.discount_id, body)),
  ),
  // DELETE /api/v1/discounts/{discount_id} – delete an unused code (204); a used one is deactivated (200)
  DELETE: route(
    {
      path: '/api/v1/discounts/[discount_id]',
      summary: 'Delete a discount code',
      description:
        'A code no order has used is deleted: 204. A code that orders used is deactivated instead and ' +
        'returned with 200, so those orders keep their discount and the redemptions stay counted.',
      tags: ['pricing'],
      auth: { permission: 'settings.manage' },
      params: DiscountParams,
      response: DiscountSchema,
      responses: { 204: 'Deleted (never used)', 404: 'No such discount' },
    },
    async ({ db, params }) => {
      const kept = await deleteDiscount(db, params.discount_id)
      return kept ? json(kept) : noContent()
    },
  ),
})
