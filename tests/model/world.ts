import { AsyncLocalStorage } from 'node:async_hooks'
import type fc from 'fast-check'
import { type CallOptions, type CallResult, call } from '../support/http.js'
import { type Fault, ModelStripe, type QueuedEvent } from '../support/stripe-model.js'
import { type Books, readBooks, type Shop } from './books.js'
import { errorLog } from './errors.js'
import { checkBooks, checkQuiescent, Ledger } from './invariants.js'
import { modelTime } from './steps.js'

// The real system as the model test drives it: the route handlers in-process, the faulty Stripe, and the
// operations in flight. An operation is one HTTP call (or one webhook delivery) that a command starts and
// does not wait for: it runs until it finishes or parks at a gate (a Stripe request on its way, a Stripe
// answer on its way back, a webhook delivery waiting to be sent). Only the scheduler opens gates, and it
// does so only when every operation is finished or parked (quiet()), so exactly one operation runs between
// two decisions and a seed replays the same interleaving. PGlite runs one query at a time anyway: what this
// searches is the order of Stripe's answers, webhooks and staff actions, not races between two connections.

/** Where an operation waits until the scheduler lets it go on. */
export interface Gates {
  schedule(label: string, onRelease: () => void): Promise<void>
}

/** fast-check's scheduler picks which gate opens next. */
export const schedulerGates = (s: fc.Scheduler): Gates => ({
  schedule: (label, onRelease) =>
    s.schedule(Promise.resolve(), label, undefined, (f) => {
      onRelease()
      return f()
    }),
})

/** Every gate opens at once (the final settling phase, and plain replays of a counterexample). */
export const openGates: Gates = {
  schedule: (_label, onRelease) => {
    onRelease()
    return Promise.resolve()
  },
}

/** Gates a test opens by hand, by label, to replay an interleaving step by step. */
export class ManualGates implements Gates {
  waiting: Array<{ label: string; open: () => void }> = []
  schedule(label: string, onRelease: () => void): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push({
        label,
        open: () => {
          onRelease()
          resolve()
        },
      })
    })
  }
  labels(): string[] {
    return this.waiting.map((w) => w.label)
  }
}

export interface Op {
  id: number
  label: string
  faults: Fault[]
  parked: number
  done: boolean
  promise: Promise<void>
  result?: CallResult
}

/** What the commands know about the orders they made (ids come from answers, as a client knows them). */
export interface KnownOrder {
  id: string
  buyer: 'customer' | 'guest'
  token?: string
  clientSecret?: string | null
  paymentIntentId?: string | null
}

export class World {
  readonly stripe: ModelStripe
  readonly ledger = new Ledger()
  ops: Op[] = []
  orders: KnownOrder[] = []
  failures: string[] = []
  trace: string[] = []
  books: Books | undefined
  reconcile: boolean
  /** gates opened so far, and the last one's label */
  opened = 0
  lastOpened = ''
  checks = 0
  checkMs = 0
  /** the gate count when the books were last read: commands decide from books no gate has changed since */
  private booksAt = -1
  private als = new AsyncLocalStorage<Op>()
  private nextId = 1

  constructor(
    readonly shop: Shop,
    public gates: Gates,
    opts: { reconcile: boolean },
  ) {
    this.reconcile = opts.reconcile
    this.stripe = new ModelStripe(() => {
      const op = this.als.getStore()
      return {
        op: op?.label,
        nextFault: () => op?.faults.shift() ?? 'ok',
        gate: (label) => this.park(label),
        clock: modelTime,
      }
    })
  }

  fail(message: string): void {
    this.failures.push(message)
  }

  /** Start an operation and let it run until it finishes or parks; the caller does not wait for it. */
  start(label: string, faults: Fault[], body: (op: Op) => Promise<void>): Op {
    const op: Op = {
      id: this.nextId++,
      label: `#${this.nextId - 1} ${label}`,
      faults: [...faults],
      parked: 0,
      done: false,
      promise: Promise.resolve(),
    }
    this.ops.push(op)
    op.promise = this.als.run(op, async () => {
      try {
        await body(op)
      } catch (err) {
        this.fail(`${op.label} threw ${(err as Error)?.stack ?? err}`)
      } finally {
        op.done = true
      }
    })
    return op
  }

  /** An HTTP call as an operation; `then` checks its answer when it arrives. */
  request(
    label: string,
    faults: Fault[],
    method: string,
    path: string,
    opts: CallOptions,
    then?: (r: CallResult, op: Op) => void | Promise<void>,
  ): Op {
    return this.start(label, faults, async (op) => {
      const r = await call(method, path, opts)
      op.result = r
      if (r.status >= 500 && r.status !== 502 && r.status !== 503) this.fail(this.serverError(op, r))
      await then?.(r, op)
    })
  }

