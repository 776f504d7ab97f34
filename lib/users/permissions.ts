import { asc, eq } from 'drizzle-orm'
import { z } from 'zod'
import { userPermissions } from '../../db/schema/index.js'
import { type RequestMeta, recordActivity } from '../auth/activity.js'
import {
  effectivePermissions,
  PERMISSIONS,
  type Principal,
  ROLE_PERMISSIONS,
  ROLES,
} from '../auth/permissions.js'
import { forgetUserSessions } from '../auth/sessions.js'
import { unprocessable } from '../http/errors.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { loadTargetById } from './admin.js'
import { assertMayGrant, assertMayManage, assertNotSelf, type TargetUser } from './policy.js'

// A user's permission matrix (issue 4): role defaults, explicit grants (with optional expiry) and the
// effective set. Replacing the grants is one transaction (delete + insert + activity entry); the user's
// cached session state is forgotten after the commit, so the change applies on their next request. An
// expired grant stops counting on its own (authenticate filters by expires_at).

const PermissionName = z.enum(PERMISSIONS)

export const GrantSchema = z.object({
  permission: z.string(),
  granted_by: z.string().nullable(),
  granted_at: z.string(),
  expires_at: z.string().nullable(),
  expired: z.boolean(),
})

export const UserPermissionsSchema = z.object({
  user_id: z.string(),
  role: z.enum(ROLES),
  role_permissions: z.array(PermissionName).describe("The role's defaults"),
  grants: z.array(GrantSchema).describe('Explicit grants, expired ones included (flagged)'),
  effective: z.array(PermissionName).describe('Role defaults plus unexpired grants: what counts now'),
})
export type UserPermissions = z.infer<typeof UserPermissionsSchema>

export const ReplacePermissionsBody = z.object({
  permissions: z
    .array(PermissionName)
    .max(PERMISSIONS.length * 2)
    .describe('The complete set of explicit grants after the call ([] removes them all)'),
  expires_at: z.iso
    .datetime({ offset: true })
    .nullish()
    .describe('When these grants stop counting (in the future); omitted or null: never'),
})
export type ReplacePermissionsInput = z.output<typeof ReplacePermissionsBody>

/** In PERMISSIONS order, so answers are stable. */
const ordered = (set: Iterable<string>): Array<(typeof PERMISSIONS)[number]> => {
  const s = new Set(set)
  return PERMISSIONS.filter((p) => s.has(p))
}

async function matrix(db: Db, target: TargetUser): Promise<UserPermissions> {
  const rows = await db
    .select()
    .from(userPermissions)
    .where(eq(userPermissions.userId, target.id))
    .orderBy(asc(userPermissions.permission))
  const t = now().getTime()
  const grants = rows.map((g) => ({
    permission: g.permission,
    granted_by: g.grantedBy,
    granted_at: g.grantedAt.toISOString(),
    expires_at: g.expiresAt ? g.expiresAt.toISOString() : null,
    expired: g.expiresAt !== null && g.expiresAt.getTime() <= t,
  }))
  return {
    user_id: target.id,
    role: target.role,
    role_permissions: [...ROLE_PERMISSIONS[target.role]],
    grants,
    effective: ordered(
      effectivePermissions(
        target.role,
        grants.filter((g) => !g.expired).map((g) => g.permission),
      ),
    ),
  }
}

export async function getUserPermissions(db: Db, rawId: string): Promise<UserPermissions> {
  return matrix(db, await loadTargetById(db, rawId))
}

/**
 * Replace the user's explicit grants with exactly `permissions`. Refused (403) on oneself, on an admin
 * account unless the actor is an admin, and when any permission is one the actor does not hold.
 */
export async function replaceUserPermissions(
  db: Db,
  actor: Principal,
  rawId: string,
  body: ReplacePermissionsInput,
  meta: RequestMeta,
): Promise<UserPermissions> {
  const target = await loadTargetById(db, rawId)
  assertNotSelf(actor, target, 'change the permissions of')
  assertMayManage(actor, target)
  const wanted = ordered(body.permissions)
  assertMayGrant(actor, wanted)
  const expiresAt = body.expires_at ? new Date(body.expires_at) : null
  if (expiresAt && expiresAt.getTime() <= now().getTime()) {
    throw unprocessable([{ path: 'expires_at', message: 'Must be in the future.', code: 'not_in_future' }])
  }
  await db.transaction(async (tx) => {
    const removed = await tx
      .delete(userPermissions)
      .where(eq(userPermissions.userId, target.id))
      .returning({ permission: userPermissions.permission })
    if (wanted.length) {
      const t = now()
      await tx.insert(userPermissions).values(
        wanted.map((permission) => ({
          userId: target.id,
          permission,
          grantedBy: actor.userId,
          grantedAt: t,
          expiresAt,
        })),
      )
    }
    await recordActivity(tx, {
      userId: target.id,
      actorId: actor.userId,
      action: 'user.permissions_updated',
      resource: 'user_permissions',
      resourceId: target.id,
      meta,
      metadata: {
        permissions: wanted,
        previous: ordered(removed.map((r) => r.permission)),
        expires_at: expiresAt ? expiresAt.toISOString() : null,
      },
    })
  })
  // After the commit (see updateUser): the next request of the user reads the new grants.
  await forgetUserSessions(db, target.id)
  return matrix(db, target)
}
