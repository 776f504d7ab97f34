import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { validate } from '../../lib/http/validation.js'
import { resetEnv } from '../../lib/platform/env.js'
import {
  Amount,
  amountStep,
  currencyExponent,
  formatMajor,
  MoneyFormatError,
  Price,
  PriceBound,
  toChargeableMinor,
  toMajor,
  toMinor,
} from '../../lib/platform/money.js'

const savedCurrency = process.env.SHOP_CURRENCY

afterEach(() => {
  if (savedCurrency === undefined) delete process.env.SHOP_CURRENCY
  else process.env.SHOP_CURRENCY = savedCurrency
  resetEnv()
})

describe('currency exponents (ISO 4217)', () => {
  it('knows USD 2, JPY 0 and KWD 3', () => {
    expect(currencyExponent('USD')).toBe(2)
    expect(currencyExponent('JPY')).toBe(0)
    expect(currencyExponent('KWD')).toBe(3)
  })

  it('defaults to the shop currency, USD unless SHOP_CURRENCY says otherwise', () => {
    delete process.env.SHOP_CURRENCY
    resetEnv()
    expect(toMinor('29.99')).toBe(2999)
    process.env.SHOP_CURRENCY = 'JPY'
    resetEnv()
    expect(toMinor('1500')).toBe(1500)
    expect(() => toMinor('29.99')).toThrow(MoneyFormatError)
  })
})

describe('toMinor', () => {
  it('converts USD major units to cents exactly', () => {
    expect(toMinor(29.99, 'USD')).toBe(2999)
    expect(toMinor(0.07, 'USD')).toBe(7)
    expect(toMinor(1.1, 'USD')).toBe(110)
    expect(toMinor(100, 'USD')).toBe(10000)
    expect(toMinor(0, 'USD')).toBe(0)
  })

  it('accepts decimal strings, with trailing zeros and surrounding spaces', () => {
    expect(toMinor('29.99', 'USD')).toBe(2999)
    expect(toMinor('29.90', 'USD')).toBe(2990)
    expect(toMinor('29.9000', 'USD')).toBe(2990)
    expect(toMinor(' 5 ', 'USD')).toBe(500)
  })

  it('converts JPY (no minor unit) one to one', () => {
    expect(toMinor(1500, 'JPY')).toBe(1500)
    expect(toMinor('1500', 'JPY')).toBe(1500)
    expect(toMinor('1500.0', 'JPY')).toBe(1500)
    expect(() => toMinor('1500.5', 'JPY')).toThrow(MoneyFormatError)
  })

  it('converts KWD with three decimals', () => {
    expect(toMinor('1.250', 'KWD')).toBe(1250)
    expect(toMinor(1.25, 'KWD')).toBe(1250)
    expect(toMinor('0.005', 'KWD')).toBe(5)
    expect(() => toMinor('1.2505', 'KWD')).toThrow(MoneyFormatError)
  })

  it('refuses more decimals than the currency allows instead of rounding', () => {
    expect(() => toMinor('29.999', 'USD')).toThrow(MoneyFormatError)
    expect(() => toMinor(29.999, 'USD')).toThrow(MoneyFormatError)
    expect(() => toMinor('0.001', 'USD')).toThrow(/decimal places/)
  })

  it('refuses a float artefact such as 0.1 + 0.2', () => {
    expect(() => toMinor(0.1 + 0.2, 'USD')).toThrow(MoneyFormatError)
  })

  it('refuses a tiny number written in exponent form', () => {
    expect(() => toMinor(1e-7, 'USD')).toThrow(MoneyFormatError)
  })

  it('keeps the sign of a negative amount', () => {
    expect(toMinor('-12.34', 'USD')).toBe(-1234)
    expect(toMinor(-0.5, 'USD')).toBe(-50)
    expect(() => toMinor('-0.001', 'USD')).toThrow(MoneyFormatError)
  })

  it('refuses what is not a plain decimal amount', () => {
    for (const bad of ['', 'abc', '1,000.00', '1e3', '+5', '.5', '5.', '12.3.4', '$5', 'NaN']) {
      expect(() => toMinor(bad, 'USD'), bad).toThrow(MoneyFormatError)
    }
    expect(() => toMinor(Number.NaN, 'USD')).toThrow(MoneyFormatError)
    expect(() => toMinor(Number.POSITIVE_INFINITY, 'USD')).toThrow(MoneyFormatError)
  })

  it('refuses amounts beyond what integer minor units can hold exactly', () => {
    expect(() => toMinor('90071992547409.92', 'USD')).toThrow(MoneyFormatError)
    expect(() => toMinor('-90071992547409.92', 'USD')).toThrow(MoneyFormatError)
    expect(() => toMinor(1e21, 'USD')).toThrow(MoneyFormatError)
    expect(() => toMinor('1'.repeat(40), 'USD')).toThrow(/too large/)
  })

  it('accepts only amounts that survive the trip back to a JSON number', () => {
    // An amount toMinor accepts is stored, then rendered with toMajor: it must come back unchanged.
    // Refusing a huge amount is fine; silently storing a different one is not.
    expect(toMinor('9999999999999.99', 'USD')).toBe(999_999_999_999_999)
    const changed: string[] = []
    for (const amount of ['9999999999999.99', '12345678901234.57', '90071992547409.91', '90071992547409.9']) {
      let minor: number
      try {
        minor = toMinor(amount, 'USD')
      } catch (err) {
        expect(err).toBeInstanceOf(MoneyFormatError)
        continue
      }
      const back = toMinor(toMajor(minor, 'USD'), 'USD')
      if (back !== minor) changed.push(`${amount} -> ${minor} -> ${toMajor(minor, 'USD')} -> ${back}`)
    }
    expect(changed).toEqual([])
  })
})

