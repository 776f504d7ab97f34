import { randomBytes, randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { base64url, SignJWT } from 'jose'
import { userSessions } from '../../db/schema/index.js'
import { AUDIENCE, ISSUER, signToken } from '../../lib/auth/tokens.js'
import { getDb } from '../../lib/platform/db.js'
import { jwtSecret } from '../../lib/platform/env.js'
import type { makeUser } from './factories.js'
import type { CallOptions } from './http.js'

// The shared token cases every signed-in route answers with 401: no token, not a JWT, another scheme,
// expired, signed with another secret, unsigned (alg none), an MFA token, and a session that has ended.

type Made = Awaited<ReturnType<typeof makeUser>>

async function signed(
  self: Made,
  opts: { exp?: number; secret?: string; typ?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ sid: self.sessionId, typ: opts.typ ?? 'access' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(self.user.id)
    .setJti(randomUUID())
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(now - 600)
    .setExpirationTime(opts.exp ?? now + 300)
    .sign(new TextEncoder().encode(opts.secret ?? jwtSecret()))
}

function algNone(self: Made): string {
  const now = Math.floor(Date.now() / 1000)
  const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))
  const payload = base64url.encode(
    JSON.stringify({
      sub: self.user.id,
      sid: self.sessionId,
      typ: 'access',
      jti: randomUUID(),
      iss: ISSUER,
      aud: AUDIENCE,
      iat: now,
      exp: now + 300,
    }),
  )
  return `${header}.${payload}.`
}

/**
 * Bad credentials for `self` (a user who WOULD be allowed with their real token). The ended-session case
 * revokes a second session of `self`, so `self.token` keeps working.
 */
export async function badCredentials(self: Made): Promise<Array<{ label: string; opts: CallOptions }>> {
  const db = await getDb()
  const { startSession } = await import('../../lib/auth/sessions.js')
  const other = await startSession(db, self.user.id, { ip: '127.0.0.1', userAgent: 'vitest' })
  await db.update(userSessions).set({ revokedAt: new Date() }).where(eq(userSessions.id, other.session_id))
  return [
    { label: 'no token', opts: {} },
    { label: 'not a JWT', opts: { token: 'not-a-jwt' } },
    { label: 'Basic scheme', opts: { headers: { authorization: 'Basic abc' } } },
    { label: 'expired', opts: { token: await signed(self, { exp: Math.floor(Date.now() / 1000) - 60 }) } },
    {
      label: 'other secret',
      opts: { token: await signed(self, { secret: randomBytes(32).toString('hex') }) },
    },
    { label: 'alg none', opts: { token: algNone(self) } },
    { label: 'mfa token', opts: { token: await signToken('mfa', self.user.id, self.sessionId, 300) } },
    { label: 'ended session', opts: { token: other.access_token } },
  ]
}
