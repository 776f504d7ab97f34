import { existsSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import type { SetupServer } from 'msw/node'
import { resetStripeClient, stripe } from '../../lib/payments/stripe.js'
import { setEnv } from '../support/env.js'
import { ROOT } from '../support/http.js'
import { KEYS } from '../support/msw.js'
import { WEBHOOK_SECRET } from '../support/stripe.js'
import { makeShop } from './books.js'
import { tally } from './coverage.js'
import { captureErrors } from './errors.js'
import type { Step } from './steps.js'
import { advanceClock, CRON_SECRET, placeOrder, resetClock } from './steps.js'
import { type Gates, ManualGates, openGates, schedulerGates, World } from './world.js'

// Running the model: the settings, one world per run, the scheduled run itself and the settling at the end
// (every webhook delivered, Stripe's pending refunds settled, reconcile run with the clock past its
// 10 minutes, until nothing moves), after which Stripe and the books must agree exactly.

/** Reconcile runs once its cron exists on this branch (MODEL_RECONCILE=on|off overrides). */
export const reconcileEnabled = (): boolean => {
  const forced = process.env.MODEL_RECONCILE
  if (forced === 'on' || forced === 'off') return forced === 'on'
  return existsSync(join(ROOT, 'api/cron/reconcile-payments.ts'))
}

export async function modelEnv(): Promise<void> {
  captureErrors()
  setEnv({
    LOG_LEVEL: 'error',
    STRIPE_SECRET_KEY: KEYS.stripe,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    CRON_SECRET,
    RATE_LIMIT_DEFAULT: '1000000/60',
    MAX_UNPAID_ORDERS_PER_BUYER: '6',
    UNPAID_ORDER_TTL_MINUTES: '30',
    ACCESS_TOKEN_EXPIRE_MINUTES: '525600',
  })
  resetStripeClient()
  // stripe-node waits 0.5-2 s between its retries; the retries themselves (count, same key) stay its own
  const client = (await stripe()) as unknown as { _requestSender: { _getSleepTimeInMS: () => number } }
  client._requestSender._getSleepTimeInMS = () => 0
}

/** A world for one run: a fresh catalog, the fake Stripe on the MSW server. */
export async function newWorld(server: SetupServer, gates: Gates): Promise<World> {
  resetClock()
  const w = new World(await makeShop(), gates, { reconcile: reconcileEnabled() })
  server.resetHandlers()
  server.use(...w.stripe.handlers())
  // every run starts with two orders, one of an account and one of a guest, so commands have work at once
  await placeOrder(w, 'customer', [{ item: 0, qty: 1 }])
  await placeOrder(w, 'guest', [
    { item: 0, qty: 1 },
    { item: 1, qty: 1 },
  ])
  // and both buyers have paid at Stripe; the events are on their way
  for (const pi of w.stripe.intents.values()) w.stripe.pay(pi.id, 'succeeded')
  await w.check('start')
  return w
}

let current: World | undefined

/** fast-check's scheduler, opening gates only when the world is quiet and checking the books after each. */
export const modelScheduler = () =>
  fc.scheduler({
    act: async (f) => {
      const w = current
      if (!w) return f()
      await w.quiet()
      const opened = w.opened
      await f()
      // the books are read after every command; after every opened gate too with MODEL_CHECK_GATES=1
      if (w.opened !== opened && process.env.MODEL_CHECK_GATES === '1') {
        await w.quiet()
        await w.check(`opening ${w.lastOpened}`)
      }
    },
  })

export async function runModel(
  server: SetupServer,
  s: fc.Scheduler,
  cmds: Iterable<fc.AsyncCommand<World, World>>,
) {
  const started = performance.now()
  const cpu = process.cpuUsage()
  const w = await newWorld(server, schedulerGates(s))
  current = w
  try {
    await fc.scheduledModelRun(s, () => ({ model: w, real: w }), cmds)
    await settle(w)
  } finally {
    tally(w)
    if (process.env.MODEL_TRACE_FILE) {
      const { appendFileSync } = await import('node:fs')
      const answers = w.ops.map((o) => `${o.label} -> ${o.result?.status ?? '-'}`)
      appendFileSync(process.env.MODEL_TRACE_FILE, `${[...w.trace, ...answers].join('\n')}\n=== run end\n`)
    }
    if (process.env.MODEL_DEBUG) {
      const answers = w.ops.map((o) => `${o.label} -> ${o.result?.status ?? '-'}`)
      console.log(
        `${w.trace.filter((t) => t.startsWith('>')).join('\n')}\n${answers.join('\n')}\n${w.checks} checks, ${Math.round(w.checkMs)} ms; run ${Math.round(performance.now() - started)} ms, cpu ${Math.round(process.cpuUsage(cpu).user / 1000)} ms\n---`,
      )
    }
    // a failed run leaves operations parked at the scheduler's gates: open them all and let them finish
    // (with no more checks) before the next run replaces the fake Stripe under them
    current = undefined
    w.gates = openGates
    await s.waitAll().catch(() => {})
    await Promise.race([
      Promise.allSettled(w.ops.map((o) => o.promise)),
      new Promise((r) => setTimeout(r, 20_000)),
    ])
    resetClock()
  }
}

/** Let everything finish and settle, then check that Stripe and the books agree. */
export async function settle(w: World): Promise<void> {
  w.gates = openGates
  w.trace.push('> settle')
  await w.quiet()
  await Promise.all(w.ops.map((o) => o.promise))
  w.raise()
  for (let round = 0; round < 5; round++) {
    for (const r of w.stripe.refunds.values())
      if (r.status === 'pending') w.stripe.settleRefund(r.id, 'succeeded')
    // Stripe retries a delivery our endpoint refused; three tries each here, then the failure stands
    for (const e of [...w.stripe.queue]) {
      for (let attempt = 0; attempt < 3 && w.stripe.queue.includes(e); attempt++)
        await w.deliver(e, 'ok', []).promise
      w.raise()
    }
    while (w.stripe.queue.some((e) => e.attempts === 0)) {
      await w.deliver(w.stripe.queue.find((e) => e.attempts === 0)!, 'ok', []).promise
      w.raise()
    }
    if (w.reconcile) {
      advanceClock(11)
      await w.request('reconcile', [], 'GET', '/api/cron/reconcile-payments', {
        headers: { authorization: `Bearer ${CRON_SECRET}` },
      }).promise
    }
    await w.check(`settling, round ${round + 1}`)
    const pending = w.books?.orders.some((o) => o.refunds.some((r) => r.status === 'pending'))
    const stripePending = [...w.stripe.refunds.values()].some((r) => r.status === 'pending')
    if (!pending && !stripePending && w.stripe.queue.length === 0) break
  }
  await w.checkQuiescent()
}

/**
 * A counterexample replayed by hand: the same world, with gates a test opens one at a time by label, so
 * an interleaving the model test found is a plain, deterministic test.
 */
export async function replay(server: SetupServer) {
  const gates = new ManualGates()
  const w = await newWorld(server, gates)
  return {
    w,
    gates,
    /** run a command (it starts its operation and returns once that finishes or parks) */
    run: (s: Step) => s.run(w, w),
    /** open the first waiting gate whose label matches, let its operation go on, check the books */
    open: async (label: RegExp) => {
      const i = gates.waiting.findIndex((g) => label.test(g.label))
      if (i < 0) throw new Error(`no gate matches ${label}; waiting: ${gates.labels().join(' | ') || 'none'}`)
      const [g] = gates.waiting.splice(i, 1)
      g!.open()
      await w.quiet()
      await w.check(`opening ${g!.label}`)
    },
    /** open matching gates, one at a time, until none waits (retries park again: they are opened too) */
    drain: async (label: RegExp) => {
      for (let i = gates.waiting.findIndex((g) => label.test(g.label)); i >= 0; ) {
        const [g] = gates.waiting.splice(i, 1)
        g!.open()
        await w.quiet()
        await w.check(`opening ${g!.label}`)
        i = gates.waiting.findIndex((x) => label.test(x.label))
      }
    },
    /** open every gate, let everything finish, settle and check the books at quiescence */
    finish: async () => {
      w.gates = openGates
      while (gates.waiting.length) {
        gates.waiting.shift()!.open()
        await w.quiet()
      }
      await settle(w)
    },
  }
}
