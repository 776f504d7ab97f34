import { randomBytes } from 'node:crypto'
import { users } from '../../db/schema/index.js'
import type { Role } from '../../lib/auth/permissions.js'
import { startSession } from '../../lib/auth/sessions.js'
import { getDb } from '../../lib/platform/db.js'

// Data factories: real rows through the real schema.

// One argon2id hash of 'correct horse battery staple', computed once per file (hashing costs ~6 ms).
let defaultHash: Promise<string> | undefined
export const DEFAULT_PASSWORD = 'correct horse battery staple'

export async function makeUser(
  overrides: Partial<typeof users.$inferInsert> & { role?: Role } = {},
): Promise<{ user: typeof users.$inferSelect; token: string; refreshToken: string; sessionId: string }> {
  const db = await getDb()
  if (!defaultHash) {
    const { hashPassword } = await import('../../lib/auth/password.js')
    defaultHash = hashPassword(DEFAULT_PASSWORD)
  }
  const [user] = await db
    .insert(users)
    .values({
      email: `user-${randomBytes(6).toString('hex')}@example.test`,
      passwordHash: await defaultHash,
      firstName: 'Test',
      lastName: 'User',
      ...overrides,
    })
    .returning()
  const tokens = await startSession(db, user!.id, { ip: '127.0.0.1', userAgent: 'vitest' })
  return {
    user: user!,
    token: tokens.access_token,
    refreshToken: tokens.refresh_token,
    sessionId: tokens.session_id,
  }
}
