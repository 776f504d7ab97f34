import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { and, eq, gt, isNotNull, ne, or, sql } from 'drizzle-orm'
import { mfaDevices } from '../../db/schema/index.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { ConfigError, decodeKey32, env } from '../platform/env.js'

// TOTP secrets at rest (ADR 007): AES-256-GCM under MFA_ENCRYPTION_KEY (32 random bytes, base64), a
// fresh 12-byte IV per seal, the user id as additional data so a ciphertext copied onto another user's
// row does not open. Each row stores the id of the key that sealed it, so during a rotation
// MFA_ENCRYPTION_KEY_PREVIOUS still opens the older rows (and `npm run mfa:encrypt` re-seals them).
// A database dump alone therefore yields no TOTP secret.

const IV_BYTES = 12
const TAG_BYTES = 16
/** Development only: deployed environments must set MFA_ENCRYPTION_KEY (refused with 503 otherwise). */
const DEV_KEY = createHash('sha256').update('dev-only-insecure-mfa-encryption-key').digest()

interface Key {
  id: string
  bytes: Buffer
}

export interface Sealed {
  secretCiphertext: string
  secretKeyId: string
}

export interface StoredSecret {
  secret: string | null
  secretCiphertext: string | null
  secretKeyId: string | null
}

const keyId = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex').slice(0, 8)

/** 32 bytes from base64; anything else names the setting. */
function parseMfaKey(value: string, setting: string): Buffer {
  const bytes = decodeKey32(value)
  if (!bytes) throw new ConfigError(`${setting} must be 32 random bytes, base64-encoded`, [setting])
  return bytes
}

let cachedKeys: { source: string; current: Key; all: Map<string, Key> } | undefined

function keys(): { current: Key; all: Map<string, Key> } {
  const e = env()
  const source = `${e.MFA_ENCRYPTION_KEY ?? ''}|${e.MFA_ENCRYPTION_KEY_PREVIOUS ?? ''}`
  if (cachedKeys?.source === source) return cachedKeys
  const currentBytes = e.MFA_ENCRYPTION_KEY
    ? parseMfaKey(e.MFA_ENCRYPTION_KEY, 'MFA_ENCRYPTION_KEY')
    : DEV_KEY
  const current = { id: keyId(currentBytes), bytes: currentBytes }
  const all = new Map([[current.id, current]])
  if (e.MFA_ENCRYPTION_KEY_PREVIOUS) {
    const prev = parseMfaKey(e.MFA_ENCRYPTION_KEY_PREVIOUS, 'MFA_ENCRYPTION_KEY_PREVIOUS')
    all.set(keyId(prev), { id: keyId(prev), bytes: prev })
  }
  cachedKeys = { source, current, all }
  return cachedKeys
}

/** The id of the key new secrets are sealed with. */
export const currentMfaKeyId = (): string => keys().current.id

export function sealSecret(userId: string, secret: string): Sealed {
  const key = keys().current
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key.bytes, iv)
  cipher.setAAD(Buffer.from(`mfa:${userId}`))
  const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()])
  return {
    secretCiphertext: Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64'),
    secretKeyId: key.id,
  }
}

export class MfaSecretUnreadable extends Error {}

/** The columns openSecret() reads. */
export const storedColumns = {
  secret: mfaDevices.secret,
  secretCiphertext: mfaDevices.secretCiphertext,
  secretKeyId: mfaDevices.secretKeyId,
}

/**
 * The base32 secret of a stored row: the ciphertext when there is one, else the legacy plaintext.
 * A ciphertext under a key that is no longer configured, or one that fails authentication, throws:
 * that is an operator's problem (a lost key), never a silent "no device".
 */
export function openSecret(userId: string, row: StoredSecret): string | null {
  if (row.secretCiphertext && row.secretKeyId) {
    const key = keys().all.get(row.secretKeyId)
    if (!key) throw new MfaSecretUnreadable(`no configured MFA key has id ${row.secretKeyId}`)
    const raw = Buffer.from(row.secretCiphertext, 'base64')
    if (raw.length <= IV_BYTES + TAG_BYTES) throw new MfaSecretUnreadable('ciphertext too short')
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.bytes, raw.subarray(0, IV_BYTES))
      decipher.setAAD(Buffer.from(`mfa:${userId}`))
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES))
      return Buffer.concat([
        decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8')
    } catch {
      throw new MfaSecretUnreadable('ciphertext failed authentication')
    }
  }
  return row.secret
}

/**
 * Seal a legacy plaintext row and null its plaintext, if it still has one. Conditional on the
 * plaintext being the one read, so a concurrent restart of setup is not overwritten.
 */
export async function sealLegacySecret(db: Db, userId: string, plaintext: string): Promise<void> {
  await db
    .update(mfaDevices)
    .set({ ...sealSecret(userId, plaintext), secret: null, updatedAt: now() })
    .where(and(eq(mfaDevices.userId, userId), eq(mfaDevices.secret, plaintext)))
}

/**
 * `npm run mfa:encrypt`: seal every remaining plaintext secret and re-seal secrets under an older key
 * with the current one, in keyset batches. Rows under a key that is not configured are counted and
 * left as they are (an operator's problem to report, not a reason to stop half-way).
 */
export async function encryptStoredSecrets(
  db: Db,
  batchSize = 500,
): Promise<{ sealed: number; unreadable: number }> {
  const currentId = currentMfaKeyId()
  const result = { sealed: 0, unreadable: 0 }
  let after = '00000000-0000-0000-0000-000000000000'
  for (;;) {
    const rows = await db
      .select({ id: mfaDevices.id, userId: mfaDevices.userId, ...storedColumns })
      .from(mfaDevices)
      .where(
        and(
          gt(mfaDevices.id, after),
          or(
            isNotNull(mfaDevices.secret),
            and(isNotNull(mfaDevices.secretKeyId), ne(mfaDevices.secretKeyId, currentId)),
          ),
        ),
      )
      .orderBy(mfaDevices.id)
      .limit(batchSize)
    if (!rows.length) return result
    after = rows[rows.length - 1]!.id
    for (const row of rows) {
      let plaintext: string | null
      try {
        plaintext = openSecret(row.userId, row)
      } catch (err) {
        if (!(err instanceof MfaSecretUnreadable)) throw err
        result.unreadable++
        continue
      }
      if (!plaintext) continue
      // Conditional on what was read: a setup restarted meanwhile keeps its newer secret.
      const sameAsRead = row.secretCiphertext
        ? eq(mfaDevices.secretCiphertext, row.secretCiphertext)
        : sql`${mfaDevices.secretCiphertext} is null`
      const updated = await db
        .update(mfaDevices)
        .set({ ...sealSecret(row.userId, plaintext), secret: null, updatedAt: now() })
        .where(and(eq(mfaDevices.id, row.id), sameAsRead))
        .returning({ id: mfaDevices.id })
      result.sealed += updated.length
    }
  }
}

/** Tests: forget the parsed keys after changing the environment. */
export function resetMfaKeys(): void {
  cachedKeys = undefined
}
