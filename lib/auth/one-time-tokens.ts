import { and, eq, gt, isNull, sql } from 'drizzle-orm'
import { type UserTokenPurpose, userTokens } from '../../db/schema/index.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { randomToken, sha256 } from '../platform/ids.js'

// Single-use emailed tokens (verify email, reset password, unlock, invite): 256-bit random, stored as
// SHA-256, with an expiry. Issuing one kills the user's older unused tokens of the same purpose;
// consuming is one atomic UPDATE, so a token works exactly once even under concurrent use.

export const TOKEN_TTL_SECONDS: Record<UserTokenPurpose, number> = {
  verify_email: 48 * 3600,
  reset_password: 3600,
  unlock: 24 * 3600,
  invite: 72 * 3600,
  mfa_login: 300,
}

export async function issueOneTimeToken(
  db: Db,
  userId: string,
  purpose: UserTokenPurpose,
  metadata: Record<string, unknown> = {},
  ttlSeconds = TOKEN_TTL_SECONDS[purpose],
): Promise<{ token: string; id: string }> {
  await db
    .update(userTokens)
    .set({ usedAt: now() })
    .where(and(eq(userTokens.userId, userId), eq(userTokens.purpose, purpose), isNull(userTokens.usedAt)))
  const token = randomToken()
  const [row] = await db
    .insert(userTokens)
    .values({
      userId,
      purpose,
      tokenHash: sha256(token),
      expiresAt: new Date(now().getTime() + ttlSeconds * 1000),
      metadata,
    })
    .returning({ id: userTokens.id })
  return { token, id: row!.id }
}

/** Use a token once. Returns its user and metadata, or null when unknown, used, expired or of another purpose. */
export async function consumeOneTimeToken(
  db: Db,
  purpose: UserTokenPurpose,
  token: string,
): Promise<{ userId: string; metadata: Record<string, unknown> } | null> {
  const [row] = await db
    .update(userTokens)
    .set({ usedAt: sql`now()` })
    .where(
      and(
        eq(userTokens.tokenHash, sha256(token)),
        eq(userTokens.purpose, purpose),
        isNull(userTokens.usedAt),
        gt(userTokens.expiresAt, now()),
      ),
    )
    .returning({ userId: userTokens.userId, metadata: userTokens.metadata })
  return row ?? null
}
