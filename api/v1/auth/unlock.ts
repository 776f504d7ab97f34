import { MESSAGES, RecoveryMessage, TokenBody, unlockAccount } from '../../../lib/auth/recovery.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'

// POST /api/v1/auth/unlock – end a lockout with the token from the account_locked email
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/auth/unlock',
      summary: 'Unlock a locked account',
      description:
        'Takes the token from the unlock link in the "account locked" email (single use, 24 h). Clears the ' +
        'lock and the failed sign-in count.',
      tags: ['auth'],
      auth: 'public',
      body: TokenBody,
      response: RecoveryMessage,
      responses: { 400: 'invalid_token: unknown, expired or already used token' },
    },
    async ({ db, body, ip, userAgent }) => {
      await unlockAccount(db, body.token, { ip, userAgent })
      return json({ message: MESSAGES.unlocked })
    },
  ),
})
