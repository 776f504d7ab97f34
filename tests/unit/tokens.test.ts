import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { InvalidToken, signToken, verifyToken } from '../../lib/auth/tokens.js'
import { setClock } from '../../lib/platform/clock.js'
import { resetEnv } from '../../lib/platform/env.js'

// verifyToken remembers tokens it has verified (a repeat costs a lookup, not an HMAC). A repeat must be
// refused exactly when a fresh verification would be: expired since, its secret rotated out, wrong type.

const A = 'a'.repeat(40)
const B = 'b'.repeat(40)
let saved: Record<string, string | undefined>

beforeEach(() => {
  saved = { JWT_SECRET: process.env.JWT_SECRET, JWT_SECRET_PREVIOUS: process.env.JWT_SECRET_PREVIOUS }
  process.env.JWT_SECRET = A
  delete process.env.JWT_SECRET_PREVIOUS
  resetEnv()
})

afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  setClock(undefined)
  resetEnv()
})

const sid = '00000000-0000-4000-8000-000000000001'

describe('verifyToken on a token it has verified before', () => {
  it('answers the same claims again, each call its own copy', async () => {
    const token = await signToken('access', 'user-1', sid, 60)
    const first = await verifyToken(token, 'access')
    const again = await verifyToken(token, 'access')
    expect(again).toEqual(first)
    expect(again).toMatchObject({ sub: 'user-1', sid, typ: 'access' })
    again.sub = 'changed'
    expect((await verifyToken(token, 'access')).sub).toBe('user-1')
  })

  it('refuses it once it has expired, at exp exactly as a first verification does', async () => {
    const t0 = Math.floor(Date.now() / 1000) * 1000
    setClock(() => t0)
    const token = await signToken('access', 'user-1', sid, 60)
    await verifyToken(token, 'access')
    setClock(() => t0 + 59_999)
    await expect(verifyToken(token, 'access')).resolves.toMatchObject({ sub: 'user-1' })
    setClock(() => t0 + 60_000)
    await expect(verifyToken(token, 'access')).rejects.toBeInstanceOf(InvalidToken)
  })

  it('refuses it as another type', async () => {
    const token = await signToken('mfa', 'user-1', sid, 60)
    await verifyToken(token, 'mfa')
    await expect(verifyToken(token, 'access')).rejects.toThrow('wrong token type')
  })

  it('keeps it during a rotation (old secret as JWT_SECRET_PREVIOUS) and refuses it once that ends', async () => {
    const token = await signToken('access', 'user-1', sid, 60)
    await verifyToken(token, 'access')
    process.env.JWT_SECRET = B
    process.env.JWT_SECRET_PREVIOUS = A
    resetEnv()
    await expect(verifyToken(token, 'access')).resolves.toMatchObject({ sub: 'user-1' })
    delete process.env.JWT_SECRET_PREVIOUS
    resetEnv()
    await expect(verifyToken(token, 'access')).rejects.toBeInstanceOf(InvalidToken)
    // Signed under the new secret, verified by it.
    const fresh = await signToken('access', 'user-2', sid, 60)
    await expect(verifyToken(fresh, 'access')).resolves.toMatchObject({ sub: 'user-2' })
  })

  it('never accepts a different token for a remembered one (one changed signature byte)', async () => {
    const token = await signToken('access', 'user-1', sid, 60)
    await verifyToken(token, 'access')
    const last = token.at(-2) === 'A' ? 'B' : 'A'
    const forged = `${token.slice(0, -2)}${last}${token.at(-1)}`
    await expect(verifyToken(forged, 'access')).rejects.toBeInstanceOf(InvalidToken)
  })
})
