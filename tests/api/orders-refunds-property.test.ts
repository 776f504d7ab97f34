import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ProblemError } from '../../lib/http/errors.js'
import { loadOrderOr404 } from '../../lib/orders/view.js'
import { refundOrder } from '../../lib/payments/refunds.js'
import { getDb } from '../../lib/platform/db.js'
import { orderInState } from '../support/orders-payments.js'

// Random sequences of item, shipping and amount refunds never refund more than was paid, and no line is
// ever refunded above its own total (manual payments: the same rules as Stripe's, without the network).

type Step =
  | { kind: 'amount'; cents: number }
  | { kind: 'items'; line: number; quantity: number; shipping: boolean; restock: boolean }
  | { kind: 'shipping' }
  | { kind: 'rest' }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('amount' as const), cents: fc.integer({ min: 1, max: 9000 }) }),
  fc.record({
    kind: fc.constant('items' as const),
    line: fc.integer({ min: 0, max: 2 }),
    quantity: fc.integer({ min: 1, max: 4 }),
    shipping: fc.boolean(),
    restock: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('shipping' as const) }),
  fc.record({ kind: fc.constant('rest' as const) }),
)

describe('refund sequences (property)', () => {
  it('never exceed what was paid, and line refunds stay within line totals', async () => {
    const db = await getDb()
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            quantity: fc.integer({ min: 1, max: 3 }),
            unitPriceCents: fc.integer({ min: 1, max: 3333 }),
          }),
          {
            minLength: 1,
            maxLength: 3,
          },
        ),
        fc.integer({ min: 0, max: 999 }),
        fc.array(step, { minLength: 1, maxLength: 7 }),
        async (lines, shippingCents, steps) => {
          const { order } = await orderInState({ lines, shippingCents })
          for (const s of steps) {
            const current = await loadOrderOr404(db, order.id)
            const item = current.items[s.kind === 'items' ? s.line % current.items.length : 0]!
            const input =
              s.kind === 'amount'
                ? { amountCents: s.cents, reason: 'p' }
                : s.kind === 'items'
                  ? {
                      items: [{ order_item_id: item.id, quantity: s.quantity }],
                      refundShipping: s.shipping,
                      restock: s.restock,
                      reason: 'p',
                    }
                  : s.kind === 'shipping'
                    ? { refundShipping: true, reason: 'p' }
                    : { reason: 'p' }
            try {
              await refundOrder(db, order.id, input, { actorId: null })
            } catch (err) {
              if (!(err instanceof ProblemError) || ![409, 422].includes(err.status)) throw err
            }
            const after = await loadOrderOr404(db, order.id)
            const refunded = after.refunds
              .filter((r) => r.status === 'succeeded')
              .reduce((t, r) => t + r.amountCents, 0)
            expect(after.refundedAmountCents).toBe(refunded)
            expect(after.refundedAmountCents).toBeLessThanOrEqual(after.paidAmountCents)
            for (const i of after.items) {
              expect(i.refundedAmountCents).toBeLessThanOrEqual(i.totalAmountCents)
              expect(i.refundedQuantity).toBeLessThanOrEqual(i.quantity)
              if (i.refundedQuantity === i.quantity) expect(i.refundedAmountCents).toBe(i.totalAmountCents)
            }
            const full = after.refundedAmountCents === after.paidAmountCents
            expect(after.financialStatus).toBe(
              full ? 'refunded' : after.refundedAmountCents > 0 ? 'partially_refunded' : 'paid',
            )
          }
        },
      ),
      { numRuns: 25 },
    )
  }, 90_000)
})
