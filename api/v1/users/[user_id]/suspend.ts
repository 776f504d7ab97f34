import { methods } from '../../../../lib/http/methods.js'
import { json, route } from '../../../../lib/http/route.js'
import { UserParams } from '../../../../lib/users/admin.js'
import { SuspendBody, suspendUser } from '../../../../lib/users/lifecycle.js'
import { AdminUserSchema } from '../../../../lib/users/view.js'

// POST /api/v1/users/{user_id}/suspend – suspend an account: its sessions end at once, login is refused
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/users/[user_id]/suspend',
      summary: 'Suspend a user',
      description:
        'Sets is_active false with suspended_at and the reason. Every session of the user ends: their ' +
        'access tokens are refused on the next request and login answers 403 `account_suspended`. Not your ' +
        'own account (403 `self_action`); admin accounts only by admins (403 `admin_target`). Already ' +
        'suspended is a 409 `already_suspended`.',
      tags: ['users'],
      auth: { permission: 'users.manage' },
      params: UserParams,
      body: SuspendBody,
      response: AdminUserSchema,
      responses: { 404: 'No such user', 409: 'Already suspended (already_suspended)' },
    },
    async ({ db, principal, params, body, ip, userAgent }) =>
      json(await suspendUser(db, principal!, params.user_id, body.reason, { ip, userAgent })),
  ),
})
