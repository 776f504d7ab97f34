import { methods } from '../../lib/http/methods.js'
import { json, route } from '../../lib/http/route.js'
import { ReconcileReportSchema, reconcilePayments } from '../../lib/payments/reconcile.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/cron/reconcile-payments – every 10 minutes: settle or retry refunds still pending at Stripe
  GET: route(
    {
      path: '/api/cron/reconcile-payments',
      summary: 'Reconcile pending refunds with Stripe (cron, every 10 minutes)',
      description:
        'Refunds still pending (Stripe’s answer was lost or is not final) are looked up among their ' +
        'PaymentIntent’s refunds at Stripe by metadata.refund_id: found, they settle with Stripe’s status; ' +
        'absent 10 minutes after their latest attempt, they are sent again under the Idempotency-Key ' +
        '`<refund id>:<attempt>`. At most 50 per run, oldest first. Called by Vercel cron with the CRON_SECRET.',
      tags: ['cron'],
      auth: 'cron',
      rateLimit: false,
      response: ReconcileReportSchema,
    },
    async ({ db }) => json(await reconcilePayments(db)),
  ),
})
