import { describe, expect, it } from 'vitest'
import { ProblemError } from '../../lib/http/errors.js'
import {
  type DiscountSetting,
  type PricingSettings,
  priceCart,
  type ShippingRateSetting,
  spread,
} from '../../lib/orders/pricing.js'

// The pricing pipeline's documented cases, one example each (the properties over random carts are in
// pricing-properties.test.ts).

const tax = (id: string, country: string, state: string | null, rateBps: number, ship = false) => ({
  id,
  name: id,
  country,
  state,
  rateBps,
  appliesToShipping: ship,
})
const ship = (
  id: string,
  method: string,
  amountCents: number,
  opts: Partial<ShippingRateSetting> = {},
): ShippingRateSetting => ({
  id,
  name: id,
  method,
  countries: [],
  amountCents,
  freeAboveCents: null,
  minDays: null,
  maxDays: null,
  ...opts,
})
const settingsOf = (s: Partial<PricingSettings> = {}): PricingSettings => ({
  currency: 'USD',
  taxesIncluded: false,
  taxRates: [],
  shippingRates: [],
  ...s,
})
const problemOf = (f: () => unknown) => {
  try {
    f()
  } catch (err) {
    expect(err).toBeInstanceOf(ProblemError)
    const e = err as ProblemError
    return { status: e.status, code: e.code, path: e.extra.errors?.[0]?.path }
  }
  throw new Error('expected a refusal')
}
const one = [{ unitPriceCents: 10_000, quantity: 1 }]

describe('priceCart documented cases', () => {
  it('uses the most specific active rate: the state over the country, the country without a state rate', () => {
    const s = settingsOf({ taxRates: [tax('us', 'US', null, 500), tax('il', 'US', 'IL', 625)] })
    const il = priceCart({ lines: one, address: { country: 'US', state: 'IL' } }, s)
    expect([il.taxRate?.id, il.taxCents, il.totalCents]).toEqual(['il', 625, 10_625])
    const ny = priceCart({ lines: one, address: { country: 'US', state: 'NY' } }, s)
    expect([ny.taxRate?.id, ny.taxCents]).toEqual(['us', 500])
    const de = priceCart({ lines: one, address: { country: 'DE' } }, s)
    expect([de.taxRate, de.taxCents, de.totalCents]).toEqual([null, 0, 10_000])
  })

  it('extracts the included tax instead of adding it (amount x r / (1 + r), half-up)', () => {
    const s = settingsOf({ taxesIncluded: true, taxRates: [tax('de', 'DE', null, 1900)] })
    const p = priceCart({ lines: [{ unitPriceCents: 11_900, quantity: 1 }], address: { country: 'DE' } }, s)
    expect([p.taxCents, p.totalCents]).toEqual([1900, 11_900])
  })

  it('makes shipping free once subtotal - discount reaches free_above, and taxes shipping only when asked', () => {
    const s = settingsOf({
      taxRates: [tax('us', 'US', null, 1000, true)],
      shippingRates: [ship('std', 'standard', 500, { freeAboveCents: 10_000 })],
    })
    const reached = priceCart({ lines: one, address: { country: 'US' } }, s)
    expect([reached.shippingCents, reached.shippingTaxCents]).toEqual([0, 0])
    const discount: DiscountSetting = {
      id: 'd',
      code: 'ONE',
      type: 'fixed_amount',
      percentBps: null,
      amountCents: 1,
      minSubtotalCents: null,
    }
    const below = priceCart({ lines: one, address: { country: 'US' }, discount }, s)
    expect([below.shippingCents, below.shippingTaxCents, below.taxCents]).toEqual([500, 50, 1000 + 50])
    expect(below.totalCents).toBe(10_000 - 1 + 500 + 1050)
  })

  it('with no shipping rates: shipping 0 and method null; a named method is then unknown (422)', () => {
    const p = priceCart({ lines: one, address: { country: 'US' } }, settingsOf())
    expect([p.shippingCents, p.shippingMethod, p.shippingRateId, p.shippingOptions]).toEqual([
      0,
      null,
      null,
      [],
    ])
    expect(
      problemOf(() =>
        priceCart({ lines: one, address: { country: 'US' }, shippingMethod: 'express' }, settingsOf()),
      ),
    ).toMatchObject({ status: 422, path: 'shipping_method' })
  })

  it('refuses an unknown method and an address no rate ships to, naming the field (422)', () => {
    const s = settingsOf({
      shippingRates: [ship('std', 'standard', 500, { countries: ['US'] }), ship('exp', 'express', 900)],
    })
    expect(
      problemOf(() => priceCart({ lines: one, address: { country: 'US' }, shippingMethod: 'drone' }, s)),
    ).toMatchObject({ status: 422, code: 'unknown_shipping_method', path: 'shipping_method' })
    expect(
      problemOf(() => priceCart({ lines: one, address: { country: 'FR' }, shippingMethod: 'standard' }, s)),
    ).toMatchObject({ status: 422, path: 'shipping_method' })
    const usOnly = settingsOf({ shippingRates: [ship('std', 'standard', 500, { countries: ['US'] })] })
    expect(problemOf(() => priceCart({ lines: one, address: { country: 'FR' } }, usOnly))).toMatchObject({
      status: 422,
      code: 'no_shipping_rate',
      path: 'shipping_address.country',
    })
    // the named method, or else the cheapest; options cheapest first
    const fr = priceCart({ lines: one, address: { country: 'US' }, shippingMethod: 'express' }, s)
    expect([fr.shippingMethod, fr.shippingCents]).toEqual(['express', 900])
    const cheapest = priceCart({ lines: one, address: { country: 'US' } }, s)
    expect(cheapest.shippingOptions.map((o) => o.method)).toEqual(['standard', 'express'])
    expect(cheapest.shippingMethod).toBe('standard')
  })

  it('spreads a discount over the lines by largest remainder (ties to the earlier line)', () => {
    expect(spread(100, [1, 1, 1])).toEqual([34, 33, 33])
    expect(spread(10, [3333, 3333, 3334])).toEqual([3, 3, 4])
    expect(spread(1, [5, 5])).toEqual([1, 0])
    expect(spread(0, [5, 5])).toEqual([0, 0])
    const discount: DiscountSetting = {
      id: 'd',
      code: 'THIRD',
      type: 'fixed_amount',
      percentBps: null,
      amountCents: 100,
      minSubtotalCents: null,
    }
    const lines = [1, 2, 3].map(() => ({ unitPriceCents: 1000, quantity: 1 }))
    const p = priceCart({ lines, address: { country: 'US' }, discount }, settingsOf())
    expect(p.lines.map((l) => l.discountCents)).toEqual([34, 33, 33])
  })

  it('caps a fixed discount at the subtotal and refuses a code below its minimum subtotal', () => {
    const big: DiscountSetting = {
      id: 'd',
      code: 'BIG',
      type: 'fixed_amount',
      percentBps: null,
      amountCents: 50_000,
      minSubtotalCents: null,
    }
    const p = priceCart({ lines: one, address: { country: 'US' }, discount: big }, settingsOf())
    expect([p.discountCents, p.totalCents]).toEqual([10_000, 0])
    expect(
      problemOf(() =>
        priceCart(
          { lines: one, address: { country: 'US' }, discount: { ...big, minSubtotalCents: 10_001 } },
          settingsOf(),
        ),
      ),
    ).toMatchObject({ status: 422, path: 'discount_code' })
  })
})
