import { register } from '../../../lib/auth/register.js'
import { RegisterBody, TokenResponse } from '../../../lib/auth/schemas.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'

// POST /api/v1/auth/register – create a customer account; 201 with tokens and a verification email
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/auth/register',
      summary: 'Register',
      description: 'Unknown fields (role, is_verified, ...) are ignored. A taken email (any case) is a 409.',
      tags: ['auth'],
      auth: 'public',
      rateLimit: 'auth_register',
      body: RegisterBody,
      response: TokenResponse,
      status: 201,
      responses: { 409: 'Email already registered' },
    },
    async ({ db, body, ip, userAgent }) => {
      const { session_id: _, ...tokens } = await register(db, body, { ip, userAgent })
      return json(tokens, 201)
    },
  ),
})
