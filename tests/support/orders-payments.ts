import { eq } from 'drizzle-orm'
import { orders, payments } from '../../db/schema/index.js'
import { loadOrderOr404 } from '../../lib/orders/view.js'
import { getDb } from '../../lib/platform/db.js'
import { makeOrderWithItems, makeProductRow } from './factories.js'
import type { FakeStripe } from './stripe.js'

// Orders in the money states the payment tests start from (until POST /orders lands, they are rows).

export interface PaidOrderOptions {
  userId?: string | null
  status?: 'pending' | 'confirmed' | 'processing' | 'shipped' | 'delivered'
  financialStatus?: 'pending' | 'paid' | 'partially_refunded'
  /** pay through the fake Stripe (a succeeded PaymentIntent and payments row) instead of manually */
  stripe?: FakeStripe
  lines?: Array<{ quantity: number; unitPriceCents: number; stock?: number }>
  shippingCents?: number
  currency?: string
}

export async function orderInState(opts: PaidOrderOptions = {}) {
  const db = await getDb()
  const lines = opts.lines ?? [
    { quantity: 2, unitPriceCents: 1000 },
    { quantity: 1, unitPriceCents: 2500 },
  ]
  const products = await Promise.all(lines.map((l) => makeProductRow({ inventoryQuantity: l.stock ?? 10 })))
  const financialStatus = opts.financialStatus ?? 'paid'
  const { order, items } = await makeOrderWithItems({
    userId: opts.userId ?? null,
    status: opts.status ?? (financialStatus === 'pending' ? 'pending' : 'confirmed'),
    financialStatus,
    currency: opts.currency ?? 'USD',
    shippingCents: opts.shippingCents ?? 500,
    paymentProvider: opts.stripe ? 'stripe' : 'manual',
    items: lines.map((l, i) => ({
      productId: products[i]!.id,
      quantity: l.quantity,
      unitPriceCents: l.unitPriceCents,
    })),
  })
  if (opts.stripe) {
    const { paymentIntentShape } = await import('./stripe.js')
    const pi = paymentIntentShape({
      amount: order.totalAmountCents,
      currency: order.currency.toLowerCase(),
      status: financialStatus === 'pending' ? 'requires_payment_method' : 'succeeded',
      metadata: { order_id: order.id },
    })
    opts.stripe.intents.set(pi.id, pi)
    await db.update(orders).set({ paymentIntentId: pi.id }).where(eq(orders.id, order.id))
    await db.insert(payments).values({
      orderId: order.id,
      provider: 'stripe',
      providerPaymentId: pi.id,
      amountCents: order.totalAmountCents,
      currency: order.currency,
      status: financialStatus === 'pending' ? 'pending' : 'succeeded',
      paidAt: financialStatus === 'pending' ? null : new Date(),
    })
  } else if (financialStatus !== 'pending') {
    await db.insert(payments).values({
      orderId: order.id,
      provider: 'manual',
      amountCents: order.totalAmountCents,
      currency: order.currency,
      status: 'succeeded',
      paidAt: new Date(),
    })
  }
  return { order: await loadOrderOr404(db, order.id), items, products }
}
