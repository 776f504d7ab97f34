import { z } from 'zod'

// Every setting the product reads, validated once. Optional in development; a deployed environment
// (VERCEL_ENV production/preview or NODE_ENV=production) requires the ones missingRequiredSettings names.

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
    .optional()
    .transform((v) => (v === undefined ? fallback : ['true', '1', 'yes', 'on'].includes(v)))

const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).optional().default(fallback)
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()))

/** Media types uploads may be configured to take; lib/catalog/media/settings.ts describes each one. */
export const KNOWN_MEDIA_TYPES = [
  'image/jpeg',
  'image/png',
  'image/webp',
  'image/avif',
  'image/gif',
  'image/heic',
  'video/mp4',
  'video/webm',
  'video/quicktime',
] as const
const DEFAULT_MEDIA_TYPES =
  'image/jpeg,image/png,image/webp,image/avif,image/gif,video/mp4,video/webm,video/quicktime'

const EnvSchema = z.object({
  NODE_ENV: optionalString,
  VERCEL_ENV: optionalString,
  VERCEL: optionalString,
  APP_VERSION: optionalString,
  VERCEL_GIT_COMMIT_SHA: optionalString,

  DATABASE_URL: optionalString,
  DATABASE_URL_UNPOOLED: optionalString,
  PGLITE_DATA_DIR: z.string().optional().default('.data/pglite'),
  NEON_WS_PROXY: optionalString,

  UPSTASH_REDIS_REST_URL: optionalString,
  UPSTASH_REDIS_REST_TOKEN: optionalString,
  REDIS_PREFIX: z.string().optional().default('commerce:'),
  /** the deadline of one Redis round trip (ms): requests wait for it, so tens of ms, not a second */
  REDIS_TIMEOUT_MS: int(50, 5),
  /** consecutive Redis failures or timeouts that open the circuit breaker */
  REDIS_BREAKER_FAILURES: int(3, 1),
  /** how long an open breaker skips Redis before one probe may close it */
  REDIS_BREAKER_COOLDOWN_SECONDS: int(10, 1),
  RATE_LIMITS: z.enum(['on', 'off']).optional().default('on'),

  JWT_SECRET: optionalString,
  JWT_SECRET_PREVIOUS: optionalString,
  JWT_ALGORITHM: z.literal('HS256').optional().default('HS256'),
  ACCESS_TOKEN_EXPIRE_MINUTES: int(15, 1),
  REFRESH_TOKEN_EXPIRE_DAYS: int(30, 1),
  MFA_ISSUER_NAME: z.string().optional().default('Commerce API'),
  MFA_ENCRYPTION_KEY: optionalString,
  MFA_ENCRYPTION_KEY_PREVIOUS: optionalString,
  ORDER_TOKEN_SECRET: optionalString,
  PASSWORD_MIN_LENGTH: int(8, 8),
  MAX_LOGIN_ATTEMPTS: int(5, 1),
  ACCOUNT_LOCKOUT_DURATION: int(1800, 1),

  APP_URL: z.string().optional().default('http://localhost:3000'),
  CORS_ORIGINS: optionalString,
  SHOP_CURRENCY: z
    .string()
    .regex(/^[A-Z]{3}$/)
    .optional()
    .default('USD'),
  PRICES_INCLUDE_TAX: bool(false),
  MAX_UNPAID_ORDERS_PER_BUYER: int(3, 1),
  MAX_UNPAID_ORDERS_PER_IP: int(20, 1),
  MAX_QUANTITY_PER_ITEM: int(10, 1),
  UNPAID_ORDER_TTL_MINUTES: int(30, 1),
  UNPAID_MANUAL_ORDER_TTL_HOURS: int(72, 1),
  RETURN_WINDOW_DAYS: int(30, 0),
  /** JSON address labels are shipped from (Shippo) */
  SHIP_FROM_ADDRESS: optionalString,
  /** JSON parcel: length, width, height, distance_unit, mass_unit (Shippo) */
  DEFAULT_PARCEL: optionalString,
  MAX_BODY_BYTES: int(1_000_000, 1024),

  STRIPE_SECRET_KEY: optionalString,
  STRIPE_WEBHOOK_SECRET: optionalString,
  STRIPE_PUBLISHABLE_KEY: optionalString,
  STRIPE_API_BASE: z.string().optional().default('https://api.stripe.com'),
  SHIPPO_API_KEY: optionalString,
  SHIPPO_WEBHOOK_SECRET: optionalString,
  SHIPPO_API_BASE: z.string().optional().default('https://api.goshippo.com'),
  RESEND_API_KEY: optionalString,
  RESEND_API_BASE: z.string().optional().default('https://api.resend.com'),
  FROM_EMAIL: z.string().optional().default('Shop <no-reply@example.com>'),

  /** Media storage (lib/catalog/media): Cloudinary, else Vercel Blob. */
  CLOUDINARY_URL: optionalString.refine(
    (v) => v === undefined || /^cloudinary:\/\/[^:@/\s]+:[^@/\s]+@[^/?#\s]+/.test(v),
    'expected cloudinary://<api_key>:<api_secret>@<cloud_name>',
  ),
  CLOUDINARY_CLOUD_NAME: optionalString,
  CLOUDINARY_API_KEY: optionalString,
  CLOUDINARY_API_SECRET: optionalString,
  BLOB_READ_WRITE_TOKEN: optionalString.refine(
    (v) => v === undefined || /^vercel_blob_rw_[A-Za-z0-9]+_\S+$/.test(v),
    'expected vercel_blob_rw_<store id>_<secret>',
  ),
  /** Comma-separated media types uploads may have (each one the API knows, lib/catalog/media/settings.ts). */
  MEDIA_ALLOWED_TYPES: z
    .string()
    .optional()
    .default(DEFAULT_MEDIA_TYPES)
    .transform((v) => [
      ...new Set(
        v
          .split(',')
          .map((t) => t.trim().toLowerCase())
          .filter(Boolean),
      ),
    ])
    .refine(
      (types) => types.length > 0 && types.every((t) => (KNOWN_MEDIA_TYPES as readonly string[]).includes(t)),
      `expected a comma-separated list of ${KNOWN_MEDIA_TYPES.join(', ')}`,
    )
    .transform((types) => types as Array<(typeof KNOWN_MEDIA_TYPES)[number]>),
  MEDIA_MAX_IMAGE_BYTES: int(10 * 1024 * 1024, 1),
  MEDIA_MAX_VIDEO_BYTES: int(100 * 1024 * 1024, 1),
  MEDIA_FOLDER: z
    .string()
    .regex(/^[a-z0-9_-]+(?:\/[a-z0-9_-]+)*$/, 'lower-case folder names joined by /')
    .optional()
    .default('products'),

  CRON_SECRET: optionalString,
  METRICS_TOKEN: optionalString,
  SENTRY_DSN: optionalString,
  /** The release events are filed under (default: the commit, VERCEL_GIT_COMMIT_SHA) */
  SENTRY_RELEASE: optionalString,
  /** default: VERCEL_ENV, else NODE_ENV */
  SENTRY_ENVIRONMENT: optionalString,
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).optional().default('info'),
})

