import { z } from 'zod'
import { methods } from '../../lib/http/methods.js'
import { json, route } from '../../lib/http/route.js'
import { checkShippoToken, handleShippoEvent } from '../../lib/shipping/tracking.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/webhooks/shippo?token=… – Shippo's track_updated events move shipments along
  POST: route(
    {
      path: '/api/webhooks/shippo',
      summary: 'Shippo webhook',
      description:
        'Configured in Shippo as `…/api/webhooks/shippo?token=$SHIPPO_WEBHOOK_SECRET` (Shippo takes only a ' +
        'URL; the token is compared in constant time). 404 when SHIPPO_WEBHOOK_SECRET is unset, 401 for a ' +
        'wrong token. `track_updated`: TRANSIT -> in_transit, DELIVERED -> delivered (and the order ' +
        'delivered when everything is), FAILURE/RETURNED -> failed/returned and a staff flag; every scan ' +
        'becomes a tracking event. An event seen before (same tracking number, status and date) changes ' +
        'nothing. Other events are acknowledged and ignored.',
      tags: ['webhooks'],
      auth: 'public',
      rateLimit: false,
      rawBody: true,
      query: z.object({ token: z.string().optional() }),
      response: z.object({
        received: z.literal(true),
        duplicate: z.literal(true).optional(),
        ignored: z.string().optional(),
      }),
      responses: { 400: 'invalid_payload', 401: 'invalid_webhook_token', 404: 'No webhook configured' },
    },
    async ({ db, query, rawBody }) => {
      checkShippoToken(query.token ?? null)
      return json(await handleShippoEvent(db, rawBody))
    },
  ),
})
