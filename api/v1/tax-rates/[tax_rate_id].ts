import { methods } from '../../../lib/http/methods.js'
import { json, noContent, route } from '../../../lib/http/route.js'
import {
  deleteTaxRate,
  getTaxRate,
  TaxRateParams,
  TaxRateSchema,
  TaxRateUpdate,
  updateTaxRate,
} from '../../../lib/orders/pricing-settings.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/tax-rates/{tax_rate_id} – one tax rate
  GET: route(
    {
      path: '/api/v1/tax-rates/[tax_rate_id]',
      summary: 'Get a tax rate',
      tags: ['pricing'],
      auth: { permission: 'orders.view' },
      params: TaxRateParams,
      response: TaxRateSchema,
      responses: { 404: 'No such tax rate' },
    },
    async ({ db, params }) => json(await getTaxRate(db, params.tax_rate_id)),
  ),
  // PUT /api/v1/tax-rates/{tax_rate_id} – partial update (a new country without a state: the whole country)
  PUT: route(
    {
      path: '/api/v1/tax-rates/[tax_rate_id]',
      summary: 'Update a tax rate',
      tags: ['pricing'],
      auth: { permission: 'settings.manage' },
      params: TaxRateParams,
      body: TaxRateUpdate,
      response: TaxRateSchema,
      responses: { 404: 'No such tax rate', 409: 'tax_rate_exists' },
    },
    async ({ db, params, body }) => json(await updateTaxRate(db, params.tax_rate_id, body)),
  ),
  // DELETE /api/v1/tax-rates/{tax_rate_id} – delete (orders keep their own tax amounts)
  DELETE: route(
    {
      path: '/api/v1/tax-rates/[tax_rate_id]',
      summary: 'Delete a tax rate',
      tags: ['pricing'],
      auth: { permission: 'settings.manage' },
      params: TaxRateParams,
      status: 204,
      responses: { 404: 'No such tax rate' },
    },
    async ({ db, params }) => {
      await deleteTaxRate(db, params.tax_rate_id)
      return noContent()
    },
  ),
})
