import { OutboxReportSchema, runOutboxDelivery } from '../../lib/email/outbox.js'
import { methods } from '../../lib/http/methods.js'
import { json, route } from '../../lib/http/route.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/cron/outbox – every 5 minutes: send due emails, retrying failures with backoff
  GET: route(
    {
      path: '/api/cron/outbox',
      summary: 'Deliver the outbox (cron, every 5 minutes)',
      description:
        'Sends pending emails through Resend, each claimed by one run only; a failure is retried after ' +
        '1, 2, 4 ... 64 minutes, up to 8 attempts, and an email unsent after 24 hours is given up. ' +
        'Without RESEND_API_KEY nothing is sent. Called by Vercel cron with the CRON_SECRET.',
      tags: ['cron'],
      auth: 'cron',
      rateLimit: false,
      response: OutboxReportSchema,
    },
    async ({ db }) => json(await runOutboxDelivery(db)),
  ),
})
