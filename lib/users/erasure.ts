import { and, eq, notInArray, or, sql } from 'drizzle-orm'
import { z } from 'zod'
import {
  mfaBackupCodes,
  mfaDevices,
  orders,
  outboxEmails,
  userActivities,
  userPermissions,
  userProfiles,
  userSessions,
  users,
  userTokens,
} from '../../db/schema/index.js'
import type { OrderStatus } from '../../db/schema/orders.js'
import { type RequestMeta, recordActivity } from '../auth/activity.js'
import { forgetSessions } from '../auth/authenticate.js'
import { verifyPassword } from '../auth/password.js'
import type { Principal } from '../auth/permissions.js'
import { endUserSessions } from '../auth/sessions.js'
import { conflict, forbidden, notFound, ProblemError } from '../http/errors.js'
import { enforceLimit } from '../http/limits.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { loadTargetById } from './admin.js'
import { assertMayManage, assertNotSelf } from './policy.js'

// GDPR erasure (issue 4). The users row stays (orders and the audit trail point at it) but carries no
// personal data any more; everything else personal is removed or anonymised in ONE transaction:
// - users: email -> erased+<id>@erased.invalid (the address can register again), names, company, phone,
//   password, suspension reason -> null, MFA off, marketing consent off, inactive, deleted_at set;
// - user_profiles cleared; user_permissions, user_tokens, mfa_devices, mfa_backup_codes deleted;
// - sessions ended (forgotten in the cache after the commit) and their IPs/user agents/device names cleared;
// - user_activities of the user, and those the user performed: IP and user agent cleared, actions kept
//   (a suspension's free-text reason is dropped from the metadata);
// - orders: unlinked (user_id null); kept for the books are the billing name and address and the amounts;
//   dropped are phone (also inside the billing address), notes, metadata (marketing/attribution data) and
//   the shipping address and the client IP; the order email becomes the erased address. Guest orders
//   (no account) under the account's email get the same when that email is verified;
// - outbox emails to the old address: address and payload replaced, pending ones never go out.
// Refused with 409 while an order is still open (neither delivered, cancelled, refunded nor returned).
// An audit entry `user.erased` (user_id = erased id, actor_id = who) records it, without personal data.

/** Order statuses after which an order no longer needs its customer's account. */
export const CLOSED_ORDER_STATUSES = [
  'delivered',
  'cancelled',
  'refunded',
  'returned',
] as const satisfies readonly OrderStatus[]

export const EraseMeBody = z.object({
  password: z.string().min(1).max(1024).describe('The current password, to confirm'),
})

export const erasedEmail = (userId: string) => `erased+${userId}@erased.invalid`

const invalidPassword = () =>
  new ProblemError(422, 'invalid_password', 'The password is incorrect.', {
    errors: [{ path: 'password', message: 'is incorrect', code: 'invalid_password' }],
  })

/** Erase another user's account (staff with users.manage; admin accounts only by admins). */
export async function eraseUser(
  db: Db,
  actor: Principal,
  rawUserId: string,
  meta: RequestMeta,
): Promise<void> {
  const target = await loadTargetById(db, rawUserId)
  assertNotSelf(actor, target, 'erase (use DELETE /api/v1/auth/me for that)')
  assertMayManage(actor, target)
  await erase(db, target.id, { actor, via: 'admin', meta })
}

/**
 * Self-erasure through DELETE /auth/me, confirmed with the password. Customers only: staff and admin
 * accounts are erased by an admin (an admin erasing themselves could leave the shop without one).
 */
export async function eraseMe(db: Db, principal: Principal, password: string): Promise<void> {
  if (principal.role !== 'customer') {
    throw forbidden(
      'Staff and admin accounts are erased by an admin through DELETE /api/v1/users/{user_id}.',
      'self_erasure_forbidden',
    )
  }
  await enforceLimit('auth_login_account', `erase:${principal.userId}`)
  const [u] = await db
    .select({ hash: users.passwordHash })
    .from(users)
    .where(eq(users.id, principal.userId))
    .limit(1)
  if (!u?.hash || !(await verifyPassword(u.hash, password))) throw invalidPassword()
  // No request metadata: the IP and user agent of this request are the erased person's own.
  await erase(db, principal.userId, { actor: principal, via: 'self', meta: undefined })
}

