import { hash, verify } from '@node-rs/argon2'

// argon2id with m=19456 KiB, t=2, p=1 (docs/auth.md, "Passwords").
// Algorithm.Argon2id is an ambient const enum (value 2), unusable under verbatimModuleSyntax.
const ARGON2ID = 2
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const

export const PASSWORD_MAX_LENGTH = 128

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS)
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password)
  } catch {
    return false
  }
}
