import { fieldError } from '../http/errors.js'
import { amountStep, MAX_MINOR } from '../platform/money.js'

// The pricing pipeline: integer minor units throughout, half-up rounding everywhere except the spreading
// of a discount over the lines (largest remainder, so the lines sum exactly to the discount). Pure: the
// caller loads the settings (lib/orders/settings.ts) and the catalog prices (lib/orders/cart.ts).
// Every computed amount is a whole number of the currency's step (amountStep: 0.010 for KWD, BHD, JOD,
// OMR and TND, whose thousandths Stripe cannot charge; one minor unit elsewhere): rounding and spreading
// work in steps, and the inputs (prices, rates, fixed amounts) are whole steps already (refused otherwise
// where they are entered), so every total and every refund split from it can be charged.
//
//   1. line subtotal = unit price x quantity;
//   2. discount: percentage of the subtotal (half-up) or the fixed amount capped at the subtotal, spread
//      over the lines in proportion to their subtotals;
//   3. tax per line on (subtotal - discount) at the address's rate: added (x r), or, with
//      PRICES_INCLUDE_TAX, the included part extracted (x r / (1 + r));
//   4. shipping: no rates configured -> 0 and no method; otherwise the named method or the cheapest rate
//      that ships to the address, free once subtotal - discount reaches its free_above; its tax (when the
//      rate applies to shipping) follows the same added/included rule;
//   5. tax = lines' tax + shipping tax; total = subtotal - discount + shipping (+ tax when added);
//      422 order_too_large when subtotal + shipping + tax passes MAX_MINOR.

export interface PricingLine {
  unitPriceCents: number
  quantity: number
}

export interface TaxRateSetting {
  id: string
  name: string
  country: string
  state: string | null
  rateBps: number
  appliesToShipping: boolean
}

export interface ShippingRateSetting {
  id: string
  name: string
  method: string
  countries: string[]
  amountCents: number
  freeAboveCents: number | null
  minDays: number | null
  maxDays: number | null
}

export interface DiscountSetting {
  id: string
  code: string
  type: 'percentage' | 'fixed_amount'
  percentBps: number | null
  amountCents: number | null
  minSubtotalCents: number | null
}

export interface PricingSettings {
  currency: string
  taxesIncluded: boolean
  /** active rows only */
  taxRates: TaxRateSetting[]
  /** active rows only */
  shippingRates: ShippingRateSetting[]
}

export interface PricingInput {
  lines: PricingLine[]
  address: { country: string; state?: string | null }
  shippingMethod?: string | null
  discount?: DiscountSetting | null
}

export interface PricedLine {
  subtotalCents: number
  discountCents: number
  taxCents: number
  totalCents: number
}

export interface ShippingOption {
  rateId: string
  method: string
  name: string
  amountCents: number
  minDays: number | null
  maxDays: number | null
}

export interface Pricing {
  /** in the order of input.lines */
  lines: PricedLine[]
  subtotalCents: number
  discountCents: number
  shippingCents: number
  shippingTaxCents: number
  /** lines' tax + shipping tax */
  taxCents: number
  totalCents: number
  taxesIncluded: boolean
  /** null when no shipping rates are configured */
  shippingMethod: string | null
  shippingRateId: string | null
  /** every method available for the address, cheapest first */
  shippingOptions: ShippingOption[]
  taxRate: TaxRateSetting | null
}

const BPS = 10_000n

/** round(numerator / denominator) half-up, for non-negative integers */
export function divHalfUp(numerator: bigint, denominator: bigint): bigint {
  return (2n * numerator + denominator) / (2n * denominator)
}

/** numerator / denominator in minor units, rounded half-up to a whole number of `step`s. */
const stepsHalfUp = (numerator: bigint, denominator: bigint, step: number) =>
  Number(divHalfUp(numerator, denominator * BigInt(step))) * step

/**
 * Tax on an amount at `rateBps`: added (amount x r) or included (amount x r / (1 + r)), half-up in steps.
 * Amounts and rates are never negative here (a line's subtotal less its share of the discount; rates are
 * 0-10000 by the table's CHECK), and 0 of either gives 0.
 */
