import { and, asc, desc, eq, getTableColumns, gt, inArray, isNull, type SQL, sql } from 'drizzle-orm'
import { z } from 'zod'
import {
  orderItems,
  orders,
  userActivities,
  userProfiles,
  userRoles,
  userSessions,
  users,
} from '../../db/schema/index.js'
import { type RequestMeta, recordActivity } from '../auth/activity.js'
import type { Role } from '../auth/permissions.js'
import { csvRow } from '../http/csv.js'
import { notFound } from '../http/errors.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { log } from '../platform/logger.js'
import { Money, toMajor } from '../platform/money.js'
import { type AdminUser, AdminUserSchema, ProfileSchema, toAdminUser, toProfile } from './view.js'

// Issue 4: the staff export of users (CSV or JSON, streamed with constant memory) and a user's own data
// export for GDPR access requests. Neither ever carries a hash, secret, token or code.

// --- Filters shared with the list (GET /users) -----------------------------------------------------------

export const UserFilterQuery = z.object({
  search: z
    .string()
    .trim()
    .max(200)
    .optional()
    .describe('Case-insensitive substring of the email, first name, last name or "first last"'),
  role: z.enum(userRoles).optional(),
  is_active: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional()
    .describe('true or false'),
})

export interface UserFilterInput {
  search?: string | undefined
  role?: Role | undefined
  is_active?: boolean | undefined
}

/** `%`, `_` and `\` match themselves: a search is a plain substring, never a pattern. */
export const escapeLike = (s: string): string => s.replace(/[\\%_]/g, '\\$&')

/**
 * The WHERE condition of the user list and export: never an erased user (`deleted_at`), plus the optional
 * search (case-insensitive substring of email, first name, last name or the full name), role and
 * is_active filters.
 */
export function userFilters(query: UserFilterInput): SQL {
  const conditions: SQL[] = [isNull(users.deletedAt)]
  const search = query.search?.trim()
  if (search) {
    const p = `%${escapeLike(search)}%`
    conditions.push(
      sql`(${users.email} ilike ${p} escape '\\' or ${users.firstName} ilike ${p} escape '\\' or ${users.lastName} ilike ${p} escape '\\' or concat_ws(' ', ${users.firstName}, ${users.lastName}) ilike ${p} escape '\\')`,
    )
  }
  if (query.role) conditions.push(eq(users.role, query.role))
  if (query.is_active !== undefined) conditions.push(eq(users.isActive, query.is_active))
  return and(...conditions)!
}

// --- Staff export: GET /users/export ----------------------------------------------------------------------

export const EXPORT_FORMATS = ['csv', 'json'] as const
export type ExportFormat = (typeof EXPORT_FORMATS)[number]

export const ExportQuery = UserFilterQuery.extend({
  format: z.enum(EXPORT_FORMATS).default('csv'),
})

/** CSV columns, in order (the header row). */
export const EXPORT_COLUMNS = [
  'id',
  'email',
  'first_name',
  'last_name',
  'company',
  'phone',
  'role',
  'is_active',
  'is_verified',
  'mfa_enabled',
  'marketing_consent',
  'created_at',
  'last_login_at',
] as const

/** One JSON element: the admin user shape without the profile. */
export const ExportedUserSchema = AdminUserSchema.omit({ profile: true })
export type ExportedUser = Omit<AdminUser, 'profile'>

export const DEFAULT_BATCH_SIZE = 500

// Only these columns are ever read: the hash and other secrets never leave the database.
const exportColumns = {
  id: users.id,
  email: users.email,
  firstName: users.firstName,
  lastName: users.lastName,
  company: users.company,
  phone: users.phone,
  role: users.role,
  isActive: users.isActive,
  isVerified: users.isVerified,
  mfaEnabled: users.mfaEnabled,
  marketingConsent: users.marketingConsent,
  lockedUntil: users.lockedUntil,
  suspendedAt: users.suspendedAt,
  suspensionReason: users.suspensionReason,
  lastLoginAt: users.lastLoginAt,
  createdAt: users.createdAt,
  updatedAt: users.updatedAt,
}

