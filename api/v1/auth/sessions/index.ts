import { z } from 'zod'
import { SessionSchema } from '../../../../lib/auth/schemas.js'
import { listSessions } from '../../../../lib/auth/sessions.js'
import { methods } from '../../../../lib/http/methods.js'
import { json, route } from '../../../../lib/http/route.js'

// GET /api/v1/auth/sessions – own active sessions with a `current` flag; no token material
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/auth/sessions',
      summary: 'My sessions',
      tags: ['auth'],
      auth: 'authenticated',
      response: z.object({ sessions: z.array(SessionSchema) }),
    },
    async ({ db, principal }) =>
      json({ sessions: await listSessions(db, principal!.userId, principal!.sessionId) }),
  ),
})
