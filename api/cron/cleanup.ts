import { CleanupReportSchema, runCleanup } from '../../lib/cron/cleanup.js'
import { methods } from '../../lib/http/methods.js'
import { json, route } from '../../lib/http/route.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/cron/cleanup – daily: purge expired idempotency keys, one-time tokens and dead sessions
  GET: route(
    {
      path: '/api/cron/cleanup',
      summary: 'Purge expired rows (cron, daily)',
      description:
        'Deletes idempotency keys past their 24 hours, used or expired one-time tokens, and sessions ' +
        'revoked or expired more than 30 days ago, in bounded batches (`more` says the next run goes ' +
        'on). Called by Vercel cron with the CRON_SECRET.',
      tags: ['cron'],
      auth: 'cron',
      rateLimit: false,
      response: CleanupReportSchema,
    },
    async ({ db }) => json(await runCleanup(db)),
  ),
})
