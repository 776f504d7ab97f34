import { z } from 'zod'
import { methods } from '../../../lib/http/methods.js'
import { route } from '../../../lib/http/route.js'
import {
  EXPORT_COLUMNS,
  ExportedUserSchema,
  ExportQuery,
  exportContentType,
  exportFilename,
  exportUsers,
  recordUserExport,
} from '../../../lib/users/export.js'

// GET /api/v1/users/export – every matching user as CSV or JSON, streamed
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/users/export',
      summary: 'Export users (CSV or JSON)',
      description:
        'Same filters as the user list (`search`, `role`, `is_active`); erased users are never included, ' +
        'nor any hash, secret or token. Streamed with constant memory, ordered by id. CSV (default): ' +
        `RFC 4180 with a header row (${EXPORT_COLUMNS.join(', ')}); a text cell starting with = + - @, tab ` +
        'or CR is prefixed with a single quote so spreadsheets do not evaluate it. JSON: an array of users ' +
        '(the admin user shape without `profile`). Sent as an attachment; each export is written to the ' +
        'activity log (`users.exported`, with the filters).',
      tags: ['users'],
      auth: { permission: 'users.view' },
      rateLimit: 'export',
      query: ExportQuery,
      responseContentType: ['text/csv', 'application/json'],
      response: z.array(ExportedUserSchema),
    },
    async ({ db, query, principal, ip, userAgent }) => {
      const { format, ...filters } = query
      await recordUserExport(db, principal!.userId, format, filters, { ip, userAgent })
      return new Response(exportUsers(db, filters, { format }), {
        status: 200,
        headers: {
          'content-type': exportContentType(format),
          'content-disposition': `attachment; filename="${exportFilename('users', format)}"`,
          'cache-control': 'no-store',
        },
      })
    },
  ),
})
