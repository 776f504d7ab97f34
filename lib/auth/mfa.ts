import { randomBytes } from 'node:crypto'
import { and, count as countRows, eq, gt, isNotNull, isNull, lt, or, sql } from 'drizzle-orm'
import { generateSecret, generateURI, verify as verifyTotp } from 'otplib'
import { z } from 'zod'
import { mfaBackupCodes, mfaDevices, users, userTokens } from '../../db/schema/index.js'
import { deliverAfterResponse, enqueueEmail } from '../email/outbox.js'
import { conflict, ProblemError, unauthorized } from '../http/errors.js'
import { enforceLimit } from '../http/limits.js'
import { Uuid } from '../http/validation.js'
import { now, nowMs } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { env } from '../platform/env.js'
import { sha256 } from '../platform/ids.js'
import { type RequestMeta, recordActivity } from './activity.js'
import { authEvents, count, mfaEvents } from './metrics.js'
import { openSecret, sealLegacySecret, sealSecret, storedColumns } from './mfa-secrets.js'
import { issueOneTimeToken, TOKEN_TTL_SECONDS } from './one-time-tokens.js'
import { verifyPassword } from './password.js'
import { type IssuedTokens, startSession } from './sessions.js'
import { InvalidToken, signToken, verifyToken } from './tokens.js'

// TOTP multi-factor authentication (docs/auth.md): RFC 6238 codes of 6 digits, 30 s steps, one step of
// drift either way, each step accepted once per user (mfa_devices.last_used_step, advanced by one
// conditional UPDATE so two concurrent uses of one code cannot both pass). Ten single-use backup codes,
// shown once and stored as SHA-256 (50 random bits each, salted with the user id). A login of an MFA user
// ends in a short-lived `mfa_token` (a JWT of type `mfa` naming a single-use `mfa_login` user_tokens row)
// that /auth/mfa/verify exchanges, with a code, for a session.
// Secrets are stored sealed with AES-256-GCM (lib/auth/mfa-secrets.ts, ADR 007).
// Time comes from lib/platform/clock (passed to otplib as `epoch`), so tests control it.

export const MFA_TOKEN_TTL_SECONDS = TOKEN_TTL_SECONDS.mfa_login
export const BACKUP_CODE_COUNT = 10
const PERIOD = 30
/** Crockford base32: no i, l, o, u; typed i/l read as 1 and o as 0. */
const BACKUP_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'

// --- request and response shapes (also the OpenAPI source) -------------------------------------------

const Code = z.string().trim().min(1).max(64)

export const EnableMfaBody = z.object({ password: z.string().min(1).max(1024) })
export const EnableMfaResponse = z.object({
  secret: z.string().describe('Base32 TOTP secret, shown only now'),
  otpauth_url: z.string().describe('otpauth://totp/... URI for authenticator apps'),
  qr_code: z.string().describe('The otpauth URI as a PNG data URL (data:image/png;base64,...)'),
})

export const VerifyMfaBody = z.object({
  code: Code.describe('A 6-digit TOTP code; when completing a login, a backup code (xxxxx-xxxxx) also works'),
  mfa_token: z
    .string()
    .min(1)
    .max(4096)
    .optional()
    .describe(
      'From POST /auth/login: completes that login. Without it, a Bearer access token confirms setup',
    ),
})
export const MfaEnabledResponse = z.object({
  mfa_enabled: z.literal(true),
  backup_codes: z.array(z.string()).length(BACKUP_CODE_COUNT).describe('Shown only once'),
})
export const MfaLoginResponse = z.object({
  access_token: z.string(),
  refresh_token: z.string(),
  token_type: z.literal('bearer'),
  expires_in: z.number().int(),
  user_id: z.string(),
  requires_mfa: z.literal(false),
})
export const VerifyMfaResponse = z.union([MfaEnabledResponse, MfaLoginResponse])

export const DisableMfaBody = z
  .object({
    password: z.string().min(1).max(1024).optional(),
    code: Code.optional().describe('A current TOTP code or an unused backup code'),
  })
  .refine((b) => b.password !== undefined || b.code !== undefined, {
    message: 'Send the password or a code.',
    path: ['password'],
  })
export const DisableMfaResponse = z.object({ mfa_enabled: z.literal(false) })

