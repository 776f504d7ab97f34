import type { Stripe } from 'stripe'
import { env } from '../platform/env.js'
import { currencyExponent } from '../platform/money.js'

// The Stripe client and Stripe's own currency rules. The client is created once per instance and the
// `stripe` package is imported lazily, so functions that never pay (catalog, auth) do not load it.
// STRIPE_API_BASE points the client at a local server in tests.

export type StripeClient = Stripe

let client: { key: string; base: string; stripe: Promise<Stripe> } | undefined

/** Whether payments go through Stripe (STRIPE_SECRET_KEY set); otherwise orders use manual payment. */
export const stripeEnabled = (): boolean => Boolean(env().STRIPE_SECRET_KEY)

/** The shared client; throws when Stripe is not configured (check stripeEnabled first). */
export async function stripe(): Promise<Stripe> {
  const { STRIPE_SECRET_KEY: key, STRIPE_API_BASE: base } = env()
  if (!key) throw new Error('STRIPE_SECRET_KEY is not set')
  if (!client || client.key !== key || client.base !== base) {
    const url = new URL(base)
    client = {
      key,
      base,
      stripe: import('stripe').then(
        ({ default: StripeCtor }) =>
          new StripeCtor(key, {
            host: url.hostname,
            ...(url.port ? { port: Number(url.port) } : {}),
            protocol: url.protocol === 'http:' ? 'http' : 'https',
            maxNetworkRetries: 2,
            timeout: 10_000,
            appInfo: { name: 'commerce-api' },
          }),
      ),
    }
  }
  return client.stripe
}

/** Only for tests that change STRIPE_* between cases. */
export function resetStripeClient(): void {
  client = undefined
}

// --- Currency rules ---------------------------------------------------------------------------------------
// Stripe expresses amounts in its own minor units, which are not always ISO 4217's:
// - zero-decimal currencies (JPY, KRW, ...) are sent as whole units;
// - ISK and HUF are shown with 0 decimals but sent x100 (Stripe treats them as two-decimal);
// - three-decimal currencies (KWD, BHD, JOD, OMR, TND) are sent in thousandths, and the last digit must
//   be 0 (Stripe refuses anything it cannot settle in hundredths);
// - everything else is two-decimal.

const ZERO_DECIMAL = new Set([
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
const THREE_DECIMAL = new Set(['BHD', 'JOD', 'KWD', 'OMR', 'TND'])

/** How many decimals Stripe's `amount` has for this currency. */
export function stripeExponent(currency: string): number {
  const c = currency.toUpperCase()
  if (ZERO_DECIMAL.has(c)) return 0
  if (THREE_DECIMAL.has(c)) return 3
  return 2
}

export class StripeAmountError extends Error {}

/** Our minor units (ISO exponent) -> Stripe's amount; throws StripeAmountError when Stripe cannot take it. */
export function toStripeAmount(minor: number, currency: string): number {
  if (!Number.isSafeInteger(minor) || minor < 0) throw new StripeAmountError('not a non-negative integer')
  const shift = stripeExponent(currency) - currencyExponent(currency.toUpperCase())
  let amount: number
  if (shift >= 0) amount = minor * 10 ** shift
  else {
    const unit = 10 ** -shift
    if (minor % unit !== 0) throw new StripeAmountError(`Stripe takes ${currency} in whole units`)
    amount = minor / unit
  }
  if (THREE_DECIMAL.has(currency.toUpperCase()) && amount % 10 !== 0) {
    throw new StripeAmountError(`Stripe takes ${currency} amounts in multiples of 0.010`)
  }
  return amount
}

/** Stripe's amount -> our minor units (exact for every amount toStripeAmount produces). */
export function fromStripeAmount(amount: number, currency: string): number {
  const shift = stripeExponent(currency) - currencyExponent(currency.toUpperCase())
  return shift >= 0 ? Math.round(amount / 10 ** shift) : amount * 10 ** -shift
}

/** Whether an amount of our minor units can be charged or refunded through Stripe as is. */
export function stripeCanTake(minor: number, currency: string): boolean {
  try {
    toStripeAmount(minor, currency)
    return true
  } catch {
    return false
  }
}
