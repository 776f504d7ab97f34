import { EmailBody, MESSAGES, RecoveryMessage, resendVerification } from '../../../lib/auth/recovery.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'

// POST /api/v1/auth/resend-verification – email a new verification link; the same 202 for every address
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/auth/resend-verification',
      summary: 'Resend the verification email',
      description:
        'Always answers 202 with the same body (unknown, already verified or not). An unverified, active ' +
        'account gets a new link and the previous one dies. Limited per IP and per email (429).',
      tags: ['auth'],
      auth: 'public',
      rateLimit: 'auth_resend',
      body: EmailBody,
      response: RecoveryMessage,
      status: 202,
    },
    async ({ db, body, ip, userAgent }) => {
      await resendVerification(db, body.email, { ip, userAgent })
      return json({ message: MESSAGES.resend }, 202)
    },
  ),
})