export const BackupCodesStatusResponse = z.object({
  remaining: z.number().int().describe('Unused backup codes'),
  total: z.number().int().describe('Codes in the current set'),
})
export const RegenerateBackupCodesBody = z.object({ code: Code.describe('A current TOTP code') })
export const BackupCodesResponse = z.object({
  backup_codes: z
    .array(z.string())
    .length(BACKUP_CODE_COUNT)
    .describe('Shown only once; the old set is dead'),
})

// --- errors ------------------------------------------------------------------------------------------

const invalidPassword = () =>
  new ProblemError(422, 'invalid_password', 'The password is incorrect.', {
    errors: [{ path: 'password', message: 'is incorrect', code: 'invalid_password' }],
  })
const invalidCode = () =>
  new ProblemError(422, 'invalid_code', 'The code is invalid, expired or already used.', {
    errors: [{ path: 'code', message: 'is invalid, expired or already used', code: 'invalid_code' }],
  })
const invalidLoginCode = () => unauthorized('The code is invalid, expired or already used.', 'invalid_code')
const invalidMfaToken = () =>
  unauthorized('The MFA token is invalid, expired or already used.', 'invalid_mfa_token')
const notEnabled = () => conflict('mfa_not_enabled', 'Two-step verification is not enabled.')
const alreadyEnabled = () => conflict('mfa_already_enabled', 'Two-step verification is already enabled.')

// --- codes -------------------------------------------------------------------------------------------

type Proof = { method: 'totp'; step: number } | { method: 'backup_code'; hash: string }

const totpShape = (code: string): string | null => {
  const c = code.replace(/\s/g, '')
  return /^\d{6}$/.test(c) ? c : null
}

const backupShape = (code: string): string | null => {
  const c = code.toLowerCase().replace(/[\s-]/g, '').replace(/o/g, '0').replace(/[il]/g, '1')
  return /^[0-9a-hjkmnp-tv-z]{10}$/.test(c) ? c : null
}

const backupHash = (userId: string, normalized: string) => sha256(`mfa-backup:${userId}:${normalized}`)

function newBackupCodes(): string[] {
  const codes = new Set<string>()
  while (codes.size < BACKUP_CODE_COUNT) {
    const chars = [...randomBytes(10)].map((b) => BACKUP_ALPHABET[b & 31]).join('')
    codes.add(`${chars.slice(0, 5)}-${chars.slice(5)}`)
  }
  return [...codes]
}

/** The time step a TOTP code matches (now, one before or one after), above `after`; null otherwise. */
async function totpStep(secret: string, code: string, after: number | null): Promise<number | null> {
  const token = totpShape(code)
  if (!token) return null
  try {
    const r = await verifyTotp({
      secret,
      token,
      epoch: Math.floor(nowMs() / 1000),
      period: PERIOD,
      epochTolerance: PERIOD,
      ...(after !== null ? { afterTimeStep: after } : {}),
    })
    return r.valid && 'timeStep' in r ? r.timeStep : null
  } catch {
    // Malformed token, a secret otplib refuses, or afterTimeStep beyond the window: not a valid code.
    return null
  }
}

async function confirmedDevice(db: Db, userId: string) {
  const [device] = await db
    .select({ ...storedColumns, lastUsedStep: mfaDevices.lastUsedStep })
    .from(mfaDevices)
    .where(and(eq(mfaDevices.userId, userId), isNotNull(mfaDevices.confirmedAt)))
  if (!device) return null
  const secret = openSecret(userId, device)
  // A row from before encryption at rest is sealed the first time it is used.
  if (device.secret) await sealLegacySecret(db, userId, device.secret)
  return secret ? { secret, lastUsedStep: device.lastUsedStep } : null
}

/** Check a code without spending it; spendCode() in the transaction makes it single use. */
async function checkCode(
  db: Db,
  userId: string,
  code: string,
  allowBackup: boolean,
): Promise<{ proof: Proof | null; method: Proof['method'] }> {
  if (totpShape(code) || !allowBackup) {
    const device = await confirmedDevice(db, userId)
    const step = device ? await totpStep(device.secret, code, device.lastUsedStep) : null
    return { proof: step === null ? null : { method: 'totp', step }, method: 'totp' }
  }
  const normalized = backupShape(code)
  if (!normalized) return { proof: null, method: 'backup_code' }
  const hash = backupHash(userId, normalized)
  const [row] = await db
    .select({ id: mfaBackupCodes.id })
    .from(mfaBackupCodes)
    .where(
      and(
        eq(mfaBackupCodes.userId, userId),
        eq(mfaBackupCodes.codeHash, hash),
        isNull(mfaBackupCodes.usedAt),
      ),
    )
  return { proof: row ? { method: 'backup_code', hash } : null, method: 'backup_code' }
}

