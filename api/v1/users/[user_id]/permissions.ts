import { methods } from '../../../../lib/http/methods.js'
import { json, route } from '../../../../lib/http/route.js'
import { UserParams } from '../../../../lib/users/admin.js'
import {
  getUserPermissions,
  ReplacePermissionsBody,
  replaceUserPermissions,
  UserPermissionsSchema,
} from '../../../../lib/users/permissions.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/users/{user_id}/permissions – role defaults, explicit grants (with expiry) and the effective set
  GET: route(
    {
      path: '/api/v1/users/[user_id]/permissions',
      summary: "A user's permissions",
      tags: ['users'],
      auth: { permission: 'users.view' },
      params: UserParams,
      response: UserPermissionsSchema,
      responses: { 404: 'No such user' },
    },
    async ({ db, params }) => json(await getUserPermissions(db, params.user_id)),
  ),
  // PUT /api/v1/users/{user_id}/permissions – replace a user's explicit grants with exactly the given set
  PUT: route(
    {
      path: '/api/v1/users/[user_id]/permissions',
      summary: "Replace a user's permission grants",
      description:
        'Every permission must be a known one (422 otherwise); `expires_at` must be in the future. ' +
        'Refused with 403 for a permission you do not hold (grant_forbidden), on an admin account unless ' +
        "you are an admin, and on your own account. Applies on the user's next request.",
      tags: ['users'],
      auth: { permission: 'users.manage' },
      params: UserParams,
      body: ReplacePermissionsBody,
      response: UserPermissionsSchema,
      responses: { 404: 'No such user' },
    },
    async ({ db, principal, params, body, ip, userAgent }) =>
      json(await replaceUserPermissions(db, principal!, params.user_id, body, { ip, userAgent })),
  ),
})
