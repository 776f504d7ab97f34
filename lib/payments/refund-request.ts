import { eq } from 'drizzle-orm'
import { z } from 'zod'
import { type RefundStatus, refunds } from '../../db/schema/index.js'
import type { Principal } from '../auth/permissions.js'
import { fieldError } from '../catalog/access.js'
import { withIdempotency } from '../http/idempotency.js'
import { json } from '../http/route.js'
import { orderFor } from '../orders/access.js'
import { LineQuantities } from '../orders/schemas.js'
import { loadOrderOr404, orderView } from '../orders/view.js'
import type { Db } from '../platform/db.js'
import { MoneyFormatError, toMinor } from '../platform/money.js'
import { refundOrder, refusedProblem } from './refunds.js'

// POST /orders/{order_id}/refund: the body, the caller's rights, the Idempotency-Key, then refundOrder.

export const RefundBody = z
  .object({
    amount: z
      .union([z.number().nonnegative(), z.string().trim().min(1)])
      // Checked against the order's own currency below; documented as the shared Amount schema.
      .meta({ id: 'Amount' })
      .optional()
      .describe('major units of the order currency; alternatively items and/or refund_shipping'),
    items: LineQuantities.optional(),
    refund_shipping: z.boolean().optional(),
    reason: z.string().trim().min(1).max(500),
    restock: z.boolean().optional().default(false),
  })
  .strict()
export type RefundBodyInput = z.output<typeof RefundBody>

export async function refundRequest(ctx: {
  db: Db
  request: Request
  principal: Principal
  orderId: string
  body: RefundBodyInput
}): Promise<Response> {
  const { db, request, principal, orderId, body } = ctx
  const { order } = await orderFor(db, orderId, principal, request, { permission: 'orders.refund' })
  let amountCents: number | undefined
  if (body.amount !== undefined) {
    try {
      amountCents = toMinor(body.amount, order.currency)
    } catch (err) {
      if (err instanceof MoneyFormatError)
        throw fieldError('amount', `Invalid amount for ${order.currency}: ${err.message}`)
      throw err
    }
  }
  // 200 once the money went back; 202 while the provider's answer is unknown (the refund is pending and
  // settles by itself: refund webhooks, the reconcile cron)
  const answer = async (status: RefundStatus) =>
    json(orderView(await loadOrderOr404(db, orderId), { staff: true }), status === 'pending' ? 202 : 200)
  return withIdempotency(
    { db, request, caller: `user:${principal.userId}`, body },
    async (saver) => {
      const made = await refundOrder(
        db,
        orderId,
        {
          ...(amountCents !== undefined ? { amountCents } : {}),
          ...(body.items ? { items: body.items } : {}),
          ...(body.refund_shipping !== undefined ? { refundShipping: body.refund_shipping } : {}),
          reason: body.reason,
          restock: body.restock,
        },
        { actorId: principal.userId },
        {
          within: (tx, refundId) =>
            saver.save(tx as Db, { status: 200, body: { order_id: orderId, refund_id: refundId } }),
        },
      )
      return answer(made.status)
    },
    async (stored) => {
      // the replay tells the refund as it is now
      const refundId = (stored.body as { refund_id?: string }).refund_id
      const [r] = refundId
        ? await db.select({ status: refunds.status }).from(refunds).where(eq(refunds.id, refundId))
        : []
      if (r?.status === 'failed' || r?.status === 'cancelled') throw refusedProblem(refundId!)
      return answer(r?.status ?? 'succeeded')
    },
  )
}
