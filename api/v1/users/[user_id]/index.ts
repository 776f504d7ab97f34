import { methods } from '../../../../lib/http/methods.js'
import { json, route } from '../../../../lib/http/route.js'
import { getUser, UpdateUserBody, UserParams, updateUser } from '../../../../lib/users/admin.js'
import { eraseUserRoute } from '../../../../lib/users/erasure-route.js'
import { AdminUserSchema } from '../../../../lib/users/view.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/users/{user_id} – one user with their profile
  GET: route(
    {
      path: '/api/v1/users/[user_id]',
      summary: 'Get a user',
      description: 'An unknown, erased or malformed id is a 404.',
      tags: ['users'],
      auth: { permission: 'users.view' },
      params: UserParams,
      response: AdminUserSchema,
      responses: { 404: 'No such user' },
    },
    async ({ db, params }) => json(await getUser(db, params.user_id)),
  ),
  // PUT /api/v1/users/{user_id} – update a user's fields, profile, role or active state
  PUT: route(
    {
      path: '/api/v1/users/[user_id]',
      summary: 'Update a user',
      description:
        'Fields are validated like registration; unknown fields are a 422. Only an admin changes a role ' +
        '(never their own) or acts on an admin account (403 otherwise). A taken email is a 409; a new ' +
        'email is unverified until confirmed through the link sent to it, and the old address is told. ' +
        '`is_active: false` suspends (every session ends at once, never on yourself); role and status ' +
        "changes apply on the user's next request.",
      tags: ['users'],
      auth: { permission: 'users.manage' },
      params: UserParams,
      body: UpdateUserBody,
      response: AdminUserSchema,
      responses: { 404: 'No such user', 409: 'email_taken: another account uses this email' },
    },
    async ({ db, principal, params, body, ip, userAgent }) =>
      json(await updateUser(db, principal!, params.user_id, body, { ip, userAgent })),
  ),
  // DELETE /api/v1/users/{user_id} – GDPR erasure (lib/users/erasure-route.ts)
  DELETE: eraseUserRoute,
})
