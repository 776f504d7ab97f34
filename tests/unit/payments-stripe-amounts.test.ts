import { describe, expect, it } from 'vitest'
import {
  fromStripeAmount,
  StripeAmountError,
  stripeCanTake,
  stripeExponent,
  toStripeAmount,
} from '../../lib/payments/stripe.js'

describe('Stripe amounts follow Stripe currency list, not display decimals', () => {
  it('sends two-decimal currencies as cents', () => {
    expect(toStripeAmount(2999, 'USD')).toBe(2999)
    expect(toStripeAmount(2999, 'eur')).toBe(2999)
    expect(fromStripeAmount(2999, 'USD')).toBe(2999)
  })

  it('sends zero-decimal currencies (JPY, KRW, ...) as whole units', () => {
    expect(stripeExponent('JPY')).toBe(0)
    expect(toStripeAmount(1500, 'JPY')).toBe(1500)
    expect(toStripeAmount(52000, 'KRW')).toBe(52000)
    expect(toStripeAmount(990, 'UGX')).toBe(990)
    expect(fromStripeAmount(1500, 'jpy')).toBe(1500)
  })

  it('sends HUF and ISK x100 although they are shown with 0 decimals', () => {
    expect(toStripeAmount(5, 'ISK')).toBe(500)
    expect(toStripeAmount(1250, 'HUF')).toBe(125000)
    expect(fromStripeAmount(500, 'ISK')).toBe(5)
    expect(fromStripeAmount(125000, 'HUF')).toBe(1250)
  })

  it('sends three-decimal currencies in thousandths that must end in 0', () => {
    expect(stripeExponent('KWD')).toBe(3)
    expect(toStripeAmount(1250, 'KWD')).toBe(1250)
    expect(fromStripeAmount(1250, 'KWD')).toBe(1250)
    for (const c of ['KWD', 'BHD', 'JOD', 'OMR', 'TND']) {
      expect(() => toStripeAmount(1255, c)).toThrow(StripeAmountError)
      expect(stripeCanTake(1255, c)).toBe(false)
      expect(stripeCanTake(1250, c)).toBe(true)
    }
  })

  it('refuses negative and fractional amounts', () => {
    expect(() => toStripeAmount(-1, 'USD')).toThrow(StripeAmountError)
    expect(() => toStripeAmount(1.5, 'USD')).toThrow(StripeAmountError)
  })

  it('round-trips every amount it accepts', () => {
    for (const c of ['USD', 'JPY', 'HUF', 'ISK', 'KWD', 'TWD']) {
      for (const minor of [0, 10, 100, 12340, 999_990]) {
        expect(fromStripeAmount(toStripeAmount(minor, c), c)).toBe(minor)
      }
    }
  })
})
