import { describe, expect, it } from 'vitest'
import { ProblemError } from '../../lib/http/errors.js'
import {
  type DiscountSetting,
  type PricingSettings,
  priceCart,
  type ShippingRateSetting,
  spread,
} from '../../lib/orders/pricing.js'
import { MAX_MINOR } from '../../lib/platform/money.js'

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

describe('priceCart guards (each pinned: removing it fails here)', () => {
  const minimum = (minSubtotalCents: number): DiscountSetting => ({
    id: 'd',
    code: 'MIN',
    type: 'fixed_amount',
    percentBps: null,
    amountCents: 500,
    minSubtotalCents,
  })

  it('accepts a cart exactly at the minimum subtotal and refuses one a unit below', () => {
    const at = priceCart({ lines: one, address: { country: 'US' }, discount: minimum(10_000) }, settingsOf())
    expect([at.discountCents, at.totalCents]).toEqual([500, 9500])
    const below = [{ unitPriceCents: 9_999, quantity: 1 }]
    expect(
      problemOf(() =>
        priceCart({ lines: below, address: { country: 'US' }, discount: minimum(10_000) }, settingsOf()),
      ),
    ).toEqual({ status: 422, code: 'discount_not_applicable', path: 'discount_code' })
  })

  it('prices a cart whose lines are all free, with a discount, at 0 (no division by a zero subtotal)', () => {
    expect(spread(0, [0, 0])).toEqual([0, 0])
    const free = [
      { unitPriceCents: 0, quantity: 2 },
      { unitPriceCents: 0, quantity: 1 },
    ]
    for (const discount of [
      { ...minimum(0), type: 'percentage' as const, percentBps: 2000, amountCents: null },
      minimum(0),
    ]) {
      const p = priceCart({ lines: free, address: { country: 'US' }, discount }, settingsOf())
      expect(p.lines.map((l) => l.discountCents)).toEqual([0, 0])
      expect([p.subtotalCents, p.discountCents, p.totalCents]).toEqual([0, 0, 0])
    }
  })

  it('picks the same default among equally priced methods whatever the rates’ order: the first by name', () => {
    const rates = [ship('r1', 'standard', 700), ship('r2', 'express', 700), ship('r3', 'courier', 900)]
    for (const order of [rates, [...rates].reverse(), [rates[1]!, rates[2]!, rates[0]!]]) {
      const p = priceCart({ lines: one, address: { country: 'US' } }, settingsOf({ shippingRates: order }))
      expect(p.shippingMethod).toBe('express')
      expect(p.shippingOptions.map((o) => o.method)).toEqual(['express', 'standard', 'courier'])
    }
    // two rates of one method at one price: the lower rate id, in either order
    const twins = [ship('b', 'standard', 700), ship('a', 'standard', 700)]
    for (const order of [twins, [...twins].reverse()]) {
      const p = priceCart({ lines: one, address: { country: 'US' } }, settingsOf({ shippingRates: order }))
      expect(p.shippingRateId).toBe('a')
    }
  })

  it('refuses an order whose subtotal + shipping + tax passes MAX_MINOR: 422 order_too_large on items', () => {
    const tooLarge = { status: 422, code: 'order_too_large', path: 'items' }
    const at = priceCart(
      { lines: [{ unitPriceCents: MAX_MINOR, quantity: 1 }], address: { country: 'US' } },
      settingsOf(),
    )
    expect(at.totalCents).toBe(MAX_MINOR)
    const cases: Array<[Array<{ unitPriceCents: number; quantity: number }>, PricingSettings]> = [
      // the lines alone, one unit over; a line far past the safe integers
      [
        [
          { unitPriceCents: MAX_MINOR, quantity: 1 },
          { unitPriceCents: 1, quantity: 1 },
        ],
        settingsOf(),
      ],
      [[{ unitPriceCents: Math.floor(Number.MAX_SAFE_INTEGER / 2), quantity: 3 }], settingsOf()],
      // under the bound until shipping, or tax, is added
      [
        [{ unitPriceCents: MAX_MINOR - 10, quantity: 1 }],
        settingsOf({ shippingRates: [ship('s', 'standard', 11)] }),
      ],
      [
        [{ unitPriceCents: MAX_MINOR - 1000, quantity: 1 }],
        settingsOf({ taxRates: [tax('us', 'US', null, 1)] }),
      ],
    ]
    for (const [lines, s] of cases) {
      expect(problemOf(() => priceCart({ lines, address: { country: 'US' } }, s))).toEqual(tooLarge)
    }
  })
})

