import { afterResponse } from './background.js'
import { env } from './env.js'
import { log } from './logger.js'
import type { Reporter, SentrySettings, ServerErrorReport } from './sentry.js'

// Error reporting to Sentry, on when SENTRY_DSN is set (docs/monitoring.md, ADR 015). This module is in
// every function and loads nothing: @sentry/node (lib/platform/sentry.ts) is imported the first time a
// function with SENTRY_DSN has answered a request, after that response, so no response, not even an
// instance's first, waits for the SDK. A 5xx is reported, and sent (Sentry.flush), in the request's
// after-response work, which keeps a Vercel instance alive until the event has left.

/** How long the after-response work waits for Sentry to accept an event. */
const FLUSH_MS = 2000

let reporter: Promise<Reporter | null> | undefined

function settings(): SentrySettings | null {
  let e: ReturnType<typeof env>
  try {
    e = env()
  } catch {
    return null // an invalid setting: route() answers 503 naming it; nothing to report with
  }
  if (!e.SENTRY_DSN) return null
  return {
    dsn: e.SENTRY_DSN,
    release: e.SENTRY_RELEASE ?? e.VERCEL_GIT_COMMIT_SHA ?? e.APP_VERSION ?? 'development',
    environment: e.SENTRY_ENVIRONMENT ?? e.VERCEL_ENV ?? e.NODE_ENV ?? 'development',
  }
}

function start(s: SentrySettings): Promise<Reporter | null> {
  reporter ??= import('./sentry.js').then(
    (m) => m.startSentry(s),
    (err: unknown) => {
      log.warn('error reporting could not start', { err })
      return null
    },
  )
  return reporter
}

/**
 * route()'s report of every response. With SENTRY_DSN set: a 5xx (with the error behind it, if one was
 * thrown) is reported and flushed after the response; any other answer starts the SDK after the
 * instance's first response. Without SENTRY_DSN: nothing.
 */
export function noteResponse(r: ServerErrorReport): void {
  const s = settings()
  if (!s) return
  if (r.status < 500) {
    if (!reporter) afterResponse(() => start(s))
    return
  }
  afterResponse(async () => {
    const sentry = await start(s)
    if (!sentry) return
    sentry.report(r)
    if (!(await sentry.flush(FLUSH_MS)))
      log.warn('error report not sent within 2 s', { request_id: r.requestId })
  })
}

/** Whether this process has loaded (or is loading) @sentry/node. */
export const errorReportingLoaded = (): boolean => reporter !== undefined
