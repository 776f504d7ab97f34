import { login } from '../../../lib/auth/login.js'
import { LoginBody, LoginResponse } from '../../../lib/auth/schemas.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'

// POST /api/v1/auth/login – password sign-in; MFA users get requires_mfa and an mfa_token instead of tokens
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/auth/login',
      summary: 'Sign in',
      tags: ['auth'],
      auth: 'public',
      rateLimit: 'auth_login',
      body: LoginBody,
      response: LoginResponse,
      responses: { 401: 'Wrong email or password, or the account is locked', 403: 'Account suspended' },
    },
    async ({ db, body, ip, userAgent }) => {
      const result = await login(db, body, { ip, userAgent })
      if ('requires_mfa' in result && result.requires_mfa) return json(result)
      const { session_id: _, ...tokens } = result as Extract<typeof result, { session_id: string }>
      return json(tokens)
    },
  ),
})
