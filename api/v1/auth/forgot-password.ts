import { EmailBody, MESSAGES, RecoveryMessage, requestPasswordReset } from '../../../lib/auth/recovery.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'

// POST /api/v1/auth/forgot-password – email a reset link (1 h); the same 202 whether or not the account exists
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/auth/forgot-password',
      summary: 'Request a password reset link',
      description:
        'Always answers 202 with the same body, whether or not an account uses the email. A known, active ' +
        'account is emailed a single-use link to APP_URL/reset-password that works for one hour; asking ' +
        'again kills the previous link. Limited per IP and per email (429).',
      tags: ['auth'],
      auth: 'public',
      rateLimit: 'auth_password_reset',
      body: EmailBody,
      response: RecoveryMessage,
      status: 202,
    },
    async ({ db, body, ip, userAgent }) => {
      await requestPasswordReset(db, body.email, { ip, userAgent })
      return json({ message: MESSAGES.forgot }, 202)
    },
  ),
})
