import { userSessions } from '../../db/schema/index.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { env } from '../platform/env.js'
import { randomToken, sha256 } from '../platform/ids.js'
import { accessTokenTtlSeconds, signToken } from './tokens.js'

export interface IssuedTokens {
  access_token: string
  refresh_token: string
  token_type: 'bearer'
  expires_in: number
  user_id: string
  requires_mfa: false
  session_id: string
}

/** Open a session: a refresh token stored as its SHA-256, and an access token naming the session. */
export async function startSession(
  db: Db,
  userId: string,
  meta: { ip?: string | null; userAgent?: string | null } = {},
): Promise<IssuedTokens> {
  const refresh = randomToken()
  const expiresAt = new Date(now().getTime() + env().REFRESH_TOKEN_EXPIRE_DAYS * 86_400_000)
  const [row] = await db
    .insert(userSessions)
    .values({
      userId,
      refreshTokenHash: sha256(refresh),
      ipAddress: meta.ip ?? null,
      userAgent: meta.userAgent ?? null,
      expiresAt,
    })
    .returning({ id: userSessions.id })
  const ttl = accessTokenTtlSeconds()
  return {
    access_token: await signToken('access', userId, row!.id, ttl),
    refresh_token: refresh,
    token_type: 'bearer',
    expires_in: ttl,
    user_id: userId,
    requires_mfa: false,
    session_id: row!.id,
  }
}