describe('priceCart in three-decimal currencies: whole steps of 0.010', () => {
  const kwd = (s: Partial<PricingSettings> = {}) => settingsOf({ currency: 'KWD', ...s })

  it('rounds tax half-up to 0.010: 1.230 KWD at 8.25 % is 0.100 of tax (not 0.101), 1.330 in all', () => {
    const s = kwd({ taxRates: [tax('us', 'US', null, 825)] })
    const p = priceCart({ lines: [{ unitPriceCents: 1230, quantity: 1 }], address: { country: 'US' } }, s)
    expect([p.taxCents, p.totalCents]).toEqual([100, 1330])
    // 1.260 x 8.25 % = 0.10395: half-up to 0.100; 1.280 x 8.25 % = 0.1056: up to 0.110
    const at = (price: number) =>
      priceCart({ lines: [{ unitPriceCents: price, quantity: 1 }], address: { country: 'US' } }, s).taxCents
    expect([at(1260), at(1280)]).toEqual([100, 110])
  })

  it('extracts included tax, takes percentage discounts and taxes shipping in whole steps', () => {
    const s = kwd({
      taxesIncluded: true,
      taxRates: [tax('de', 'DE', null, 1500, true)],
      shippingRates: [ship('std', 'standard', 1990)],
    })
    const discount: DiscountSetting = {
      id: 'd',
      code: 'P',
      type: 'percentage',
      percentBps: 1250,
      amountCents: null,
      minSubtotalCents: null,
    }
    const lines = [
      { unitPriceCents: 3330, quantity: 1 },
      { unitPriceCents: 1110, quantity: 2 },
    ]
    const p = priceCart({ lines, address: { country: 'DE' }, discount }, s)
    // 12.5 % of 5.550 = 0.69375 -> 0.690, spread 3330 : 2220 by largest remainder in steps (41.4 : 27.6)
    expect(p.discountCents).toBe(690)
    expect(p.lines.map((l) => l.discountCents)).toEqual([410, 280])
    // included: (3330 - 410) x 15 / 115 = 380.87 -> 380; (2220 - 280) x 15 / 115 = 253.04 -> 250
    expect(p.lines.map((l) => l.taxCents)).toEqual([380, 250])
    // shipping 1.990 x 15 / 115 = 0.25957 -> 0.260
    expect(p.shippingTaxCents).toBe(260)
    expect(p.totalCents).toBe(5550 - 690 + 1990)
  })

  it('refuses an amount left from before the rule (not whole steps): 422 price_not_chargeable', () => {
    const off = (f: () => unknown) => problemOf(f)
    expect(
      off(() =>
        priceCart({ lines: [{ unitPriceCents: 1235, quantity: 1 }], address: { country: 'US' } }, kwd()),
      ),
    ).toEqual({
      status: 422,
      code: 'price_not_chargeable',
      path: 'items.0',
    })
    const rate = kwd({ shippingRates: [ship('std', 'standard', 995)] })
    expect(
      off(() =>
        priceCart({ lines: [{ unitPriceCents: 1230, quantity: 1 }], address: { country: 'US' } }, rate),
      ),
    ).toMatchObject({
      code: 'price_not_chargeable',
      path: 'shipping_method',
    })
    const fixed: DiscountSetting = {
      id: 'd',
      code: 'F',
      type: 'fixed_amount',
      percentBps: null,
      amountCents: 105,
      minSubtotalCents: null,
    }
    expect(
      off(() =>
        priceCart(
          { lines: [{ unitPriceCents: 1230, quantity: 1 }], address: { country: 'US' }, discount: fixed },
          kwd(),
        ),
      ),
    ).toMatchObject({ code: 'price_not_chargeable', path: 'discount_code' })
  })
})