export function taxOn(amountCents: number, rateBps: number, included: boolean, step: number): number {
  const a = BigInt(amountCents)
  const r = BigInt(rateBps)
  return stepsHalfUp(a * r, included ? BPS + r : BPS, step)
}

/**
 * Spread `total` over `weights` in proportion, by largest remainder: every share is the floor of its
 * exact part, and the units left over go to the largest remainders (ties: the earlier line, since the
 * sort is stable). Weights that are all 0 (a cart of free lines) get nothing: there is no proportion.
 */
export function spread(total: number, weights: number[]): number[] {
  const sum = weights.reduce((s, w) => s + BigInt(w), 0n)
  if (sum === 0n) return weights.map(() => 0)
  const t = BigInt(total)
  const parts = weights.map((w) => {
    const exact = t * BigInt(w)
    return { share: exact / sum, remainder: exact % sum }
  })
  let left = t - parts.reduce((s, p) => s + p.share, 0n)
  // Number() keeps the sign of the difference, which is all the sort reads
  const byRemainder = [...parts].sort((a, b) => Number(b.remainder - a.remainder))
  for (const p of byRemainder) {
    if (left === 0n) break
    p.share += 1n
    left -= 1n
  }
  return parts.map((p) => Number(p.share))
}

const fieldProblem = (path: string, code: string, message: string) => fieldError(path, message, code)

/** An amount set before its currency's step was enforced (an old row): refused, never rounded. */
function assertWholeSteps(minor: number, step: number, path: string, what: string): void {
  if (minor % step !== 0) {
    throw fieldProblem(
      path,
      'price_not_chargeable',
      `${what} is not a whole number of the currency's smallest chargeable amount; the shop must correct it.`,
    )
  }
}

/** The discount in minor units for a subtotal; 422 on discount_code when its minimum is not reached. */
export function discountFor(
  discount: DiscountSetting | null | undefined,
  subtotalCents: number,
  step: number,
): number {
  if (!discount) return 0
  if (discount.minSubtotalCents !== null && subtotalCents < discount.minSubtotalCents) {
    throw fieldProblem(
      'discount_code',
      'discount_not_applicable',
      'The order does not reach the minimum subtotal of this discount code.',
    )
  }
  if (discount.type === 'percentage') {
    const bps = BigInt(Math.min(Math.max(discount.percentBps ?? 0, 0), 10_000))
    return stepsHalfUp(BigInt(subtotalCents) * bps, BPS, step)
  }
  const amount = Math.max(discount.amountCents ?? 0, 0)
  assertWholeSteps(amount, step, 'discount_code', 'This discount amount')
  return Math.min(amount, subtotalCents)
}

/** The most specific active rate for the address: its state's, else the whole country's, else none. */
export function taxRateFor(
  rates: readonly TaxRateSetting[],
  address: { country: string; state?: string | null },
): TaxRateSetting | null {
  const country = address.country.toUpperCase()
  const state = address.state?.toUpperCase() ?? null
  const inCountry = rates.filter((r) => r.country.toUpperCase() === country)
  return (
    (state ? inCountry.find((r) => r.state !== null && r.state.toUpperCase() === state) : undefined) ??
    inCountry.find((r) => r.state === null) ??
    null
  )
}

const shipsTo = (rate: ShippingRateSetting, country: string) =>
  rate.countries.length === 0 || rate.countries.some((c) => c.toUpperCase() === country)

/** What a rate costs for this order: free once subtotal - discount reaches free_above. */
const rateAmount = (rate: ShippingRateSetting, discountedSubtotal: number) =>
  rate.freeAboveCents !== null && discountedSubtotal >= rate.freeAboveCents ? 0 : rate.amountCents

/**
 * The shipping options for an address: per method, the rate that names the country wins over one that
 * ships everywhere, then the cheaper; the options are sorted cheapest first (then by method).
 */