/**
 * Spend a checked code: one conditional UPDATE, so of two concurrent uses only one matches.
 * Returns false when another request got there first.
 */
async function spendCode(tx: Db, userId: string, proof: Proof, meta: RequestMeta): Promise<boolean> {
  if (proof.method === 'totp') {
    const rows = await tx
      .update(mfaDevices)
      .set({ lastUsedStep: proof.step })
      .where(
        and(
          eq(mfaDevices.userId, userId),
          isNotNull(mfaDevices.confirmedAt),
          or(isNull(mfaDevices.lastUsedStep), lt(mfaDevices.lastUsedStep, proof.step)),
        ),
      )
      .returning({ id: mfaDevices.id })
    return rows.length > 0
  }
  const rows = await tx
    .update(mfaBackupCodes)
    .set({ usedAt: now() })
    .where(
      and(
        eq(mfaBackupCodes.userId, userId),
        eq(mfaBackupCodes.codeHash, proof.hash),
        isNull(mfaBackupCodes.usedAt),
      ),
    )
    .returning({ id: mfaBackupCodes.id })
  if (!rows.length) return false
  const remaining = await remainingBackupCodes(tx, userId)
  await recordActivity(tx, {
    userId,
    action: 'mfa.backup_code_used',
    meta,
    metadata: { remaining },
  })
  return true
}

class CodeRaced extends Error {}

async function remainingBackupCodes(db: Db, userId: string): Promise<number> {
  const [row] = await db
    .select({ n: countRows() })
    .from(mfaBackupCodes)
    .where(and(eq(mfaBackupCodes.userId, userId), isNull(mfaBackupCodes.usedAt)))
  return Number(row?.n ?? 0)
}

async function replaceBackupCodes(tx: Db, userId: string): Promise<string[]> {
  const codes = newBackupCodes()
  await tx.delete(mfaBackupCodes).where(eq(mfaBackupCodes.userId, userId))
  await tx
    .insert(mfaBackupCodes)
    .values(codes.map((c) => ({ userId, codeHash: backupHash(userId, backupShape(c)!) })))
  return codes
}

/** A failed password or code check: activity (never the code) and a metric. */
async function recordFailure(
  db: Db,
  userId: string,
  meta: RequestMeta,
  context: 'enable' | 'setup' | 'login' | 'disable' | 'regenerate_backup_codes',
  method: Proof['method'] | 'password',
): Promise<void> {
  await recordActivity(db, { userId, action: 'mfa.verify_failed', meta, metadata: { context, method } })
  count(mfaEvents, 'failed')
}

async function loadUser(db: Db, userId: string) {
  const [user] = await db
    .select({
      id: users.id,
      email: users.email,
      firstName: users.firstName,
      passwordHash: users.passwordHash,
      mfaEnabled: users.mfaEnabled,
      isActive: users.isActive,
      deletedAt: users.deletedAt,
      lockedUntil: users.lockedUntil,
    })
    .from(users)
    .where(eq(users.id, userId))
  if (!user) throw unauthorized('The session has ended.', 'session_ended')
  return user
}

const perUserLimit = (userId: string) => enforceLimit('auth_mfa', `user:${userId}`)

// --- login challenge ---------------------------------------------------------------------------------

/**
 * Called by login for a user with MFA on (inside its transaction is fine): a single-use `mfa_login`
 * row for 5 minutes (older unused ones die) and the `mfa_token` that names it.
 */
export async function startMfaChallenge(db: Db, userId: string): Promise<string> {
  const { id } = await issueOneTimeToken(db, userId, 'mfa_login', {}, MFA_TOKEN_TTL_SECONDS)
  return signToken('mfa', userId, id, MFA_TOKEN_TTL_SECONDS)
}

export type MfaLoginTokens = Omit<IssuedTokens, 'session_id'>

