import type { World } from './world.js'

// What the runs exercised, summed over a test: the answers each kind of operation got, what Stripe was
// asked and how it answered (fault, replay), and the situations the model is after (a cancel, a ship or a
// new refund while a refund is pending, a retry by reconcile). Printed after a long run, so a green run can
// be told from one that never reached the interesting states.

const counts = new Map<string, number>()
const add = (key: string, n = 1) => counts.set(key, (counts.get(key) ?? 0) + n)

/** The situations a command met, noted by the steps (e.g. 'ship while a refund is pending'). */
export const situation = (what: string) => add(`situation: ${what}`)

export function tally(w: World): void {
  add('runs')
  add('commands', w.trace.filter((t) => t.startsWith('> ') && t !== '> settle').length)
  for (const o of w.ops) {
    const what = o.label.replace(/^#\d+ /, '').replace(/ [0-9a-f]{6}( \(.*\))?$/, '')
    const code = o.result?.body?.code ? ` ${o.result.body.code}` : ''
    add(`answer: ${what} ${o.result?.status ?? 'none'}${code}`)
  }
  for (const c of w.stripe.calls) {
    const path = c.path.replace(/\/(pi|re|ch)_[0-9A-Za-z]+/, '/:id')
    add(
      `stripe: ${c.method} ${path} ${c.fault}${c.replayed ? ' (replayed)' : ''} -> ${c.answered || 'network failure'}`,
    )
    if (c.key && /:\d+$/.test(c.key)) add('situation: reconcile sent a refund again (key <refund id>:<n>)')
  }
}

export function coverageReport(): string {
  return [...counts.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${String(n).padStart(6)}  ${k}`)
    .join('\n')
}
