import { env } from './env.js'

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
  if (value instanceof Error) return { name: value.name, message: value.message }
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) || PII_KEY.test(k) ? '[redacted]' : redact(v, depth + 1)
  }
  return out
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
  if (level === 'error' || level === 'warn') process.stderr.write(`${line}\n`)
  else process.stdout.write(`${line}\n`)
}

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
