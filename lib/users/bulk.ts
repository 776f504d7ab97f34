import { and, isNull, sql } from 'drizzle-orm'
import type { PgUpdateSetSource } from 'drizzle-orm/pg-core'
import { z } from 'zod'
import { userActivities, userPermissions, userSessions, users } from '../../db/schema/index.js'
import type { RequestMeta } from '../auth/activity.js'
import { forgetSessions } from '../auth/authenticate.js'
import { PERMISSIONS, type Principal, ROLES } from '../auth/permissions.js'
import { ProblemError } from '../http/errors.js'
import { Uuid } from '../http/validation.js'
import { now, nowMs } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import {
  assertMayGrant,
  assertMayManage,
  assertMaySetRole,
  assertNotSelf,
  type TargetUser,
} from './policy.js'

// POST /users/bulk-update (issue 4): one set of changes for up to 1000 users, all or nothing. In ONE
// transaction the targets are read and locked (FOR UPDATE, in id order), every row is checked with the
// same policy as the single-user endpoints, and either nothing is written (422 with the full report) or
// every change is applied with set-based statements whose number does not grow with the number of users:
// one UPDATE of users, one of sessions (deactivation) or one read of live sessions (role/grant change),
// a DELETE and an INSERT ... SELECT for grants, one multi-row INSERT of activity entries. Cached session
// state of every affected session is forgotten after the commit.

export const BULK_UPDATE_MAX = 1000

const Changes = z
  .object({
    role: z.enum(ROLES).optional(),
    is_active: z
      .boolean()
      .optional()
      .describe('false deactivates (like a suspension: sessions end, login refused); true reactivates'),
    grants: z
      .object({
        permissions: z
          .array(z.enum(PERMISSIONS))
          .max(PERMISSIONS.length)
          .refine((p) => new Set(p).size === p.length, 'Each permission only once.'),
        expires_at: z.iso
          .datetime({ offset: true })
          .nullish()
          .refine((s) => s == null || Date.parse(s) > nowMs(), 'Must be in the future.'),
      })
      .strict()
      .optional()
      .describe("Replaces the users' explicit grants with exactly this set (as PUT /users/{id}/permissions)"),
  })
  .strict()
  .refine((c) => c.role !== undefined || c.is_active !== undefined || c.grants !== undefined, {
    message: 'Name at least one change: role, is_active or grants.',
  })

export const BulkUpdateBody = z
  .object({
    user_ids: z
      .array(Uuid)
      .min(1)
      .max(BULK_UPDATE_MAX)
      .superRefine((ids, ctx) => {
        const seen = new Set<string>()
        ids.forEach((id, i) => {
          const key = id.toLowerCase()
          if (seen.has(key)) ctx.addIssue({ code: 'custom', message: 'Repeats an earlier id.', path: [i] })
          seen.add(key)
        })
      }),
    changes: Changes,
  })
  .strict()
export type BulkUpdate = z.output<typeof BulkUpdateBody>

const RowError = z.object({ code: z.string(), message: z.string() })
export const BulkRowResult = z.object({
  index: z.number().int(),
  id: z.string(),
  status: z
    .enum(['updated', 'skipped', 'error'])
    .describe('`skipped`: the row was valid but nothing was written because other rows have errors'),
  errors: z.array(RowError).optional(),
})
export type BulkRowResult = z.output<typeof BulkRowResult>
export const BulkUpdateResponse = z.object({ results: z.array(BulkRowResult) })

/** Everything that stops a row, from the same policy checks as the single-user endpoints. */
function rowErrors(
  actor: Principal,
  target: TargetUser | undefined,
  changes: BulkUpdate['changes'],
): z.output<typeof RowError>[] {
  if (!target || target.deletedAt) return [{ code: 'not_found', message: 'No such user.' }]
  const errors: z.output<typeof RowError>[] = []
  const check = (assertion: () => void) => {
    try {
      assertion()
    } catch (err) {
      if (!(err instanceof ProblemError)) throw err
      if (!errors.some((e) => e.code === err.code)) errors.push({ code: err.code, message: err.message })
    }
  }
  check(() => assertMayManage(actor, target))
  check(() => assertMaySetRole(actor, target, changes.role))
  if (changes.is_active === false) check(() => assertNotSelf(actor, target, 'deactivate'))
  if (changes.grants) {
    check(() => assertNotSelf(actor, target, 'change the permissions of'))
    check(() => assertMayGrant(actor, changes.grants!.permissions))
  }
  return errors
}