function selectBatch(db: Db, where: SQL, after: string | null, limit: number) {
  return db
    .select(exportColumns)
    .from(users)
    .where(after === null ? where : and(where, gt(users.id, after)))
    .orderBy(asc(users.id))
    .limit(limit)
}
type ExportRow = Awaited<ReturnType<typeof selectBatch>>[number]

const iso = (d: Date | null) => (d ? d.toISOString() : null)

const toExportedUser = (r: ExportRow): ExportedUser => toAdminUser(r)

const csvRecord = (r: ExportRow) =>
  csvRow([
    r.id,
    r.email,
    r.firstName,
    r.lastName,
    r.company,
    r.phone,
    r.role,
    r.isActive,
    r.isVerified,
    r.mfaEnabled,
    r.marketingConsent,
    r.createdAt,
    r.lastLoginAt,
  ])

export interface ExportOptions {
  format: ExportFormat
  /** Rows per database query (default 500). */
  batchSize?: number
  /** Called after each batch query, before its rows are handed on (tests count round trips with it). */
  onBatch?: (batch: { index: number; rows: number }) => void
}

/**
 * The export as a byte stream with constant memory: keyset pagination in batches
 * (`WHERE <filters> AND id > $last ORDER BY id LIMIT $batch`), one query per `pull`, and only when the
 * consumer asks for more (highWaterMark 0: nothing is fetched ahead of the reader). Each query goes
 * through `db` on its own — no transaction or cursor is held between pulls, so the stream may be read
 * after the route has returned, and an abandoned stream holds nothing. CSV: the header row, then one
 * record per user. JSON: an array, one element per line. The first chunk carries the header (or `[`)
 * together with the first batch. Rows are not a snapshot: a user created during a long export may or may
 * not appear, depending on its id.
 */
export function exportUsers(
  db: Db,
  filters: UserFilterInput,
  opts: ExportOptions,
): ReadableStream<Uint8Array> {
  const where = userFilters(filters)
  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE
  const encoder = new TextEncoder()
  let last: string | null = null
  let index = 0
  let written = 0

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let rows: ExportRow[]
        try {
          rows = await selectBatch(db, where, last, batchSize)
        } catch (err) {
          // Headers are gone already: the client sees a cut-off body, the log says why.
          log.error('user export failed', { err, batch: index })
          throw err
        }
        opts.onBatch?.({ index, rows: rows.length })
        let text = ''
        if (index === 0) text += opts.format === 'csv' ? csvRow(EXPORT_COLUMNS) : '['
        for (const r of rows) {
          text +=
            opts.format === 'csv'
              ? csvRecord(r)
              : `${written === 0 ? '\n' : ',\n'}${JSON.stringify(toExportedUser(r))}`
          written++
        }
        index++
        const finished = rows.length < batchSize
        if (finished && opts.format === 'json') text += '\n]\n'
        if (rows.length) last = rows[rows.length - 1]!.id
        if (text) controller.enqueue(encoder.encode(text))
        if (finished) controller.close()
      },
    },
    { highWaterMark: 0 },
  )
}

export const exportContentType = (format: ExportFormat): string =>
  format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8'

/** `users-2024-03-05.csv` (UTC date). */
export const exportFilename = (base: string, ext: string): string =>
  `${base}-${now().toISOString().slice(0, 10)}.${ext}`

/** Audit entry: who exported which users (the filters), in which format. */
export async function recordUserExport(
  db: Db,
  actorId: string,
  format: ExportFormat,
  filters: UserFilterInput,
  meta: RequestMeta,
): Promise<void> {
  await recordActivity(db, {
    userId: null,
    actorId,
    action: 'users.exported',
    resource: 'user',
    meta,
    metadata: {
      format,
      filters: Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== undefined)),
    },
  })
}

// --- Own data: GET /auth/me/export --------------------------------------------------------------------------

const money = Money

