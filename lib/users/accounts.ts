import { sql } from 'drizzle-orm'
import { userActivities, userProfiles, users } from '../../db/schema/index.js'
import { hashPassword } from '../auth/password.js'
import { passwordProblem } from '../auth/password-policy.js'
import type { Role } from '../auth/permissions.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'

export const normaliseEmail = (email: string): string => email.trim().toLowerCase()

/**
 * Refused account input. `field` names the input at fault and `message` is the rule it breaks, so each
 * tool can say it in its own terms (the dev server names ADMIN_PASSWORD, user:create the prompt).
 */
export class AccountError extends Error {
  constructor(
    readonly code: 'email_taken' | 'weak_password' | 'invalid_email',
    readonly field: 'email' | 'password',
    message: string,
  ) {
    super(message)
  }
}

export async function findUserIdByEmail(db: Db, email: string): Promise<string | null> {
  const rows = await db
    .select({ id: users.id })
    .from(users)
    .where(sql`lower(${users.email}) = ${normaliseEmail(email)}`)
    .limit(1)
  return rows[0]?.id ?? null
}

/**
 * Create a verified account with a role (admin tooling: first admin, `npm run user:create`).
 * One transaction: the user, an empty profile and an activity entry.
 */
export async function createAccount(
  db: Db,
  input: {
    email: string
    password: string
    role: Role
    firstName?: string
    lastName?: string
    actorId?: string
  },
): Promise<{ id: string; email: string }> {
  const email = normaliseEmail(input.email)
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email))
    throw new AccountError('invalid_email', 'email', 'not a valid email address')
  const weak = passwordProblem(input.password, { email })
  if (weak) throw new AccountError('weak_password', 'password', weak)
  if (await findUserIdByEmail(db, email))
    throw new AccountError('email_taken', 'email', `${email} already has an account`)
  const passwordHash = await hashPassword(input.password)
  return db.transaction(async (tx) => {
    const [user] = await tx
      .insert(users)
      .values({
        email,
        passwordHash,
        role: input.role,
        firstName: input.firstName ?? null,
        lastName: input.lastName ?? null,
        isVerified: true,
        emailVerifiedAt: now(),
        passwordChangedAt: now(),
      })
      .returning({ id: users.id, email: users.email })
    await tx.insert(userProfiles).values({ userId: user!.id })
    await tx.insert(userActivities).values({
      userId: user!.id,
      actorId: input.actorId ?? null,
      action: 'user.created',
      resource: 'user',
      resourceId: user!.id,
      metadata: { role: input.role, via: 'admin_tooling' },
    })
    return user!
  })
}
