import { z } from 'zod'
import { methods } from '../../../lib/http/methods.js'
import { route } from '../../../lib/http/route.js'
import {
  ExportedOrderSchema,
  exportOrders,
  ORDER_EXPORT_COLUMNS,
  OrderExportQuery,
} from '../../../lib/orders/export.js'
import { exportContentType, exportFilename } from '../../../lib/users/export.js'

// GET /api/v1/orders/export – every matching order as CSV or JSON, streamed
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/orders/export',
      summary: 'Export orders (CSV or JSON)',
      description:
        'Filters as the order list (`status`, `financial_status`, `fulfillment_status`, `from`, `to`, ' +
        '`email`). Streamed with constant memory, ordered by order number; money in major units. CSV ' +
        `(default): RFC 4180 with a header row (${ORDER_EXPORT_COLUMNS.join(', ')}; tags joined by ";"); ` +
        'a text cell starting with = + - @, tab or CR is prefixed with a single quote. JSON: an array.',
      tags: ['orders'],
      auth: { permission: 'orders.view' },
      rateLimit: 'export',
      query: OrderExportQuery,
      responseContentType: ['text/csv', 'application/json'],
      response: z.array(ExportedOrderSchema),
    },
    async ({ db, query }) => {
      const { format, ...filters } = query
      return new Response(exportOrders(db, filters, { format }), {
        status: 200,
        headers: {
          'content-type': exportContentType(format),
          'content-disposition': `attachment; filename="${exportFilename('orders', format)}"`,
          'cache-control': 'no-store',
        },
      })
    },
  ),
})
