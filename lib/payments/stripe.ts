import type { Stripe } from 'stripe'
import { env } from '../platform/env.js'
import { amountStep, currencyExponent, formatMajor, stripeExponent } from '../platform/money.js'

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
// Stripe's currency table (zero-decimal, HUF/ISK x100, three-decimal ending in 0) lives in
// lib/platform/money.ts, beside the rounding step it gives every amount the shop computes or stores.

export { stripeExponent }

export class StripeAmountError extends Error {}

/** Our minor units (ISO exponent) -> Stripe's amount; throws StripeAmountError when Stripe cannot take it. */
export function toStripeAmount(minor: number, currency: string): number {
  if (!Number.isSafeInteger(minor) || minor < 0) throw new StripeAmountError('not a non-negative integer')
  const c = currency.toUpperCase()
  const step = amountStep(c)
  if (minor % step !== 0) {
    throw new StripeAmountError(`Stripe takes ${c} amounts in steps of ${formatMajor(step, c)}`)
  }
  const shift = stripeExponent(c) - currencyExponent(c)
  return shift >= 0 ? minor * 10 ** shift : minor / 10 ** -shift
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