export const PersonalDataExportSchema = z.object({
  exported_at: z.string(),
  user: AdminUserSchema.omit({ profile: true }).extend({
    email_verified_at: z.string().nullable(),
    password_changed_at: z.string().nullable(),
  }),
  profile: ProfileSchema.extend({ created_at: z.string(), updated_at: z.string() }).nullable(),
  sessions: z.array(
    z.object({
      id: z.string(),
      ip_address: z.string().nullable(),
      user_agent: z.string().nullable(),
      device_name: z.string().nullable(),
      created_at: z.string(),
      last_used_at: z.string(),
      expires_at: z.string(),
      revoked_at: z.string().nullable(),
      revoked_reason: z.string().nullable(),
    }),
  ),
  activities: z.array(
    z.object({
      id: z.string(),
      action: z.string(),
      resource: z.string().nullable(),
      resource_id: z.string().nullable(),
      actor: z.enum(['self', 'staff', 'system']).describe('Who acted: you, a staff member, or the system'),
      ip_address: z.string().nullable(),
      user_agent: z.string().nullable(),
      metadata: z.record(z.string(), z.unknown()),
      created_at: z.string(),
    }),
  ),
  orders: z.array(
    z.object({
      order_number: z.number().int(),
      status: z.string(),
      financial_status: z.string(),
      fulfillment_status: z.string(),
      email: z.string(),
      phone: z.string().nullable(),
      currency: z.string(),
      subtotal: money,
      tax_amount: money,
      shipping_amount: money,
      discount_amount: money,
      total_amount: money,
      billing_address: z.record(z.string(), z.unknown()).nullable(),
      shipping_address: z.record(z.string(), z.unknown()).nullable(),
      shipping_method: z.string().nullable(),
      carrier: z.string().nullable(),
      tracking_number: z.string().nullable(),
      created_at: z.string(),
      items: z.array(
        z.object({
          product_name: z.string(),
          variant_title: z.string().nullable(),
          sku: z.string(),
          quantity: z.number().int(),
          unit_price: money,
          subtotal: money,
          tax_amount: money,
          discount_amount: money,
          total_amount: money,
        }),
      ),
    }),
  ),
})
export type PersonalDataExport = z.infer<typeof PersonalDataExportSchema>

// Every users column but the password hash (and the failed-attempt counter, a security internal).
const { passwordHash: _hash, failedLoginAttempts: _attempts, ...accountColumns } = getTableColumns(users)

/**
 * Everything held about one user, for a GDPR access request: account, profile, sessions (no token
 * material), the activity log entries about them, and their orders with items (money in major units).
 * Only rows linked to `userId` are read. Four queries in parallel, then the order items.
 */
