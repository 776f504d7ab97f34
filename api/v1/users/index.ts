import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import {
  CreateUserBody,
  createUser,
  ListUsersQuery,
  listUsers,
  UserListSchema,
} from '../../../lib/users/admin.js'
import { AdminUserSchema } from '../../../lib/users/view.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/users – list users (search, role, is_active, sort, paged); erased users are never listed
  GET: route(
    {
      path: '/api/v1/users',
      summary: 'List users',
      description:
        '`search` matches the email, first name, last name or full name, case-insensitively (wildcards ' +
        'match themselves). `limit` is at most 100 (more is a 422); an unknown `sort` is a 422.',
      tags: ['users'],
      auth: { permission: 'users.view' },
      query: ListUsersQuery,
      response: UserListSchema,
    },
    async ({ db, query }) => json(await listUsers(db, query)),
  ),
  // POST /api/v1/users – create a user with a role and either a password or an emailed invitation
  POST: route(
    {
      path: '/api/v1/users',
      summary: 'Create a user',
      description:
        'With a password (checked like registration) the account is ready and verified. Without one, the ' +
        'account has no password and an invitation is emailed: a single-use set-password link (72 h) used ' +
        'through POST /api/v1/auth/reset-password. Any role but customer needs an admin. A taken email ' +
        '(any case) is a 409 email_taken.',
      tags: ['users'],
      auth: { role: 'admin' },
      body: CreateUserBody,
      response: AdminUserSchema,
      status: 201,
      creates: 'user_id',
      responses: { 409: 'email_taken: an account with this email already exists' },
    },
    async ({ db, principal, body, ip, userAgent }) =>
      json(await createUser(db, principal!, body, { ip, userAgent }), 201),
  ),
})
