import { methods } from '../../../../lib/http/methods.js'
import { json, route } from '../../../../lib/http/route.js'
import { UserParams } from '../../../../lib/users/admin.js'
import { activateUser } from '../../../../lib/users/lifecycle.js'
import { AdminUserSchema } from '../../../../lib/users/view.js'

// POST /api/v1/users/{user_id}/activate – lift a suspension: login works again (old sessions stay ended)
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/users/[user_id]/activate',
      summary: 'Reactivate a suspended user',
      description:
        'Sets is_active true and clears suspended_at and the reason. The sessions that the suspension ended ' +
        'stay ended. Admin accounts only by admins (403 `admin_target`). Not suspended is a 409 ' +
        '`not_suspended`.',
      tags: ['users'],
      auth: { permission: 'users.manage' },
      params: UserParams,
      response: AdminUserSchema,
      responses: { 404: 'No such user', 409: 'Not suspended (not_suspended)' },
    },
    async ({ db, principal, params, ip, userAgent }) =>
      json(await activateUser(db, principal!, params.user_id, { ip, userAgent })),
  ),
})
