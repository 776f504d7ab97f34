import fc from 'fast-check'
import { type Fault, faults } from '../support/stripe-model.js'
import { type As, type Step, step } from './steps.js'

// The commands a model run draws, weighted towards what moves money (paying, delivering events,
// refunding), with Stripe faults on the operations that call Stripe.

const faultList: fc.Arbitrary<Fault[]> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Fault[]>([]) },
  { weight: 4, arbitrary: fc.array(fc.constantFrom(...faults), { minLength: 1, maxLength: 3 }) },
  {
    weight: 4,
    arbitrary: fc.constantFrom<Fault[]>(
      ['lost', 'lost', 'lost'],
      ['timeout', 'timeout', 'timeout'],
      ['error_acted'],
      ['lost'],
      ['refuse'],
      ['decline'],
      ['pending'],
    ),
  },
)
const n = fc.nat({ max: 7 })
const item = fc.nat({ max: 1 })

const checkout = fc
  .tuple(
    fc.constantFrom<'customer' | 'guest-a' | 'guest-b'>('customer', 'guest-a', 'guest-b'),
    fc.uniqueArray(fc.record({ item, qty: fc.integer({ min: 1, max: 2 }) }), {
      minLength: 1,
      maxLength: 2,
      selector: (l) => l.item,
    }),
    faultList,
  )
  .map(([buyer, lines, f]) => step.checkout(buyer, lines, f))

const refundWhat = fc.oneof(
  fc.integer({ min: 1, max: 100 }).map((amountPercent) => ({ amountPercent })),
  fc.record({ item, qty: fc.integer({ min: 1, max: 2 }), shipping: fc.boolean() }),
  fc.constant('all' as const),
)

/** Every command, weighted. */
export const commandArbitrary = (opts: { reconcile: boolean }): fc.Arbitrary<Step> =>
  fc.oneof(
    { weight: 2, arbitrary: checkout },
    { weight: 1, arbitrary: fc.tuple(n, faultList).map(([o, f]) => step.payment(o, f)) },
    {
      weight: 5,
      arbitrary: fc
        .tuple(n, fc.constantFrom<'succeeded' | 'failed'>('succeeded', 'succeeded', 'succeeded', 'failed'))
        .map(([o, outcome]) => step.pay(o, outcome)),
    },
    { weight: 1, arbitrary: fc.tuple(n, fc.boolean()).map(([o, wrong]) => step.strayPayment(o, wrong)) },
    {
      weight: 7,
      arbitrary: fc
        .tuple(n, fc.constantFrom<'ok' | 'lostReply'>('ok', 'ok', 'ok', 'lostReply'), faultList)
        .map(([e, mode, f]) => step.deliver(e, mode, f)),
    },
    { weight: 1, arbitrary: fc.tuple(n, faultList).map(([e, f]) => step.redeliver(e, f)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(n, fc.constantFrom<'succeeded' | 'failed'>('succeeded', 'failed'))
        .map(([r, outcome]) => step.settleAtStripe(r, outcome)),
    },
    { weight: 1, arbitrary: fc.constantFrom(5, 11, 31, 61, 21 * 60).map((m) => step.clock(m)) },
    { weight: 1, arbitrary: faultList.map((f) => step.cron('release-unpaid', f)) },
    ...(opts.reconcile ? [{ weight: 2, arbitrary: faultList.map((f) => step.cron('reconcile', f)) }] : []),
    {
      weight: 3,
      arbitrary: fc
        .tuple(n, fc.constantFrom<As>('owner', 'staff', 'admin'), faultList)
        .map(([o, as, f]) => step.cancel(o, as, f)),
    },
    {
      weight: 6,
      arbitrary: fc
        .tuple(n, refundWhat, fc.boolean(), faultList)
        .map(([o, what, restock, f]) => step.refund(o, what, restock, f)),
    },
    { weight: 2, arbitrary: fc.tuple(n, fc.boolean()).map(([o, one]) => step.staff('fulfill', o, one)) },
    { weight: 2, arbitrary: n.map((o) => step.staff('ship', o)) },
    { weight: 1, arbitrary: n.map((o) => step.staff('deliver', o)) },
    { weight: 1, arbitrary: fc.tuple(n, item).map(([o, i]) => step.requestReturn(o, i)) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(n, fc.boolean(), fc.boolean(), faultList)
        .map(([r, restock, refund, f]) => step.receive(r, restock, refund, f)),
    },
  )
