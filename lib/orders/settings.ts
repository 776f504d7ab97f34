import { and, eq, sql } from 'drizzle-orm'
import { discountRedemptions, discounts } from '../../db/schema/index.js'
import { fieldError } from '../http/errors.js'
import { nowMs } from '../platform/clock.js'
import { rowsOf } from '../platform/db.js'
import { env } from '../platform/env.js'
import type { DiscountSetting, PricingSettings, ShippingRateSetting, TaxRateSetting } from './pricing.js'
import type { Runner } from './view.js'

// The pricing settings as checkout and quote read them, and the discount redemption counted in the
// order's transaction. (The settings' own CRUD routes live in lib/orders/pricing-settings.ts.)

/** Active tax and shipping rates with the shop's currency and PRICES_INCLUDE_TAX: one statement. */
export async function loadPricingSettings(db: Runner): Promise<PricingSettings> {
  const result = await db.execute<{
    tax: TaxRateSetting[] | null
    shipping: ShippingRateSetting[] | null
  }>(sql`
    select
      (select json_agg(json_build_object(
          'id', t.id, 'name', t.name, 'country', t.country, 'state', t.state, 'rateBps', t.rate_bps,
          'appliesToShipping', t.applies_to_shipping) order by t.id)
        from tax_rates t where t.is_active) as tax,
      (select json_agg(json_build_object(
          'id', s.id, 'name', s.name, 'method', s.method, 'countries', s.countries,
          'amountCents', s.amount_cents, 'freeAboveCents', s.free_above_cents,
          'minDays', s.min_days, 'maxDays', s.max_days) order by s.id)
        from shipping_rates s where s.is_active) as shipping`)
  // a select without FROM: always one row
  const row = rowsOf<{ tax: unknown; shipping: unknown }>(result)[0]!
  const e = env()
  return {
    currency: e.SHOP_CURRENCY,
    taxesIncluded: e.PRICES_INCLUDE_TAX,
    taxRates: parseJsonColumn<TaxRateSetting[]>(row.tax) ?? [],
    shippingRates: (parseJsonColumn<ShippingRateSetting[]>(row.shipping) ?? []).map((r) => ({
      ...r,
      amountCents: Number(r.amountCents),
      freeAboveCents: r.freeAboveCents === null ? null : Number(r.freeAboveCents),
    })),
  }
}

/** json columns arrive parsed from some drivers and as text from others (null: no rows) */
function parseJsonColumn<T>(v: unknown): T | null {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T | null
}

const discountProblem = (code: string, message: string) => fieldError('discount_code', message, code)

export interface Buyer {
  userId: string | null
  email: string
}

/**
 * The usable discount for a code (case-insensitive), or a 422 on `discount_code`: unknown or inactive,
 * not started, ended, its usage limit reached, or this buyer's own limit reached. A code with a
 * per-customer limit needs a signed-in buyer (guests: `sign_in_required`), and is counted against the
 * caller's own account only (its redemptions by account, or under the account's email): a guest's typed
 * email is never looked up, so no answer tells a stranger whether some email has used a code.
 */
export async function findDiscount(db: Runner, code: string, buyer: Buyer): Promise<DiscountSetting> {
  const email = buyer.email.toLowerCase()
  const usedByBuyer = buyer.userId
    ? sql<number>`(select count(*)::int from discount_redemptions r
        where r.discount_id = "discounts"."id" and (r.user_id = ${buyer.userId} or r.email = ${email}))`
    : sql<number>`0`
  const [d] = await db
    .select({
      id: discounts.id,
      code: discounts.code,
      type: discounts.type,
      percentBps: discounts.percentBps,
      amountCents: discounts.amountCents,
      minSubtotalCents: discounts.minSubtotalCents,
      startsAt: discounts.startsAt,
      endsAt: discounts.endsAt,
      usageLimit: discounts.usageLimit,
      usageLimitPerCustomer: discounts.usageLimitPerCustomer,
      timesUsed: discounts.timesUsed,
      isActive: discounts.isActive,
      usedByBuyer,
    })
    .from(discounts)
    .where(sql`lower(${discounts.code}) = ${code.toLowerCase()}`)
    .limit(1)
  if (!d?.isActive) throw discountProblem('invalid_discount_code', 'This discount code does not exist.')
  const t = nowMs()
  if (d.startsAt && d.startsAt.getTime() > t) {
    throw discountProblem('discount_not_started', 'This discount code is not valid yet.')
  }
  if (d.endsAt && d.endsAt.getTime() <= t) {
    throw discountProblem('discount_expired', 'This discount code has expired.')
  }
  if (d.usageLimit !== null && d.timesUsed >= d.usageLimit) throw usageLimitReached()
  if (d.usageLimitPerCustomer !== null) {
    if (!buyer.userId) {
      throw discountProblem(
        'sign_in_required',
        'Sign in to use this discount code: it is limited per customer.',
      )
    }
    if (Number(d.usedByBuyer) >= d.usageLimitPerCustomer) {
      throw discountProblem(
        'discount_customer_limit_reached',
        'You have already used this discount code as often as it allows.',
      )
    }
  }
  return {
    id: d.id,
    code: d.code,
    type: d.type,
    percentBps: d.percentBps,
    amountCents: d.amountCents === null ? null : Number(d.amountCents),
    minSubtotalCents: d.minSubtotalCents === null ? null : Number(d.minSubtotalCents),
  }
}

export const usageLimitReached = () =>
  discountProblem('discount_usage_limit_reached', 'This discount code has been used up.')

/**
 * Inside the order's transaction: count one redemption with a conditional UPDATE (racing checkouts queue
 * on the discount's row, so the limit is never exceeded) and record it; 422 on `discount_code` when the
 * limit was reached meanwhile. The per-customer limit needs no lock of its own: checkout is serialised
 * per buyer email (account and guest alike), and findDiscount counted this buyer's redemptions inside the
 * same transaction.
 */
export async function redeemDiscount(
  tx: Runner,
  discount: Pick<DiscountSetting, 'id'>,
  r: { orderId: string; userId: string | null; email: string },
): Promise<void> {
  const [counted] = await tx
    .update(discounts)
    .set({ timesUsed: sql`${discounts.timesUsed} + 1`, updatedAt: new Date() })
    .where(
      and(
        eq(discounts.id, discount.id),
        eq(discounts.isActive, true),
        sql`(${discounts.usageLimit} is null or ${discounts.timesUsed} < ${discounts.usageLimit})`,
      ),
    )
    .returning({ id: discounts.id })
  if (!counted) throw usageLimitReached()
  await tx.insert(discountRedemptions).values({
    discountId: discount.id,
    orderId: r.orderId,
    userId: r.userId,
    email: r.email.toLowerCase(),
  })
}

/** Inside a cancellation's transaction: give an unpaid order's redemption back (none: nothing happens). */
export async function releaseDiscount(tx: Runner, orderId: string): Promise<void> {
  await tx.execute(sql`
    with released as (
      delete from discount_redemptions where order_id = ${orderId} returning discount_id
    )
    update discounts set times_used = greatest(times_used - 1, 0), updated_at = now()
    where id in (select discount_id from released)`)
}