/** A Postgres array literal of already-validated uuids or permission names (no quoting needed). */
const arrayLiteral = (values: readonly string[]) => `{${values.join(',')}}`

export async function bulkUpdateUsers(
  db: Db,
  actor: Principal,
  body: BulkUpdate,
  meta: RequestMeta,
): Promise<{ results: BulkRowResult[] }> {
  const { user_ids: ids, changes } = body
  const idArray = sql`${arrayLiteral(ids)}::uuid[]`
  const targeted = (column: typeof users.id | typeof userSessions.userId | typeof userPermissions.userId) =>
    sql`${column} = any(${idArray})`

  const { results, sessions } = await db.transaction(async (tx) => {
    const rows = await tx
      .select({
        id: users.id,
        role: users.role,
        email: users.email,
        isActive: users.isActive,
        deletedAt: users.deletedAt,
      })
      .from(users)
      .where(targeted(users.id))
      .orderBy(users.id)
      .for('update')
    const byId = new Map(rows.map((r) => [r.id, r]))
    const results: BulkRowResult[] = ids.map((id, index) => {
      const errors = rowErrors(actor, byId.get(id.toLowerCase()), changes)
      return errors.length ? { index, id, status: 'error', errors } : { index, id, status: 'updated' }
    })
    const failed = results.filter((r) => r.status === 'error').length
    if (failed) {
      throw new ProblemError(
        422,
        'bulk_update_failed',
        `Nothing was changed: ${failed} of ${ids.length} rows have errors.`,
        { results: results.map((r) => (r.status === 'error' ? r : { ...r, status: 'skipped' })) },
      )
    }

    const t = now()
    const set: PgUpdateSetSource<typeof users> = {}
    if (changes.role !== undefined) set.role = changes.role
    if (changes.is_active === false) {
      set.isActive = false
      set.suspendedAt = sql`coalesce(${users.suspendedAt}, ${t.toISOString()}::timestamptz)`
    } else if (changes.is_active === true) {
      set.isActive = true
      set.suspendedAt = null
      set.suspensionReason = null
    }
    if (Object.keys(set).length) await tx.update(users).set(set).where(targeted(users.id))

    let sessions: string[]
    if (changes.is_active === false) {
      const ended = await tx
        .update(userSessions)
        .set({ revokedAt: t, revokedReason: 'user_deactivated' })
        .where(and(targeted(userSessions.userId), isNull(userSessions.revokedAt)))
        .returning({ id: userSessions.id })
      sessions = ended.map((s) => s.id)
    } else {
      const live = await tx
        .select({ id: userSessions.id })
        .from(userSessions)
        .where(and(targeted(userSessions.userId), isNull(userSessions.revokedAt)))
      sessions = live.map((s) => s.id)
    }

    if (changes.grants) {
      await tx.delete(userPermissions).where(targeted(userPermissions.userId))
      const { permissions, expires_at } = changes.grants
      if (permissions.length) {
        await tx.execute(sql`
          insert into ${userPermissions} (user_id, permission, granted_by, granted_at, expires_at)
          select u.id, p.permission, ${actor.userId}::uuid, ${t.toISOString()}::timestamptz,
                 ${expires_at ?? null}::timestamptz
          from unnest(${idArray}) as u(id) cross join unnest(${arrayLiteral(permissions)}::text[]) as p(permission)`)
      }
    }

    const summary = {
      ...(changes.role !== undefined && { role: changes.role }),
      ...(changes.is_active !== undefined && { is_active: changes.is_active }),
      ...(changes.grants && {
        grants: { permissions: changes.grants.permissions, expires_at: changes.grants.expires_at ?? null },
      }),
    }
    await tx.insert(userActivities).values(
      ids.map((id) => {
        const before = byId.get(id.toLowerCase())!
        return {
          userId: before.id,
          actorId: actor.userId,
          action: 'user.bulk_updated',
          resource: 'user',
          resourceId: before.id,
          ipAddress: meta.ip,
          userAgent: meta.userAgent,
          metadata: {
            changes: summary,
            previous: { role: before.role, is_active: before.isActive },
            batch_size: ids.length,
          },
        }
      }),
    )
    return { results, sessions }
  })
  await forgetSessions(sessions)
  return { results }
}
