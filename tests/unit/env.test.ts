import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { accessTokenTtlSeconds } from '../../lib/auth/tokens.js'
import { ConfigError, env, isDeployed, missingRequiredSettings, resetEnv } from '../../lib/platform/env.js'

const REQUIRED = [
  'DATABASE_URL',
  'JWT_SECRET',
  'UPSTASH_REDIS_REST_URL',
  'UPSTASH_REDIS_REST_TOKEN',
  'CRON_SECRET',
  'MFA_ENCRYPTION_KEY',
  'ORDER_TOKEN_SECRET',
]
const SECRET_32 = 'x'.repeat(32)
const KEY_32 = Buffer.alloc(32, 7).toString('base64')

let saved: Record<string, string | undefined>

/** Set (string) or remove (undefined) settings, then re-read the environment. */
function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  resetEnv()
}

/** Nothing deployment-related configured, whatever the test mode put in the environment. */
const bare = Object.fromEntries(
  [
    ...REQUIRED,
    'VERCEL_ENV',
    'RATE_LIMITS',
    'JWT_SECRET_PREVIOUS',
    'MFA_ENCRYPTION_KEY_PREVIOUS',
    'RESEND_API_KEY',
    'APP_URL',
    'STRIPE_SECRET_KEY',
    'STRIPE_WEBHOOK_SECRET',
  ].map((k) => [k, undefined]),
)

function configError(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

beforeEach(() => {
  saved = { ...process.env }
})

afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
  Object.assign(process.env, saved)
  resetEnv()
})

describe('defaults', () => {
  beforeEach(() => {
    setEnv({
      ACCESS_TOKEN_EXPIRE_MINUTES: undefined,
      PASSWORD_MIN_LENGTH: undefined,
      JWT_ALGORITHM: undefined,
      MAX_BODY_BYTES: undefined,
      SHOP_CURRENCY: undefined,
      RATE_LIMITS: undefined,
      MAX_LOGIN_ATTEMPTS: undefined,
      ACCOUNT_LOCKOUT_DURATION: undefined,
      UNPAID_ORDER_TTL_MINUTES: undefined,
      MAX_QUANTITY_PER_ITEM: undefined,
    })
  })

  it('gives access tokens 15 minutes (expires_in 900)', () => {
    expect(env().ACCESS_TOKEN_EXPIRE_MINUTES).toBe(15)
    expect(accessTokenTtlSeconds()).toBe(900)
  })

  it('uses the documented defaults for the rest', () => {
    const e = env()
    expect(e.PASSWORD_MIN_LENGTH).toBe(8)
    expect(e.JWT_ALGORITHM).toBe('HS256')
    expect(e.SHOP_CURRENCY).toBe('USD')
    expect(e.RATE_LIMITS).toBe('on')
    expect(e.MAX_LOGIN_ATTEMPTS).toBe(5)
    expect(e.ACCOUNT_LOCKOUT_DURATION).toBe(1800)
    expect(e.MAX_BODY_BYTES).toBe(1_000_000)
    expect(e.PRICES_INCLUDE_TAX).toBe(false)
  })

  it('releases unpaid Stripe orders after 30 minutes and caps an item at 10 units per order', () => {
    expect(env().UNPAID_ORDER_TTL_MINUTES).toBe(30)
    expect(env().MAX_QUANTITY_PER_ITEM).toBe(10)
  })

  it('reads a configured value as a number', () => {
    setEnv({ ACCESS_TOKEN_EXPIRE_MINUTES: '5' })
    expect(env().ACCESS_TOKEN_EXPIRE_MINUTES).toBe(5)
    expect(accessTokenTtlSeconds()).toBe(300)
  })

  it('treats a blank optional setting as unset', () => {
    setEnv({ JWT_SECRET: '   ', CRON_SECRET: '' })
    expect(env().JWT_SECRET).toBeUndefined()
    expect(env().CRON_SECRET).toBeUndefined()
  })
})