describe('priceCart refusals say what is wrong', () => {
  const messageOf = (f: () => unknown) => {
    try {
      f()
    } catch (err) {
      return (err as ProblemError).extra.errors?.[0]?.message
    }
    throw new Error('expected a refusal')
  }
  const us = { country: 'US' }

  it('names the method, the country, the minimum, the amount or the size that is refused', () => {
    const s = settingsOf({
      shippingRates: [
        ship('std', 'standard', 500, { countries: ['US'] }),
        ship('exp', 'express', 900, { countries: ['US'] }),
      ],
    })
    expect(messageOf(() => priceCart({ lines: one, address: us, shippingMethod: 'drone' }, s))).toBe(
      'No shipping method "drone" exists.',
    )
    const none = () => priceCart({ lines: one, address: us, shippingMethod: 'drone' }, settingsOf())
    expect(messageOf(none)).toBe('No shipping method "drone" exists.')
    expect(problemOf(none)).toEqual({ status: 422, code: 'unknown_shipping_method', path: 'shipping_method' })
    expect(
      messageOf(() => priceCart({ lines: one, address: { country: 'FR' }, shippingMethod: 'standard' }, s)),
    ).toBe('The shipping method "standard" does not ship to FR.')
    expect(messageOf(() => priceCart({ lines: one, address: { country: 'FR' } }, s))).toBe(
      'No shipping rate ships to FR.',
    )
    const min: DiscountSetting = {
      id: 'd',
      code: 'MIN',
      type: 'percentage',
      percentBps: 100,
      amountCents: null,
      minSubtotalCents: 20_000,
    }
    expect(messageOf(() => priceCart({ lines: one, address: us, discount: min }, settingsOf()))).toMatch(
      /minimum subtotal/,
    )
    const huge = [{ unitPriceCents: MAX_MINOR, quantity: 2 }]
    expect(messageOf(() => priceCart({ lines: huge, address: us }, settingsOf()))).toMatch(/too large/)
    const kwd = settingsOf({ currency: 'KWD', shippingRates: [ship('std', 'standard', 995)] })
    const notWhole = /is not a whole number of the currency's smallest chargeable amount/
    const odd = [{ unitPriceCents: 1235, quantity: 1 }]
    expect(messageOf(() => priceCart({ lines: odd, address: us }, kwd))).toMatch(/^This price /)
    expect(messageOf(() => priceCart({ lines: odd, address: us }, kwd))).toMatch(notWhole)
    const fine = [{ unitPriceCents: 1230, quantity: 1 }]
    expect(messageOf(() => priceCart({ lines: fine, address: us }, kwd))).toMatch(/^This shipping rate /)
    const fixed: DiscountSetting = {
      ...min,
      type: 'fixed_amount',
      percentBps: null,
      amountCents: 5,
      minSubtotalCents: null,
    }
    expect(
      messageOf(() =>
        priceCart({ lines: fine, address: us, discount: fixed }, settingsOf({ currency: 'KWD' })),
      ),
    ).toMatch(/^This discount amount /)
  })

  it('takes the cheaper of one method’s rates even when the dearer one has the lower id', () => {
    for (const rates of [
      [ship('b', 'standard', 500), ship('a', 'standard', 700)],
      [ship('a', 'standard', 700), ship('b', 'standard', 500)],
    ]) {
      const p = priceCart({ lines: one, address: us }, settingsOf({ shippingRates: rates }))
      expect([p.shippingRateId, p.shippingCents]).toEqual(['b', 500])
    }
  })
})
