import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { refunds as refundsTable } from '../../db/schema/index.js'
import { ProblemError } from '../../lib/http/errors.js'
import { lineRefundCents, refundOrder } from '../../lib/orders/refunds.js'
import { loadOrderOr404 } from '../../lib/orders/view.js'
import { getDb } from '../../lib/platform/db.js'
import { makeOrderWithItems } from '../support/factories.js'

// Refunds never exceed what was paid, whatever sequence of amount, line and shipping refunds staff try:
// each step either refunds within the limits or is refused and changes nothing.

const line = fc.record({
  quantity: fc.integer({ min: 1, max: 5 }),
  unitPriceCents: fc.integer({ min: 1, max: 5000 }),
  discountShare: fc.integer({ min: 0, max: 100 }),
})

const step = fc.oneof(
  fc.record({ kind: fc.constant('amount' as const), cents: fc.integer({ min: 1, max: 30_000 }) }),
  fc.record({
    kind: fc.constant('items' as const),
    picks: fc.array(fc.record({ line: fc.nat(3), quantity: fc.integer({ min: 1, max: 5 }) }), {
      minLength: 1,
      maxLength: 3,
    }),
    shipping: fc.boolean(),
    restock: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('shipping' as const) }),
  fc.record({ kind: fc.constant('all' as const) }),
)

describe('refund arithmetic', () => {
  it('splits a line into per-unit refunds that add up to its total exactly', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }),
        (quantity, totalAmountCents, takes) => {
          const item = { quantity, totalAmountCents, refundedQuantity: 0, refundedAmountCents: 0 }
          for (const t of takes) {
            const q = Math.min(t, item.quantity - item.refundedQuantity)
            if (q === 0) break
            const cents = lineRefundCents(item, q)
            expect(cents).toBeGreaterThanOrEqual(0)
            item.refundedQuantity += q
            item.refundedAmountCents += cents
            expect(item.refundedAmountCents).toBeLessThanOrEqual(item.totalAmountCents)
          }
          if (item.refundedQuantity === item.quantity) expect(item.refundedAmountCents).toBe(totalAmountCents)
        },
      ),
      { numRuns: 500 },
    )
  })
})

describe('refund sequences (manual payments, on the database)', () => {
  it('never refund more than was paid, keep each line within its total, and change nothing when refused', async () => {
    const db = await getDb()
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 1500 }),
        fc.array(step, { minLength: 1, maxLength: 6 }),
        async (lines, shippingCents, steps) => {
          const { order, items } = await makeOrderWithItems({
            status: 'confirmed',
            financialStatus: 'paid',
            paymentProvider: 'manual',
            shippingCents,
            items: lines.map((l) => ({
              productId: null,
              quantity: l.quantity,
              unitPriceCents: l.unitPriceCents,
              discountCents: Math.floor((l.quantity * l.unitPriceCents * l.discountShare) / 100),
            })),
          })
          for (const s of steps) {
            const before = await loadOrderOr404(db, order.id)
            try {
              if (s.kind === 'amount') await refundOrder(db, order.id, { amountCents: s.cents, reason: 'p' }, { actorId: null })
              else if (s.kind === 'shipping') await refundOrder(db, order.id, { refundShipping: true, reason: 'p' }, { actorId: null })
              else if (s.kind === 'all') await refundOrder(db, order.id, { reason: 'p' }, { actorId: null })
              else {
                const wanted = new Map<string, number>()
                for (const p of s.picks) {
                  const it = items[p.line % items.length]!
                  wanted.set(it.id, p.quantity)
                }
                await refundOrder(
                  db,
                  order.id,
                  {
                    items: [...wanted].map(([order_item_id, quantity]) => ({ order_item_id, quantity })),
                    refundShipping: s.shipping,
                    restock: s.restock,
                    reason: 'p',
                  },
                  { actorId: null },
                )
              }
            } catch (err) {
              if (!(err instanceof ProblemError) || ![409, 422].includes(err.status)) throw err
              const after = await loadOrderOr404(db, order.id)
              expect(after.refundedAmountCents).toBe(before.refundedAmountCents)
              expect(after.refunds).toHaveLength(before.refunds.length)
              expect(after.items.map((i) => [i.refundedQuantity, i.refundedAmountCents])).toEqual(
                before.items.map((i) => [i.refundedQuantity, i.refundedAmountCents]),
              )
            }
            const now = await loadOrderOr404(db, order.id)
            expect(now.refundedAmountCents).toBeLessThanOrEqual(now.paidAmountCents)
            expect(now.paidAmountCents).toBe(order.totalAmountCents)
            const sum = now.refunds.filter((r) => r.status === 'succeeded').reduce((t, r) => t + r.amountCents, 0)
            expect(sum).toBe(now.refundedAmountCents)
            for (const i of now.items) {
              expect(i.refundedAmountCents).toBeGreaterThanOrEqual(0)
              expect(i.refundedAmountCents).toBeLessThanOrEqual(i.totalAmountCents)
              expect(i.refundedQuantity).toBeLessThanOrEqual(i.quantity)
              expect(i.fulfilledQuantity + i.cancelledQuantity).toBeLessThanOrEqual(i.quantity)
            }
            const shippingRefunded = now.refunds.reduce((t, r) => t + r.shippingAmountCents, 0)
            expect(shippingRefunded).toBeLessThanOrEqual(now.shippingAmountCents + now.shippingTaxAmountCents)
            if (now.refundedAmountCents === now.paidAmountCents && now.paidAmountCents > 0) {
              expect(now.financialStatus).toBe('refunded')
            } else if (now.refundedAmountCents > 0) {
              expect(now.financialStatus).toBe('partially_refunded')
            } else {
              expect(now.financialStatus).toBe('paid')
            }
          }
        },
      ),
      { numRuns: 40 },
    )
    // every refund that was recorded is a positive amount (the CHECK would have refused others anyway)
    const rows = await db.select({ a: refundsTable.amountCents }).from(refundsTable)
    expect(rows.every((r) => r.a > 0)).toBe(true)
  })
})