describe('invalid settings', () => {
  it('refuses a PASSWORD_MIN_LENGTH below 8 and names it', () => {
    setEnv({ PASSWORD_MIN_LENGTH: '7' })
    expect(configError(() => env()).settings).toEqual(['PASSWORD_MIN_LENGTH'])
    setEnv({ PASSWORD_MIN_LENGTH: '12' })
    expect(env().PASSWORD_MIN_LENGTH).toBe(12)
  })

  it('accepts only HS256 as JWT_ALGORITHM', () => {
    setEnv({ JWT_ALGORITHM: 'RS256' })
    expect(configError(() => env()).settings).toEqual(['JWT_ALGORITHM'])
    setEnv({ JWT_ALGORITHM: 'none' })
    expect(configError(() => env()).settings).toEqual(['JWT_ALGORITHM'])
    setEnv({ JWT_ALGORITHM: 'HS256' })
    expect(env().JWT_ALGORITHM).toBe('HS256')
  })

  it('refuses a non-numeric or zero ACCESS_TOKEN_EXPIRE_MINUTES', () => {
    setEnv({ ACCESS_TOKEN_EXPIRE_MINUTES: 'soon' })
    expect(configError(() => env()).settings).toEqual(['ACCESS_TOKEN_EXPIRE_MINUTES'])
    setEnv({ ACCESS_TOKEN_EXPIRE_MINUTES: '0' })
    expect(configError(() => env()).settings).toEqual(['ACCESS_TOKEN_EXPIRE_MINUTES'])
  })

  it('refuses a malformed SHOP_CURRENCY', () => {
    setEnv({ SHOP_CURRENCY: 'usd' })
    expect(configError(() => env()).settings).toEqual(['SHOP_CURRENCY'])
  })

  it('does not remember a failed parse: fixing the setting fixes env()', () => {
    setEnv({ MAX_BODY_BYTES: 'lots' })
    expect(() => env()).toThrow(ConfigError)
    process.env.MAX_BODY_BYTES = '4096'
    expect(env().MAX_BODY_BYTES).toBe(4096)
  })

  it('refuses RATE_LIMITS=off when NODE_ENV=production, allows it otherwise', () => {
    setEnv({ RATE_LIMITS: 'off', NODE_ENV: 'production' })
    const err = configError(() => env())
    expect(err.settings).toEqual(['RATE_LIMITS'])
    expect(err.message).toMatch(/RATE_LIMITS=off/)
    setEnv({ NODE_ENV: 'test' })
    expect(env().RATE_LIMITS).toBe('off')
  })
})

describe('isDeployed', () => {
  it('is true for VERCEL_ENV production and preview', () => {
    setEnv({ ...bare, NODE_ENV: 'test', VERCEL_ENV: 'production' })
    expect(isDeployed()).toBe(true)
    setEnv({ VERCEL_ENV: 'preview' })
    expect(isDeployed()).toBe(true)
  })

  it('is true for NODE_ENV=production without Vercel', () => {
    setEnv({ ...bare, NODE_ENV: 'production' })
    expect(isDeployed()).toBe(true)
  })

  it('is false for local development and tests', () => {
    setEnv({ ...bare, NODE_ENV: 'development' })
    expect(isDeployed()).toBe(false)
    setEnv({ NODE_ENV: 'test', VERCEL_ENV: 'development' })
    expect(isDeployed()).toBe(false)
  })
})