/** Wrong codes per mfa_token before it is spent: guessing stays bounded even with rate limits off or down. */
export const MFA_CHALLENGE_MAX_FAILURES = 5

async function burnAfterFailures(db: Db, challengeId: string): Promise<void> {
  const failures = sql`coalesce((${userTokens.metadata}->>'failures')::int, 0) + 1`
  await db
    .update(userTokens)
    .set({
      metadata: sql`jsonb_set(${userTokens.metadata}, '{failures}', to_jsonb(${failures}))`,
      usedAt: sql`case when ${failures} >= ${MFA_CHALLENGE_MAX_FAILURES} then ${now()}::timestamptz else ${userTokens.usedAt} end`,
    })
    .where(eq(userTokens.id, challengeId))
}

/**
 * Finish a login: a valid mfa_token plus a TOTP or backup code opens a session. The mfa_login row is
 * consumed only on success; a wrong code leaves it usable until it expires but counts against the
 * per-user `auth_mfa` limit.
 */
export async function completeMfaLogin(
  db: Db,
  mfaToken: string,
  code: string,
  meta: RequestMeta,
): Promise<MfaLoginTokens> {
  let claims: Awaited<ReturnType<typeof verifyToken>>
  try {
    claims = await verifyToken(mfaToken, 'mfa')
  } catch (err) {
    if (err instanceof InvalidToken) throw invalidMfaToken()
    throw err
  }
  const userId = claims.sub
  const challengeId = claims.sid
  if (!Uuid.safeParse(challengeId).success) throw invalidMfaToken()
  const live = and(
    eq(userTokens.id, challengeId),
    eq(userTokens.userId, userId),
    eq(userTokens.purpose, 'mfa_login'),
    isNull(userTokens.usedAt),
    gt(userTokens.expiresAt, now()),
  )
  const [challenge] = await db.select({ id: userTokens.id }).from(userTokens).where(live)
  if (!challenge) throw invalidMfaToken()
  const user = await loadUser(db, userId).catch(() => null)
  const locked = user?.lockedUntil && user.lockedUntil.getTime() > nowMs()
  if (!user?.mfaEnabled || !user.isActive || user.deletedAt || locked) throw invalidMfaToken()

  await perUserLimit(userId)
  const { proof, method } = await checkCode(db, userId, code, true)
  if (!proof) {
    await burnAfterFailures(db, challengeId)
    await recordFailure(db, userId, meta, 'login', method)
    throw invalidLoginCode()
  }

  let tokens: IssuedTokens
  try {
    tokens = await db.transaction(async (tx) => {
      if (!(await spendCode(tx, userId, proof, meta))) throw new CodeRaced()
      const consumed = await tx
        .update(userTokens)
        .set({ usedAt: now() })
        .where(live)
        .returning({ id: userTokens.id })
      if (!consumed.length) throw invalidMfaToken()
      await tx.update(users).set({ lastLoginAt: now() }).where(eq(users.id, userId))
      await recordActivity(tx, { userId, action: 'auth.login', meta, metadata: { mfa: proof.method } })
      return startSession(tx, userId, meta)
    })
  } catch (err) {
    if (!(err instanceof CodeRaced)) throw err
    await recordFailure(db, userId, meta, 'login', method)
    throw invalidLoginCode()
  }
  count(mfaEvents, 'verified')
  if (proof.method === 'backup_code') count(mfaEvents, 'backup_code_used')
  count(authEvents, 'login')
  const { session_id: _sessionId, ...rest } = tokens
  return rest
}

// --- setup -------------------------------------------------------------------------------------------

/**
 * Start (or restart) setup: after the password, a new secret is stored unconfirmed (replacing an earlier
 * unconfirmed one) and returned with its otpauth URI and QR code. Nothing changes until /verify confirms.
 */
