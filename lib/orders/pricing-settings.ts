import { and, asc, eq, type SQL, sql } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import { z } from 'zod'
import { type ShippingRate, shippingRates, type TaxRate, taxRates } from '../../db/schema/index.js'
import { conflict, notFound, ProblemError } from '../http/errors.js'
import { offsetOf, PageQuery, PaginationSchema, pagination } from '../http/pagination.js'
import { Uuid } from '../http/validation.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import { Amount, Money, toMajor } from '../platform/money.js'
import { SUBDIVISIONS } from './schemas.js'

// The pricing settings' own CRUD (GET/POST /tax-rates, /shipping-rates and GET/PUT/DELETE by id): staff
// with settings.manage write them, orders.view reads them. Checkout reads the active rows through
// lib/orders/settings.ts. Discounts are in lib/orders/discount-settings.ts. PUT is a partial update: a rule
// between two fields (min_days <= max_days, a US state) is checked on the row as it would be after the
// change, under the row's lock.

// --- shared ---------------------------------------------------------------------------------------------

export const fieldProblem = (path: string, message: string, code = 'invalid') =>
  new ProblemError(422, 'validation_failed', message, { errors: [{ path, message, code }] })

export const Name = z.string().trim().min(1).max(200)
export const CountryCode = z
  .string()
  .trim()
  .regex(/^[A-Za-z]{2}$/, 'an ISO 3166-1 alpha-2 code (two letters)')
  .transform((s) => s.toUpperCase())
export const IsActiveQuery = z
  .enum(['true', 'false'])
  .transform((v) => v === 'true')
  .optional()
  .describe('true or false')

const sqlState = (err: unknown): { code?: string; constraint: string } => {
  const e = err as { code?: unknown; constraint?: unknown; cause?: { code?: unknown; constraint?: unknown } }
  const code = typeof e?.cause?.code === 'string' ? e.cause.code : e?.code
  return {
    code: typeof code === 'string' ? code : undefined,
    constraint: String(e?.cause?.constraint ?? e?.constraint ?? ''),
  }
}

/** A unique index won by a concurrent request between our check and our write: the caller's 409. */
export function uniqueViolation(err: unknown, index: string, problem: () => ProblemError): unknown {
  const { code, constraint } = sqlState(err)
  return code === '23505' && constraint.includes(index) ? problem() : err
}

/** One page of a settings table plus its total, in one statement (count(*) over ()). */
export async function pageOf<T extends PgTable>(
  db: Db,
  table: T,
  where: SQL | undefined,
  order: PgColumn[],
  page: number,
  limit: number,
): Promise<{ rows: T['$inferSelect'][]; total: number }> {
  const rows = (await db
    .select({ row: table as never, total: sql<number>`count(*) over ()`.mapWith(Number) })
    .from(table as never)
    .where(where)
    .orderBy(...order.map((c) => asc(c)))
    .limit(limit)
    .offset(offsetOf(page, limit))) as Array<{ row: T['$inferSelect']; total: number }>
  // A page past the end has no rows to carry the total; ask once more only then.
  if (!rows.length && page > 1) {
    const counted = (await db
      .select({ n: sql<number>`count(*)`.mapWith(Number) })
      .from(table as never)
      .where(where)) as Array<{ n: number }>
    return { rows: [], total: counted[0]?.n ?? 0 }
  }
  return { rows: rows.map((r) => r.row), total: rows[0]?.total ?? 0 }
}

const iso = (d: Date | null) => (d ? d.toISOString() : null)
const major = (cents: number | null) => (cents === null ? null : toMajor(cents))

// --- tax rates ------------------------------------------------------------------------------------------

export const TaxRateParams = z.object({ tax_rate_id: Uuid })

/** ISO 3166-2 subdivision without the country: 1 to 3 letters or digits ("IL", "ON", "75"). */
const StateCode = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9]{1,3}$/, 'an ISO 3166-2 subdivision code without the country (e.g. "IL")')
  .transform((s) => s.toUpperCase())

const taxFields = {
  name: Name,
  country: CountryCode,
  state: StateCode.nullable().optional().describe('null or absent: the whole country'),
  rate_bps: z.number().int().min(0).max(10_000).describe('basis points: 825 = 8.25 %'),
  applies_to_shipping: z.boolean().optional().describe('default false'),
  is_active: z.boolean().optional().describe('default true'),
}
export const TaxRateInput = z.strictObject(taxFields)
export type TaxRateInput = z.output<typeof TaxRateInput>
export const TaxRateUpdate = z.strictObject({
  ...taxFields,
  name: Name.optional(),
  country: CountryCode.optional(),
  rate_bps: taxFields.rate_bps.optional(),
})
export type TaxRateUpdate = z.output<typeof TaxRateUpdate>

export const TaxRateSchema = z.object({
  id: z.string(),
  name: z.string(),
  country: z.string(),
  state: z.string().nullable(),
  rate_bps: z.number().int(),
  applies_to_shipping: z.boolean(),
  is_active: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
})
export const TaxRateListSchema = z.object({
  tax_rates: z.array(TaxRateSchema),
  pagination: PaginationSchema,
})
export const ListTaxRatesQuery = PageQuery.extend({
  country: CountryCode.optional(),
  is_active: IsActiveQuery,
})

