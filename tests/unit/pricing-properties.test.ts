import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ProblemError } from '../../lib/http/errors.js'
import {
  type DiscountSetting,
  type PricingSettings,
  priceCart,
  type ShippingRateSetting,
  spread,
  type TaxRateSetting,
} from '../../lib/orders/pricing.js'

// The pricing pipeline over random carts, rates and discounts, with taxes added and included, in
// currencies of 0, 2 and 3 decimals (JPY, USD, KWD: amounts scaled to each, and KWD's in whole steps of
// 0.010, the smallest amount Stripe charges). Every amount is checked against a reference written
// separately here in BigInt (quotient and remainder, not the pipeline's formula), and the sums are
// checked to be exact.

const CURRENCIES = { JPY: 0, USD: 2, KWD: 3 } as const
type Currency = keyof typeof CURRENCIES
/** minor units per rounding step, written out here rather than taken from lib/platform/money */
const STEP: Record<Currency, number> = { JPY: 1, USD: 1, KWD: 10 }

/** round(a / b) half-up for a >= 0, b > 0: the quotient, plus one when the remainder is at least half. */
function refHalfUp(a: bigint, b: bigint): bigint {
  const q = a / b
  return 2n * (a % b) >= b ? q + 1n : q
}
/** a / b in minor units, rounded half-up to whole steps */
const refSteps = (a: bigint, b: bigint, step: number) => Number(refHalfUp(a, b * BigInt(step))) * step
function refTax(amount: number, rateBps: number, included: boolean, step: number): number {
  if (amount <= 0 || rateBps <= 0) return 0
  const a = BigInt(amount) * BigInt(rateBps)
  return refSteps(a, included ? 10_000n + BigInt(rateBps) : 10_000n, step)
}
function refDiscount(d: DiscountSetting | null, subtotal: number, step: number): number {
  if (!d) return 0
  if (d.type === 'percentage') return refSteps(BigInt(subtotal) * BigInt(d.percentBps!), 10_000n, step)
  return Math.min(d.amountCents!, subtotal)
}
function refTaxRate(rates: TaxRateSetting[], country: string, state: string | null) {
  const mine = rates.filter((r) => r.country === country)
  return mine.find((r) => state !== null && r.state === state) ?? mine.find((r) => r.state === null) ?? null
}
/** Per method: rates naming the country beat rates for everywhere; then the cheapest (free_above counted). */
function refShipping(rates: ShippingRateSetting[], country: string, discounted: number): number | null {
  const cost = (r: ShippingRateSetting) =>
    r.freeAboveCents !== null && discounted >= r.freeAboveCents ? 0 : r.amountCents
  const perMethod: number[] = []
  for (const method of new Set(rates.map((r) => r.method))) {
    const ofMethod = rates.filter((r) => r.method === method)
    const specific = ofMethod.filter((r) => r.countries.includes(country))
    const pool = specific.length ? specific : ofMethod.filter((r) => r.countries.length === 0)
    if (pool.length) perMethod.push(Math.min(...pool.map(cost)))
  }
  return perMethod.length ? Math.min(...perMethod) : null
}

const scale = (c: Currency) => 10 ** CURRENCIES[c]

/** whole steps of the currency from min to max minor units */
const stepped = (currency: Currency, min: number, max: number) =>
  fc
    .integer({ min: Math.ceil(min / STEP[currency]), max: Math.floor(max / STEP[currency]) })
    .map((n) => n * STEP[currency])

