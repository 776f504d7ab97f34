import { PASSWORD_MAX_LENGTH } from '../auth/password.js'
import { env } from '../platform/env.js'
import { amountStep, currencyExponent, INT4_MAX_MINOR, MAX_MINOR, toMajor } from '../platform/money.js'
import type { JsonSchema } from './components.js'

// Components whose limits are settings: money follows SHOP_CURRENCY (its step is the currency's minor
// unit, its maximum what the column holds), a new password PASSWORD_MIN_LENGTH. The committed document is
// generated with the defaults below; GET /api/v1/openapi.json serves it with this deployment's values.

export interface DocumentSettings {
  currency: string
  passwordMinLength: number
}

export const DEFAULT_DOCUMENT_SETTINGS: DocumentSettings = { currency: 'USD', passwordMinLength: 8 }

export const currentSettings = (): DocumentSettings => ({
  currency: env().SHOP_CURRENCY,
  passwordMinLength: env().PASSWORD_MIN_LENGTH,
})

export function settingComponents({
  currency,
  passwordMinLength,
}: DocumentSettings): Record<string, JsonSchema> {
  const exponent = currencyExponent(currency)
  const step = 10 ** -exponent
  // what a card can be charged: whole steps of amountStep (0.010 for KWD and the other three-decimal ones)
  const chargeable = toMajor(amountStep(currency), currency)
  const unit = `${currency} in major units (at most ${exponent} decimal places)`
  const input = (maxMinor: number, what: string, multipleOf: number, rule: string): JsonSchema => ({
    type: 'number',
    minimum: 0,
    maximum: toMajor(maxMinor, currency),
    multipleOf,
    description: `${what}: ${unit}. A decimal string of the same value is accepted too; ${rule} (422), never rounded.`,
  })
  const whole = `an amount that is not a whole number of ${chargeable} is refused`
  return {
    Money: { type: 'number', multipleOf: step, description: `An amount in ${unit}.` },
    Price: input(INT4_MAX_MINOR, 'A catalog price', chargeable, whole),
    PriceBound: input(
      INT4_MAX_MINOR,
      'A price bound of a search',
      step,
      'more decimal places than the currency has are refused',
    ),
    Amount: input(MAX_MINOR, 'An amount', chargeable, whole),
    NewPassword: {
      type: 'string',
      minLength: passwordMinLength,
      maxLength: PASSWORD_MAX_LENGTH,
      description:
        'A new password. Too short or long, a common password, or one containing the name part of the ' +
        'account email is refused with 422 `weak_password`, naming the rule.',
    },
  }
}

/** The committed document as this deployment serves it: setting-dependent components replaced. */
export function withSettings<T extends { components?: { schemas?: Record<string, unknown> } }>(
  doc: T,
  settings: DocumentSettings = currentSettings(),
): T {
  const same = Object.entries(settings).every(
    ([k, v]) => DEFAULT_DOCUMENT_SETTINGS[k as keyof DocumentSettings] === v,
  )
  if (same) return doc
  return {
    ...doc,
    components: {
      ...doc.components,
      schemas: { ...doc.components?.schemas, ...settingComponents(settings) },
    },
  }
}
