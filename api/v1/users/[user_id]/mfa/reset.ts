import { methods } from '../../../../../lib/http/methods.js'
import { json, route } from '../../../../../lib/http/route.js'
import { UserParams } from '../../../../../lib/users/admin.js'
import { resetUserMfa } from '../../../../../lib/users/lifecycle.js'
import { AdminUserSchema } from '../../../../../lib/users/view.js'

// POST /api/v1/users/{user_id}/mfa/reset – remove a user's two-step verification (a lost device; admin)
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/users/[user_id]/mfa/reset',
      summary: "Reset a user's MFA",
      description:
        'Admins only. Removes the TOTP device, the backup codes and pending MFA logins and turns MFA off; ' +
        'the user is emailed and the event is logged. MFA not on is a 409 `mfa_not_enabled`. Not your own ' +
        'account (403 `self_action`; use POST /api/v1/auth/mfa/disable).',
      tags: ['users'],
      auth: { role: 'admin' },
      params: UserParams,
      response: AdminUserSchema,
      responses: { 404: 'No such user', 409: 'MFA is not enabled (mfa_not_enabled)' },
    },
    async ({ db, principal, params, ip, userAgent }) =>
      json(await resetUserMfa(db, principal!, params.user_id, { ip, userAgent })),
  ),
})
