import { and, eq, gt, inArray, isNull, sql } from 'drizzle-orm'
import { z } from 'zod'
import { users, userTokens } from '../../db/schema/index.js'
import { deliverAfterResponse, enqueueEmail } from '../email/outbox.js'
import { conflict, ProblemError, unprocessable } from '../http/errors.js'
import { enforceLimit } from '../http/limits.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { sha256 } from '../platform/ids.js'
import { normaliseEmail } from '../users/accounts.js'
import { type RequestMeta, recordActivity } from './activity.js'
import { forgetSessions } from './authenticate.js'
import { authEvents, count } from './metrics.js'
import { consumeOneTimeToken, issueOneTimeToken } from './one-time-tokens.js'
import { hashPassword } from './password.js'
import { passwordProblem } from './password-policy.js'
import { Password } from './schemas.js'
import { endUserSessions, forgetUserSessions } from './sessions.js'

// Account recovery by emailed single-use links: forgot/reset password (and the invite set-password link),
// email verification (sign-up and email change), and unlocking a locked account. Every change is one
// transaction with its activity row and outbox email; emails go out after the response. The answers to
// "send me a link" never say whether the account exists.

export interface MailUser {
  id: string
  email: string
  firstName: string | null
}

// --- Shapes (request bodies and responses, also the OpenAPI source) -----------------------------------

const EmailInput = z
  .string()
  .trim()
  .max(254)
  .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'Enter a valid email address.')
  .meta({ format: 'email' })
/** Emailed tokens are 43 characters (256 bits, base64url); anything else simply does not match. */
const TokenInput = z.string().min(1).max(512)

export const EmailBody = z.object({ email: EmailInput })
export const TokenBody = z.object({ token: TokenInput })
export const ResetPasswordBody = z.object({ token: TokenInput, password: Password })
export const RecoveryMessage = z.object({ message: z.string() })
export const VerifiedResponse = z.object({ message: z.string(), is_verified: z.literal(true) })

export const MESSAGES = {
  forgot: 'If an account exists for that email, we sent a link to reset the password.',
  reset: 'Your password has been reset. Sign in with your new password.',
  verified: 'Your email address is verified.',
  resend: 'If that email belongs to an account that still needs verification, we sent a new link.',
  unlocked: 'Your account is unlocked. You can sign in again.',
} as const

const invalidToken = () =>
  new ProblemError(400, 'invalid_token', 'The link is invalid, has expired or has already been used.')

const isUniqueViolation = (err: unknown): boolean => {
  const e = err as { code?: string; cause?: { code?: string } }
  return e?.code === '23505' || e?.cause?.code === '23505'
}

// --- Emails other flows send (register, login lockout) --------------------------------------------------

/** Issue a verify_email token and enqueue its email. Call inside the caller's transaction (with `tx`). */
export async function sendVerificationEmail(db: Db, user: MailUser): Promise<string> {
  const { token } = await issueOneTimeToken(db, user.id, 'verify_email')
  return enqueueEmail(db, {
    to: user.email,
    userId: user.id,
    template: 'verify_email',
    data: { token, first_name: user.firstName },
  })
}

/** Issue an unlock token and enqueue the account_locked email. Call once, when the lock is set. */
export async function sendUnlockEmail(db: Db, user: MailUser): Promise<string> {
  const { token } = await issueOneTimeToken(db, user.id, 'unlock')
  return enqueueEmail(db, {
    to: user.email,
    userId: user.id,
    template: 'account_locked',
    data: { token, first_name: user.firstName },
  })
}

// --- Lookups ------------------------------------------------------------------------------------------

async function findByEmail(db: Db, email: string) {
  const [user] = await db
    .select({
      id: users.id,
      email: users.email,
      firstName: users.firstName,
      isActive: users.isActive,
      isVerified: users.isVerified,
      suspendedAt: users.suspendedAt,
      deletedAt: users.deletedAt,
    })
    .from(users)
    .where(sql`lower(${users.email}) = ${email}`)
    .limit(1)
  return user
}

