import { changePassword } from '../../../lib/auth/profile.js'
import { ChangePasswordBody, MessageResponse } from '../../../lib/auth/schemas.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'

// POST /api/v1/auth/change-password – new password with the current one; the other sessions end
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/auth/change-password',
      summary: 'Change password',
      tags: ['auth'],
      auth: 'authenticated',
      rateLimit: 'auth_login',
      body: ChangePasswordBody,
      response: MessageResponse,
      description: 'A wrong current password is a 422 `invalid_password`.',
    },
    async ({ db, principal, body, ip, userAgent }) => {
      await changePassword(db, principal!.userId, principal!.sessionId, body, { ip, userAgent })
      return json({ message: 'Password changed. Your other sessions have been signed out.' })
    },
  ),
})