export async function beginMfaSetup(
  db: Db,
  userId: string,
  password: string,
  meta: RequestMeta,
): Promise<z.output<typeof EnableMfaResponse>> {
  const user = await loadUser(db, userId)
  if (user.mfaEnabled) throw alreadyEnabled()
  await perUserLimit(userId)
  if (!user.passwordHash || !(await verifyPassword(user.passwordHash, password))) {
    await recordFailure(db, userId, meta, 'enable', 'password')
    throw invalidPassword()
  }
  const secret = generateSecret({ length: 20 })
  const sealed = sealSecret(userId, secret)
  await db.transaction(async (tx) => {
    const [current] = await tx
      .select({ mfaEnabled: users.mfaEnabled })
      .from(users)
      .where(eq(users.id, userId))
    if (current?.mfaEnabled) throw alreadyEnabled()
    // Only an unconfirmed device is ever replaced: a concurrent confirmation wins over a restart.
    const rows = await tx
      .insert(mfaDevices)
      .values({ userId, secret: null, ...sealed })
      .onConflictDoUpdate({
        target: mfaDevices.userId,
        set: { secret: null, ...sealed, confirmedAt: null, lastUsedStep: null, updatedAt: now() },
        setWhere: isNull(mfaDevices.confirmedAt),
      })
      .returning({ id: mfaDevices.id })
    if (!rows.length) throw alreadyEnabled()
    await recordActivity(tx, { userId, action: 'mfa.setup_started', meta })
  })
  const otpauthUrl = generateURI({ issuer: env().MFA_ISSUER_NAME, label: user.email, secret })
  // qrcode loads at enrolment only (ADR 009: cold start), not in every function that imports this module.
  const { default: QRCode } = await import('qrcode')
  const qrCode = await QRCode.toDataURL(otpauthUrl, { errorCorrectionLevel: 'M', margin: 2, width: 256 })
  return { secret, otpauth_url: otpauthUrl, qr_code: qrCode }
}

/** Confirm setup with a code of the pending secret: MFA is on and the 10 backup codes are shown once. */
export async function confirmMfaSetup(
  db: Db,
  userId: string,
  code: string,
  meta: RequestMeta,
): Promise<z.output<typeof MfaEnabledResponse>> {
  const user = await loadUser(db, userId)
  if (user.mfaEnabled) throw alreadyEnabled()
  const [device] = await db
    .select({ id: mfaDevices.id, ...storedColumns })
    .from(mfaDevices)
    .where(and(eq(mfaDevices.userId, userId), isNull(mfaDevices.confirmedAt)))
  const secret = device ? openSecret(userId, device) : null
  if (!device || !secret) throw conflict('mfa_setup_not_started', 'Start with POST /api/v1/auth/mfa/enable.')
  await perUserLimit(userId)
  const step = await totpStep(secret, code, null)
  if (step === null) {
    await recordFailure(db, userId, meta, 'setup', 'totp')
    throw invalidCode()
  }
  const emailIds: string[] = []
  const codes = await db.transaction(async (tx) => {
    // The very secret that was checked, still unconfirmed (a restarted setup in between loses).
    const confirmed = await tx
      .update(mfaDevices)
      .set({
        confirmedAt: now(),
        lastUsedStep: step,
        // a setup begun before encryption at rest is sealed as it is confirmed
        ...(device.secret ? { secret: null, ...sealSecret(userId, secret) } : {}),
      })
      .where(
        and(
          eq(mfaDevices.id, device.id),
          device.secretCiphertext
            ? eq(mfaDevices.secretCiphertext, device.secretCiphertext)
            : eq(mfaDevices.secret, secret),
          isNull(mfaDevices.confirmedAt),
        ),
      )
      .returning({ id: mfaDevices.id })
    if (!confirmed.length) throw conflict('mfa_setup_changed', 'The setup changed meanwhile; start again.')
    const enabled = await tx
      .update(users)
      .set({ mfaEnabled: true })
      .where(and(eq(users.id, userId), eq(users.mfaEnabled, false)))
      .returning({ id: users.id })
    if (!enabled.length) throw alreadyEnabled()
    const fresh = await replaceBackupCodes(tx, userId)
    await recordActivity(tx, { userId, action: 'mfa.enabled', meta })
    emailIds.push(
      await enqueueEmail(tx, {
        to: user.email,
        userId,
        template: 'mfa_enabled',
        data: { first_name: user.firstName },
      }),
    )
    return fresh
  })
  deliverAfterResponse(emailIds)
  count(mfaEvents, 'enabled')
  return { mfa_enabled: true, backup_codes: codes }
}

// --- disable and backup codes ------------------------------------------------------------------------

/**
 * Turn MFA off after the password and/or a code (TOTP or backup code; each one sent must be right).
 * Removes the device and backup codes and kills pending MFA logins.
 */
