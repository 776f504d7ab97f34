import { getMe, updateMe } from '../../../lib/auth/profile.js'
import { MeResponse, UpdateMeBody } from '../../../lib/auth/schemas.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import { eraseMeRoute } from '../../../lib/users/erasure-route.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/auth/me – the signed-in user's profile
  GET: route(
    {
      path: '/api/v1/auth/me',
      summary: 'My profile',
      tags: ['auth'],
      auth: 'authenticated',
      response: MeResponse,
    },
    async ({ db, principal }) => json(await getMe(db, principal!.userId)),
  ),
  // PUT /api/v1/auth/me – update own profile; an email change needs the current password and re-verification
  PUT: route(
    {
      path: '/api/v1/auth/me',
      summary: 'Update my profile',
      description:
        'Role, verification and MFA flags cannot be set here (unknown fields are a 422). A new email takes ' +
        'effect once confirmed through the link sent to it; the old address is told.',
      tags: ['auth'],
      auth: 'authenticated',
      body: UpdateMeBody,
      response: MeResponse,
      responses: { 409: 'Email already registered' },
    },
    async ({ db, principal, body, ip, userAgent }) => {
      const { pending_email } = await updateMe(db, principal!.userId, body, { ip, userAgent })
      return json({ ...(await getMe(db, principal!.userId)), pending_email })
    },
  ),
  // DELETE /api/v1/auth/me – erase my own account (GDPR; lib/users/erasure-route.ts)
  DELETE: eraseMeRoute,
})
