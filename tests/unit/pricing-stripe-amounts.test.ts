import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { ProblemError } from '../../lib/http/errors.js'
import { type DiscountSetting, type PricingSettings, priceCart } from '../../lib/orders/pricing.js'
import { lineRefundCents } from '../../lib/orders/refund-plan.js'
import { fromStripeAmount, toStripeAmount } from '../../lib/payments/stripe.js'
import {
  amountStep,
  currencyExponent,
  STRIPE_THREE_DECIMAL,
  STRIPE_ZERO_DECIMAL,
} from '../../lib/platform/money.js'

// Every amount the pricing pipeline and the refund split can produce is one Stripe takes (issue 15,
// defect 12), in every currency of Stripe's special lists (zero-decimal, three-decimal) plus HUF and ISK
// (0 decimals shown, sent x100) and two-decimal ones. Inputs are what entry validation lets through: whole
// steps of the currency. Stripe's rule is restated here on its own (an integer amount; thousandths ending
// in 0 for three-decimal currencies), not taken from the step, so a wrong step cannot pass itself.

const CURRENCIES = [...STRIPE_ZERO_DECIMAL, ...STRIPE_THREE_DECIMAL, 'HUF', 'ISK', 'USD', 'EUR']

function expectStripeTakes(minor: number, currency: string) {
  const amount = toStripeAmount(minor, currency)
  expect(Number.isSafeInteger(amount) && amount >= 0).toBe(true)
  if (STRIPE_THREE_DECIMAL.has(currency)) expect(amount % 10).toBe(0)
  expect(fromStripeAmount(amount, currency)).toBe(minor)
}

const arbOrder = fc.constantFrom(...CURRENCIES).chain((currency) => {
  const step = amountStep(currency)
  const major = 10 ** currencyExponent(currency)
  const stepped = (maxMajor: number) =>
    fc.integer({ min: 0, max: Math.floor((maxMajor * major) / step) }).map((n) => n * step)
  const discount: fc.Arbitrary<DiscountSetting | null> = fc.option(
    fc.oneof(
      fc.integer({ min: 0, max: 10_000 }).map((bps) => ({
        id: 'd',
        code: 'P',
        type: 'percentage' as const,
        percentBps: bps,
        amountCents: null,
        minSubtotalCents: null,
      })),
      stepped(200).map((amount) => ({
        id: 'd',
        code: 'F',
        type: 'fixed_amount' as const,
        percentBps: null,
        amountCents: amount,
        minSubtotalCents: null,
      })),
    ),
    { nil: null },
  )
  return fc.record({
    currency: fc.constant(currency),
    lines: fc.array(fc.record({ unitPriceCents: stepped(500), quantity: fc.integer({ min: 1, max: 10 }) }), {
      minLength: 1,
      maxLength: 6,
    }),
    taxesIncluded: fc.boolean(),
    rateBps: fc.integer({ min: 0, max: 10_000 }),
    taxShipping: fc.boolean(),
    shipping: fc.option(stepped(50), { nil: null }),
    discount,
    /** refund sizes, taken in turn over each line's units */
    chunks: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 6 }),
  })
})

describe('amounts Stripe takes', () => {
  it('every order total and every refund split of it, in every currency of Stripe’s lists', () => {
    fc.assert(
      fc.property(arbOrder, (c) => {
        const settings: PricingSettings = {
          currency: c.currency,
          taxesIncluded: c.taxesIncluded,
          taxRates: [
            {
              id: 't',
              name: 't',
              country: 'US',
              state: null,
              rateBps: c.rateBps,
              appliesToShipping: c.taxShipping,
            },
          ],
          shippingRates:
            c.shipping === null
              ? []
              : [
                  {
                    id: 's',
                    name: 's',
                    method: 'standard',
                    countries: [],
                    amountCents: c.shipping,
                    freeAboveCents: null,
                    minDays: null,
                    maxDays: null,
                  },
                ],
        }
        let p: ReturnType<typeof priceCart>
        try {
          p = priceCart({ lines: c.lines, address: { country: 'US' }, discount: c.discount }, settings)
        } catch (err) {
          // only the documented refusal of amounts too large for one order
          expect((err as ProblemError).code).toBe('order_too_large')
          return
        }
        expectStripeTakes(p.totalCents, c.currency)

        // the refund split: each line refunded in chunks until nothing is left, then the shipping
        let refunded = 0
        p.lines.forEach((line, n) => {
          const item = {
            quantity: c.lines[n]!.quantity,
            refundedQuantity: 0,
            totalAmountCents: line.totalCents,
            refundedAmountCents: 0,
          }
          let k = 0
          while (item.refundedQuantity < item.quantity) {
            const q = Math.min(c.chunks[k++ % c.chunks.length]!, item.quantity - item.refundedQuantity)
            const amount = lineRefundCents(item, q, c.currency)
            expect(amount).toBeGreaterThanOrEqual(0)
            expectStripeTakes(amount, c.currency)
            item.refundedQuantity += q
            item.refundedAmountCents += amount
          }
          expect(item.refundedAmountCents).toBe(line.totalCents)
          refunded += item.refundedAmountCents
        })
        const shipping = p.shippingCents + (p.taxesIncluded ? 0 : p.shippingTaxCents)
        expectStripeTakes(shipping, c.currency)
        expect(refunded + shipping).toBe(p.totalCents)
      }),
      { numRuns: 1500 },
    )
  })

  it('gives a three-decimal line’s units 0.010 steps: 1.000 KWD over 3 units refunds 0.330, 0.330, 0.340', () => {
    const item = { quantity: 3, refundedQuantity: 0, totalAmountCents: 1000, refundedAmountCents: 0 }
    expect(lineRefundCents(item, 1, 'KWD')).toBe(330)
    expect(lineRefundCents(item, 2, 'KWD')).toBe(670)
    expect(lineRefundCents({ ...item, refundedQuantity: 2, refundedAmountCents: 660 }, 1, 'KWD')).toBe(340)
    // two-decimal currencies keep one-unit steps
    expect(lineRefundCents(item, 1, 'USD')).toBe(333)
  })
})
