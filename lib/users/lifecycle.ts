import { and, eq, isNull, ne, type SQL } from 'drizzle-orm'
import { z } from 'zod'
import { mfaBackupCodes, mfaDevices, users, userTokens } from '../../db/schema/index.js'
import { type RequestMeta, recordActivity } from '../auth/activity.js'
import { forgetSessions } from '../auth/authenticate.js'
import type { Principal } from '../auth/permissions.js'
import { endUserSessions, forgetUserSessions } from '../auth/sessions.js'
import { deliverAfterResponse, enqueueEmail } from '../email/outbox.js'
import { conflict, notFound } from '../http/errors.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { getUser, loadTargetById } from './admin.js'
import { assertMayManage, assertNotSelf, loadTarget } from './policy.js'
import type { AdminUser } from './view.js'

// Account lifecycle actions of staff and admins (issue 4): suspend, activate, unlock, MFA reset.
// Each is one transaction with its activity entry (user_id = whose record, actor_id = who acted); the
// changed row is matched by a conditional UPDATE, so two concurrent requests cannot both succeed and a
// target promoted to admin meanwhile is not touched by a non-admin. Cached session state is forgotten
// after the commit (earlier would let a concurrent request re-cache the old state for up to a minute).

export const SuspendBody = z.object({
  reason: z.string().trim().min(1).max(500).describe('Why; kept on the account and in the activity log'),
})

/** The WHERE part that keeps a non-admin's write off admin accounts, re-checked at write time. */
export const manageableBy = (actor: Principal): SQL | undefined =>
  actor.role === 'admin' ? undefined : ne(users.role, 'admin')

/** A conditional UPDATE matched nothing: the user is gone, became an admin, or is not in that state. */
async function explainMiss(db: Db, actor: Principal, userId: string, stateConflict: () => Error) {
  const target = await loadTarget(db, userId)
  assertMayManage(actor, target)
  return stateConflict()
}

export async function suspendUser(
  db: Db,
  actor: Principal,
  rawUserId: string,
  reason: string,
  meta: RequestMeta,
): Promise<AdminUser> {
  const target = await loadTargetById(db, rawUserId)
  const userId = target.id
  assertNotSelf(actor, target, 'suspend')
  assertMayManage(actor, target)
  const alreadySuspended = () => conflict('already_suspended', 'The account is already suspended.')
  const ended = await db.transaction(async (tx) => {
    const [row] = await tx
      .update(users)
      .set({ isActive: false, suspendedAt: now(), suspensionReason: reason })
      .where(
        and(eq(users.id, userId), eq(users.isActive, true), isNull(users.deletedAt), manageableBy(actor)),
      )
      .returning({ id: users.id })
    if (!row) throw await explainMiss(tx, actor, userId, alreadySuspended)
    const ended = await endUserSessions(tx, userId, 'user_suspended')
    await recordActivity(tx, {
      userId,
      actorId: actor.userId,
      action: 'user.suspended',
      meta,
      metadata: { reason, sessions_ended: ended.length },
    })
    return ended
  })
  await forgetSessions(ended)
  return getUser(db, userId)
}

/** Login works again; the sessions that suspension ended stay ended. */
export async function activateUser(
  db: Db,
  actor: Principal,
  rawUserId: string,
  meta: RequestMeta,
): Promise<AdminUser> {
  const target = await loadTargetById(db, rawUserId)
  const userId = target.id
  assertMayManage(actor, target)
  const notSuspended = () => conflict('not_suspended', 'The account is not suspended.')
  await db.transaction(async (tx) => {
    const [row] = await tx
      .update(users)
      .set({ isActive: true, suspendedAt: null, suspensionReason: null })
      .where(
        and(eq(users.id, userId), eq(users.isActive, false), isNull(users.deletedAt), manageableBy(actor)),
      )
      .returning({ id: users.id })
    if (!row) throw await explainMiss(tx, actor, userId, notSuspended)
    await recordActivity(tx, { userId, actorId: actor.userId, action: 'user.activated', meta })
  })
  // Any session still live (none after a suspension) must not keep a cached "inactive".
  await forgetUserSessions(db, userId)
  return getUser(db, userId)
}

