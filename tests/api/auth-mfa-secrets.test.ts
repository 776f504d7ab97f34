import { randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { generate, generateSecret } from 'otplib'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mfaDevices, users } from '../../db/schema/index.js'
import { startMfaChallenge } from '../../lib/auth/mfa.js'
import {
  encryptStoredSecrets,
  MfaSecretUnreadable,
  openSecret,
  resetMfaKeys,
  sealSecret,
} from '../../lib/auth/mfa-secrets.js'
import { nowMs, setClock } from '../../lib/platform/clock.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { resetRateLimits } from '../../lib/platform/ratelimit.js'
import { DEFAULT_PASSWORD, makeUser } from '../support/factories.js'
import { type CallOptions, call } from '../support/http.js'

// MFA secrets at rest (ADR 007): AES-256-GCM under MFA_ENCRYPTION_KEY with the key id beside the
// ciphertext; MFA_ENCRYPTION_KEY_PREVIOUS opens older rows during a rotation; legacy plaintext rows are
// sealed on first use and by `npm run mfa:encrypt`. A database dump alone yields no TOTP secret.

const ENABLE = '/api/v1/auth/mfa/enable'
const VERIFY = '/api/v1/auth/mfa/verify'
const KEY_A = Buffer.alloc(32, 0xa1).toString('base64')
const KEY_B = Buffer.alloc(32, 0xb2).toString('base64')

let saved: Record<string, string | undefined>
let t: number

function useKeys(current: string | undefined, previous?: string): void {
  if (current === undefined) delete process.env.MFA_ENCRYPTION_KEY
  else process.env.MFA_ENCRYPTION_KEY = current
  if (previous === undefined) delete process.env.MFA_ENCRYPTION_KEY_PREVIOUS
  else process.env.MFA_ENCRYPTION_KEY_PREVIOUS = previous
  resetEnv()
  resetMfaKeys()
}

beforeEach(() => {
  saved = { ...process.env }
  process.env.VERCEL = '1' // x-forwarded-for is the client IP: one fresh IP per request below
  t = Math.floor(Date.now() / 30_000) * 30_000 + 15_000
  setClock(() => t)
  useKeys(KEY_A)
})

afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
  Object.assign(process.env, saved)
  setClock(undefined)
  resetEnv()
  resetMfaKeys()
  resetRateLimits()
})

const api = (method: string, path: string, opts: CallOptions = {}) =>
  call(method, path, { ...opts, headers: { 'x-forwarded-for': randomUUID(), ...opts.headers } })
const totp = (secret: string) => generate({ secret, epoch: Math.floor(nowMs() / 1000) })

async function device(userId: string) {
  const [row] = await (await getDb()).select().from(mfaDevices).where(eq(mfaDevices.userId, userId))
  return row!
}

/** A user with MFA on through the real endpoints; returns the secret the user was shown. */
async function enrolled() {
  const u = await makeUser()
  const enabled = await api('POST', ENABLE, { token: u.token, body: { password: DEFAULT_PASSWORD } })
  expect(enabled.status).toBe(200)
  const secret: string = enabled.body.secret
  const confirmed = await api('POST', VERIFY, { token: u.token, body: { code: await totp(secret) } })
  expect(confirmed.status).toBe(200)
  t += 30_000
  return { ...u, secret }
}

/** Finish an MFA login for the user with a TOTP of `secret`. */
async function mfaLogin(userId: string, secret: string) {
  const mfaToken = await startMfaChallenge(await getDb(), userId)
  return api('POST', VERIFY, { body: { mfa_token: mfaToken, code: await totp(secret) } })
}

