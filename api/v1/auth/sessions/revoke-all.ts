import { z } from 'zod'
import { recordActivity } from '../../../../lib/auth/activity.js'
import { forgetSessions } from '../../../../lib/auth/authenticate.js'
import { endUserSessions } from '../../../../lib/auth/sessions.js'
import { methods } from '../../../../lib/http/methods.js'
import { json, route } from '../../../../lib/http/route.js'

// POST /api/v1/auth/sessions/revoke-all – end all my sessions, optionally keeping the current one
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/auth/sessions/revoke-all',
      summary: 'End all my sessions',
      tags: ['auth'],
      auth: 'authenticated',
      body: z.object({ keep_current: z.boolean().optional().default(false) }).optional(),
      response: z.object({ revoked: z.number().int() }),
    },
    async ({ db, principal, body, ip, userAgent }) => {
      const p = principal!
      const keep = body?.keep_current ? p.sessionId : undefined
      const ended = await db.transaction(async (tx) => {
        const ids = await endUserSessions(tx, p.userId, 'revoked_all_by_user', keep)
        await recordActivity(tx, {
          userId: p.userId,
          action: 'auth.sessions_revoked_all',
          meta: { ip, userAgent },
          metadata: { revoked: ids.length, kept_current: Boolean(keep) },
        })
        return ids
      })
      await forgetSessions(ended)
      return json({ revoked: ended.length })
    },
  ),
})
