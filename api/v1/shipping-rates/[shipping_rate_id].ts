import { methods } from '../../../lib/http/methods.js'
import { json, noContent, route } from '../../../lib/http/route.js'
import {
  deleteShippingRate,
  getShippingRate,
  ShippingRateParams,
  ShippingRateSchema,
  ShippingRateUpdate,
  updateShippingRate,
} from '../../../lib/orders/pricing-settings.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/shipping-rates/{shipping_rate_id} – one shipping rate
  GET: route(
    {
      path: '/api/v1/shipping-rates/[shipping_rate_id]',
      summary: 'Get a shipping rate',
      tags: ['pricing'],
      auth: { permission: 'orders.view' },
      params: ShippingRateParams,
      response: ShippingRateSchema,
      responses: { 404: 'No such shipping rate' },
    },
    async ({ db, params }) => json(await getShippingRate(db, params.shipping_rate_id)),
  ),
  // PUT /api/v1/shipping-rates/{shipping_rate_id} – partial update (null clears free_above, min/max_days)
  PUT: route(
    {
      path: '/api/v1/shipping-rates/[shipping_rate_id]',
      summary: 'Update a shipping rate',
      tags: ['pricing'],
      auth: { permission: 'settings.manage' },
      params: ShippingRateParams,
      body: ShippingRateUpdate,
      response: ShippingRateSchema,
      responses: { 404: 'No such shipping rate' },
    },
    async ({ db, params, body }) => json(await updateShippingRate(db, params.shipping_rate_id, body)),
  ),
  // DELETE /api/v1/shipping-rates/{shipping_rate_id} – delete (orders keep their method and amount)
  DELETE: route(
    {
      path: '/api/v1/shipping-rates/[shipping_rate_id]',
      summary: 'Delete a shipping rate',
      tags: ['pricing'],
      auth: { permission: 'settings.manage' },
      params: ShippingRateParams,
      status: 204,
      responses: { 404: 'No such shipping rate' },
    },
    async ({ db, params }) => {
      await deleteShippingRate(db, params.shipping_rate_id)
      return noContent()
    },
  ),
})
