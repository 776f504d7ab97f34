import { relations, sql } from 'drizzle-orm'
import {
  type AnyPgColumn,
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core'
import { id, oneOf, timestamps, tstz } from './platform.js'

export const userRoles = ['customer', 'staff', 'admin'] as const
export type UserRole = (typeof userRoles)[number]

export const userTokenPurposes = ['verify_email', 'reset_password', 'unlock', 'invite', 'mfa_login'] as const
export type UserTokenPurpose = (typeof userTokenPurposes)[number]

// ---------------------------------------------------------------------------
// users
// ---------------------------------------------------------------------------

export const users = pgTable(
  'users',
  {
    id: id(),
    /** always stored lower-cased; unique on lower(email) */
    email: text('email').notNull(),
    /** null for invited users who have not set a password yet */
    passwordHash: text('password_hash'),
    firstName: text('first_name'),
    lastName: text('last_name'),
    company: text('company'),
    phone: text('phone'),
    role: text('role', { enum: userRoles }).notNull().default('customer'),
    isActive: boolean('is_active').notNull().default(true),
    isVerified: boolean('is_verified').notNull().default(false),
    emailVerifiedAt: tstz('email_verified_at'),
    mfaEnabled: boolean('mfa_enabled').notNull().default(false),
    marketingConsent: boolean('marketing_consent').notNull().default(false),
    failedLoginAttempts: integer('failed_login_attempts').notNull().default(0),
    lockedUntil: tstz('locked_until'),
    lastLoginAt: tstz('last_login_at'),
    passwordChangedAt: tstz('password_changed_at'),
    suspendedAt: tstz('suspended_at'),
    suspensionReason: text('suspension_reason'),
    /** set when the user was erased (GDPR): personal data anonymised, row kept for orders/audit */
    deletedAt: tstz('deleted_at'),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('users_email_lower_unique').on(sql`lower(${t.email})`),
    index('users_role_idx').on(t.role),
    index('users_created_at_idx').on(t.createdAt),
    check('users_role_check', oneOf(t.role, userRoles)),
    check('users_failed_login_attempts_check', sql`${t.failedLoginAttempts} >= 0`),
  ],
)

// ---------------------------------------------------------------------------
// user_sessions: one row per login session = one refresh-token family
// ---------------------------------------------------------------------------

export const userSessions = pgTable(
  'user_sessions',
  {
    id: id(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** refresh-token family: every token rotated from the same login shares it; reuse revokes the family */
    familyId: uuid('family_id').notNull().defaultRandom(),
    /** SHA-256 (hex) of the current refresh token */
    refreshTokenHash: text('refresh_token_hash').notNull(),
    /** SHA-256 of the token this one replaced: presenting it again is reuse */
    previousTokenHash: text('previous_token_hash'),
    /** when refresh_token_hash was last rotated (for an optional short grace window on concurrent refresh) */
    rotatedAt: tstz('rotated_at'),
    ipAddress: text('ip_address'),
    userAgent: text('user_agent'),
    deviceName: text('device_name'),
    lastUsedAt: tstz('last_used_at').notNull().defaultNow(),
    expiresAt: tstz('expires_at').notNull(),
    revokedAt: tstz('revoked_at'),
    revokedReason: text('revoked_reason'),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('user_sessions_refresh_token_hash_unique').on(t.refreshTokenHash),
    uniqueIndex('user_sessions_previous_token_hash_unique').on(t.previousTokenHash),
    index('user_sessions_family_id_idx').on(t.familyId),
    index('user_sessions_user_id_active_idx').on(t.userId).where(sql`${t.revokedAt} is null`),
  ],
)

// ---------------------------------------------------------------------------
// MFA
// ---------------------------------------------------------------------------

export const mfaDevices = pgTable(
  'mfa_devices',
  {
    id: id(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /**
     * Legacy plaintext TOTP secret (base32): never written any more, nulled on use and by
     * `npm run mfa:encrypt`; dropped in a later migration (ADR 007).
     */
    secret: text('secret'),
    /** AES-256-GCM of the base32 secret: base64 of iv (12 bytes) || ciphertext || tag (16 bytes). */
    secretCiphertext: text('secret_ciphertext'),
    /** id of the MFA_ENCRYPTION_KEY that sealed secret_ciphertext (first 8 hex of its SHA-256). */
    secretKeyId: text('secret_key_id'),
    /** null while setup is not confirmed with a code */
    confirmedAt: tstz('confirmed_at'),
    /** last accepted TOTP time step: a code at or before it is refused (replay guard) */
    lastUsedStep: bigint('last_used_step', { mode: 'number' }),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('mfa_devices_user_id_unique').on(t.userId),
    check(
      'mfa_devices_secret_present_check',
      sql`${t.secret} is not null or (${t.secretCiphertext} is not null and ${t.secretKeyId} is not null)`,
    ),
  ],
)

export const mfaBackupCodes = pgTable(
  'mfa_backup_codes',
  {
    id: id(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    codeHash: text('code_hash').notNull(),
    usedAt: tstz('used_at'),
    ...timestamps(),
  },
  (t) => [uniqueIndex('mfa_backup_codes_user_id_code_hash_unique').on(t.userId, t.codeHash)],
)

// ---------------------------------------------------------------------------
// profiles, activity log, permission grants, one-time tokens
// ---------------------------------------------------------------------------

export const userProfiles = pgTable(
  'user_profiles',
  {
    id: id(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    avatarUrl: text('avatar_url'),
    bio: text('bio'),
    website: text('website'),
    location: text('location'),
    timezone: text('timezone'),
    language: text('language'),
    preferences: jsonb('preferences').$type<Record<string, unknown>>().notNull().default({}),
    ...timestamps(),
  },
  (t) => [uniqueIndex('user_profiles_user_id_unique').on(t.userId)],
)

export const userActivities = pgTable(
  'user_activities',
  {
    id: id(),
    /** whose record this is */
    userId: uuid('user_id').references(() => users.id, { onDelete: 'set null' }),
    /** who acted (null = system / anonymous) */
    actorId: uuid('actor_id').references((): AnyPgColumn => users.id, { onDelete: 'set null' }),
    action: text('action').notNull(),
    resource: text('resource'),
    resourceId: text('resource_id'),
    ipAddress: text('ip_address'),
    userAgent: text('user_agent'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    ...timestamps(),
  },
  (t) => [
    index('user_activities_user_id_created_at_idx').on(t.userId, t.createdAt.desc()),
    index('user_activities_action_idx').on(t.action),
    index('user_activities_actor_id_idx').on(t.actorId),
  ],
)

export const userPermissions = pgTable(
  'user_permissions',
  {
    id: id(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    permission: text('permission').notNull(),
    grantedBy: uuid('granted_by').references((): AnyPgColumn => users.id, { onDelete: 'set null' }),
    grantedAt: tstz('granted_at').notNull().defaultNow(),
    /** null = never expires */
    expiresAt: tstz('expires_at'),
    ...timestamps(),
  },
  (t) => [uniqueIndex('user_permissions_user_id_permission_unique').on(t.userId, t.permission)],
)

export const userTokens = pgTable(
  'user_tokens',
  {
    id: id(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: text('purpose', { enum: userTokenPurposes }).notNull(),
    /** SHA-256 (hex) of the emailed / issued token */
    tokenHash: text('token_hash').notNull(),
    expiresAt: tstz('expires_at').notNull(),
    usedAt: tstz('used_at'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('user_tokens_token_hash_unique').on(t.tokenHash),
    index('user_tokens_user_id_purpose_idx').on(t.userId, t.purpose),
    check('user_tokens_purpose_check', oneOf(t.purpose, userTokenPurposes)),
  ],
)

// ---------------------------------------------------------------------------
// relations (for db.query ... with)
// ---------------------------------------------------------------------------

export const usersRelations = relations(users, ({ one, many }) => ({
  profile: one(userProfiles),
  mfaDevice: one(mfaDevices),
  sessions: many(userSessions),
  backupCodes: many(mfaBackupCodes),
  permissions: many(userPermissions, { relationName: 'permission_user' }),
  tokens: many(userTokens),
  activities: many(userActivities, { relationName: 'activity_user' }),
}))

export const userSessionsRelations = relations(userSessions, ({ one }) => ({
  user: one(users, { fields: [userSessions.userId], references: [users.id] }),
}))

export const mfaDevicesRelations = relations(mfaDevices, ({ one }) => ({
  user: one(users, { fields: [mfaDevices.userId], references: [users.id] }),
}))

export const mfaBackupCodesRelations = relations(mfaBackupCodes, ({ one }) => ({
  user: one(users, { fields: [mfaBackupCodes.userId], references: [users.id] }),
}))

export const userProfilesRelations = relations(userProfiles, ({ one }) => ({
  user: one(users, { fields: [userProfiles.userId], references: [users.id] }),
}))

export const userActivitiesRelations = relations(userActivities, ({ one }) => ({
  user: one(users, {
    fields: [userActivities.userId],
    references: [users.id],
    relationName: 'activity_user',
  }),
  actor: one(users, { fields: [userActivities.actorId], references: [users.id] }),
}))

export const userPermissionsRelations = relations(userPermissions, ({ one }) => ({
  user: one(users, {
    fields: [userPermissions.userId],
    references: [users.id],
    relationName: 'permission_user',
  }),
  grantor: one(users, { fields: [userPermissions.grantedBy], references: [users.id] }),
}))

export const userTokensRelations = relations(userTokens, ({ one }) => ({
  user: one(users, { fields: [userTokens.userId], references: [users.id] }),
}))

export type User = typeof users.$inferSelect
export type NewUser = typeof users.$inferInsert
export type UserSession = typeof userSessions.$inferSelect
export type UserToken = typeof userTokens.$inferSelect
