import { MESSAGES, TokenBody, VerifiedResponse, verifyEmail } from '../../../lib/auth/recovery.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'

// POST /api/v1/auth/verify-email – confirm the address with an emailed token (and finish an email change)
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/auth/verify-email',
      summary: 'Verify the email address',
      description:
        'Takes the token from a verification link (single use, 48 h). A link sent for an email change ' +
        'also switches the account to the new address (409 email_taken if another account took it).',
      tags: ['auth'],
      auth: 'public',
      body: TokenBody,
      response: VerifiedResponse,
      responses: {
        400: 'invalid_token: unknown, expired or already used token',
        409: 'email_taken: another account now uses the new address',
      },
    },
    async ({ db, body, ip, userAgent }) => {
      await verifyEmail(db, body.token, { ip, userAgent })
      return json({ message: MESSAGES.verified, is_verified: true })
    },
  ),
})