  /** A 500, with the error the API logged for it. */
  private serverError(op: Op, r: CallResult): string {
    const id = r.body?.request_id as string | undefined
    const logged = errorLog
      .filter((l) => id && l.includes(id))
      .map((l) => {
        try {
          const e = JSON.parse(l) as { msg?: string; err?: { message?: string; stack?: string } }
          return `${e.msg}: ${e.err?.message ?? ''}\n${(e.err?.stack ?? '').split('\n').slice(1, 6).join('\n')}`
        } catch {
          return l.slice(0, 500)
        }
      })
    return `${op.label} answered ${r.status} (a 500 is always a failure)${logged.length ? `: ${logged.join('; ')}` : ''}`
  }

  /** Park the calling operation at a gate. */
  park(label: string): Promise<void> {
    const op = this.als.getStore()
    if (!op) return Promise.resolve()
    op.parked++
    this.trace.push(`park ${op.label}: ${label}`)
    return this.gates.schedule(`${op.label}: ${label}`, () => {
      op.parked--
      this.opened++
      this.lastOpened = `${op.label}: ${label}`
      this.trace.push(`open ${this.lastOpened}`)
    })
  }

  /** Deliver a queued Stripe event as an operation: it waits at a gate first, so it may arrive late. */
  deliver(e: QueuedEvent, mode: 'ok' | 'lostReply' | 'again', faults: Fault[]): Op {
    return this.start(
      `deliver ${e.type} ${e.id.slice(-6)}${mode === 'ok' ? '' : ` (${mode})`}`,
      faults,
      async (op) => {
        await this.park('webhook on its way')
        const signed = this.stripe.sign(e)
        e.attempts++
        const r = await call('POST', '/api/webhooks/stripe', {
          rawBody: signed.payload,
          headers: { 'stripe-signature': signed.signature, 'content-type': 'application/json' },
        })
        op.result = r
        if (r.status === 500) this.fail(this.serverError(op, r))
        else if (r.status >= 400 && r.status < 500)
          this.fail(`${op.label} answered ${r.status}: ${r.text.slice(0, 300)}`)
        if (r.status >= 200 && r.status < 300 && mode !== 'lostReply') {
          e.acknowledged++
          const i = this.stripe.queue.indexOf(e)
          if (i >= 0) {
            this.stripe.queue.splice(i, 1)
            this.stripe.delivered.push(e)
          }
        }
      },
    )
  }

  /** Resolves once every operation has finished or waits at a gate. */
  async quiet(limitMs = 30_000): Promise<void> {
    const until = Date.now() + limitMs
    for (;;) {
      if (this.ops.every((o) => o.done || o.parked > 0)) return
      if (Date.now() > until) {
        const stuck = this.ops.filter((o) => !o.done && o.parked === 0).map((o) => o.label)
        throw new Error(
          `operations neither finished nor waiting at a gate after ${limitMs} ms (a Stripe call inside a transaction?): ${stuck.join(', ')}`,
        )
      }
      await new Promise((r) => setImmediate(r))
    }
  }

  /** Read the books, check every invariant, remember them for the next step. */
  async check(step: string): Promise<void> {
    const t = performance.now()
    const books = await readBooks(this.shop)
    this.checkMs += performance.now() - t
    this.checks++
    this.ledger.observe(books)
    const problems = checkBooks(books, this.stripe, this.ledger)
    this.books = books
    this.booksAt = this.opened
    for (const p of problems) this.fail(`after ${step}: ${p}`)
    this.raise()
  }

  /** Quiescence: the books must match Stripe exactly and nothing may be pending. */
  async checkQuiescent(): Promise<void> {
    const books = await readBooks(this.shop)
    this.ledger.observe(books)
    this.books = books
    this.booksAt = this.opened
    for (const p of [...checkBooks(books, this.stripe, this.ledger), ...checkQuiescent(books, this.stripe)])
      this.fail(`at quiescence: ${p}`)
    this.raise()
  }

  raise(): void {
    if (this.stripe.unknown.length)
      this.fail(`Stripe endpoints the fake does not know: ${this.stripe.unknown.join(', ')}`)
    if (this.failures.length === 0) return
    const e = new Error(`${this.failures.join('\n')}\n--- trace ---\n${this.trace.slice(-60).join('\n')}`)
    this.failures = []
    throw e
  }

  /** A command: quiet before, start its work, quiet after, then check the books. */
  async command(name: string, body: () => void | Promise<void>): Promise<void> {
    await this.quiet()
    if (this.booksAt !== this.opened) await this.check('the gates opened before it')
    this.trace.push(`> ${name}`)
    await body()
    await this.quiet()
    await this.check(name)
  }
}