const canReceive = (u: { isActive: boolean; suspendedAt: Date | null; deletedAt: Date | null }) =>
  u.isActive && !u.suspendedAt && !u.deletedAt

// --- Forgot / reset password ----------------------------------------------------------------------------

/**
 * Ask for a reset link. Counted per email before anything is looked up, so known and unknown addresses
 * are throttled alike; suspended, erased or unknown accounts get nothing, and the caller answers the same.
 */
export async function requestPasswordReset(db: Db, rawEmail: string, meta: RequestMeta): Promise<void> {
  const email = normaliseEmail(rawEmail)
  await enforceLimit('auth_password_reset', `email:${email}`)
  const user = await findByEmail(db, email)
  if (!user || !canReceive(user)) return
  const emailId = await db.transaction(async (tx) => {
    const { token } = await issueOneTimeToken(tx, user.id, 'reset_password')
    const id = await enqueueEmail(tx, {
      to: user.email,
      userId: user.id,
      template: 'reset_password',
      data: { token, first_name: user.firstName },
    })
    await recordActivity(tx, { userId: user.id, action: 'auth.password_reset_requested', meta })
    return id
  })
  count(authEvents, 'password_reset_requested')
  deliverAfterResponse([emailId])
}

/** A live reset_password or invite token, looked at without using it up. */
async function peekPasswordToken(db: Db, token: string) {
  const [row] = await db
    .select({
      purpose: userTokens.purpose,
      userId: userTokens.userId,
      email: users.email,
    })
    .from(userTokens)
    .innerJoin(users, eq(users.id, userTokens.userId))
    .where(
      and(
        eq(userTokens.tokenHash, sha256(token)),
        inArray(userTokens.purpose, ['reset_password', 'invite']),
        isNull(userTokens.usedAt),
        gt(userTokens.expiresAt, now()),
      ),
    )
    .limit(1)
  return row as { purpose: 'reset_password' | 'invite'; userId: string; email: string } | undefined
}

/**
 * Set a new password with an emailed reset (1 h) or invite (72 h) token. The password is checked before
 * the token is used, so a refused password leaves the link working. One transaction: the token, the
 * hash, lockout cleared, every session ended, activity and the "password changed" email.
 */
export async function resetPassword(
  db: Db,
  input: { token: string; password: string },
  meta: RequestMeta,
): Promise<void> {
  const found = await peekPasswordToken(db, input.token)
  if (!found) throw invalidToken()
  const weak = passwordProblem(input.password, { email: found.email })
  if (weak) throw unprocessable([{ path: 'password', message: `Password ${weak}.`, code: 'weak_password' }])
  const passwordHash = await hashPassword(input.password)

  const { ended, emailId } = await db.transaction(async (tx) => {
    const used = await consumeOneTimeToken(tx, found.purpose, input.token)
    if (!used) throw invalidToken()
    const invite = found.purpose === 'invite'
    const t = now()
    const [user] = await tx
      .update(users)
      .set({
        passwordHash,
        passwordChangedAt: t,
        failedLoginAttempts: 0,
        lockedUntil: null,
        ...(invite && { isVerified: true, emailVerifiedAt: sql`coalesce(${users.emailVerifiedAt}, ${t})` }),
      })
      .where(
        and(
          eq(users.id, used.userId),
          eq(users.isActive, true),
          isNull(users.suspendedAt),
          isNull(users.deletedAt),
        ),
      )
      .returning({ id: users.id, email: users.email, firstName: users.firstName })
    if (!user) throw invalidToken()
    // No other set-password link of this user survives a reset.
    await tx
      .update(userTokens)
      .set({ usedAt: t })
      .where(
        and(
          eq(userTokens.userId, user.id),
          inArray(userTokens.purpose, ['reset_password', 'invite']),
          isNull(userTokens.usedAt),
        ),
      )
    const ended = await endUserSessions(tx, user.id, 'password_reset')
    await recordActivity(tx, {
      userId: user.id,
      action: 'auth.password_reset',
      meta,
      metadata: { via: found.purpose, sessions_ended: ended.length },
    })
    const emailId = await enqueueEmail(tx, {
      to: user.email,
      userId: user.id,
      template: 'password_changed',
      data: { first_name: user.firstName },
    })
    return { ended, emailId }
  })
  // After the commit, so that no request in between re-caches the still-live state. The reset has
  // happened: a cache failure is logged, not turned into a 500 (the cached state expires within 60 s).
  await forgetSessions(ended)
  count(authEvents, 'password_reset')
  deliverAfterResponse([emailId])
}

