import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import {
  createShippingRate,
  ListShippingRatesQuery,
  listShippingRates,
  ShippingRateInput,
  ShippingRateListSchema,
  ShippingRateSchema,
} from '../../../lib/orders/pricing-settings.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/shipping-rates – shipping rates (filters method, is_active; paged)
  GET: route(
    {
      path: '/api/v1/shipping-rates',
      summary: 'List shipping rates',
      tags: ['pricing'],
      auth: { permission: 'orders.view' },
      query: ListShippingRatesQuery,
      response: ShippingRateListSchema,
    },
    async ({ db, query }) => json(await listShippingRates(db, query)),
  ),
  // POST /api/v1/shipping-rates – create a shipping rate for a method and some countries (or everywhere)
  POST: route(
    {
      path: '/api/v1/shipping-rates',
      summary: 'Create a shipping rate',
      description:
        'Amounts in major units. Per method, a rate naming the country wins over one for everywhere ' +
        '(`countries: []`), then the cheaper; the rate is free once subtotal - discount reaches ' +
        '`free_above`. `min_days` must not exceed `max_days`.',
      tags: ['pricing'],
      auth: { permission: 'settings.manage' },
      body: ShippingRateInput,
      response: ShippingRateSchema,
      status: 201,
    },
    async ({ db, body }) => json(await createShippingRate(db, body), 201),
  ),
})
