import { and, eq, sql } from 'drizzle-orm'
import { z } from 'zod'
import { type Discount, discounts, discountTypes } from '../../db/schema/index.js'
import { conflict, notFound } from '../http/errors.js'
import { PageQuery, PaginationSchema, pagination } from '../http/pagination.js'
import { Uuid } from '../http/validation.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { Amount, Money, MoneyFormatError, toChargeableMinor, toMajor } from '../platform/money.js'
import { fieldProblem, IsActiveQuery, iso, major, pageOf, uniqueViolation } from './pricing-settings.js'

// Discount codes' CRUD (GET/POST /discounts, GET/PUT/DELETE /discounts/{discount_id}). `value` is a
// percentage (0-100, at most 2 decimals, stored as percent_bps) or an amount in major units (stored as
// amount_cents), read back in the same units. Codes are unique case-insensitively. A code that orders used
// is never deleted: DELETE deactivates it and answers 200, so the orders and redemptions keep their link.

export const DiscountParams = z.object({ discount_id: Uuid })

const Code = z
  .string()
  .trim()
  .min(1)
  .max(50)
  .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _ (what a shopper can type)')
const RawValue = z
  .union([z.number(), z.string()])
  .describe('percentage: 0-100 with up to 2 decimals; fixed_amount: major units')
const Instant = z.iso
  .datetime({ offset: true })
  .transform((s) => new Date(s))
  .nullable()
  .optional()
const Limit = z.number().int().min(1).max(1_000_000_000).nullable().optional()

const discountFields = {
  code: Code,
  type: z.enum(discountTypes),
  value: RawValue,
  min_subtotal: Amount.nullable().optional().describe('major units'),
  starts_at: Instant,
  ends_at: Instant.describe('must be after starts_at'),
  usage_limit: Limit.describe('redemptions in all; null: unlimited'),
  usage_limit_per_customer: Limit.describe('redemptions per account or guest email'),
  is_active: z.boolean().optional().describe('default true'),
}
export const DiscountInput = z.strictObject(discountFields)
export type DiscountInput = z.output<typeof DiscountInput>
export const DiscountUpdate = z.strictObject({
  ...discountFields,
  code: Code.optional(),
  type: discountFields.type.optional(),
  value: RawValue.optional(),
})
export type DiscountUpdate = z.output<typeof DiscountUpdate>

export const DiscountSchema = z.object({
  id: z.string(),
  code: z.string(),
  type: z.enum(discountTypes),
  value: z.number().describe('percent for percentage, major units for fixed_amount'),
  min_subtotal: Money.nullable(),
  starts_at: z.string().nullable(),
  ends_at: z.string().nullable(),
  usage_limit: z.number().int().nullable(),
  usage_limit_per_customer: z.number().int().nullable(),
  times_used: z.number().int(),
  is_active: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
})
export type DiscountView = z.infer<typeof DiscountSchema>
export const DiscountListSchema = z.object({
  discounts: z.array(DiscountSchema),
  pagination: PaginationSchema,
})
export const ListDiscountsQuery = PageQuery.extend({
  code: z.string().trim().min(1).max(50).optional().describe('exact code, case-insensitive'),
  is_active: IsActiveQuery,
})

export const toDiscount = (d: Discount): DiscountView => ({
  id: d.id,
  code: d.code,
  type: d.type,
  value: d.type === 'percentage' ? (d.percentBps ?? 0) / 100 : toMajor(d.amountCents ?? 0),
  min_subtotal: major(d.minSubtotalCents),
  starts_at: iso(d.startsAt),
  ends_at: iso(d.endsAt),
  usage_limit: d.usageLimit,
  usage_limit_per_customer: d.usageLimitPerCustomer,
  times_used: d.timesUsed,
  is_active: d.isActive,
  created_at: d.createdAt.toISOString(),
  updated_at: d.updatedAt.toISOString(),
})

/** "12.5" or 12.5 -> 1250 basis points; more than 2 decimals or outside 0-100 is refused, never rounded. */
export function percentToBps(value: number | string): number {
  const text = typeof value === 'number' ? String(value) : value.trim()
  const m = text.match(/^(\d+)(?:\.(\d+))?$/)
  if (!m) throw new MoneyFormatError('not a decimal percentage')
  const frac = (m[2] ?? '').replace(/0+$/, '')
  if (frac.length > 2) throw new MoneyFormatError('at most 2 decimal places')
  const bps = Number(m[1]) * 100 + Number(frac.padEnd(2, '0') || '0')
  if (!Number.isSafeInteger(bps) || bps > 10_000) throw new MoneyFormatError('between 0 and 100')
  return bps
}

/** The stored columns for a value of a type; a 422 on `value` when it does not fit. */
function valueColumns(type: Discount['type'], value: number | string) {
  try {
    if (type === 'percentage') return { percentBps: percentToBps(value), amountCents: null }
    const cents = toChargeableMinor(value)
    if (cents < 0) throw new MoneyFormatError('must not be negative')
    return { percentBps: null, amountCents: cents }
  } catch (err) {
    const what = type === 'percentage' ? 'a percentage' : 'an amount'
    throw fieldProblem('value', `Invalid ${what}: ${(err as Error).message}`, 'invalid_value')
  }
}

const discountNotFound = () => notFound('discount')
const codeTaken = (code: string) =>
  conflict('discount_code_taken', `The discount code ${code} is already used (codes ignore case).`)

function assertPeriod(startsAt: Date | null, endsAt: Date | null) {
  if (startsAt && endsAt && endsAt <= startsAt) {
    throw fieldProblem('ends_at', 'must be after starts_at', 'invalid_range')
  }
}

