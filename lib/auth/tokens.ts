import { createHash } from 'node:crypto'
import { errors, jwtVerify, SignJWT } from 'jose'
import { nowMs } from '../platform/clock.js'
import { env, jwtSecret } from '../platform/env.js'
import { newId } from '../platform/ids.js'

// Access tokens: HS256 only (pinned), short-lived, claims sub/sid/jti/iss/aud and typ. They prove who and
// which session; authority is read from the current state on every request.

export const ISSUER = 'commerce-api'
export const AUDIENCE = 'commerce-api'
const ALG = 'HS256'

// One HMAC CryptoKey per secret, imported once: jose would import a raw secret anew on every sign and
// verify. Keyed by the secret itself, so a rotation (new JWT_SECRET, old one as JWT_SECRET_PREVIOUS)
// simply imports the new one; at most a handful of secrets ever live in a process.
const keys = new Map<string, Promise<CryptoKey>>()
const keyOf = (secret: string): Promise<CryptoKey> => {
  let key = keys.get(secret)
  if (!key) {
    key = crypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    )
    keys.set(secret, key)
    key.catch(() => keys.delete(secret)) // a failed import is retried, never cached
  }
  return key
}
// The key id names the secret without revealing it; computed once per secret, not per token.
const kids = new Map<string, string>()
const kidOf = (secret: string): string => {
  let kid = kids.get(secret)
  if (!kid) {
    kid = createHash('sha256').update(secret).digest().subarray(0, 6).toString('base64url')
    kids.set(secret, kid)
  }
  return kid
}

export type TokenType = 'access' | 'mfa'

export interface AccessClaims {
  sub: string
  sid: string
  jti: string
  typ: TokenType
}

export async function signToken(
  typ: TokenType,
  sub: string,
  sid: string,
  expiresInSeconds: number,
): Promise<string> {
  const secret = jwtSecret()
  return new SignJWT({ sid, typ })
    .setProtectedHeader({ alg: ALG, kid: kidOf(secret), typ: 'JWT' })
    .setSubject(sub)
    .setJti(newId())
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(Math.floor(nowMs() / 1000))
    .setExpirationTime(Math.floor(nowMs() / 1000) + expiresInSeconds)
    .sign(await keyOf(secret))
}

export const accessTokenTtlSeconds = (): number => env().ACCESS_TOKEN_EXPIRE_MINUTES * 60

export class InvalidToken extends Error {}

// Tokens this process has verified, by their exact text: a client sends the same access token with every
// request for its 15 minutes, and identical bytes verify identically under the same secret, so a repeat
// costs a lookup instead of a JOSE parse and an HMAC. Only what cannot change is remembered; the time
// checks (exp, nbf) run again on every use, and an entry counts only while the secret that verified it is
// still configured (a secret rotated out takes its tokens with it). Bounded; the oldest entry goes first.
const VERIFIED_MAX = 10_000
interface Verified {
  claims: AccessClaims
  secret: string
  exp: number
  nbf: number | undefined
}
const verified = new Map<string, Verified>()

function remembered(token: string, secrets: string[], expected: TokenType): AccessClaims | undefined {
  const v = verified.get(token)
  if (!v) return undefined
  const now = Math.floor(nowMs() / 1000)
  // The same comparisons as jose's (no clock tolerance): expired at exp, valid from nbf.
  if (!secrets.includes(v.secret) || v.exp <= now || (v.nbf !== undefined && v.nbf > now)) {
    verified.delete(token)
    return undefined
  }
  if (v.claims.typ !== expected) throw new InvalidToken('wrong token type')
  return { ...v.claims }
}

function remember(token: string, v: Verified): void {
  if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value!)
  verified.set(token, v)
}

/** Verify against the current secret, or the previous one during rotation. Only HS256 is accepted. */
export async function verifyToken(token: string, expected: TokenType): Promise<AccessClaims> {
  const secrets = [jwtSecret(), env().JWT_SECRET_PREVIOUS].filter((s): s is string => Boolean(s))
  const known = remembered(token, secrets, expected)
  if (known) return known
  for (const secret of secrets) {
    try {
      const { payload } = await jwtVerify(token, await keyOf(secret), {
        algorithms: [ALG],
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ['sub', 'jti', 'exp', 'iat'],
        currentDate: new Date(nowMs()),
      })
      if (payload.typ !== expected || typeof payload.sid !== 'string' || typeof payload.sub !== 'string') {
        throw new InvalidToken('wrong token type')
      }
      const claims: AccessClaims = { sub: payload.sub, sid: payload.sid, jti: payload.jti!, typ: expected }
      remember(token, { claims, secret, exp: payload.exp!, nbf: payload.nbf })
      return { ...claims }
    } catch (err) {
      if (err instanceof errors.JWSSignatureVerificationFailed && secret !== secrets.at(-1)) continue
      throw new InvalidToken(err instanceof Error ? err.message : 'invalid token')
    }
  }
  throw new InvalidToken('invalid token')
}

/** The bearer token from the Authorization header; never from the query string or a cookie. */
export function bearerToken(request: Request): string | null {
  const h = request.headers.get('authorization')
  if (!h) return null
  const m = h.match(/^Bearer ([A-Za-z0-9._~+/=-]+)$/i)
  return m ? m[1]! : ''
}
