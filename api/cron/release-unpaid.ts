import { methods } from '../../lib/http/methods.js'
import { json, route } from '../../lib/http/route.js'
import { ReleaseReportSchema, releaseUnpaidOrders } from '../../lib/payments/release-unpaid.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/cron/release-unpaid – every 15 minutes: cancel pending orders past their time limit
  GET: route(
    {
      path: '/api/cron/release-unpaid',
      summary: 'Release unpaid orders (cron, every 15 minutes)',
      description:
        'Pending orders older than their limit: Stripe orders after UNPAID_ORDER_TTL_MINUTES (the ' +
        'PaymentIntent is read first: succeeded -> the payment is applied; processing -> skipped; otherwise ' +
        'it is cancelled, then the order), manual orders after UNPAID_MANUAL_ORDER_TTL_HOURS. Cancelling ' +
        'returns the stock. At most 50 orders per run, oldest first. Called by Vercel cron with the CRON_SECRET.',
      tags: ['cron'],
      auth: 'cron',
      rateLimit: false,
      response: ReleaseReportSchema,
    },
    async ({ db }) => json(await releaseUnpaidOrders(db)),
  ),
})
