import { and, asc, desc, eq, isNull, sql } from 'drizzle-orm'
import { z } from 'zod'
import { userActivities, userProfiles, users } from '../../db/schema/index.js'
import { type RequestMeta, recordActivity } from '../auth/activity.js'
import { forgetSessions } from '../auth/authenticate.js'
import { issueOneTimeToken } from '../auth/one-time-tokens.js'
import { hashPassword } from '../auth/password.js'
import { passwordProblem } from '../auth/password-policy.js'
import { type Principal, ROLES } from '../auth/permissions.js'
import { sendVerificationEmail } from '../auth/recovery.js'
import { Email, Password, ProfileFields, RegisterBody } from '../auth/schemas.js'
import { endUserSessions, forgetUserSessions } from '../auth/sessions.js'
import { deliverAfterResponse, enqueueEmail } from '../email/outbox.js'
import { conflict, forbidden, notFound, unprocessable } from '../http/errors.js'
import { offsetOf, PageQuery, PaginationSchema, pagination } from '../http/pagination.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { findUserIdByEmail, normaliseEmail } from './accounts.js'
import { userFilters } from './export.js'
import { assertMayManage, assertMaySetRole, assertNotSelf, loadTarget, type TargetUser } from './policy.js'
import { type AdminUser, AdminUserSchema, toAdminUser } from './view.js'

// Users administration (issue 4): list, create (with a password or an emailed invitation), read and
// update one account, and read its activity log. Who may act on whom is lib/users/policy.ts; every write
// records an activity entry (user_id = whose record, actor_id = who acted) in its own transaction, and
// a role or status change is forgotten from the session cache after the commit, so it applies on the
// user's next request.

// --- Path parameter ---------------------------------------------------------------------------------------

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * `{user_id}`: any string; what is not a UUID is simply an unknown user (404), like an unknown or erased
 * one, so the answer never depends on the shape of the id.
 */
export const UserParams = z.object({
  user_id: z.string().describe('User id (UUID). An unknown, erased or malformed id is a 404.'),
})

/** The id as given, when it can name a user at all; otherwise the 404 an unknown user gets. */
export function userIdOrNotFound(raw: string): string {
  if (!UUID.test(raw)) throw notFound('user')
  return raw.toLowerCase()
}

export const loadTargetById = (db: Db, raw: string): Promise<TargetUser> =>
  loadTarget(db, userIdOrNotFound(raw))

const isUniqueViolation = (err: unknown): boolean => {
  const e = err as { code?: string; cause?: { code?: string } }
  return e?.code === '23505' || e?.cause?.code === '23505'
}
const emailTaken = () => conflict('email_taken', 'An account with this email already exists.')

// --- List -------------------------------------------------------------------------------------------------

const SORT_COLUMNS = {
  created_at: users.createdAt,
  updated_at: users.updatedAt,
  email: users.email,
  first_name: users.firstName,
  last_name: users.lastName,
  last_login_at: users.lastLoginAt,
  role: users.role,
} as const
type SortKey = keyof typeof SORT_COLUMNS
const SORT_KEYS = Object.keys(SORT_COLUMNS) as SortKey[]
const SORT_VALUES = [...SORT_KEYS, ...SORT_KEYS.map((k) => `-${k}` as const)] as [string, ...string[]]

export const ListUsersQuery = PageQuery.extend({
  search: z
    .string()
    .trim()
    .max(200)
    .optional()
    .describe('Case-insensitive substring of the email, first name, last name or full name'),
  role: z.enum(ROLES).optional(),
  is_active: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
  sort: z
    .enum(SORT_VALUES)
    .default('-created_at')
    .describe(`One of ${SORT_KEYS.join(', ')}; a leading "-" sorts descending. Default -created_at.`),
})
export type ListUsersInput = z.output<typeof ListUsersQuery>

export const UserListSchema = z.object({
  users: z.array(AdminUserSchema.omit({ profile: true })),
  pagination: PaginationSchema,
})

