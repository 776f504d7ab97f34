import { DisableMfaBody, DisableMfaResponse, disableMfa } from '../../../../lib/auth/mfa.js'
import { methods } from '../../../../lib/http/methods.js'
import { json, route } from '../../../../lib/http/route.js'

// POST /api/v1/auth/mfa/disable – turn two-step verification off (password and/or a code)
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/auth/mfa/disable',
      summary: 'Turn two-step verification off',
      description:
        'Send `password`, `code` (a current TOTP or an unused backup code), or both (each must be right); ' +
        'neither is 422. Wrong password 422 `invalid_password`, wrong code 422 `invalid_code`; MFA not on ' +
        '409 `mfa_not_enabled`. Removes the secret and the backup codes.',
      tags: ['auth'],
      auth: 'authenticated',
      body: DisableMfaBody,
      response: DisableMfaResponse,
      responses: { 409: 'MFA is not enabled (mfa_not_enabled)' },
    },
    async ({ db, body, principal, ip, userAgent }) =>
      json(await disableMfa(db, principal!.userId, body, { ip, userAgent })),
  ),
})
