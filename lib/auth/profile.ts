import { eq, sql } from 'drizzle-orm'
import type { z } from 'zod'
import { userProfiles, users } from '../../db/schema/index.js'
import { deliverAfterResponse, enqueueEmail } from '../email/outbox.js'
import { conflict, notFound, ProblemError, unprocessable } from '../http/errors.js'
import { now } from '../platform/clock.js'
import { type Db, preparedPerDb } from '../platform/db.js'
import { findUserIdByEmail, normaliseEmail } from '../users/accounts.js'
import { toAdminUser } from '../users/view.js'
import { type RequestMeta, recordActivity } from './activity.js'
import { forgetSessions } from './authenticate.js'
import { issueOneTimeToken } from './one-time-tokens.js'
import { hashPassword, verifyPassword } from './password.js'
import { passwordProblem } from './password-policy.js'
import { MeResponse, type UpdateMeBody } from './schemas.js'
import { endUserSessions } from './sessions.js'

// The signed-in user's own account: read, update profile fields, change email (verified first) and
// password. Role, verification and MFA flags are never writable here.

// GET /auth/me's one statement, built once per database.
const meStatement = preparedPerDb((db) =>
  db
    .select({ user: users, profile: userProfiles })
    .from(users)
    .leftJoin(userProfiles, eq(userProfiles.userId, users.id))
    .where(eq(users.id, sql.placeholder('userId')))
    .limit(1)
    .prepare('auth_me'),
)

export async function getMe(db: Db, userId: string) {
  const [row] = await meStatement(db).execute({ userId })
  if (!row) throw notFound('user')
  // The admin view of the account, narrowed to what a user sees of their own (no status or lock fields).
  return MeResponse.parse(toAdminUser(row.user, row.profile))
}

// A wrong re-authentication password is a 422 on a field, not a 401: clients treat 401 as "session over".
const wrongPassword = () =>
  new ProblemError(422, 'invalid_password', 'The current password is incorrect.', {
    errors: [
      { path: 'current_password', message: 'The current password is incorrect.', code: 'invalid_password' },
    ],
  })

async function checkPassword(db: Db, userId: string, password: string | undefined): Promise<void> {
  const [u] = await db.select({ hash: users.passwordHash }).from(users).where(eq(users.id, userId))
  if (!password || !u?.hash || !(await verifyPassword(u.hash, password))) throw wrongPassword()
}

export async function updateMe(
  db: Db,
  userId: string,
  body: z.output<typeof UpdateMeBody>,
  meta: RequestMeta,
): Promise<{ pending_email: string | null }> {
  const current = await getMe(db, userId)
  const newEmail = body.email ? normaliseEmail(body.email) : undefined
  const changingEmail = newEmail !== undefined && newEmail !== current.email
  if (changingEmail) {
    if (!body.current_password) {
      throw unprocessable([
        {
          path: 'current_password',
          message: 'Changing the email needs the current password.',
          code: 'required',
        },
      ])
    }
    await checkPassword(db, userId, body.current_password)
    if (await findUserIdByEmail(db, newEmail))
      throw conflict('email_taken', 'An account with this email already exists.')
  }
  const emails: string[] = []
  await db.transaction(async (tx) => {
    const fields = {
      ...(body.first_name !== undefined && { firstName: body.first_name }),
      ...(body.last_name !== undefined && { lastName: body.last_name }),
      ...(body.company !== undefined && { company: body.company }),
      ...(body.phone !== undefined && { phone: body.phone }),
      ...(body.marketing_consent !== undefined && { marketingConsent: body.marketing_consent }),
    }
    if (Object.keys(fields).length) await tx.update(users).set(fields).where(eq(users.id, userId))
    if (body.profile) {
      const p = body.profile
      const values = {
        ...(p.avatar_url !== undefined && { avatarUrl: p.avatar_url }),
        ...(p.bio !== undefined && { bio: p.bio }),
        ...(p.website !== undefined && { website: p.website }),
        ...(p.location !== undefined && { location: p.location }),
        ...(p.timezone !== undefined && { timezone: p.timezone }),
        ...(p.language !== undefined && { language: p.language }),
        ...(p.preferences !== undefined && { preferences: p.preferences }),
      }
      await tx
        .insert(userProfiles)
        .values({ userId, ...values })
        .onConflictDoUpdate({ target: userProfiles.userId, set: { ...values, updatedAt: now() } })
    }
    if (changingEmail) {
      // The address changes only once the new owner clicks the link sent to it; the old one is told.
      const { token } = await issueOneTimeToken(tx, userId, 'verify_email', { new_email: newEmail })
      emails.push(
        await enqueueEmail(tx, {
          to: newEmail,
          userId,
          template: 'verify_email',
          data: { token, first_name: current.first_name },
        }),
        await enqueueEmail(tx, {
          to: current.email,
          userId,
          template: 'email_changed',
          data: { new_email: newEmail, first_name: current.first_name },
        }),
      )
    }
    await recordActivity(tx, {
      userId,
      action: changingEmail ? 'auth.email_change_requested' : 'user.profile_updated',
      meta,
      metadata: { fields: Object.keys(body).filter((k) => k !== 'current_password') },
    })
  })
  deliverAfterResponse(emails)
  return { pending_email: changingEmail ? newEmail : null }
}

export async function changePassword(
  db: Db,
  userId: string,
  sessionId: string,
  body: { current_password: string; new_password: string },
  meta: RequestMeta,
): Promise<void> {
  await checkPassword(db, userId, body.current_password)
  const [u] = await db
    .select({ email: users.email, firstName: users.firstName })
    .from(users)
    .where(eq(users.id, userId))
  const weak = passwordProblem(body.new_password, { email: u?.email })
  if (weak)
    throw unprocessable([{ path: 'new_password', message: `Password ${weak}.`, code: 'weak_password' }])
  const hash = await hashPassword(body.new_password)
  const emails: string[] = []
  const ended = await db.transaction(async (tx) => {
    await tx.update(users).set({ passwordHash: hash, passwordChangedAt: now() }).where(eq(users.id, userId))
    const ended = await endUserSessions(tx, userId, 'password_changed', sessionId)
    await recordActivity(tx, {
      userId,
      action: 'auth.password_changed',
      meta,
      metadata: { other_sessions_ended: ended.length },
    })
    emails.push(
      await enqueueEmail(tx, {
        to: u!.email,
        userId,
        template: 'password_changed',
        data: { first_name: u!.firstName },
      }),
    )
    return ended
  })
  await forgetSessions(ended)
  deliverAfterResponse(emails)
}
