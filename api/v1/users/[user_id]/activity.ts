import { methods } from '../../../../lib/http/methods.js'
import { json, route } from '../../../../lib/http/route.js'
import { ActivityListSchema, ActivityQuery, listActivity, UserParams } from '../../../../lib/users/admin.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/users/{user_id}/activity – a user's activity log, newest first, optionally one action
  GET: route(
    {
      path: '/api/v1/users/[user_id]/activity',
      summary: "A user's activity log",
      description:
        '`user_id` of an entry is whose record it is; `actor_id` is who acted (null: the system). ' +
        '`action` filters by exact action name.',
      tags: ['users'],
      auth: { permission: 'users.view' },
      params: UserParams,
      query: ActivityQuery,
      response: ActivityListSchema,
      responses: { 404: 'No such user' },
    },
    async ({ db, params, query }) => json(await listActivity(db, params.user_id, query)),
  ),
})