async function assertCodeFree(tx: Db, code: string, exceptId?: string) {
  const [row] = await tx
    .select({ id: discounts.id })
    .from(discounts)
    .where(
      and(
        sql`lower(${discounts.code}) = ${code.toLowerCase()}`,
        exceptId ? sql`${discounts.id} <> ${exceptId}` : undefined,
      ),
    )
    .limit(1)
  if (row) throw codeTaken(code)
}

export async function listDiscounts(db: Db, q: z.output<typeof ListDiscountsQuery>) {
  const where = and(
    q.code ? sql`lower(${discounts.code}) = ${q.code.toLowerCase()}` : undefined,
    q.is_active === undefined ? undefined : eq(discounts.isActive, q.is_active),
  )
  const { rows, total } = await pageOf(db, discounts, where, [discounts.code, discounts.id], q.page, q.limit)
  return { discounts: rows.map(toDiscount), pagination: pagination(q.page, q.limit, total) }
}

export async function getDiscount(db: Db, id: string): Promise<DiscountView> {
  const [row] = await db.select().from(discounts).where(eq(discounts.id, id)).limit(1)
  if (!row) throw discountNotFound()
  return toDiscount(row)
}

export async function createDiscount(db: Db, input: DiscountInput): Promise<DiscountView> {
  const columns = valueColumns(input.type, input.value)
  assertPeriod(input.starts_at ?? null, input.ends_at ?? null)
  try {
    return await db.transaction(async (tx) => {
      await assertCodeFree(tx, input.code)
      const [row] = await tx
        .insert(discounts)
        .values({
          code: input.code,
          type: input.type,
          ...columns,
          minSubtotalCents: input.min_subtotal ?? null,
          startsAt: input.starts_at ?? null,
          endsAt: input.ends_at ?? null,
          usageLimit: input.usage_limit ?? null,
          usageLimitPerCustomer: input.usage_limit_per_customer ?? null,
          isActive: input.is_active ?? true,
        })
        .returning()
      return toDiscount(row!)
    })
  } catch (err) {
    throw uniqueViolation(err, 'discounts_code_lower', () => codeTaken(input.code))
  }
}

/**
 * Partial update under the row's lock (a checkout redeeming it waits, so times_used is current). A new
 * type needs its value; a usage_limit below the redemptions so far is refused.
 */
export async function updateDiscount(db: Db, id: string, input: DiscountUpdate): Promise<DiscountView> {
  try {
    return await db.transaction(async (tx) => {
      const [cur] = await tx.select().from(discounts).where(eq(discounts.id, id)).for('update')
      if (!cur) throw discountNotFound()
      const type = input.type ?? cur.type
      if (type !== cur.type && input.value === undefined) {
        throw fieldProblem('value', `required when the type changes to ${type}`, 'required')
      }
      const columns =
        input.value !== undefined
          ? valueColumns(type, input.value)
          : { percentBps: cur.percentBps, amountCents: cur.amountCents }
      const next = {
        code: input.code ?? cur.code,
        type,
        ...columns,
        minSubtotalCents: input.min_subtotal !== undefined ? input.min_subtotal : cur.minSubtotalCents,
        startsAt: input.starts_at !== undefined ? input.starts_at : cur.startsAt,
        endsAt: input.ends_at !== undefined ? input.ends_at : cur.endsAt,
        usageLimit: input.usage_limit !== undefined ? input.usage_limit : cur.usageLimit,
        usageLimitPerCustomer:
          input.usage_limit_per_customer !== undefined
            ? input.usage_limit_per_customer
            : cur.usageLimitPerCustomer,
        isActive: input.is_active ?? cur.isActive,
      }
      assertPeriod(next.startsAt, next.endsAt)
      if (next.usageLimit !== null && next.usageLimit < cur.timesUsed) {
        throw fieldProblem(
          'usage_limit',
          `must not be below the ${cur.timesUsed} redemptions so far`,
          'below_times_used',
        )
      }
      if (next.code.toLowerCase() !== cur.code.toLowerCase()) await assertCodeFree(tx, next.code, cur.id)
      const [row] = await tx
        .update(discounts)
        .set({ ...next, updatedAt: now() })
        .where(eq(discounts.id, cur.id))
        .returning()
      return toDiscount(row!)
    })
  } catch (err) {
    throw uniqueViolation(err, 'discounts_code_lower', () => codeTaken(input.code ?? ''))
  }
}

/**
 * DELETE /discounts/{discount_id}: a code no order has used is deleted (null); one that orders used is
 * deactivated instead and returned, so those orders keep their discount_id and the redemptions (which
 * per-customer limits count) stay.
 */
export async function deleteDiscount(db: Db, id: string): Promise<DiscountView | null> {
  return db.transaction(async (tx) => {
    const [cur] = await tx
      .select({
        id: discounts.id,
        used: sql<boolean>`exists (select 1 from orders o where o.discount_id = "discounts"."id")
          or exists (select 1 from discount_redemptions r where r.discount_id = "discounts"."id")`,
      })
      .from(discounts)
      .where(eq(discounts.id, id))
      .for('update')
    if (!cur) throw discountNotFound()
    if (!cur.used) {
      await tx.delete(discounts).where(eq(discounts.id, cur.id))
      return null
    }
    const [row] = await tx
      .update(discounts)
      .set({ isActive: false, updatedAt: now() })
      .where(eq(discounts.id, cur.id))
      .returning()
    return toDiscount(row!)
  })
}
