import { z } from 'zod'
import type { userProfiles, users } from '../../db/schema/index.js'
import { EmailAddress } from '../http/validation.js'

// The one admin-facing shape of a user. Never a hash, secret, token or code.

/** The user columns the view shows (never the hash or other secrets). */
export type UserViewRow = Pick<
  typeof users.$inferSelect,
  | 'id'
  | 'email'
  | 'firstName'
  | 'lastName'
  | 'company'
  | 'phone'
  | 'role'
  | 'isActive'
  | 'isVerified'
  | 'mfaEnabled'
  | 'marketingConsent'
  | 'lockedUntil'
  | 'suspendedAt'
  | 'suspensionReason'
  | 'lastLoginAt'
  | 'createdAt'
  | 'updatedAt'
>
type ProfileRow = typeof userProfiles.$inferSelect

export const ProfileSchema = z.object({
  avatar_url: z.string().nullable(),
  bio: z.string().nullable(),
  website: z.string().nullable(),
  location: z.string().nullable(),
  timezone: z.string().nullable(),
  language: z.string().nullable(),
  preferences: z.record(z.string(), z.unknown()),
})

/** A profile row (or none yet) in the API's shape. */
export function toProfile(p: ProfileRow | null | undefined): z.infer<typeof ProfileSchema> {
  return {
    avatar_url: p?.avatarUrl ?? null,
    bio: p?.bio ?? null,
    website: p?.website ?? null,
    location: p?.location ?? null,
    timezone: p?.timezone ?? null,
    language: p?.language ?? null,
    preferences: p?.preferences ?? {},
  }
}

export const AdminUserSchema = z.object({
  id: z.string(),
  email: EmailAddress,
  first_name: z.string().nullable(),
  last_name: z.string().nullable(),
  company: z.string().nullable(),
  phone: z.string().nullable(),
  role: z.enum(['customer', 'staff', 'admin']),
  is_active: z.boolean(),
  is_verified: z.boolean(),
  mfa_enabled: z.boolean(),
  marketing_consent: z.boolean(),
  locked_until: z.string().nullable(),
  suspended_at: z.string().nullable(),
  suspension_reason: z.string().nullable(),
  last_login_at: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  profile: ProfileSchema.optional(),
})
export type AdminUser = z.infer<typeof AdminUserSchema>

const iso = (d: Date | null) => (d ? d.toISOString() : null)

export function toAdminUser(u: UserViewRow, profile?: ProfileRow | null): AdminUser {
  return {
    id: u.id,
    email: u.email,
    first_name: u.firstName,
    last_name: u.lastName,
    company: u.company,
    phone: u.phone,
    role: u.role,
    is_active: u.isActive,
    is_verified: u.isVerified,
    mfa_enabled: u.mfaEnabled,
    marketing_consent: u.marketingConsent,
    locked_until: iso(u.lockedUntil),
    suspended_at: iso(u.suspendedAt),
    suspension_reason: u.suspensionReason,
    last_login_at: iso(u.lastLoginAt),
    created_at: u.createdAt.toISOString(),
    updated_at: u.updatedAt.toISOString(),
    ...(profile !== undefined && { profile: toProfile(profile) }),
  }
}
