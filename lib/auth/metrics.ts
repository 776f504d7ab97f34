import { afterResponse } from '../platform/background.js'
import { counterIncrement, defineCounter, record } from '../platform/metrics.js'

// Auth metrics listed in docs/monitoring.md (requests and durations by route and status come from
// route() itself).
export const failedLogins = defineCounter('auth_failed_logins_total', 'Failed sign-ins by reason', ['reason'])
export const authEvents = defineCounter(
  'auth_events_total',
  'Auth events (login, register, refresh, logout...)',
  ['event'],
)
export const mfaEvents = defineCounter('auth_mfa_events_total', 'MFA use by event', ['event'])

type Def = typeof failedLogins

/** Count after the response; metrics never slow down or fail a request. */
export function count(def: Def, label: string): void {
  const name = def.labels[0]!
  afterResponse(() => record(counterIncrement(def, { [name]: label })))
}