// --- Email verification ---------------------------------------------------------------------------------

/**
 * Use a verify_email token: the account's address is verified. A token from an email change carries
 * `new_email` in its metadata and switches the account to it (409 email_taken if another account took
 * that address in the meantime; the token then stays unused).
 */
export async function verifyEmail(db: Db, token: string, meta: RequestMeta): Promise<void> {
  try {
    await db.transaction(async (tx) => {
      const used = await consumeOneTimeToken(tx, 'verify_email', token)
      if (!used) throw invalidToken()
      const newEmail =
        typeof used.metadata.new_email === 'string' ? normaliseEmail(used.metadata.new_email) : null
      if (newEmail) {
        const [other] = await tx
          .select({ id: users.id })
          .from(users)
          .where(and(sql`lower(${users.email}) = ${newEmail}`, sql`${users.id} <> ${used.userId}`))
          .limit(1)
        if (other) throw emailTaken()
      }
      const t = now()
      const [user] = await tx
        .update(users)
        .set({
          isVerified: true,
          emailVerifiedAt: t,
          ...(newEmail && { email: newEmail }),
        })
        .where(and(eq(users.id, used.userId), isNull(users.deletedAt)))
        .returning({ id: users.id })
      if (!user) throw invalidToken()
      await recordActivity(tx, {
        userId: user.id,
        action: 'auth.email_verified',
        meta,
        metadata: { email_changed: newEmail !== null },
      })
    })
  } catch (err) {
    if (isUniqueViolation(err)) throw emailTaken()
    throw err
  }
  count(authEvents, 'email_verified')
}

const emailTaken = () => conflict('email_taken', 'Another account now uses this email address.')

/**
 * Send a fresh verification link (older ones die). Counted per email before the lookup; verified,
 * suspended, erased and unknown accounts get nothing and the caller answers the same.
 */
export async function resendVerification(db: Db, rawEmail: string, meta: RequestMeta): Promise<void> {
  const email = normaliseEmail(rawEmail)
  await enforceLimit('auth_resend', `email:${email}`)
  const user = await findByEmail(db, email)
  if (!user || user.isVerified || !canReceive(user)) return
  const emailId = await db.transaction(async (tx) => {
    const id = await sendVerificationEmail(tx, user)
    await recordActivity(tx, { userId: user.id, action: 'auth.verification_resent', meta })
    return id
  })
  deliverAfterResponse([emailId])
}

// --- Unlock ---------------------------------------------------------------------------------------------

/** Use the unlock link from the account_locked email: the lock and the failure count are cleared. */
export async function unlockAccount(db: Db, token: string, meta: RequestMeta): Promise<void> {
  const userId = await db.transaction(async (tx) => {
    const used = await consumeOneTimeToken(tx, 'unlock', token)
    if (!used) throw invalidToken()
    const [user] = await tx
      .update(users)
      .set({ lockedUntil: null, failedLoginAttempts: 0 })
      .where(and(eq(users.id, used.userId), isNull(users.deletedAt)))
      .returning({ id: users.id })
    if (!user) throw invalidToken()
    await recordActivity(tx, {
      userId: user.id,
      action: 'auth.unlocked',
      meta,
      metadata: { via: 'email_link' },
    })
    return user.id
  })
  // Cached session state still says "locked" (up to 60 s): forget it so live sessions work at once.
  await forgetUserSessions(db, userId)
  count(authEvents, 'unlocked')
}