/** Erased users are never listed. One query, plus a count only when the page is past the end. */
export async function listUsers(db: Db, q: ListUsersInput) {
  const where = userFilters(q)

  const descending = q.sort.startsWith('-')
  const column = SORT_COLUMNS[q.sort.replace(/^-/, '') as SortKey]
  const order = descending ? sql`${column} desc nulls last` : sql`${column} asc nulls last`
  const rows = await db
    .select({ user: users, total: sql<number>`(count(*) over ())::int` })
    .from(users)
    .where(where)
    .orderBy(order, descending ? desc(users.id) : asc(users.id))
    .limit(q.limit)
    .offset(offsetOf(q.page, q.limit))
  let total = rows[0] ? Number(rows[0].total) : 0
  if (!rows.length && q.page > 1) {
    const [c] = await db.select({ n: sql<number>`count(*)::int` }).from(users).where(where)
    total = Number(c?.n ?? 0)
  }
  return {
    users: rows.map((r) => toAdminUser(r.user)),
    pagination: pagination(q.page, q.limit, total),
  }
}

// --- Read one ---------------------------------------------------------------------------------------------

/** An account with its profile; unknown, erased or malformed ids are a 404. */
export async function getUser(db: Db, rawId: string): Promise<AdminUser> {
  const id = userIdOrNotFound(rawId)
  const [row] = await db
    .select({ user: users, profile: userProfiles })
    .from(users)
    .leftJoin(userProfiles, eq(userProfiles.userId, users.id))
    .where(and(eq(users.id, id), isNull(users.deletedAt)))
    .limit(1)
  if (!row) throw notFound('user')
  return toAdminUser(row.user, row.profile)
}

// --- Create -----------------------------------------------------------------------------------------------

export const CreateUserBody = z.object({
  email: Email,
  first_name: RegisterBody.shape.first_name,
  last_name: RegisterBody.shape.last_name,
  role: z.enum(ROLES).default('customer').describe('Anything but customer needs an admin'),
  password: Password.optional().describe(
    'Without it the account is created without a password and an invitation is emailed',
  ),
  company: RegisterBody.shape.company,
  phone: RegisterBody.shape.phone,
  marketing_consent: z.boolean().optional(),
  send_invite: z
    .boolean()
    .optional()
    .describe(
      'Email a set-password link (single use, 72 h). Default: true without a password, false with one.',
    ),
})
export type CreateUserInput = z.output<typeof CreateUserBody>

/** Creation has no existing target: the policy sees a customer-to-be, so any other role needs an admin. */
const NEW_ACCOUNT: TargetUser = { id: '', role: 'customer', email: '', isActive: true, deletedAt: null }

export async function createUser(
  db: Db,
  actor: Principal,
  body: CreateUserInput,
  meta: RequestMeta,
): Promise<AdminUser> {
  assertMaySetRole(actor, NEW_ACCOUNT, body.role)
  const email = normaliseEmail(body.email)
  const invite = body.send_invite ?? body.password === undefined
  if (body.password === undefined && !invite) {
    throw unprocessable([
      {
        path: 'send_invite',
        message: 'Give a password or send an invitation.',
        code: 'password_or_invite',
      },
    ])
  }
  if (body.password !== undefined) {
    const weak = passwordProblem(body.password, { email })
    if (weak) throw unprocessable([{ path: 'password', message: `Password ${weak}.`, code: 'weak_password' }])
  }
  if (await findUserIdByEmail(db, email)) throw emailTaken()
  const passwordHash = body.password === undefined ? null : await hashPassword(body.password)
  const emails: string[] = []
  try {
    const created = await db.transaction(async (tx) => {
      const t = now()
      const [user] = await tx
        .insert(users)
        .values({
          email,
          passwordHash,
          role: body.role,
          firstName: body.first_name,
          lastName: body.last_name,
          company: body.company ?? null,
          phone: body.phone ?? null,
          marketingConsent: body.marketing_consent ?? false,
          // An admin-chosen password is a provisioned account; an invited one is verified by using its link.
          isVerified: passwordHash !== null,
          emailVerifiedAt: passwordHash !== null ? t : null,
          passwordChangedAt: passwordHash !== null ? t : null,
        })
        .returning()
      const [profile] = await tx.insert(userProfiles).values({ userId: user!.id }).returning()
      if (invite) {
        const { token } = await issueOneTimeToken(tx, user!.id, 'invite', { invited_by: actor.userId })
        emails.push(
          await enqueueEmail(tx, {
            to: email,
            userId: user!.id,
            template: 'invite',
            data: { token, first_name: user!.firstName },
          }),
        )
      }
      await recordActivity(tx, {
        userId: user!.id,
        actorId: actor.userId,
        action: 'user.created',
        meta,
        metadata: { role: body.role, via: passwordHash ? 'password' : 'invite', invited: invite },
      })
      return toAdminUser(user!, profile)
    })
    deliverAfterResponse(emails)
    return created
  } catch (err) {
    if (isUniqueViolation(err)) throw emailTaken()
    throw err
  }
}

