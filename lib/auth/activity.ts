import { userActivities } from '../../db/schema/index.js'
import type { Db } from '../platform/db.js'

// Security and admin events, written in the same transaction as the change that caused them.
// Never pass a password, token, code or hash in `metadata`.

export interface RequestMeta {
  ip: string | null
  userAgent: string | null
}

export async function recordActivity(
  db: Db,
  event: {
    userId: string | null
    actorId?: string | null
    action: string
    resource?: string
    resourceId?: string
    meta?: RequestMeta
    metadata?: Record<string, unknown>
  },
): Promise<void> {
  await db.insert(userActivities).values({
    userId: event.userId,
    actorId: event.actorId === undefined ? event.userId : event.actorId,
    action: event.action,
    resource: event.resource ?? 'user',
    resourceId: event.resourceId ?? event.userId ?? null,
    ipAddress: event.meta?.ip ?? null,
    userAgent: event.meta?.userAgent ?? null,
    metadata: event.metadata ?? {},
  })
}