export const toTaxRate = (r: TaxRate): z.infer<typeof TaxRateSchema> => ({
  id: r.id,
  name: r.name,
  country: r.country,
  state: r.state,
  rate_bps: r.rateBps,
  applies_to_shipping: r.appliesToShipping,
  is_active: r.isActive,
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
})

const taxRateNotFound = () => notFound('tax rate')
const taxRateTaken = (country: string, state: string | null) =>
  conflict(
    'tax_rate_exists',
    `An active tax rate for ${state ? `${country}-${state}` : `${country} (whole country)`} exists already: ` +
      'deactivate or change it first.',
  )

/** For US and CA the state must be a real code (the address schema knows the same list). */
function assertStateOf(country: string, state: string | null) {
  const known = SUBDIVISIONS[country]
  if (known && state !== null && !known.has(state)) {
    throw fieldProblem('state', `not a ${country} state code`, 'invalid_state')
  }
}

async function assertPlaceFree(tx: Db, country: string, state: string | null, exceptId?: string) {
  const [row] = await tx
    .select({ id: taxRates.id })
    .from(taxRates)
    .where(
      and(
        eq(taxRates.country, country),
        sql`coalesce(${taxRates.state}, '') = ${state ?? ''}`,
        eq(taxRates.isActive, true),
        exceptId ? sql`${taxRates.id} <> ${exceptId}` : undefined,
      ),
    )
    .limit(1)
  if (row) throw taxRateTaken(country, state)
}

export async function listTaxRates(db: Db, q: z.output<typeof ListTaxRatesQuery>) {
  const where = and(
    q.country ? eq(taxRates.country, q.country) : undefined,
    q.is_active === undefined ? undefined : eq(taxRates.isActive, q.is_active),
  )
  const { rows, total } = await pageOf(
    db,
    taxRates,
    where,
    [taxRates.country, taxRates.state, taxRates.name, taxRates.id],
    q.page,
    q.limit,
  )
  return { tax_rates: rows.map(toTaxRate), pagination: pagination(q.page, q.limit, total) }
}

export async function getTaxRate(db: Db, id: string) {
  const [row] = await db.select().from(taxRates).where(eq(taxRates.id, id)).limit(1)
  if (!row) throw taxRateNotFound()
  return toTaxRate(row)
}

export async function createTaxRate(db: Db, input: TaxRateInput) {
  const state = input.state ?? null
  assertStateOf(input.country, state)
  const active = input.is_active ?? true
  try {
    return await db.transaction(async (tx) => {
      if (active) await assertPlaceFree(tx, input.country, state)
      const [row] = await tx
        .insert(taxRates)
        .values({
          name: input.name,
          country: input.country,
          state,
          rateBps: input.rate_bps,
          appliesToShipping: input.applies_to_shipping ?? false,
          isActive: active,
        })
        .returning()
      return toTaxRate(row!)
    })
  } catch (err) {
    throw uniqueViolation(err, 'tax_rates_active_place', () => taxRateTaken(input.country, state))
  }
}

export async function updateTaxRate(db: Db, id: string, input: TaxRateUpdate) {
  try {
    return await db.transaction(async (tx) => {
      const [cur] = await tx.select().from(taxRates).where(eq(taxRates.id, id)).for('update')
      if (!cur) throw taxRateNotFound()
      const next = {
        name: input.name ?? cur.name,
        country: input.country ?? cur.country,
        // a new country without a state names the whole new country
        state: input.state !== undefined ? input.state : input.country !== undefined ? null : cur.state,
        rateBps: input.rate_bps ?? cur.rateBps,
        appliesToShipping: input.applies_to_shipping ?? cur.appliesToShipping,
        isActive: input.is_active ?? cur.isActive,
      }
      assertStateOf(next.country, next.state)
      if (next.isActive) await assertPlaceFree(tx, next.country, next.state, cur.id)
      const [row] = await tx
        .update(taxRates)
        .set({ ...next, updatedAt: now() })
        .where(eq(taxRates.id, cur.id))
        .returning()
      return toTaxRate(row!)
    })
  } catch (err) {
    throw uniqueViolation(err, 'tax_rates_active_place', () =>
      conflict('tax_rate_exists', 'An active tax rate for this place exists already.'),
    )
  }
}

/** Orders keep their own tax amounts, so a rate can always be deleted. */
export async function deleteTaxRate(db: Db, id: string): Promise<void> {
  const gone = await db.delete(taxRates).where(eq(taxRates.id, id)).returning({ id: taxRates.id })
  if (!gone.length) throw taxRateNotFound()
}

// --- shipping rates -------------------------------------------------------------------------------------

export const ShippingRateParams = z.object({ shipping_rate_id: Uuid })

const Method = z
  .string()
  .trim()
  .min(1)
  .max(50)
  .regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _ (e.g. "standard", "express")')
