import { authenticate } from '../../../../lib/auth/authenticate.js'
import {
  completeMfaLogin,
  confirmMfaSetup,
  VerifyMfaBody,
  VerifyMfaResponse,
} from '../../../../lib/auth/mfa.js'
import { unauthorized } from '../../../../lib/http/errors.js'
import { methods } from '../../../../lib/http/methods.js'
import { json, route } from '../../../../lib/http/route.js'

// POST /api/v1/auth/mfa/verify – confirm MFA setup (Bearer + code) or complete a login (mfa_token + code)
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/auth/mfa/verify',
      summary: 'Confirm MFA setup or complete an MFA login',
      description:
        'With `mfa_token` (from POST /api/v1/auth/login) and a TOTP or backup code: completes that login and ' +
        'returns tokens; a bad, expired or used mfa_token is 401 `invalid_mfa_token`, a wrong or replayed code ' +
        '401 `invalid_code` (the mfa_token stays usable until it expires). Without `mfa_token`, with a Bearer ' +
        'access token and a TOTP code of the pending secret: turns MFA on and returns the 10 backup codes once ' +
        '(wrong code 422 `invalid_code`; no setup started 409 `mfa_setup_not_started`; already on 409 ' +
        '`mfa_already_enabled`). Rate limited per IP and per account (policy auth_mfa).',
      tags: ['auth'],
      auth: 'public',
      rateLimit: 'auth_mfa',
      body: VerifyMfaBody,
      response: VerifyMfaResponse,
      responses: {
        401: 'Missing access token, invalid mfa_token, or wrong code when completing a login',
        409: 'MFA already enabled, or no setup started',
      },
    },
    async ({ request, db, body, ip, userAgent }) => {
      const meta = { ip, userAgent }
      if (body.mfa_token !== undefined)
        return json(await completeMfaLogin(db, body.mfa_token, body.code, meta))
      const principal = await authenticate(request, db)
      if (!principal) throw unauthorized()
      return json(await confirmMfaSetup(db, principal.userId, body.code, meta))
    },
  ),
})
