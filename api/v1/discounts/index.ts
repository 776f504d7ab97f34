import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import {
  createDiscount,
  DiscountInput,
  DiscountListSchema,
  DiscountSchema,
  ListDiscountsQuery,
  listDiscounts,
} from '../../../lib/orders/discount-settings.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/discounts – discount codes with their redemptions so far (filters code, is_active; paged)
  GET: route(
    {
      path: '/api/v1/discounts',
      summary: 'List discount codes',
      tags: ['pricing'],
      auth: { permission: 'orders.view' },
      query: ListDiscountsQuery,
      response: DiscountListSchema,
    },
    async ({ db, query }) => json(await listDiscounts(db, query)),
  ),
  // POST /api/v1/discounts – create a discount code
  POST: route(
    {
      path: '/api/v1/discounts',
      summary: 'Create a discount code',
      description:
        '`value` is a percentage (0-100, up to 2 decimals) for `percentage` or an amount in major units ' +
        'for `fixed_amount` (capped at the subtotal at checkout). Codes are unique ignoring case: 409 ' +
        'discount_code_taken. `ends_at` must be after `starts_at`.',
      tags: ['pricing'],
      auth: { permission: 'settings.manage' },
      body: DiscountInput,
      response: DiscountSchema,
      status: 201,
      responses: { 409: 'discount_code_taken' },
    },
    async ({ db, body }) => json(await createDiscount(db, body), 201),
  ),
})
