import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import { BulkUpdateBody, BulkUpdateResponse, bulkUpdateUsers } from '../../../lib/users/bulk.js'

// POST /api/v1/users/bulk-update – one set of changes for up to 1000 users, all or nothing
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/users/bulk-update',
      summary: 'Update many users at once',
      description:
        '`{ user_ids: [uuid] (1..1000, unique), changes: { role?, is_active?, grants?: { permissions, ' +
        'expires_at? } } }`. `grants` replaces the explicit grants of every listed user with that set. ' +
        'Every row is checked first (`not_found`, `self_action` for your own role change or deactivation, ' +
        '`admin_target`, `role_change_forbidden`, `grant_forbidden`); if any row fails nothing is written ' +
        'and the answer is a 422 `bulk_update_failed` whose `results` lists every row (`error` with its ' +
        'errors, or `skipped`). Otherwise all rows change in one transaction and the answer is 200 with ' +
        '`results` (`updated`). Deactivation ends the users’ sessions at once, like a suspension.',
      tags: ['users'],
      auth: { permission: 'users.manage' },
      rateLimit: 'bulk',
      body: BulkUpdateBody,
      response: BulkUpdateResponse,
      responses: {
        422: 'Schema violation (validation_failed) or row errors (bulk_update_failed, with results)',
      },
    },
    async ({ db, principal, body, ip, userAgent }) =>
      json(await bulkUpdateUsers(db, principal!, body, { ip, userAgent })),
  ),
})