export type Env = z.infer<typeof EnvSchema>

let cached: Env | undefined

/** The validated environment. A malformed value throws at first use, naming the setting. */
export function env(): Env {
  if (cached) return cached
  const parsed = EnvSchema.safeParse(process.env)
  if (!parsed.success) {
    const names = parsed.error.issues.map((i) => i.path.join('.')).join(', ')
    throw new ConfigError(
      `invalid setting(s): ${names}`,
      parsed.error.issues.map((i) => String(i.path[0])),
    )
  }
  if (parsed.data.RATE_LIMITS === 'off' && parsed.data.NODE_ENV === 'production') {
    throw new ConfigError('RATE_LIMITS=off is refused when NODE_ENV=production', ['RATE_LIMITS'])
  }
  cached = parsed.data
  return cached
}

/** Forget the parsed environment (tests and scripts that change process.env). */
export function resetEnv(): void {
  cached = undefined
}

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly settings: string[],
  ) {
    super(message)
  }
}

/** A deployed environment never falls back to the embedded database or the in-process store. */
export function isDeployed(e: Env = env()): boolean {
  return e.VERCEL_ENV === 'production' || e.VERCEL_ENV === 'preview' || e.NODE_ENV === 'production'
}

/** Settings a deployed function cannot serve without, in the order they are reported. */
export function missingRequiredSettings(e: Env = env()): string[] {
  if (!isDeployed(e)) return []
  const missing: string[] = []
  if (!e.DATABASE_URL) missing.push('DATABASE_URL')
  if (!e.JWT_SECRET || Buffer.byteLength(e.JWT_SECRET) < 32) missing.push('JWT_SECRET')
  if (!e.UPSTASH_REDIS_REST_URL) missing.push('UPSTASH_REDIS_REST_URL')
  if (!e.UPSTASH_REDIS_REST_TOKEN) missing.push('UPSTASH_REDIS_REST_TOKEN')
  if (!e.CRON_SECRET) missing.push('CRON_SECRET')
  if (!e.MFA_ENCRYPTION_KEY || !decodeKey32(e.MFA_ENCRYPTION_KEY)) missing.push('MFA_ENCRYPTION_KEY')
  if (e.MFA_ENCRYPTION_KEY_PREVIOUS && !decodeKey32(e.MFA_ENCRYPTION_KEY_PREVIOUS)) {
    missing.push('MFA_ENCRYPTION_KEY_PREVIOUS')
  }
  if (!e.ORDER_TOKEN_SECRET || Buffer.byteLength(e.ORDER_TOKEN_SECRET) < 32)
    missing.push('ORDER_TOKEN_SECRET')
  // Email links point at APP_URL: a reset link to localhost is a broken email.
  if (e.RESEND_API_KEY && !process.env.APP_URL?.trim()) missing.push('APP_URL')
  // Without the webhook secret, Stripe's payment events could not be verified.
  if (e.STRIPE_SECRET_KEY && !e.STRIPE_WEBHOOK_SECRET) missing.push('STRIPE_WEBHOOK_SECRET')
  return missing
}

