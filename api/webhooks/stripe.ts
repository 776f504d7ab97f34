import { z } from 'zod'
import { methods } from '../../lib/http/methods.js'
import { json, route } from '../../lib/http/route.js'
import { handleStripeEvent, logWebhookFailure, verifyStripeEvent } from '../../lib/payments/webhook.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/webhooks/stripe – Stripe's payment events, signature checked on the raw body
  POST: route(
    {
      path: '/api/webhooks/stripe',
      summary: 'Stripe webhook',
      description:
        '404 when STRIPE_WEBHOOK_SECRET is unset. The Stripe-Signature header is verified on the raw body ' +
        '(400 invalid_signature, nothing changed). Each event id is processed once. payment_intent.* go ' +
        'through the one reconcile step of a PaymentIntent: the payment that paid the order is recorded once ' +
        '(a late or repeated event changes nothing); a payment the order cannot keep (cancelled order, ' +
        'second payment, wrong amount) is refunded in full and flagged. refund.created/updated/failed and ' +
        'charge.refunded settle each refund by metadata.refund_id or Stripe id (a dashboard refund is ' +
        'recorded); charge.dispute.created flags the order, charge.dispute.closed records the outcome ' +
        '(lost: the amount counts as refunded). The decision tables are in docs/orders.md.',
      tags: ['webhooks'],
      auth: 'public',
      rateLimit: false,
      rawBody: true,
      responses: { 400: 'invalid_signature (nothing changed)', 404: 'No webhook secret configured' },
      response: z.object({
        received: z.literal(true),
        duplicate: z.literal(true).optional(),
        outcome: z.string().optional(),
      }),
    },
    async ({ db, request, rawBody }) => {
      const event = await verifyStripeEvent(rawBody, request.headers.get('stripe-signature'))
      try {
        return json(await handleStripeEvent(db, event))
      } catch (err) {
        logWebhookFailure(event, err)
        throw err
      }
    },
  ),
})
