import { userProfiles, users } from '../../db/schema/index.js'
import { deliverAfterResponse } from '../email/outbox.js'
import { conflict, unprocessable } from '../http/errors.js'
import type { Db } from '../platform/db.js'
import { findUserIdByEmail, normaliseEmail } from '../users/accounts.js'
import { type RequestMeta, recordActivity } from './activity.js'
import { authEvents, count } from './metrics.js'
import { hashPassword } from './password.js'
import { passwordProblem } from './password-policy.js'
import { sendVerificationEmail } from './recovery.js'
import { type IssuedTokens, startSession } from './sessions.js'

// Self-service registration: always a customer, never verified until the emailed link is used.
// A taken email is a 409 (registration returns tokens, so it cannot hide the account; ADR 006).

export interface Registration {
  email: string
  password: string
  first_name: string
  last_name: string
  company?: string | null
  phone?: string | null
  marketing_consent?: boolean
}

const isUniqueViolation = (err: unknown): boolean => {
  const e = err as { code?: string; cause?: { code?: string } }
  return e?.code === '23505' || e?.cause?.code === '23505'
}

export async function register(db: Db, input: Registration, meta: RequestMeta): Promise<IssuedTokens> {
  const email = normaliseEmail(input.email)
  const weak = passwordProblem(input.password, { email })
  if (weak) throw unprocessable([{ path: 'password', message: `Password ${weak}.`, code: 'weak_password' }])
  const taken = () => conflict('email_taken', 'An account with this email already exists.')
  if (await findUserIdByEmail(db, email)) throw taken()
  const passwordHash = await hashPassword(input.password)
  const emails: string[] = []
  try {
    const tokens = await db.transaction(async (tx) => {
      const [user] = await tx
        .insert(users)
        .values({
          email,
          passwordHash,
          firstName: input.first_name,
          lastName: input.last_name,
          company: input.company ?? null,
          phone: input.phone ?? null,
          marketingConsent: input.marketing_consent ?? false,
          role: 'customer',
        })
        .returning({ id: users.id, email: users.email, firstName: users.firstName })
      await tx.insert(userProfiles).values({ userId: user!.id })
      await recordActivity(tx, { userId: user!.id, action: 'auth.registered', meta })
      emails.push(await sendVerificationEmail(tx, user!))
      return startSession(tx, user!.id, meta)
    })
    count(authEvents, 'register')
    deliverAfterResponse(emails)
    return tokens
  } catch (err) {
    if (isUniqueViolation(err)) throw taken()
    throw err
  }
}
