import { noContent, route } from '../http/route.js'
import { UserParams } from './admin.js'
import { EraseMeBody, eraseMe, eraseUser } from './erasure.js'

// The two DELETE handlers of GDPR erasure, wired into api/v1/users/[user_id]/index.ts and
// api/v1/auth/me.ts (`DELETE: eraseUserRoute` / `DELETE: eraseMeRoute`).

const ERASURE =
  'Sessions end at once; personal data is anonymised (email becomes erased+<id>@erased.invalid, so the ' +
  'address can register again; names, company, phone, password, MFA, profile, grants, emailed tokens, and ' +
  'IPs/user agents in the activity log are removed). Orders stay for the books, unlinked from the account, ' +
  'keeping the billing name and address and the amounts and dropping phone, notes, metadata and the ' +
  'shipping address. Refused with 409 `user_has_open_orders` while an order is neither delivered, ' +
  'cancelled, refunded nor returned. An audit entry `user.erased` records who erased whom.'

// DELETE /api/v1/users/{user_id} – GDPR erasure of another user's account
export const eraseUserRoute = route(
  {
    path: '/api/v1/users/[user_id]',
    summary: 'Erase a user (GDPR)',
    description: `${ERASURE} Admin accounts only by admins; not your own account (use DELETE /api/v1/auth/me).`,
    tags: ['users'],
    auth: { permission: 'users.manage' },
    params: UserParams,
    status: 204,
    responses: {
      403: 'Your own account (self_action) or an admin account without being an admin (admin_target)',
      404: 'No such user (or already erased)',
      409: 'The user has open orders (user_has_open_orders)',
    },
  },
  async ({ db, principal, params, ip, userAgent }) => {
    await eraseUser(db, principal!, params.user_id, { ip, userAgent })
    return noContent()
  },
)

// DELETE /api/v1/auth/me – erase my own account (GDPR), confirmed with my password
export const eraseMeRoute = route(
  {
    path: '/api/v1/auth/me',
    summary: 'Erase my account (GDPR)',
    description: `${ERASURE} Customers only (staff and admin accounts are erased by an admin: 403 \`self_erasure_forbidden\`). A wrong password is a 422 \`invalid_password\`. The access token is dead afterwards.`,
    tags: ['auth'],
    auth: 'authenticated',
    rateLimit: 'auth_login',
    body: EraseMeBody,
    status: 204,
    responses: {
      403: 'Staff and admin accounts cannot erase themselves (self_erasure_forbidden)',
      409: 'You have open orders (user_has_open_orders)',
    },
  },
  async ({ db, principal, body }) => {
    await eraseMe(db, principal!, body.password)
    return noContent()
  },
)
