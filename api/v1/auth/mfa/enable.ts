import { beginMfaSetup, EnableMfaBody, EnableMfaResponse } from '../../../../lib/auth/mfa.js'
import { methods } from '../../../../lib/http/methods.js'
import { json, route } from '../../../../lib/http/route.js'

// POST /api/v1/auth/mfa/enable – start TOTP setup: a new secret, its otpauth URI and a QR code
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/auth/mfa/enable',
      summary: 'Start two-step verification setup',
      description:
        'Needs the current password (wrong password: 422 `invalid_password`). Stores a new unconfirmed secret ' +
        '(replacing an earlier unconfirmed one) and returns it with its otpauth URI and a PNG QR code. MFA is ' +
        'on only after POST /api/v1/auth/mfa/verify with a code. Already enabled: 409 `mfa_already_enabled`.',
      tags: ['auth'],
      auth: 'authenticated',
      body: EnableMfaBody,
      response: EnableMfaResponse,
      responses: { 409: 'MFA is already enabled (mfa_already_enabled)' },
    },
    async ({ db, body, principal, ip, userAgent }) =>
      json(await beginMfaSetup(db, principal!.userId, body.password, { ip, userAgent })),
  ),
})
