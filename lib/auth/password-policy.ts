import { createRequire } from 'node:module'
import { env } from '../platform/env.js'
import { PASSWORD_MAX_LENGTH } from './password.js'

// Password rules: PASSWORD_MIN_LENGTH (never below 8) to 128 characters, and not one of the common
// passwords in Mozilla's list (fxa-common-password-list, bundled; the Firefox Accounts check).
const require = createRequire(import.meta.url)
let common: { test(password: string): boolean } | undefined

export function passwordProblem(password: string, context: { email?: string } = {}): string | null {
  const min = env().PASSWORD_MIN_LENGTH
  if (password.length < min) return `must be at least ${min} characters`
  if (password.length > PASSWORD_MAX_LENGTH) return `must be at most ${PASSWORD_MAX_LENGTH} characters`
  common ??= require('fxa-common-password-list') as { test(password: string): boolean }
  if (common.test(password) || common.test(password.toLowerCase())) {
    return 'is too common; choose a less predictable password'
  }
  const local = context.email?.split('@')[0]?.toLowerCase()
  if (local && local.length >= 4 && password.toLowerCase().includes(local))
    return 'must not contain the email address or its name part'
  return null
}