// --- Update -----------------------------------------------------------------------------------------------

export const UpdateUserBody = z
  .object({
    email: Email.optional().describe(
      'Validated like registration; a new address is unverified until confirmed',
    ),
    first_name: RegisterBody.shape.first_name.optional(),
    last_name: RegisterBody.shape.last_name.optional(),
    company: RegisterBody.shape.company,
    phone: RegisterBody.shape.phone,
    marketing_consent: z.boolean().optional(),
    role: z.enum(ROLES).optional().describe('Admins only, never on their own account'),
    is_active: z
      .boolean()
      .optional()
      .describe('false suspends (every session ends at once), true reactivates; never on yourself'),
    profile: ProfileFields.strict().optional(),
  })
  .strict()
export type UpdateUserInput = z.output<typeof UpdateUserBody>

const PROFILE_COLUMNS = {
  avatar_url: 'avatarUrl',
  bio: 'bio',
  website: 'website',
  location: 'location',
  timezone: 'timezone',
  language: 'language',
  preferences: 'preferences',
} as const
const USER_COLUMNS = {
  first_name: 'firstName',
  last_name: 'lastName',
  company: 'company',
  phone: 'phone',
  marketing_consent: 'marketingConsent',
} as const

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null)

export async function updateUser(
  db: Db,
  actor: Principal,
  rawId: string,
  body: UpdateUserInput,
  meta: RequestMeta,
): Promise<AdminUser> {
  const target = await loadTargetById(db, rawId)
  assertMayManage(actor, target)
  assertMaySetRole(actor, target, body.role)
  if (body.is_active === false) assertNotSelf(actor, target, 'suspend')
  const newEmail = body.email === undefined ? undefined : normaliseEmail(body.email)
  const changingEmail = newEmail !== undefined && newEmail !== target.email
  if (changingEmail) {
    // Whoever controls an account's email controls the account (password reset): only admins move it,
    // and never their own here (that is PUT /auth/me, with the current password and re-verification).
    assertNotSelf(actor, target, 'change the email of')
    if (actor.role !== 'admin')
      throw forbidden('Only an admin can change the email of an account.', 'email_change_forbidden')
    const owner = await findUserIdByEmail(db, newEmail)
    if (owner && owner !== target.id) throw emailTaken()
  }

  const emails: string[] = []
  let ended: string[] = []
  let authorityChanged = false
  let result: AdminUser
  try {
    result = await db.transaction(async (tx) => {
      const [before] = await tx
        .select({ user: users, profile: userProfiles })
        .from(users)
        .leftJoin(userProfiles, eq(userProfiles.userId, users.id))
        .where(and(eq(users.id, target.id), isNull(users.deletedAt)))
        .limit(1)
      if (!before) throw notFound('user')
      const changed: string[] = []
      const set: Partial<typeof users.$inferInsert> = {}
      for (const [field, column] of Object.entries(USER_COLUMNS) as Array<
        [keyof typeof USER_COLUMNS, (typeof USER_COLUMNS)[keyof typeof USER_COLUMNS]]
      >) {
        const value = body[field]
        if (value === undefined || same(value, before.user[column])) continue
        Object.assign(set, { [column]: value })
        changed.push(field)
      }
      if (changingEmail) {
        Object.assign(set, { email: newEmail, isVerified: false, emailVerifiedAt: null })
        changed.push('email')
      }
      if (body.role !== undefined && body.role !== before.user.role) {
        set.role = body.role
        changed.push('role')
      }
      if (body.is_active !== undefined && body.is_active !== before.user.isActive) {
        Object.assign(
          set,
          body.is_active
            ? { isActive: true, suspendedAt: null, suspensionReason: null }
            : { isActive: false, suspendedAt: now(), suspensionReason: null },
        )
        changed.push('is_active')
      }
      let user = before.user
      if (Object.keys(set).length) {
        const [row] = await tx.update(users).set(set).where(eq(users.id, target.id)).returning()
        user = row!
      }

      let profile = before.profile
      if (body.profile) {
        const values: Partial<typeof userProfiles.$inferInsert> = {}
        for (const [field, column] of Object.entries(PROFILE_COLUMNS) as Array<
          [keyof typeof PROFILE_COLUMNS, (typeof PROFILE_COLUMNS)[keyof typeof PROFILE_COLUMNS]]
        >) {
          const value = body.profile[field]
          if (value === undefined || same(value, before.profile?.[column])) continue
          Object.assign(values, { [column]: value })
          changed.push(`profile.${field}`)
        }
        if (Object.keys(values).length) {
          const [row] = await tx
            .insert(userProfiles)
            .values({ userId: target.id, ...values })
            .onConflictDoUpdate({ target: userProfiles.userId, set: { ...values, updatedAt: now() } })
            .returning()
          profile = row!
        }
      }

      if (changingEmail) {
        // The new address confirms itself through its own link; the old one is told.
        emails.push(
          await sendVerificationEmail(tx, { id: user.id, email: user.email, firstName: user.firstName }),
          await enqueueEmail(tx, {
            to: before.user.email,
            userId: user.id,
            template: 'email_changed',
            data: { new_email: user.email, first_name: user.firstName },
          }),
        )
      }
      if (changed.includes('is_active') && !user.isActive) {
        ended = await endUserSessions(tx, user.id, 'user_suspended')
      }
      authorityChanged = changed.includes('role') || changed.includes('is_active')
      await recordActivity(tx, {
        userId: user.id,
        actorId: actor.userId,
        action: 'user.updated',
        meta,
        metadata: {
          fields: changed,
          ...(changed.includes('role') && { role_from: before.user.role, role_to: user.role }),
          ...(changed.includes('is_active') && { is_active: user.isActive }),
        },
      })
      return toAdminUser(user, profile)
    })
  } catch (err) {
    if (isUniqueViolation(err)) throw emailTaken()
    throw err
  }
  // After the commit: forgetting earlier would let a concurrent request re-cache the old state. The
  // change has happened; a cache failure is logged (the cached state expires within 60 s).
  if (authorityChanged) {
    await Promise.all([forgetSessions(ended), forgetUserSessions(db, target.id)])
  }
  deliverAfterResponse(emails)
  return result
}

