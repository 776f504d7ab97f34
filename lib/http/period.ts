import { z } from 'zod'
import { unprocessable } from './errors.js'

// The reporting period of the analytics and KPI endpoints (?from=&to=), one way for all of them.

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/
const DAY_MS = 86_400_000

/**
 * A point in time in a query: an ISO 8601 date-time with its offset, or a date (its UTC midnight).
 * Anything else (`null`, `1`, a date-time without offset) is a 422 saying what to send.
 */
export const Instant = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()], {
    error: 'Give an ISO 8601 date (2026-01-31) or a date-time with its offset (2026-01-31T09:00:00Z).',
  })
  .transform((s) => new Date(DATE_ONLY.test(s) ? `${s}T00:00:00Z` : s))

export const periodFields = {
  from: Instant.optional().describe('Start of the period (inclusive); default 30 days before `to`'),
  to: Instant.optional().describe('End of the period (exclusive); default now'),
}

/** The period asked for with its defaults (the 30 days before now), or a 422 when it is empty. */
export function resolvePeriod(q: { from?: Date | undefined; to?: Date | undefined }, now: Date) {
  const to = q.to ?? now
  const from = q.from ?? new Date(to.getTime() - 30 * DAY_MS)
  if (from >= to) {
    throw unprocessable([{ path: 'query.from', message: 'must be before `to`', code: 'invalid_range' }])
  }
  return { from, to }
}