describe('toMajor', () => {
  it('renders minor units as a JSON number in major units', () => {
    expect(toMajor(2999, 'USD')).toBe(29.99)
    expect(toMajor(7, 'USD')).toBe(0.07)
    expect(toMajor(1500, 'JPY')).toBe(1500)
    expect(toMajor(1250, 'KWD')).toBe(1.25)
    expect(toMajor(-1234, 'USD')).toBe(-12.34)
    expect(JSON.stringify({ price: toMajor(2999, 'USD') })).toBe('{"price":29.99}')
  })

  it('is the inverse of toMinor for everyday amounts', () => {
    const wrong: number[] = []
    for (let minor = -10_000; minor < 100_000; minor += 3) {
      if (toMinor(toMajor(minor, 'USD'), 'USD') !== minor) wrong.push(minor)
    }
    expect(wrong).toEqual([])
  })
})

describe('the Amount and Price fields', () => {
  const Body = z.object({ price: Amount })

  it('refuses a price larger than its integer column holds, and takes the largest one', () => {
    expect(Price.safeParse(21_474_836.47)).toMatchObject({ success: true, data: 2_147_483_647 })
    expect(Price.safeParse(21_474_836.48).error?.issues[0]?.message).toMatch(/at most 21474836.47/)
    expect(Amount.safeParse(21_474_836.48).success).toBe(true)
  })

  it('outputs minor units for a number or a decimal string', () => {
    expect(Body.parse({ price: 29.99 })).toEqual({ price: 2999 })
    expect(Body.parse({ price: '29.99' })).toEqual({ price: 2999 })
  })

  it('gives a field issue for too many decimals, which the API answers as a 422', () => {
    const r = Body.safeParse({ price: 29.999 })
    expect(r.success).toBe(false)
    expect(r.error?.issues[0]).toMatchObject({ path: ['price'], code: 'custom' })
    expect(r.error?.issues[0]?.message).toMatch(/USD/)

    let thrown: unknown
    try {
      validate(Body, { price: '29.999' }, 'body')
    } catch (err) {
      thrown = err
    }
    expect(thrown).toMatchObject({
      status: 422,
      code: 'validation_failed',
      extra: { errors: [{ path: 'price', code: 'custom', message: expect.stringMatching(/decimal/) }] },
    })
  })

  it('refuses a negative amount', () => {
    const r = Body.safeParse({ price: -1 })
    expect(r.success).toBe(false)
    expect(r.error?.issues[0]?.message).toMatch(/negative/)
  })

  it('refuses non-numeric input', () => {
    expect(Body.safeParse({ price: 'free' }).success).toBe(false)
    expect(Body.safeParse({ price: null }).success).toBe(false)
    expect(Body.safeParse({ price: true }).success).toBe(false)
  })

  it('follows the shop currency', () => {
    process.env.SHOP_CURRENCY = 'JPY'
    resetEnv()
    expect(Body.parse({ price: 1500 })).toEqual({ price: 1500 })
    expect(Body.safeParse({ price: 15.5 }).success).toBe(false)
  })
})

describe('the rounding step of a currency (what a card payment can charge)', () => {
  it('is 0.010 for three-decimal currencies and one minor unit for the rest', () => {
    for (const c of ['KWD', 'BHD', 'JOD', 'OMR', 'TND', 'kwd']) expect(amountStep(c)).toBe(10)
    for (const c of ['USD', 'EUR', 'JPY', 'KRW', 'HUF', 'ISK']) expect(amountStep(c)).toBe(1)
    // a three-decimal currency outside Stripe's three-decimal list is still charged in hundredths
    expect(amountStep('LYD')).toBe(10)
  })

  it('refuses a price that is not whole steps, naming the step; price filters take any amount', () => {
    expect(toChargeableMinor('1.230', 'KWD')).toBe(1230)
    expect(() => toChargeableMinor('1.235', 'KWD')).toThrow(/steps of 0\.010/)
    expect(toChargeableMinor('29.99', 'USD')).toBe(2999)
    expect(formatMajor(10, 'KWD')).toBe('0.010')
    process.env.SHOP_CURRENCY = 'KWD'
    resetEnv()
    const Item = z.object({ price: Price })
    const Filter = z.object({ price: PriceBound })
    expect(Item.safeParse({ price: 1.235 }).success).toBe(false)
    expect(Item.parse({ price: 1.23 })).toEqual({ price: 1230 })
    expect(z.object({ amount: Amount }).safeParse({ amount: 1.235 }).success).toBe(false)
    expect(Filter.parse({ price: 1.235 })).toEqual({ price: 1235 })
  })
})
