import { and, eq, isNull, lte, or, sql } from 'drizzle-orm'
import { users } from '../../db/schema/index.js'
import { deliverAfterResponse } from '../email/outbox.js'
import { forbidden, ProblemError } from '../http/errors.js'
import { enforceLimit } from '../http/limits.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { env } from '../platform/env.js'
import { newId, randomToken } from '../platform/ids.js'
import { normaliseEmail } from '../users/accounts.js'
import { type RequestMeta, recordActivity } from './activity.js'
import { count, failedLogins } from './metrics.js'
import { startMfaChallenge } from './mfa.js'
import { hashPassword, verifyPassword } from './password.js'
import { sendUnlockEmail } from './recovery.js'
import { forgetUserSessions, type IssuedTokens, startSession } from './sessions.js'

// Password sign-in. Unknown email, wrong password and a locked account give the same 401 after the same
// work (an argon2 verify against a dummy hash when there is no account). MAX_LOGIN_ATTEMPTS failures lock
// the account for ACCOUNT_LOCKOUT_DURATION and email its owner an unlock link, once per lockout.

export type LoginResult = IssuedTokens | { requires_mfa: true; mfa_token: string; user_id: string }

const invalidCredentials = () =>
  new ProblemError(401, 'invalid_credentials', 'The email or password is incorrect.', {
    headers: { 'www-authenticate': 'Bearer' },
  })

let dummyHash: Promise<string> | undefined
const dummy = () => {
  dummyHash ??= hashPassword(randomToken())
  return dummyHash
}

export async function login(
  db: Db,
  input: { email: string; password: string },
  meta: RequestMeta,
): Promise<LoginResult> {
  const email = normaliseEmail(input.email)
  await enforceLimit('auth_login_account', `email:${email}`)
  const [user] = await db
    .select({
      id: users.id,
      email: users.email,
      firstName: users.firstName,
      passwordHash: users.passwordHash,
      isActive: users.isActive,
      deletedAt: users.deletedAt,
      lockedUntil: users.lockedUntil,
      mfaEnabled: users.mfaEnabled,
    })
    .from(users)
    .where(sql`lower(${users.email}) = ${email}`)
    .limit(1)
  const passwordOk = await verifyPassword(user?.passwordHash ?? (await dummy()), input.password)

  if (!user?.passwordHash || user.deletedAt) {
    // The same statements as a wrong password on a real account (see registerFailure), so response time
    // does not tell which emails have one.
    await registerFailure(db, null, meta)
    throw invalidCredentials()
  }
  if (user.lockedUntil && user.lockedUntil.getTime() > now().getTime()) {
    count(failedLogins, 'locked')
    await recordActivity(db, {
      userId: user.id,
      action: 'auth.login_failed',
      meta,
      metadata: { reason: 'locked' },
    })
    throw invalidCredentials()
  }
  if (!passwordOk) {
    await registerFailure(db, user, meta)
    throw invalidCredentials()
  }
  if (!user.isActive) {
    count(failedLogins, 'suspended')
    await recordActivity(db, {
      userId: user.id,
      action: 'auth.login_failed',
      meta,
      metadata: { reason: 'suspended' },
    })
    throw forbidden('This account is suspended.', 'account_suspended')
  }

  return db.transaction(async (tx) => {
    // Re-checked atomically: parallel wrong guesses may have locked the account since it was read, and a
    // right password among them must neither get in nor clear that lock.
    const t = now()
    const [unlocked] = await tx
      .update(users)
      .set({ failedLoginAttempts: 0, lockedUntil: null, lastLoginAt: t })
      .where(and(eq(users.id, user.id), or(isNull(users.lockedUntil), lte(users.lockedUntil, t))))
      .returning({ id: users.id })
    if (!unlocked) {
      count(failedLogins, 'locked')
      throw invalidCredentials()
    }
    if (user.mfaEnabled) {
      await recordActivity(tx, { userId: user.id, action: 'auth.login_mfa_required', meta })
      return {
        requires_mfa: true as const,
        mfa_token: await startMfaChallenge(tx, user.id),
        user_id: user.id,
      }
    }
    await recordActivity(tx, { userId: user.id, action: 'auth.login', meta })
    return startSession(tx, user.id, meta)
  })
}

/**
 * One atomic increment; the request that reaches the threshold locks the account and sends the email.
 * Without a user (unknown or erased email) the same transaction runs with an UPDATE that matches no row
 * and an activity entry without the email: the same statements and round trips as a wrong password
 * (bench/login-timing.ts measures both).
 */
async function registerFailure(
  db: Db,
  user: { id: string; email: string; firstName: string | null } | null,
  meta: RequestMeta,
): Promise<void> {
  const max = env().MAX_LOGIN_ATTEMPTS
  const t = now()
  const until = new Date(t.getTime() + env().ACCOUNT_LOCKOUT_DURATION * 1000)
  const emails: string[] = []
  await db.transaction(async (tx) => {
    // A lock that has run out starts the count again.
    const next = sql`(case when ${users.lockedUntil} is not null and ${users.lockedUntil} <= ${t} then 1 else ${users.failedLoginAttempts} + 1 end)`
    const [row] = await tx
      .update(users)
      .set({
        failedLoginAttempts: next,
        lockedUntil: sql`case when ${next} >= ${max} then ${until}::timestamptz
          when ${users.lockedUntil} <= ${t} then null else ${users.lockedUntil} end`,
      })
      .where(eq(users.id, user?.id ?? newId()))
      .returning({ attempts: users.failedLoginAttempts })
    if (!user) {
      // No account to attach it to, so no email either: still a security signal.
      await recordActivity(tx, {
        userId: null,
        actorId: null,
        action: 'auth.login_failed',
        resource: 'session',
        meta,
        metadata: { reason: 'unknown_account' },
      })
      return
    }
    const attempts = row?.attempts ?? 0
    await recordActivity(tx, {
      userId: user.id,
      action: 'auth.login_failed',
      meta,
      metadata: { reason: 'wrong_password', attempts },
    })
    if (attempts === max) {
      await recordActivity(tx, {
        userId: user.id,
        action: 'auth.locked',
        meta,
        metadata: { until: until.toISOString() },
      })
      emails.push(await sendUnlockEmail(tx, user))
    }
  })
  count(failedLogins, !user ? 'unknown_email' : emails.length ? 'locked_now' : 'wrong_password')
  // A locked account's sessions stop working too (authority is "active and not locked").
  if (user && emails.length) await forgetUserSessions(db, user.id)
  deliverAfterResponse(emails)
}