// --- Activity log -------------------------------------------------------------------------------------------

export const ActivityQuery = PageQuery.extend({
  action: z.string().trim().min(1).max(100).optional().describe('Only entries with exactly this action'),
})
export type ActivityInput = z.output<typeof ActivityQuery>

export const ActivitySchema = z.object({
  id: z.string(),
  action: z.string(),
  resource: z.string().nullable(),
  resource_id: z.string().nullable(),
  actor_id: z.string().nullable(),
  ip_address: z.string().nullable(),
  user_agent: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  created_at: z.string(),
})
export const ActivityListSchema = z.object({
  activities: z.array(ActivitySchema),
  pagination: PaginationSchema,
})

/** A user's activity log, newest first. */
export async function listActivity(db: Db, rawId: string, q: ActivityInput) {
  const target = await loadTargetById(db, rawId)
  const where = and(
    eq(userActivities.userId, target.id),
    q.action ? eq(userActivities.action, q.action) : undefined,
  )
  const rows = await db
    .select({ a: userActivities, total: sql<number>`(count(*) over ())::int` })
    .from(userActivities)
    .where(where)
    .orderBy(desc(userActivities.createdAt), desc(userActivities.id))
    .limit(q.limit)
    .offset(offsetOf(q.page, q.limit))
  let total = rows[0] ? Number(rows[0].total) : 0
  if (!rows.length && q.page > 1) {
    const [c] = await db.select({ n: sql<number>`count(*)::int` }).from(userActivities).where(where)
    total = Number(c?.n ?? 0)
  }
  return {
    activities: rows.map(({ a }) => ({
      id: a.id,
      action: a.action,
      resource: a.resource,
      resource_id: a.resourceId,
      actor_id: a.actorId,
      ip_address: a.ipAddress,
      user_agent: a.userAgent,
      metadata: a.metadata,
      created_at: a.createdAt.toISOString(),
    })),
    pagination: pagination(q.page, q.limit, total),
  }
}