export async function disableMfa(
  db: Db,
  userId: string,
  input: { password?: string; code?: string },
  meta: RequestMeta,
): Promise<z.output<typeof DisableMfaResponse>> {
  const user = await loadUser(db, userId)
  if (!user.mfaEnabled) throw notEnabled()
  await perUserLimit(userId)
  if (input.password !== undefined) {
    if (!user.passwordHash || !(await verifyPassword(user.passwordHash, input.password))) {
      await recordFailure(db, userId, meta, 'disable', 'password')
      throw invalidPassword()
    }
  }
  let proof: Proof | null = null
  if (input.code !== undefined) {
    const checked = await checkCode(db, userId, input.code, true)
    if (!checked.proof) {
      await recordFailure(db, userId, meta, 'disable', checked.method)
      throw invalidCode()
    }
    proof = checked.proof
  }
  const emailIds: string[] = []
  try {
    await db.transaction(async (tx) => {
      if (proof && !(await spendCode(tx, userId, proof, meta))) throw new CodeRaced()
      const disabled = await tx
        .update(users)
        .set({ mfaEnabled: false })
        .where(and(eq(users.id, userId), eq(users.mfaEnabled, true)))
        .returning({ id: users.id })
      if (!disabled.length) throw notEnabled()
      await tx.delete(mfaDevices).where(eq(mfaDevices.userId, userId))
      await tx.delete(mfaBackupCodes).where(eq(mfaBackupCodes.userId, userId))
      await tx
        .update(userTokens)
        .set({ usedAt: now() })
        .where(
          and(eq(userTokens.userId, userId), eq(userTokens.purpose, 'mfa_login'), isNull(userTokens.usedAt)),
        )
      await recordActivity(tx, {
        userId,
        action: 'mfa.disabled',
        meta,
        metadata: {
          confirmed_with: [input.password !== undefined ? 'password' : null, proof?.method ?? null].filter(
            Boolean,
          ),
        },
      })
      emailIds.push(
        await enqueueEmail(tx, {
          to: user.email,
          userId,
          template: 'mfa_disabled',
          data: { first_name: user.firstName },
        }),
      )
    })
  } catch (err) {
    if (!(err instanceof CodeRaced)) throw err
    await recordFailure(db, userId, meta, 'disable', proof!.method)
    throw invalidCode()
  }
  deliverAfterResponse(emailIds)
  if (proof?.method === 'backup_code') count(mfaEvents, 'backup_code_used')
  count(mfaEvents, 'disabled')
  return { mfa_enabled: false }
}

export async function backupCodesStatus(
  db: Db,
  userId: string,
): Promise<z.output<typeof BackupCodesStatusResponse>> {
  const user = await loadUser(db, userId)
  if (!user.mfaEnabled) throw notEnabled()
  const [row] = await db
    .select({
      total: countRows(),
      remaining: sql<number>`count(*) filter (where ${mfaBackupCodes.usedAt} is null)`,
    })
    .from(mfaBackupCodes)
    .where(eq(mfaBackupCodes.userId, userId))
  return { remaining: Number(row?.remaining ?? 0), total: Number(row?.total ?? 0) }
}

/** A new set of 10 backup codes for a current TOTP code; the old set dies with it. */
export async function regenerateBackupCodes(
  db: Db,
  userId: string,
  code: string,
  meta: RequestMeta,
): Promise<z.output<typeof BackupCodesResponse>> {
  const user = await loadUser(db, userId)
  if (!user.mfaEnabled) throw notEnabled()
  await perUserLimit(userId)
  const { proof } = await checkCode(db, userId, code, false)
  if (!proof) {
    await recordFailure(db, userId, meta, 'regenerate_backup_codes', 'totp')
    throw invalidCode()
  }
  let codes: string[]
  try {
    codes = await db.transaction(async (tx) => {
      if (!(await spendCode(tx, userId, proof, meta))) throw new CodeRaced()
      const fresh = await replaceBackupCodes(tx, userId)
      await recordActivity(tx, { userId, action: 'mfa.backup_codes_regenerated', meta })
      return fresh
    })
  } catch (err) {
    if (!(err instanceof CodeRaced)) throw err
    await recordFailure(db, userId, meta, 'regenerate_backup_codes', 'totp')
    throw invalidCode()
  }
  count(mfaEvents, 'backup_codes_regenerated')
  return { backup_codes: codes }
}