/** Lift a lockout: clears locked_until and the failed sign-in count (a no-op on an unlocked account). */
export async function unlockUser(
  db: Db,
  actor: Principal,
  rawUserId: string,
  meta: RequestMeta,
): Promise<AdminUser> {
  const target = await loadTargetById(db, rawUserId)
  const userId = target.id
  assertMayManage(actor, target)
  await db.transaction(async (tx) => {
    const [before] = await tx
      .select({ lockedUntil: users.lockedUntil, attempts: users.failedLoginAttempts })
      .from(users)
      .where(eq(users.id, userId))
      .for('update')
    const [row] = await tx
      .update(users)
      .set({ lockedUntil: null, failedLoginAttempts: 0 })
      .where(and(eq(users.id, userId), isNull(users.deletedAt), manageableBy(actor)))
      .returning({ id: users.id })
    if (!row) throw await explainMiss(tx, actor, userId, () => notFound('user'))
    // The emailed unlock link has nothing left to do.
    await tx
      .update(userTokens)
      .set({ usedAt: now() })
      .where(and(eq(userTokens.userId, userId), eq(userTokens.purpose, 'unlock'), isNull(userTokens.usedAt)))
    const wasLocked = !!before?.lockedUntil && before.lockedUntil.getTime() > now().getTime()
    await recordActivity(tx, {
      userId,
      actorId: actor.userId,
      action: 'user.unlocked',
      meta,
      metadata: { was_locked: wasLocked, failed_login_attempts: before?.attempts ?? 0 },
    })
  })
  // Cached session state may still say "locked" (up to 60 s): forget it so live sessions work at once.
  await forgetUserSessions(db, userId)
  return getUser(db, userId)
}

/**
 * Remove a user's MFA (a lost device): device, backup codes and pending MFA logins go, mfa_enabled is
 * off, the user is emailed. Admins only (the route says so); not on one's own account, which goes through
 * POST /auth/mfa/disable with a password or code.
 */
export async function resetUserMfa(
  db: Db,
  actor: Principal,
  rawUserId: string,
  meta: RequestMeta,
): Promise<AdminUser> {
  const target = await loadTargetById(db, rawUserId)
  const userId = target.id
  assertNotSelf(actor, target, 'reset MFA (use POST /api/v1/auth/mfa/disable) on')
  assertMayManage(actor, target)
  const emailIds: string[] = []
  await db.transaction(async (tx) => {
    const [row] = await tx
      .update(users)
      .set({ mfaEnabled: false })
      .where(
        and(eq(users.id, userId), eq(users.mfaEnabled, true), isNull(users.deletedAt), manageableBy(actor)),
      )
      .returning({ email: users.email, firstName: users.firstName })
    if (!row)
      throw await explainMiss(tx, actor, userId, () =>
        conflict('mfa_not_enabled', 'Two-step verification is not enabled for this account.'),
      )
    await tx.delete(mfaDevices).where(eq(mfaDevices.userId, userId))
    const codes = await tx
      .delete(mfaBackupCodes)
      .where(eq(mfaBackupCodes.userId, userId))
      .returning({ id: mfaBackupCodes.id })
    await tx
      .update(userTokens)
      .set({ usedAt: now() })
      .where(
        and(eq(userTokens.userId, userId), eq(userTokens.purpose, 'mfa_login'), isNull(userTokens.usedAt)),
      )
    await recordActivity(tx, {
      userId,
      actorId: actor.userId,
      action: 'user.mfa_reset',
      meta,
      metadata: { backup_codes_removed: codes.length },
    })
    emailIds.push(
      await enqueueEmail(tx, {
        to: row.email,
        userId,
        template: 'mfa_reset',
        data: { first_name: row.firstName },
      }),
    )
  })
  deliverAfterResponse(emailIds)
  return getUser(db, userId)
}
