import { z } from 'zod'
import { EmailAddress } from '../http/validation.js'
import { AdminUserSchema, ProfileSchema } from '../users/view.js'

// Request and response shapes of the auth endpoints (also the OpenAPI source).

export const Email = z
  .string()
  .trim()
  .max(254)
  .pipe(z.email({ message: 'Enter a valid email address.' }))
  .meta({ id: 'Email', format: 'email' })
/**
 * A new password. Its rules (PASSWORD_MIN_LENGTH to PASSWORD_MAX_LENGTH characters, not common, not the
 * email's name) are checked by passwordProblem(), which refuses with `weak_password` and the broken rule;
 * the schema only bounds the input, so a short one is not refused earlier with a bare zod code. The
 * document's NewPassword component states the rules (lib/openapi/settings.ts).
 */
export const Password = z.string().max(4096).meta({ id: 'NewPassword' })
const Name = z.string().trim().min(1).max(100)
const Phone = z
  .string()
  .trim()
  .regex(/^\+?[0-9 ()./-]{6,25}$/, 'Enter a phone number of digits, spaces and + ( ) - .')

export const RegisterBody = z.object({
  email: Email,
  password: Password,
  first_name: Name,
  last_name: Name,
  company: z.string().trim().max(200).nullish(),
  phone: Phone.nullish(),
  marketing_consent: z.boolean().optional(),
})

// Sign-in takes any email-like text (an address that matches no account is the same 401 as a wrong
// password), but documents the format a client should send.
export const LoginBody = z.object({
  email: z.string().trim().max(254).meta({ format: 'email' }),
  password: z.string().min(1).max(1024),
})
export const RefreshBody = z.object({ refresh_token: z.string().min(1).max(500) })

export const TokenResponse = z.object({
  access_token: z.string(),
  refresh_token: z.string(),
  token_type: z.literal('bearer'),
  expires_in: z.number().int(),
  user_id: z.string(),
  requires_mfa: z.literal(false),
})
export const LoginResponse = z.union([
  TokenResponse,
  z.object({ requires_mfa: z.literal(true), mfa_token: z.string(), user_id: z.string() }),
])

export const ProfileFields = z.object({
  avatar_url: z.url().max(2000).nullish(),
  bio: z.string().max(2000).nullish(),
  website: z.url().max(2000).nullish(),
  location: z.string().max(200).nullish(),
  timezone: z.string().max(64).nullish(),
  language: z.string().max(16).nullish(),
  preferences: z.record(z.string(), z.unknown()).optional(),
})

export const UpdateMeBody = z
  .object({
    first_name: Name.optional(),
    last_name: Name.optional(),
    company: z.string().trim().max(200).nullish(),
    phone: Phone.nullish(),
    marketing_consent: z.boolean().optional(),
    email: Email.optional(),
    current_password: z.string().max(1024).optional(),
    profile: ProfileFields.optional(),
  })
  .strict()

export const MeResponse = AdminUserSchema.pick({
  id: true,
  email: true,
  first_name: true,
  last_name: true,
  company: true,
  phone: true,
  role: true,
  is_verified: true,
  mfa_enabled: true,
  marketing_consent: true,
  last_login_at: true,
  created_at: true,
  updated_at: true,
}).extend({ pending_email: EmailAddress.nullable().optional(), profile: ProfileSchema })

export const ChangePasswordBody = z.object({ current_password: z.string().max(1024), new_password: Password })
export const MessageResponse = z.object({ message: z.string() })

export const SessionSchema = z.object({
  id: z.string(),
  ip_address: z.string().nullable(),
  user_agent: z.string().nullable(),
  created_at: z.string(),
  last_used_at: z.string(),
  expires_at: z.string(),
  current: z.boolean(),
})
