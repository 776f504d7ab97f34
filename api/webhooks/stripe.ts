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
        '(400 invalid_signature, nothing changed). Each event id is processed once. ' +
        'payment_intent.succeeded pays a pending order with the right amount and currency; on a cancelled ' +
        'or paid order, or with another amount, the payment is recorded, refunded at once and the order ' +
        'flagged. payment_intent.payment_failed is recorded; charge.refunded reconciles refunds by Stripe ' +
        'refund id and the refunded total from amount_refunded; charge.dispute.created flags the order.',
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
