import { z } from 'zod'
import { endSession } from '../../../../lib/auth/sessions.js'
import { notFound } from '../../../../lib/http/errors.js'
import { methods } from '../../../../lib/http/methods.js'
import { noContent, route } from '../../../../lib/http/route.js'
import { Uuid } from '../../../../lib/http/validation.js'

// DELETE /api/v1/auth/sessions/{session_id} – end one of my sessions (another user's id is a 404)
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  DELETE: route(
    {
      path: '/api/v1/auth/sessions/[session_id]',
      summary: 'End one of my sessions',
      tags: ['auth'],
      auth: 'authenticated',
      params: z.object({ session_id: Uuid }),
      status: 204,
      responses: { 404: 'No such live session of yours' },
    },
    async ({ db, principal, params, ip, userAgent }) => {
      const ended = await endSession(db, principal!.userId, params.session_id, 'revoked_by_user', {
        action: 'auth.session_revoked',
        meta: { ip, userAgent },
      })
      if (!ended) throw notFound('session')
      return noContent()
    },
  ),
})
