import { methods } from '../../../../lib/http/methods.js'
import { json, route } from '../../../../lib/http/route.js'
import { UserParams } from '../../../../lib/users/admin.js'
import { unlockUser } from '../../../../lib/users/lifecycle.js'
import { AdminUserSchema } from '../../../../lib/users/view.js'

// POST /api/v1/users/{user_id}/unlock – lift a login lockout
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/users/[user_id]/unlock',
      summary: 'Unlock a locked user',
      description:
        'Clears locked_until and the failed sign-in count (a no-op on an account that is not locked); the ' +
        "user's live sessions work again at once. Admin accounts only by admins (403 `admin_target`).",
      tags: ['users'],
      auth: { permission: 'users.manage' },
      params: UserParams,
      response: AdminUserSchema,
      responses: { 404: 'No such user' },
    },
    async ({ db, principal, params, ip, userAgent }) =>
      json(await unlockUser(db, principal!, params.user_id, { ip, userAgent })),
  ),
})
