import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import {
  createTaxRate,
  ListTaxRatesQuery,
  listTaxRates,
  TaxRateInput,
  TaxRateListSchema,
  TaxRateSchema,
} from '../../../lib/orders/pricing-settings.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/tax-rates – tax rates by country and state (filters country, is_active; paged)
  GET: route(
    {
      path: '/api/v1/tax-rates',
      summary: 'List tax rates',
      tags: ['pricing'],
      auth: { permission: 'orders.view' },
      query: ListTaxRatesQuery,
      response: TaxRateListSchema,
    },
    async ({ db, query }) => json(await listTaxRates(db, query)),
  ),
  // POST /api/v1/tax-rates – create a tax rate for a country or one of its states
  POST: route(
    {
      path: '/api/v1/tax-rates',
      summary: 'Create a tax rate',
      description:
        'The most specific active rate wins at checkout (state over country). One active rate per place ' +
        '(country, state): a second is a 409 tax_rate_exists. For US and CA `state` must be a real code.',
      tags: ['pricing'],
      auth: { permission: 'settings.manage' },
      body: TaxRateInput,
      response: TaxRateSchema,
      status: 201,
      responses: { 409: 'tax_rate_exists' },
    },
    async ({ db, body }) => json(await createTaxRate(db, body), 201),
  ),
})