export async function personalDataExport(db: Db, userId: string): Promise<PersonalDataExport> {
  const [found, sessions, activities, orderRows] = await Promise.all([
    db
      .select({ user: accountColumns, profile: userProfiles })
      .from(users)
      .leftJoin(userProfiles, eq(userProfiles.userId, users.id))
      .where(and(eq(users.id, userId), isNull(users.deletedAt)))
      .limit(1),
    db
      .select({
        id: userSessions.id,
        ipAddress: userSessions.ipAddress,
        userAgent: userSessions.userAgent,
        deviceName: userSessions.deviceName,
        createdAt: userSessions.createdAt,
        lastUsedAt: userSessions.lastUsedAt,
        expiresAt: userSessions.expiresAt,
        revokedAt: userSessions.revokedAt,
        revokedReason: userSessions.revokedReason,
      })
      .from(userSessions)
      .where(eq(userSessions.userId, userId))
      .orderBy(desc(userSessions.createdAt)),
    db
      .select({
        id: userActivities.id,
        action: userActivities.action,
        resource: userActivities.resource,
        resourceId: userActivities.resourceId,
        actorId: userActivities.actorId,
        ipAddress: userActivities.ipAddress,
        userAgent: userActivities.userAgent,
        metadata: userActivities.metadata,
        createdAt: userActivities.createdAt,
      })
      .from(userActivities)
      .where(eq(userActivities.userId, userId))
      .orderBy(desc(userActivities.createdAt)),
    db
      .select({
        id: orders.id,
        orderNumber: orders.orderNumber,
        status: orders.status,
        financialStatus: orders.financialStatus,
        fulfillmentStatus: orders.fulfillmentStatus,
        email: orders.email,
        phone: orders.phone,
        currency: orders.currency,
        subtotalCents: orders.subtotalCents,
        taxAmountCents: orders.taxAmountCents,
        shippingAmountCents: orders.shippingAmountCents,
        discountAmountCents: orders.discountAmountCents,
        totalAmountCents: orders.totalAmountCents,
        billingAddress: orders.billingAddress,
        shippingAddress: orders.shippingAddress,
        shippingMethod: orders.shippingMethod,
        carrier: orders.carrier,
        trackingNumber: orders.trackingNumber,
        createdAt: orders.createdAt,
      })
      .from(orders)
      .where(eq(orders.userId, userId))
      .orderBy(desc(orders.createdAt)),
  ])
  const row = found[0]
  if (!row) throw notFound('user')
  const items = orderRows.length
    ? await db
        .select({
          orderId: orderItems.orderId,
          productName: orderItems.productName,
          variantTitle: orderItems.variantTitle,
          sku: orderItems.sku,
          quantity: orderItems.quantity,
          unitPriceCents: orderItems.unitPriceCents,
          subtotalCents: orderItems.subtotalCents,
          taxAmountCents: orderItems.taxAmountCents,
          discountAmountCents: orderItems.discountAmountCents,
          totalAmountCents: orderItems.totalAmountCents,
        })
        .from(orderItems)
        .where(
          inArray(
            orderItems.orderId,
            orderRows.map((o) => o.id),
          ),
        )
        .orderBy(asc(orderItems.createdAt), asc(orderItems.id))
    : []

  const { user: u, profile: p } = row
  return {
    exported_at: now().toISOString(),
    user: {
      ...toAdminUser(u),
      email_verified_at: iso(u.emailVerifiedAt),
      password_changed_at: iso(u.passwordChangedAt),
    },
    profile: p
      ? { ...toProfile(p), created_at: p.createdAt.toISOString(), updated_at: p.updatedAt.toISOString() }
      : null,
    sessions: sessions.map((s) => ({
      id: s.id,
      ip_address: s.ipAddress,
      user_agent: s.userAgent,
      device_name: s.deviceName,
      created_at: s.createdAt.toISOString(),
      last_used_at: s.lastUsedAt.toISOString(),
      expires_at: s.expiresAt.toISOString(),
      revoked_at: iso(s.revokedAt),
      revoked_reason: s.revokedReason,
    })),
    activities: activities.map((a) => ({
      id: a.id,
      action: a.action,
      resource: a.resource,
      resource_id: a.resourceId,
      actor: a.actorId === null ? 'system' : a.actorId === userId ? 'self' : 'staff',
      ip_address: a.ipAddress,
      user_agent: a.userAgent,
      metadata: a.metadata,
      created_at: a.createdAt.toISOString(),
    })),
    orders: orderRows.map((o) => {
      const major = (cents: number) => toMajor(cents, o.currency)
      return {
        order_number: o.orderNumber,
        status: o.status,
        financial_status: o.financialStatus,
        fulfillment_status: o.fulfillmentStatus,
        email: o.email,
        phone: o.phone,
        currency: o.currency,
        subtotal: major(o.subtotalCents),
        tax_amount: major(o.taxAmountCents),
        shipping_amount: major(o.shippingAmountCents),
        discount_amount: major(o.discountAmountCents),
        total_amount: major(o.totalAmountCents),
        billing_address: o.billingAddress ?? null,
        shipping_address: o.shippingAddress ?? null,
        shipping_method: o.shippingMethod,
        carrier: o.carrier,
        tracking_number: o.trackingNumber,
        created_at: o.createdAt.toISOString(),
        items: items
          .filter((i) => i.orderId === o.id)
          .map((i) => ({
            product_name: i.productName,
            variant_title: i.variantTitle,
            sku: i.sku,
            quantity: i.quantity,
            unit_price: major(i.unitPriceCents),
            subtotal: major(i.subtotalCents),
            tax_amount: major(i.taxAmountCents),
            discount_amount: major(i.discountAmountCents),
            total_amount: major(i.totalAmountCents),
          })),
      }
    }),
  }
}