const arbCase = fc.constantFrom<Currency>('JPY', 'USD', 'KWD').chain((currency) => {
  const s = scale(currency)
  const price = stepped(currency, 0, 5_000 * s)
  const line = fc.record({ unitPriceCents: price, quantity: fc.integer({ min: 1, max: 50 }) })
  const place = fc.record({
    country: fc.constantFrom('US', 'CA', 'DE'),
    state: fc.option(fc.constantFrom('IL', 'NY', 'ON'), { nil: null }),
  })
  const taxRate = fc.record({
    country: fc.constantFrom('US', 'CA', 'DE'),
    state: fc.option(fc.constantFrom('IL', 'NY', 'ON'), { nil: null }),
    rateBps: fc.integer({ min: 0, max: 10_000 }),
    appliesToShipping: fc.boolean(),
  })
  const shippingRate = fc.record({
    method: fc.constantFrom('standard', 'express', 'pickup'),
    countries: fc.constantFrom([] as string[], ['US'], ['CA'], ['US', 'CA'], ['DE']),
    amountCents: stepped(currency, 0, 100 * s),
    freeAboveCents: fc.option(stepped(currency, 0, 500 * s), { nil: null }),
  })
  const discount = fc.option(
    fc.oneof(
      fc.record({
        type: fc.constant('percentage' as const),
        percentBps: fc.integer({ min: 0, max: 10_000 }),
        amountCents: fc.constant(null),
      }),
      fc.record({
        type: fc.constant('fixed_amount' as const),
        percentBps: fc.constant(null),
        // below and above typical subtotals
        amountCents: fc.oneof(stepped(currency, 0, 50 * s), stepped(currency, 0, 10_000_000 * s)),
      }),
    ),
    { nil: null },
  )
  return fc.record({
    currency: fc.constant(currency),
    taxesIncluded: fc.boolean(),
    lines: fc.array(line, { minLength: 1, maxLength: 20 }),
    address: place,
    taxRates: fc.uniqueArray(taxRate, {
      maxLength: 6,
      selector: (r) => `${r.country}-${r.state ?? ''}`,
    }),
    shippingRates: fc.array(shippingRate, { maxLength: 5 }),
    discount,
    minSubtotal: fc.option(stepped(currency, 0, 2_000 * s), { nil: null }),
  })
})

type Case = typeof arbCase extends fc.Arbitrary<infer T> ? T : never

function build(c: Case) {
  const settings: PricingSettings = {
    currency: c.currency,
    taxesIncluded: c.taxesIncluded,
    taxRates: c.taxRates.map((r, i) => ({ ...r, id: `t${i}`, name: `tax ${i}` })),
    shippingRates: c.shippingRates.map((r, i) => ({
      ...r,
      id: `s${i}`,
      name: `ship ${i}`,
      minDays: null,
      maxDays: null,
    })),
  }
  const discount: DiscountSetting | null = c.discount
    ? { ...c.discount, id: 'd', code: 'CODE', minSubtotalCents: c.minSubtotal }
    : null
  return { settings, discount }
}