const Days = z.number().int().min(0).max(365)

const shippingFields = {
  name: Name,
  method: Method,
  countries: z
    .array(CountryCode)
    .max(250)
    .transform((cs) => [...new Set(cs)].sort())
    .optional()
    .describe('ISO alpha-2 codes; [] or absent: everywhere'),
  amount: Amount.describe('major units'),
  free_above: Amount.nullable().optional().describe('free once subtotal - discount reaches it'),
  min_days: Days.nullable().optional(),
  max_days: Days.nullable().optional(),
  is_active: z.boolean().optional().describe('default true'),
}
export const ShippingRateInput = z.strictObject(shippingFields)
export type ShippingRateInput = z.output<typeof ShippingRateInput>
export const ShippingRateUpdate = z.strictObject({
  ...shippingFields,
  name: Name.optional(),
  method: Method.optional(),
  amount: shippingFields.amount.optional(),
})
export type ShippingRateUpdate = z.output<typeof ShippingRateUpdate>

export const ShippingRateSchema = z.object({
  id: z.string(),
  name: z.string(),
  method: z.string(),
  countries: z.array(z.string()),
  amount: Money,
  free_above: Money.nullable(),
  min_days: z.number().int().nullable(),
  max_days: z.number().int().nullable(),
  is_active: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
})
export const ShippingRateListSchema = z.object({
  shipping_rates: z.array(ShippingRateSchema),
  pagination: PaginationSchema,
})
export const ListShippingRatesQuery = PageQuery.extend({
  method: Method.optional(),
  is_active: IsActiveQuery,
})

export const toShippingRate = (r: ShippingRate): z.infer<typeof ShippingRateSchema> => ({
  id: r.id,
  name: r.name,
  method: r.method,
  countries: r.countries,
  amount: toMajor(r.amountCents),
  free_above: major(r.freeAboveCents),
  min_days: r.minDays,
  max_days: r.maxDays,
  is_active: r.isActive,
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
})

const shippingRateNotFound = () => notFound('shipping rate')

function assertDays(min: number | null, max: number | null) {
  if (min !== null && max !== null && min > max) {
    throw fieldProblem('max_days', 'must not be below min_days', 'invalid_range')
  }
}

export async function listShippingRates(db: Db, q: z.output<typeof ListShippingRatesQuery>) {
  const where = and(
    q.method ? eq(shippingRates.method, q.method) : undefined,
    q.is_active === undefined ? undefined : eq(shippingRates.isActive, q.is_active),
  )
  const { rows, total } = await pageOf(
    db,
    shippingRates,
    where,
    [shippingRates.method, shippingRates.amountCents, shippingRates.id],
    q.page,
    q.limit,
  )
  return { shipping_rates: rows.map(toShippingRate), pagination: pagination(q.page, q.limit, total) }
}

export async function getShippingRate(db: Db, id: string) {
  const [row] = await db.select().from(shippingRates).where(eq(shippingRates.id, id)).limit(1)
  if (!row) throw shippingRateNotFound()
  return toShippingRate(row)
}

export async function createShippingRate(db: Db, input: ShippingRateInput) {
  assertDays(input.min_days ?? null, input.max_days ?? null)
  const [row] = await db
    .insert(shippingRates)
    .values({
      name: input.name,
      method: input.method,
      countries: input.countries ?? [],
      amountCents: input.amount,
      freeAboveCents: input.free_above ?? null,
      minDays: input.min_days ?? null,
      maxDays: input.max_days ?? null,
      isActive: input.is_active ?? true,
    })
    .returning()
  return toShippingRate(row!)
}

export async function updateShippingRate(db: Db, id: string, input: ShippingRateUpdate) {
  return db.transaction(async (tx) => {
    const [cur] = await tx.select().from(shippingRates).where(eq(shippingRates.id, id)).for('update')
    if (!cur) throw shippingRateNotFound()
    const next = {
      name: input.name ?? cur.name,
      method: input.method ?? cur.method,
      countries: input.countries ?? cur.countries,
      amountCents: input.amount ?? cur.amountCents,
      freeAboveCents: input.free_above !== undefined ? input.free_above : cur.freeAboveCents,
      minDays: input.min_days !== undefined ? input.min_days : cur.minDays,
      maxDays: input.max_days !== undefined ? input.max_days : cur.maxDays,
      isActive: input.is_active ?? cur.isActive,
    }
    assertDays(next.minDays, next.maxDays)
    const [row] = await tx
      .update(shippingRates)
      .set({ ...next, updatedAt: now() })
      .where(eq(shippingRates.id, cur.id))
      .returning()
    return toShippingRate(row!)
  })
}

/** Orders keep the method's name and amount, so a rate can always be deleted. */
export async function deleteShippingRate(db: Db, id: string): Promise<void> {
  const gone = await db
    .delete(shippingRates)
    .where(eq(shippingRates.id, id))
    .returning({ id: shippingRates.id })
  if (!gone.length) throw shippingRateNotFound()
}

export { iso, major }
