import { authEvents, count } from '../../../lib/auth/metrics.js'
import { RefreshBody, TokenResponse } from '../../../lib/auth/schemas.js'
import { rotateRefreshToken } from '../../../lib/auth/sessions.js'
import { unauthorized } from '../../../lib/http/errors.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'

// POST /api/v1/auth/refresh – rotate the refresh token; a reused token ends its whole family
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/auth/refresh',
      summary: 'Refresh tokens',
      tags: ['auth'],
      auth: 'public',
      rateLimit: 'auth_refresh',
      body: RefreshBody,
      response: TokenResponse,
      responses: { 401: 'Invalid, expired or reused refresh token' },
    },
    async ({ db, body, ip, userAgent }) => {
      const outcome = await rotateRefreshToken(db, body.refresh_token, { ip, userAgent })
      if (!outcome.ok) {
        count(authEvents, `refresh_${outcome.reason}`)
        throw outcome.reason === 'reused'
          ? unauthorized(
              'This refresh token was already used; the session has been ended.',
              'refresh_token_reused',
            )
          : unauthorized('The refresh token is invalid or expired.', 'invalid_refresh_token')
      }
      count(authEvents, 'refresh')
      const { session_id: _, ...tokens } = outcome.tokens
      return json(tokens)
    },
  ),
})
