import { z } from 'zod'
import { env } from './env.js'

// The one money helper. The database holds integer minor units; the API speaks decimal major units
// (29.99 for USD, 1500 for JPY, 1.250 for KWD). Arithmetic is integer-only; an amount with more decimals
// than the currency allows is refused, never rounded.

const exponents = new Map<string, number>()

export function currencyExponent(currency: string = env().SHOP_CURRENCY): number {
  let e = exponents.get(currency)
  if (e === undefined) {
    e =
      new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ??
      2
    exponents.set(currency, e)
  }
  return e
}

// --- What a card payment can charge ---------------------------------------------------------------------
// Stripe's own currency table (the only copy; lib/payments/stripe.ts converts with it). It expresses
// amounts in its own minor units, which are not always ISO 4217's:
// - zero-decimal currencies (JPY, KRW, ...) are sent as whole units;
// - ISK and HUF are shown with 0 decimals but sent x100 (Stripe treats them as two-decimal);
// - three-decimal currencies (KWD, BHD, JOD, OMR, TND) are sent in thousandths whose last digit must be 0
//   (they settle in hundredths);
// - everything else is two-decimal.
// It lives here, below the payments code, because checkout prices and catalog inputs must keep to the
// same rule: an amount the shop computes or stores that Stripe cannot charge is an order nobody can pay.

export const STRIPE_ZERO_DECIMAL: ReadonlySet<string> = new Set([
  'BIF',
  'CLP',
  'DJF',
  'GNF',
  'JPY',
  'KMF',
  'KRW',
  'MGA',
  'PYG',
  'RWF',
  'UGX',
  'VND',
  'VUV',
  'XAF',
  'XOF',
  'XPF',
])
export const STRIPE_THREE_DECIMAL: ReadonlySet<string> = new Set(['BHD', 'JOD', 'KWD', 'OMR', 'TND'])

/** How many decimals Stripe's `amount` has for this currency. */
export function stripeExponent(currency: string): number {
  const c = currency.toUpperCase()
  if (STRIPE_ZERO_DECIMAL.has(c)) return 0
  if (STRIPE_THREE_DECIMAL.has(c)) return 3
  return 2
}

/**
 * The rounding step of a currency in our minor units: the smallest amount a card payment can charge
 * (10 for KWD, BHD, JOD, OMR and TND, whose thousandths must be 0; 1 for USD, JPY, HUF, ISK, ...).
 * Every amount the shop computes rounds to it, and every price, rate and fixed amount is a multiple of it.
 */
export function amountStep(currency: string = env().SHOP_CURRENCY): number {
  const c = currency.toUpperCase()
  const chargedDecimals = STRIPE_ZERO_DECIMAL.has(c) ? 0 : 2
  return 10 ** Math.max(0, currencyExponent(c) - chargedDecimals)
}

/** Minor units -> major units as a JSON number (round-trips exactly for amounts up to MAX_MINOR). */
export function toMajor(minor: number, currency?: string): number {
  return minor / 10 ** currencyExponent(currency)
}

export class MoneyFormatError extends Error {}

/** 15 significant digits: the most a JSON number with decimals carries back exactly. */
export const MAX_MINOR = 999_999_999_999_999

/** Major units (number or decimal string) -> minor units; throws MoneyFormatError when not exact. */
export function toMinor(value: number | string, currency?: string): number {
  const exp = currencyExponent(currency)
  const text = typeof value === 'number' ? numberToPlain(value) : value.trim()
  const m = text.match(/^(-)?(\d+)(?:\.(\d+))?$/)
  if (!m) throw new MoneyFormatError('not a decimal amount')
  const [, sign, whole, frac = ''] = m
  const trimmed = frac.replace(/0+$/, '')
  if (trimmed.length > exp) throw new MoneyFormatError(`more than ${exp} decimal places`)
  const minor = BigInt(whole!) * 10n ** BigInt(exp) + BigInt(trimmed.padEnd(exp, '0') || '0')
  if (minor > BigInt(MAX_MINOR)) throw new MoneyFormatError('amount too large')
  return Number(sign ? -minor : minor)
}

/** A minor amount as the currency writes it, every decimal shown (0.010 for 10 in KWD). */
export function formatMajor(minor: number, currency: string = env().SHOP_CURRENCY): string {
  return toMajor(minor, currency).toFixed(currencyExponent(currency))
}

/** toMinor, refused unless a whole number of the currency's steps (amountStep): prices, rates, fixed amounts. */
export function toChargeableMinor(value: number | string, currency: string = env().SHOP_CURRENCY): number {
  const minor = toMinor(value, currency)
  const step = amountStep(currency)
  if (minor % step !== 0) {
    throw new MoneyFormatError(`${currency} amounts are charged in steps of ${formatMajor(step, currency)}`)
  }
  return minor
}

function numberToPlain(n: number): string {
  if (!Number.isFinite(n)) return 'NaN'
  const s = String(n)
  return /e/i.test(s) ? n.toFixed(20).replace(/\.?0+$/, '') : s
}

/** The largest amount an `integer` (int4) minor-units column holds. */
export const INT4_MAX_MINOR = 2_147_483_647

/**
 * Zod field for a non-negative money amount in major units; outputs minor units. `maxMinor` is the
 * column's limit, so an amount too large to store is the client's 422 on the field, not a database error.
 * The amount must be a whole number of the currency's steps (a price, a rate, a fixed discount: what an
 * order is made of); `anyAmount` lifts that for bounds that are only compared (a price filter).
 */
const moneyField = (maxMinor: number, { anyAmount = false } = {}) =>
  z.union([z.number(), z.string()]).transform((v, ctx) => {
    try {
      const minor = anyAmount ? toMinor(v) : toChargeableMinor(v)
      if (minor < 0) throw new MoneyFormatError('must not be negative')
      if (minor > maxMinor) throw new MoneyFormatError(`at most ${toMajor(maxMinor)}`)
      return minor
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        message: `Invalid amount for ${env().SHOP_CURRENCY}: ${(err as Error).message}`,
      })
      return z.NEVER
    }
  })

// The API's money schemas, each one named component of the OpenAPI document (lib/openapi/settings.ts
// writes their step and maximum from SHOP_CURRENCY): one schema per kind of amount, used everywhere.
/** A catalog price in major units (an `integer` column: at most INT4_MAX_MINOR); outputs minor units. */
export const Price = moneyField(INT4_MAX_MINOR).meta({ id: 'Price' })
/** A price bound of a search (only compared, never charged: any amount of the currency's decimals). */
export const PriceBound = moneyField(INT4_MAX_MINOR, { anyAmount: true }).meta({ id: 'PriceBound' })
/** Any other amount a client sends, in major units (a `bigint` column); outputs minor units. */
export const Amount = moneyField(MAX_MINOR).meta({ id: 'Amount' })
/** An amount in a response: major units of the shop currency (or of the order's `currency`). */
export const Money = z.number().meta({ id: 'Money' })