export function shippingOptions(
  rates: readonly ShippingRateSetting[],
  country: string,
  discountedSubtotal: number,
): ShippingOption[] {
  const c = country.toUpperCase()
  const best = new Map<string, { rate: ShippingRateSetting; amount: number; specific: boolean }>()
  for (const rate of rates) {
    if (!shipsTo(rate, c)) continue
    const candidate = {
      rate,
      amount: rateAmount(rate, discountedSubtotal),
      specific: rate.countries.length > 0,
    }
    const current = best.get(rate.method)
    if (
      !current ||
      (candidate.specific && !current.specific) ||
      (candidate.specific === current.specific &&
        (candidate.amount < current.amount ||
          (candidate.amount === current.amount && rate.id < current.rate.id)))
    ) {
      best.set(rate.method, candidate)
    }
  }
  return [...best.values()]
    .sort((a, b) => a.amount - b.amount || (a.rate.method < b.rate.method ? -1 : 1))
    .map(({ rate, amount }) => ({
      rateId: rate.id,
      method: rate.method,
      name: rate.name,
      amountCents: amount,
      minDays: rate.minDays,
      maxDays: rate.maxDays,
    }))
}

export function priceCart(input: PricingInput, settings: PricingSettings): Pricing {
  const included = settings.taxesIncluded
  const step = amountStep(settings.currency)
  for (const [n, l] of input.lines.entries()) {
    assertWholeSteps(l.unitPriceCents, step, `items.${n}`, 'This price')
  }
  const subtotals = input.lines.map((l) => l.unitPriceCents * l.quantity)
  const subtotalCents = subtotals.reduce((s, x) => s + x, 0)

  const discountCents = discountFor(input.discount, subtotalCents, step)
  // spread whole steps: each line's share is a multiple of the step too
  const lineDiscounts = spread(discountCents / step, subtotals).map((steps) => steps * step)
  const taxRate = taxRateFor(settings.taxRates, input.address)
  const rateBps = taxRate?.rateBps ?? 0

  const lines = subtotals.map((subtotal, i) => {
    const discount = lineDiscounts[i]!
    const tax = taxOn(subtotal - discount, rateBps, included, step)
    return {
      subtotalCents: subtotal,
      discountCents: discount,
      taxCents: tax,
      totalCents: subtotal - discount + (included ? 0 : tax),
    }
  })

  // shipping
  const discounted = subtotalCents - discountCents
  const options = shippingOptions(settings.shippingRates, input.address.country, discounted)
  const method = input.shippingMethod ?? null
  let chosen: ShippingOption | null = null
  if (settings.shippingRates.length === 0) {
    if (method !== null) {
      throw fieldProblem(
        'shipping_method',
        'unknown_shipping_method',
        `No shipping method "${method}" exists.`,
      )
    }
  } else if (method !== null) {
    chosen = options.find((o) => o.method === method) ?? null
    if (!chosen) {
      const known = settings.shippingRates.some((r) => r.method === method)
      throw fieldProblem(
        'shipping_method',
        'unknown_shipping_method',
        known
          ? `The shipping method "${method}" does not ship to ${input.address.country}.`
          : `No shipping method "${method}" exists.`,
      )
    }
  } else {
    chosen = options[0] ?? null
    if (!chosen) {
      throw fieldProblem(
        'shipping_address.country',
        'no_shipping_rate',
        `No shipping rate ships to ${input.address.country}.`,
      )
    }
  }
  const shippingCents = chosen?.amountCents ?? 0
  assertWholeSteps(shippingCents, step, 'shipping_method', 'This shipping rate')
  const shippingTaxCents = taxRate?.appliesToShipping ? taxOn(shippingCents, rateBps, included, step) : 0

  const linesTax = lines.reduce((s, l) => s + l.taxCents, 0)
  const taxCents = linesTax + shippingTaxCents
  // Every amount (a line's, the discount, the total) is at most subtotal + shipping + tax, so one bound
  // (MAX_MINOR) keeps them all exact integers and exact JSON numbers in major units. Past it, the sums
  // above may already be imprecise, but never by enough to fall back under the bound.
  if (subtotalCents + shippingCents + taxCents > MAX_MINOR) {
    throw fieldProblem('items', 'order_too_large', 'The order amount is too large.')
  }
  const totalCents = discounted + shippingCents + (included ? 0 : taxCents)
  return {
    lines,
    subtotalCents,
    discountCents,
    shippingCents,
    shippingTaxCents,
    taxCents,
    totalCents,
    taxesIncluded: included,
    shippingMethod: chosen?.method ?? null,
    shippingRateId: chosen?.rateId ?? null,
    shippingOptions: options,
    taxRate,
  }
}
