import { env } from './env.js'
import { scrubText } from './scrub-text.js'

// One JSON line per event. Keys that may hold secrets or personal data are redacted wherever they appear.
const SECRET_KEY =
  /pass(word)?|secret|token|authorization|cookie|api[_-]?key|(^|_)code$|otp|_hash$|signature/i
const PII_KEY = /(^|_)(email|phone|first_name|last_name|address|ip|ip_address)$/i
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const
type Level = Exclude<keyof typeof LEVELS, 'silent'>

export function redact(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value
  if (depth > 6) return '[truncated]'
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1))
  if (value instanceof Error) return safeError(value)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    out[k] = hidden(k) ? '[redacted]' : redact(v, depth + 1)
  }
  return out
}

// The verdict per key name, remembered: log fields come from a small set of names in the code, so the
// request line (one per request) no longer runs two regular expressions per field. Bounded, should data
// ever bring its own keys.
const verdicts = new Map<string, boolean>()
function hidden(key: string): boolean {
  let v = verdicts.get(key)
  if (v === undefined) {
    v = SECRET_KEY.test(key) || PII_KEY.test(key)
    if (verdicts.size < 1000) verdicts.set(key, v)
  }
  return v
}

/**
 * An error as it may be logged: name, a message without query parameters (drizzle puts every bound value,
 * hashes and personal data included, after "params:") and without the emails, tokens, phone numbers and
 * addresses a message may quote (a provider's "Invalid email address: ..."; scrubText), the driver's
 * SQLSTATE and constraint, a stack scrubbed the same way.
 */
export function safeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error))
    return { value: typeof err === 'string' ? scrubText(err).slice(0, 200) : typeof err }
  const strip = (s: string | undefined) => (s === undefined ? s : scrubText(s))
  const cause = (err as { cause?: { code?: unknown; constraint?: unknown; name?: unknown } }).cause
  return {
    name: err.name,
    message: strip(err.message)?.slice(0, 1000),
    ...(cause && typeof cause === 'object'
      ? { cause: { name: cause.name, sqlstate: cause.code, constraint: cause.constraint } }
      : {}),
    stack: strip(err.stack)?.slice(0, 4000),
  }
}

function configuredLevel(): keyof typeof LEVELS {
  try {
    return env().LOG_LEVEL
  } catch {
    return 'info' // an invalid setting is reported by route(); logging must keep working meanwhile
  }
}

function write(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  if (LEVELS[level] < LEVELS[configuredLevel()]) return
  const line = JSON.stringify({ level, time: new Date().toISOString(), msg, ...(redact(fields) as object) })
  if (level === 'error' || level === 'warn') {
    flushLogs()
    process.stderr.write(`${line}\n`)
  } else {
    buffered += `${line}\n`
    if (!scheduled) {
      scheduled = true
      setImmediate(flushLogs)
    }
  }
}

// Info and debug lines written within one turn of the event loop go out in one write (one system call for
// many requests under load); warnings and errors are written at once, after what is buffered.
let buffered = ''
let scheduled = false
/** Write buffered info/debug lines now (also on exit). */
export function flushLogs(): void {
  scheduled = false
  if (!buffered) return
  const out = buffered
  buffered = ''
  process.stdout.write(out)
}
process.on('exit', flushLogs)

export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => write('debug', msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write('error', msg, fields),
}

const warnedOnce = new Set<string>()
/** Log a warning once per process (missing optional services, failing-open rate limits). */
export function warnOnce(key: string, msg: string, fields?: Record<string, unknown>): void {
  if (warnedOnce.has(key)) return
  warnedOnce.add(key)
  log.warn(msg, fields)
}
