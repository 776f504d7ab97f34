// The native addon loads at the first hash or verify (ADR 009: cold start): this module is also imported
// for PASSWORD_MAX_LENGTH by request schemas on paths that never hash.
let argon2: Promise<typeof import('@node-rs/argon2')> | undefined
const addon = () => {
  argon2 ??= import('@node-rs/argon2')
  return argon2
}

// argon2id with m=19456 KiB, t=2, p=1 (docs/auth.md, "Passwords").
// Algorithm.Argon2id is an ambient const enum (value 2), unusable under verbatimModuleSyntax.
const ARGON2ID = 2
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const

export const PASSWORD_MAX_LENGTH = 128

export async function hashPassword(password: string): Promise<string> {
  return (await addon()).hash(password, OPTIONS)
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  const { verify } = await addon()
  try {
    return await verify(passwordHash, password)
  } catch {
    return false
  }
}