describe('priceCart properties', () => {
  it('sums exactly, never goes negative and matches the BigInt reference in JPY, USD and KWD', () => {
    fc.assert(
      fc.property(arbCase, (c) => {
        const { settings, discount } = build(c)
        const step = STEP[c.currency]
        const subtotal = c.lines.reduce((s, l) => s + l.unitPriceCents * l.quantity, 0)
        const expectedDiscount = refDiscount(discount, subtotal, step)
        const expectedShipping = refShipping(
          settings.shippingRates,
          c.address.country,
          subtotal - expectedDiscount,
        )
        const refusedForMinimum = discount?.minSubtotalCents != null && subtotal < discount.minSubtotalCents
        const refusedForShipping = settings.shippingRates.length > 0 && expectedShipping === null
        let p: ReturnType<typeof priceCart>
        try {
          p = priceCart({ lines: c.lines, address: c.address, discount }, settings)
        } catch (err) {
          expect(err).toBeInstanceOf(ProblemError)
          const path = (err as ProblemError).extra.errors?.[0]?.path
          expect((err as ProblemError).status).toBe(422)
          if (refusedForMinimum) expect(path).toBe('discount_code')
          else expect(refusedForShipping && path === 'shipping_address.country').toBe(true)
          return
        }
        expect(refusedForMinimum).toBe(false)
        expect(refusedForShipping).toBe(false)

        const included = c.taxesIncluded
        const rate = refTaxRate(settings.taxRates, c.address.country, c.address.state)
        const bps = rate?.rateBps ?? 0

        // the order's sums
        expect(p.subtotalCents).toBe(subtotal)
        expect(p.discountCents).toBe(expectedDiscount)
        expect(p.discountCents).toBeLessThanOrEqual(p.subtotalCents)
        expect(p.shippingCents).toBe(expectedShipping ?? 0)
        expect(p.taxesIncluded).toBe(included)
        expect(p.totalCents).toBe(
          p.subtotalCents - p.discountCents + p.shippingCents + (included ? 0 : p.taxCents),
        )
        const sum = (k: 'subtotalCents' | 'discountCents' | 'taxCents' | 'totalCents') =>
          p.lines.reduce((s, l) => s + l[k], 0)
        expect(sum('subtotalCents')).toBe(p.subtotalCents)
        expect(sum('discountCents')).toBe(p.discountCents)
        expect(sum('taxCents') + p.shippingTaxCents).toBe(p.taxCents)
        expect(sum('totalCents') + p.shippingCents + (included ? 0 : p.shippingTaxCents)).toBe(p.totalCents)

        // each line, and its tax rounded half-up on its own
        expect(p.lines).toHaveLength(c.lines.length)
        p.lines.forEach((l, i) => {
          const input = c.lines[i]!
          expect(l.subtotalCents).toBe(input.unitPriceCents * input.quantity)
          expect(l.discountCents).toBeGreaterThanOrEqual(0)
          expect(l.discountCents).toBeLessThanOrEqual(l.subtotalCents)
          expect(l.taxCents).toBe(refTax(l.subtotalCents - l.discountCents, bps, included, step))
          expect(l.totalCents).toBe(l.subtotalCents - l.discountCents + (included ? 0 : l.taxCents))
          for (const v of Object.values(l)) expect(v >= 0 && v % step === 0).toBe(true)
        })

        // shipping tax only when the address's rate applies to shipping
        expect(p.shippingTaxCents).toBe(
          rate?.appliesToShipping ? refTax(p.shippingCents, bps, included, step) : 0,
        )
        expect(p.taxRate?.id ?? null).toBe(rate?.id ?? null)
        if (settings.shippingRates.length === 0) expect(p.shippingMethod).toBeNull()
        for (const v of [p.subtotalCents, p.discountCents, p.shippingCents, p.taxCents, p.totalCents]) {
          expect(Number.isSafeInteger(v) && v >= 0 && v % step === 0).toBe(true)
        }
        // with taxes included, the tax is a part of what is paid, never more
        if (included) expect(p.taxCents).toBeLessThanOrEqual(p.totalCents)
      }),
      { numRuns: 1500 },
    )
  })

  it('spreads any discount by largest remainder: floors plus one unit to the largest remainders', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 1, maxLength: 20 }),
        fc.nat(),
        (weights, seed) => {
          const sumW = weights.reduce((s, w) => s + w, 0)
          const total = sumW === 0 ? 0 : seed % (sumW + 1)
          const shares = spread(total, weights)
          expect(shares.reduce((s, x) => s + x, 0)).toBe(total)
          if (sumW === 0) return
          const exact = weights.map((w) => ({
            floor: (BigInt(total) * BigInt(w)) / BigInt(sumW),
            rem: (BigInt(total) * BigInt(w)) % BigInt(sumW),
          }))
          const bumped = shares.map((s, i) => BigInt(s) - exact[i]!.floor)
          for (const b of bumped) expect(b === 0n || b === 1n).toBe(true)
          // every line that got the extra unit has a remainder at least as large as every line that did not
          const minBumped = exact.filter((_, i) => bumped[i] === 1n).map((e) => e.rem)
          const maxOther = exact.filter((_, i) => bumped[i] === 0n).map((e) => e.rem)
          if (minBumped.length && maxOther.length) {
            // BigInt remainders: every bumped one is >= every other one
            expect(minBumped.every((lo) => maxOther.every((hi) => lo >= hi))).toBe(true)
          }
        },
      ),
      { numRuns: 1000 },
    )
  })
})