describe('MFA secrets at rest', () => {
  it('stores only a ciphertext and the key id: nothing in the row yields the secret or its codes', async () => {
    const u = await enrolled()
    const row = await device(u.user.id)
    expect(row.secret).toBeNull()
    expect(row.secretKeyId).toMatch(/^[0-9a-f]{8}$/)
    const dump = JSON.stringify(row)
    expect(dump).not.toContain(u.secret)
    // Not an encoding of the secret either: the base32 secret's bytes appear nowhere in the ciphertext.
    const raw = Buffer.from(row.secretCiphertext!, 'base64')
    expect(raw.includes(Buffer.from(u.secret))).toBe(false)
    expect(raw.length).toBe(12 + u.secret.length + 16)
    // Sealed twice, the same secret gives different ciphertexts (fresh IV).
    expect(sealSecret(u.user.id, u.secret).secretCiphertext).not.toBe(row.secretCiphertext)
  })

  it('binds a ciphertext to its user: copied onto another user, it does not open', async () => {
    const u = await enrolled()
    const row = await device(u.user.id)
    expect(openSecret(u.user.id, row)).toBe(u.secret)
    expect(() => openSecret(randomUUID(), row)).toThrow(MfaSecretUnreadable)
  })

  it('does not open under another key', async () => {
    const u = await enrolled()
    const row = await device(u.user.id)
    useKeys(KEY_B)
    expect(() => openSecret(u.user.id, row)).toThrow(MfaSecretUnreadable)
    // The wrong key with the right id (a forged key id) fails authentication too.
    expect(() =>
      openSecret(u.user.id, { ...row, secretKeyId: sealSecret(u.user.id, 'x').secretKeyId }),
    ).toThrow(MfaSecretUnreadable)
  })

  it('keeps working through a key rotation with MFA_ENCRYPTION_KEY_PREVIOUS', async () => {
    const u = await enrolled()
    const before = await device(u.user.id)
    useKeys(KEY_B, KEY_A)
    const login = await mfaLogin(u.user.id, u.secret)
    expect(login.status).toBe(200)
    expect(login.body.access_token).toEqual(expect.any(String))
    // Still sealed under the old key until mfa:encrypt re-seals it.
    expect((await device(u.user.id)).secretKeyId).toBe(before.secretKeyId)
  })

  it('mfa:encrypt re-seals rows under the previous key with the current one', async () => {
    const u = await enrolled()
    const oldKeyId = (await device(u.user.id)).secretKeyId
    useKeys(KEY_B, KEY_A)
    const { sealed } = await encryptStoredSecrets(await getDb())
    expect(sealed).toBeGreaterThanOrEqual(1)
    const row = await device(u.user.id)
    expect(row.secretKeyId).not.toBe(oldKeyId)
    // The previous key is no longer needed: it opens under KEY_B alone.
    useKeys(KEY_B)
    expect(openSecret(u.user.id, row)).toBe(u.secret)
    t += 30_000
    expect((await mfaLogin(u.user.id, u.secret)).status).toBe(200)
    expect(await encryptStoredSecrets(await getDb())).toEqual({ sealed: 0, unreadable: 0 })
  })

  it('seals a legacy plaintext secret the first time it is used, and mfa:encrypt seals the rest', async () => {
    const db = await getDb()
    const used = await makeUser()
    const idle = await makeUser()
    const secrets = { used: generateSecret(), idle: generateSecret() }
    await db.insert(mfaDevices).values([
      { userId: used.user.id, secret: secrets.used, confirmedAt: new Date(t) },
      { userId: idle.user.id, secret: secrets.idle, confirmedAt: new Date(t) },
    ])
    await db.update(users).set({ mfaEnabled: true }).where(eq(users.id, used.user.id))
    await db.update(users).set({ mfaEnabled: true }).where(eq(users.id, idle.user.id))

    const login = await mfaLogin(used.user.id, secrets.used)
    expect(login.status).toBe(200)
    const sealed = await device(used.user.id)
    expect(sealed.secret).toBeNull()
    expect(openSecret(used.user.id, sealed)).toBe(secrets.used)

    expect((await device(idle.user.id)).secret).toBe(secrets.idle)
    // Rows of earlier tests in this file are under KEY_B, not configured now: counted, left alone.
    const report = await encryptStoredSecrets(db)
    expect(report.sealed).toBe(1)
    const leftAlone = (await db.select().from(mfaDevices)).filter(
      (d) => d.secretKeyId && d.secretKeyId !== sealSecret(idle.user.id, 'x').secretKeyId,
    )
    expect(report.unreadable).toBe(leftAlone.length)
    const idleRow = await device(idle.user.id)
    expect(idleRow.secret).toBeNull()
    expect(openSecret(idle.user.id, idleRow)).toBe(secrets.idle)
    expect((await mfaLogin(idle.user.id, secrets.idle)).status).toBe(200)
  })

  it('refuses a row with neither a plaintext nor a ciphertext (database CHECK)', async () => {
    const u = await makeUser()
    await expect(
      (await getDb()).insert(mfaDevices).values({ userId: u.user.id, secret: null }),
    ).rejects.toThrow()
  })
})