async function erase(
  db: Db,
  userId: string,
  how: { actor: Principal; via: 'admin' | 'self'; meta: RequestMeta | undefined },
): Promise<void> {
  const anonymous = erasedEmail(userId)
  const ended = await db.transaction(async (tx) => {
    // Checkout's per-buyer locks first (the account, and its email for guest orders), in checkout's
    // order, then the row lock: a checkout of this account (it reads the row FOR KEY SHARE) or a guest
    // checkout under this email either committed before, and the checks below see its order, or waits
    // for this transaction (and then finds the account erased).
    const [known] = await tx.select({ email: users.email }).from(users).where(eq(users.id, userId))
    if (!known) throw notFound('user')
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`checkout:user:${userId}`}, 0)),
      pg_advisory_xact_lock(hashtextextended(${`checkout:email:${known.email.trim().toLowerCase()}`}, 0))`)
    const [u] = await tx
      .select({
        email: users.email,
        role: users.role,
        deletedAt: users.deletedAt,
        emailVerifiedAt: users.emailVerifiedAt,
      })
      .from(users)
      .where(eq(users.id, userId))
      .for('update')
    if (!u || u.deletedAt) throw notFound('user')
    // Guest orders under the account's email are this person's only when the email was verified.
    const email = u.email.trim().toLowerCase()
    const guestOrders = sql`(${orders.userId} is null and lower(${orders.email}) = ${email})`
    const theirOrders = u.emailVerifiedAt
      ? or(eq(orders.userId, userId), guestOrders)!
      : eq(orders.userId, userId)
    if (how.via === 'admin' && u.role === 'admin' && how.actor.role !== 'admin') {
      throw forbidden('Only an admin can act on an admin account.', 'admin_target')
    }
    const [open] = await tx
      .select({ id: orders.id })
      .from(orders)
      .where(and(theirOrders, notInArray(orders.status, [...CLOSED_ORDER_STATUSES])))
      .limit(1)
    if (open) {
      throw conflict(
        'user_has_open_orders',
        'The user has orders that are not yet delivered or cancelled; erase the account once they are.',
      )
    }

    const ended = await endUserSessions(tx, userId, 'user_erased')
    await tx
      .update(userSessions)
      .set({ ipAddress: null, userAgent: null, deviceName: null })
      .where(eq(userSessions.userId, userId))
    const t = now()
    await tx
      .update(users)
      .set({
        email: anonymous,
        passwordHash: null,
        firstName: null,
        lastName: null,
        company: null,
        phone: null,
        isActive: false,
        isVerified: false,
        emailVerifiedAt: null,
        mfaEnabled: false,
        marketingConsent: false,
        failedLoginAttempts: 0,
        lockedUntil: null,
        lastLoginAt: null,
        passwordChangedAt: null,
        suspendedAt: null,
        suspensionReason: null,
        deletedAt: t,
      })
      .where(eq(users.id, userId))
    await tx
      .update(userProfiles)
      .set({
        avatarUrl: null,
        bio: null,
        website: null,
        location: null,
        timezone: null,
        language: null,
        preferences: {},
      })
      .where(eq(userProfiles.userId, userId))
    await tx.delete(userPermissions).where(eq(userPermissions.userId, userId))
    await tx.delete(userTokens).where(eq(userTokens.userId, userId))
    await tx.delete(mfaDevices).where(eq(mfaDevices.userId, userId))
    await tx.delete(mfaBackupCodes).where(eq(mfaBackupCodes.userId, userId))
    await tx
      .update(userActivities)
      .set({
        ipAddress: null,
        userAgent: null,
        metadata: sql`case when ${userActivities.userId} = ${userId} and ${userActivities.action} = 'user.suspended'
          then ${userActivities.metadata} - 'reason' else ${userActivities.metadata} end`,
      })
      .where(or(eq(userActivities.userId, userId), eq(userActivities.actorId, userId)))
    const unlinked = await tx
      .update(orders)
      .set({
        userId: null,
        email: anonymous,
        phone: null,
        notes: null,
        metadata: {},
        billingAddress: sql`${orders.billingAddress} - 'phone' - 'email'`,
        shippingAddress: null,
        clientIp: null,
      })
      .where(theirOrders)
      .returning({ id: orders.id })
    await tx
      .update(outboxEmails)
      .set({
        toEmail: anonymous,
        payload: {},
        lastError: sql`case when ${outboxEmails.status} = 'pending' then 'recipient erased' else ${outboxEmails.lastError} end`,
        status: sql`case when ${outboxEmails.status} = 'pending' then 'failed' else ${outboxEmails.status} end`,
      })
      // Every email of this person, to any address they ever had, and any row to their current address.
      .where(
        or(eq(outboxEmails.userId, userId), sql`lower(${outboxEmails.toEmail}) = ${u.email.toLowerCase()}`),
      )
    await recordActivity(tx, {
      userId,
      actorId: how.actor.userId,
      action: 'user.erased',
      meta: how.meta,
      metadata: { via: how.via, sessions_ended: ended.length, orders_unlinked: unlinked.length },
    })
    return ended
  })
  await forgetSessions(ended)
}
