// Errors that mean "the database cannot be reached right now", as opposed to a bad query or bad data:
// connection refused, reset or terminated, timeouts, DNS failures, and PostgreSQL's own "go away" states
// (class 08 connection exceptions, admin/crash shutdown, cannot connect now, too many connections).
// Drivers wrap these differently (drizzle's DrizzleQueryError, the Neon driver's ws ErrorEvent, pg's
// Error with a message only, AggregateError for dual-stack connects), so the whole chain is looked at.

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
])
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300'])
const UNAVAILABLE_MESSAGES =
  /connection terminated|connection timeout|timeout exceeded when trying to connect|terminating connection|socket hang up|websocket (?:was closed|connection)|server closed the connection|connect ECONNREFUSED/i

export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 6) return false
  const e = err as { code?: unknown; message?: unknown; cause?: unknown; error?: unknown; errors?: unknown }
  if (typeof e.code === 'string') {
    if (NETWORK_CODES.has(e.code) || UNAVAILABLE_SQLSTATES.has(e.code)) return true
    if (/^08[0-9A-Z]{3}$/.test(e.code)) return true
  }
  if (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.test(e.message)) return true
  const nested = [e.cause, e.error, ...(Array.isArray(e.errors) ? e.errors : [])]
  return nested.some((n) => n !== err && isDatabaseUnavailable(n, depth + 1))
}
