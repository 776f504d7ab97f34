import { authEvents, count } from '../../../lib/auth/metrics.js'
import { endSession } from '../../../lib/auth/sessions.js'
import { methods } from '../../../lib/http/methods.js'
import { noContent, route } from '../../../lib/http/route.js'

// POST /api/v1/auth/logout – end the current session; its access and refresh tokens die at once
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    { path: '/api/v1/auth/logout', summary: 'Sign out', tags: ['auth'], auth: 'authenticated', status: 204 },
    async ({ db, principal, ip, userAgent }) => {
      const p = principal!
      await endSession(db, p.userId, p.sessionId, 'logout', {
        action: 'auth.logout',
        meta: { ip, userAgent },
      })
      count(authEvents, 'logout')
      return noContent()
    },
  ),
})