/** A 32-byte key from base64 (standard or url-safe alphabet); null when it is anything else. */
export function decodeKey32(value: string): Buffer | null {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) return null
  const bytes = Buffer.from(value, 'base64')
  return bytes.length === 32 ? bytes : null
}

/** Optional services a deployed environment runs without, each with what it falls back to. */
export function deployedWarnings(e: Env = env()): string[] {
  if (!isDeployed(e)) return []
  const w: string[] = []
  if (!e.STRIPE_SECRET_KEY)
    w.push('STRIPE_SECRET_KEY is not set: orders use manual payments that staff confirm')
  if (!e.SHIPPO_API_KEY)
    w.push('SHIPPO_API_KEY is not set: staff enter carriers and tracking numbers by hand')
  if (!e.RESEND_API_KEY) w.push('RESEND_API_KEY is not set: emails stay in the outbox and are not delivered')
  if (!process.env.APP_URL?.trim() && !e.RESEND_API_KEY) {
    w.push('APP_URL is not set: links in emails point to http://localhost:3000')
  }
  return w
}

export function appVersion(e: Env = env()): string {
  return e.APP_VERSION ?? e.VERCEL_GIT_COMMIT_SHA?.slice(0, 7) ?? process.env.npm_package_version ?? '0.1.0'
}

/** Development falls back to a fixed, loudly-named secret; deployed environments require ORDER_TOKEN_SECRET. */
export function orderTokenSecret(e: Env = env()): string {
  return e.ORDER_TOKEN_SECRET ?? 'dev-only-insecure-order-token-secret-change-me-0123'
}

/** Development falls back to a fixed, loudly-named secret; deployed environments require JWT_SECRET. */
export function jwtSecret(e: Env = env()): string {
  return e.JWT_SECRET ?? 'dev-only-insecure-jwt-secret-change-me-0123456789'
}