describe('missingRequiredSettings', () => {
  const complete = {
    DATABASE_URL: 'postgres://user@db.example.test/shop',
    JWT_SECRET: SECRET_32,
    UPSTASH_REDIS_REST_URL: 'https://redis.example.test',
    UPSTASH_REDIS_REST_TOKEN: 'token',
    CRON_SECRET: 'cron',
    MFA_ENCRYPTION_KEY: KEY_32,
    ORDER_TOKEN_SECRET: SECRET_32,
  }

  it('asks for nothing in development', () => {
    setEnv({ ...bare, NODE_ENV: 'development' })
    expect(missingRequiredSettings()).toEqual([])
  })

  it('names every required setting, in order, when a deployment has none', () => {
    setEnv({ ...bare, VERCEL_ENV: 'production' })
    expect(missingRequiredSettings()).toEqual(REQUIRED)
  })

  it('asks for nothing once every required setting is present', () => {
    setEnv({ ...bare, VERCEL_ENV: 'preview', ...complete })
    expect(missingRequiredSettings()).toEqual([])
  })

  it('counts a JWT_SECRET shorter than 32 bytes as missing', () => {
    setEnv({ ...bare, VERCEL_ENV: 'production', ...complete, JWT_SECRET: 'x'.repeat(31) })
    expect(missingRequiredSettings()).toEqual(['JWT_SECRET'])
  })

  it('measures JWT_SECRET in bytes, not characters', () => {
    setEnv({ ...bare, VERCEL_ENV: 'production', ...complete, JWT_SECRET: 'é'.repeat(16) })
    expect(missingRequiredSettings()).toEqual([])
  })

  it('counts a blank setting as missing', () => {
    setEnv({ ...bare, NODE_ENV: 'production', ...complete, CRON_SECRET: '  ' })
    expect(missingRequiredSettings()).toEqual(['CRON_SECRET'])
  })

  it('counts an MFA_ENCRYPTION_KEY that is not 32 base64 bytes as missing, and a malformed previous key', () => {
    const short = Buffer.alloc(31, 1).toString('base64')
    setEnv({ ...bare, VERCEL_ENV: 'production', ...complete, MFA_ENCRYPTION_KEY: short })
    expect(missingRequiredSettings()).toEqual(['MFA_ENCRYPTION_KEY'])
    setEnv({ MFA_ENCRYPTION_KEY: 'not base64 at all!' })
    expect(missingRequiredSettings()).toEqual(['MFA_ENCRYPTION_KEY'])
    setEnv({ MFA_ENCRYPTION_KEY: KEY_32, MFA_ENCRYPTION_KEY_PREVIOUS: short })
    expect(missingRequiredSettings()).toEqual(['MFA_ENCRYPTION_KEY_PREVIOUS'])
    setEnv({ MFA_ENCRYPTION_KEY_PREVIOUS: Buffer.alloc(32, 9).toString('base64url') })
    expect(missingRequiredSettings()).toEqual([])
  })

  it('requires ORDER_TOKEN_SECRET of at least 32 bytes', () => {
    setEnv({ ...bare, VERCEL_ENV: 'production', ...complete, ORDER_TOKEN_SECRET: 'short' })
    expect(missingRequiredSettings()).toEqual(['ORDER_TOKEN_SECRET'])
  })

  it('requires APP_URL once Resend delivers emails, and the webhook secret once Stripe is on', () => {
    setEnv({ ...bare, VERCEL_ENV: 'production', ...complete, RESEND_API_KEY: 're_live' })
    expect(missingRequiredSettings()).toEqual(['APP_URL'])
    setEnv({ APP_URL: 'https://shop.example.test' })
    expect(missingRequiredSettings()).toEqual([])
    setEnv({ STRIPE_SECRET_KEY: 'sk_live_x' })
    expect(missingRequiredSettings()).toEqual(['STRIPE_WEBHOOK_SECRET'])
    setEnv({ STRIPE_WEBHOOK_SECRET: 'whsec_x' })
    expect(missingRequiredSettings()).toEqual([])
  })
})

describe('deployedWarnings', () => {
  it('names each optional service a deployed environment runs without, and nothing in development', async () => {
    const { deployedWarnings, env: readEnv, resetEnv: reset } = await import('../../lib/platform/env.js')
    const saved = { ...process.env }
    try {
      for (const k of ['STRIPE_SECRET_KEY', 'SHIPPO_API_KEY', 'RESEND_API_KEY', 'APP_URL', 'VERCEL_ENV'])
        delete process.env[k]
      reset()
      expect(deployedWarnings(readEnv())).toEqual([])
      process.env.VERCEL_ENV = 'production'
      reset()
      const w = deployedWarnings(readEnv()).join('\n')
      expect(w).toContain('STRIPE_SECRET_KEY')
      expect(w).toContain('SHIPPO_API_KEY')
      expect(w).toContain('RESEND_API_KEY')
      expect(w).toContain('APP_URL')
      process.env.RESEND_API_KEY = 're_test'
      reset()
      // With Resend on, a missing APP_URL is no longer a warning but a refusal (missingRequiredSettings).
      expect(deployedWarnings(readEnv()).join('\n')).not.toMatch(/RESEND_API_KEY|APP_URL/)
    } finally {
      process.env = saved
      reset()
    }
  })
})
