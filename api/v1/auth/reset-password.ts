import { MESSAGES, RecoveryMessage, ResetPasswordBody, resetPassword } from '../../../lib/auth/recovery.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'

// POST /api/v1/auth/reset-password – set a new password with an emailed reset or invite token; every session ends
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/auth/reset-password',
      summary: 'Reset the password with an emailed token',
      description:
        'Takes the token from a reset link (single use, 1 h) or an invite link (72 h). A weak or common ' +
        'password is a 422 (code weak_password on `password`) and leaves the token usable. On success the ' +
        'account is unlocked, every session of the user ends and a "password changed" email goes out.',
      tags: ['auth'],
      auth: 'public',
      body: ResetPasswordBody,
      response: RecoveryMessage,
      responses: { 400: 'invalid_token: unknown, expired or already used token' },
    },
    async ({ db, body, ip, userAgent }) => {
      await resetPassword(db, body, { ip, userAgent })
      return json({ message: MESSAGES.reset })
    },
  ),
})
