import { methods } from '../../lib/http/methods.js'
import { json, route } from '../../lib/http/route.js'
import { LowStockReportSchema, runLowStockAlerts } from '../../lib/inventory/low-stock-alerts.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/cron/low-stock – hourly: email staff about items that crossed their low-stock threshold
  GET: route(
    {
      path: '/api/cron/low-stock',
      summary: 'Low-stock alerts (cron, hourly)',
      description:
        'Finds active, stock-tracked products without variants and active variants at or below the ' +
        "product's low_stock_threshold and emails staff once per crossing; an item alerts again only " +
        'after it was restocked above its threshold. Called by Vercel cron with the CRON_SECRET.',
      tags: ['cron'],
      auth: 'cron',
      // The scheduler is never refused by a window shared with other traffic; the secret check is free.
      rateLimit: false,
      response: LowStockReportSchema,
    },
    async ({ db }) => json(await runLowStockAlerts(db)),
  ),
})
