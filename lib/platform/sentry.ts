import {
  captureException,
  captureMessage,
  dedupeIntegration,
  type ErrorEvent,
  eventFiltersIntegration,
  flush,
  functionToStringIntegration,
  initWithoutDefaultIntegrations,
  linkedErrorsIntegration,
  nodeContextIntegration,
  withScope,
} from '@sentry/node'
import { scrubData, scrubText } from './scrub.js'

// The part of error reporting that loads @sentry/node. Only lib/platform/error-reporting.ts imports it,
// and only with `await import()` once SENTRY_DSN is set, so a function without the setting never loads
// the SDK. Named imports let the bundler keep only what is used here.

export interface SentrySettings {
  dsn: string
  release: string
  environment: string
}

/** A response route() found worth reporting: a 5xx, with the error behind it when one was thrown. */
export interface ServerErrorReport {
  error?: unknown
  status: number
  requestId: string
  /** The route's file pattern, e.g. `/api/v1/orders/[order_id]`, never the concrete URL. */
  route: string
  method: string
}

export interface Reporter {
  report(r: ServerErrorReport): void
  /** Resolves once queued events are sent, or after `ms` (false then). */
  flush(ms: number): Promise<boolean>
}

export function startSentry(settings: SentrySettings): Reporter {
  initWithoutDefaultIntegrations({
    dsn: settings.dsn,
    release: settings.release,
    environment: settings.environment,
    // Errors only: no request data, breadcrumbs, local variables, host name, tracing or runtime hooks.
    // Global uncaught-exception and unhandled-rejection handlers are left out too: they would change how
    // the process reacts to them, and route() and afterResponse() already catch what a request throws.
    integrations: [
      eventFiltersIntegration(),
      functionToStringIntegration(),
      linkedErrorsIntegration(),
      dedupeIntegration(),
      nodeContextIntegration({ app: false, device: false, culture: false }),
    ],
    // @sentry/node 11's successor of `sendDefaultPii: false`, every category off.
    dataCollection: {
      userInfo: false,
      cookies: false,
      httpHeaders: false,
      httpBodies: [],
      urlQueryParams: false,
      graphQL: { document: false, variables: false },
      genAI: { inputs: false, outputs: false },
      mcp: { inputs: false, outputs: false },
      databaseQueryData: false,
      queues: false,
      stackFrameVariables: false,
      frameContextLines: 0,
    },
    includeLocalVariables: false,
    includeServerName: false,
    maxBreadcrumbs: 0,
    sendClientReports: false,
    enableRuntimeChannelInjection: false,
    beforeBreadcrumb: () => null,
    beforeSend: scrubEvent,
  })
  return {
    report(r) {
      withScope((scope) => {
        scope.setTags({
          request_id: r.requestId,
          route: r.route,
          method: r.method,
          status: String(r.status),
        })
        scope.setTransactionName(`${r.method} ${r.route}`)
        if (r.error !== undefined) captureException(r.error)
        else captureMessage(`${r.method} ${r.route} answered ${r.status}`, 'error')
      })
    },
    flush: (ms) => flush(ms),
  }
}

/**
 * The last look at an event before it leaves (beforeSend): whatever the SDK gathered about the HTTP
 * request (URL and query string, headers with cookies and authorization, body, client address) and the
 * user is dropped, and messages, exception texts, extra data and contexts are scrubbed of personal data
 * and secrets. The request id, route pattern and status are tags of ours.
 */
export function scrubEvent(event: ErrorEvent): ErrorEvent {
  delete event.request
  delete event.user
  delete event.server_name
  delete event.breadcrumbs
  if (typeof event.message === 'string') event.message = scrubText(event.message)
  if (event.logentry) {
    if (event.logentry.message) event.logentry.message = scrubText(event.logentry.message)
    delete event.logentry.params
  }
  for (const ex of event.exception?.values ?? []) {
    if (ex.value) ex.value = scrubText(ex.value)
    if (ex.mechanism) delete ex.mechanism.data
    for (const frame of ex.stacktrace?.frames ?? []) delete frame.vars
  }
  if (event.extra) event.extra = scrubData(event.extra) as typeof event.extra
  for (const [name, context] of Object.entries(event.contexts ?? {})) {
    // Trace ids are random hex, not personal; the rest is scrubbed like any other data.
    if (name !== 'trace') event.contexts![name] = scrubData(context) as typeof context
  }
  return event
}
