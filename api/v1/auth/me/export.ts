import { methods } from '../../../../lib/http/methods.js'
import { json, route } from '../../../../lib/http/route.js'
import { exportFilename, PersonalDataExportSchema, personalDataExport } from '../../../../lib/users/export.js'

// GET /api/v1/auth/me/export – the signed-in user's own data (GDPR access request)
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/auth/me/export',
      summary: 'Export my data',
      description:
        'Everything held about the signed-in account, as a JSON attachment: account and profile, sessions ' +
        '(no token material), the activity log entries about the account, and orders with their items ' +
        '(amounts in major units). Never a password hash, MFA secret or backup code.',
      tags: ['auth'],
      auth: 'authenticated',
      rateLimit: 'export',
      response: PersonalDataExportSchema,
    },
    async ({ db, principal }) =>
      json(await personalDataExport(db, principal!.userId), 200, {
        'content-disposition': `attachment; filename="${exportFilename('my-data', 'json')}"`,
      }),
  ),
})
