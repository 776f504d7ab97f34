import type { z } from 'zod'
import type { Principal } from '../auth/permissions.js'
import { orderAnswer } from '../orders/fulfilment-requests.js'
import { claimReturnRefund, type ReceiveBody, receiveGoods } from '../orders/returns.js'
import type { Db } from '../platform/db.js'
import { refundOrder } from './refunds.js'

// POST /returns/{return_id}/receive: the goods side is the order's (receiveGoods); with `refund`, the
// returned units are then refunded through the payment provider. The refund claims the return in its own
// reserving transaction, and settling it marks the return `refunded` (or frees it again when it fails).
// 200 with the order; 202 while the provider's answer on the refund is still unknown.

export async function receiveReturnRequest(
  db: Db,
  principal: Principal,
  returnId: string,
  body: z.output<typeof ReceiveBody>,
): Promise<Response> {
  const { orderId, ret, refund } = await receiveGoods(db, returnId, body, principal)
  let status = 200
  if (refund) {
    const made = await refundOrder(
      db,
      orderId,
      {
        items: ret.items,
        refundShipping: body.refund_shipping ?? false,
        reason: `return ${ret.rmaNumber}`,
        restock: false,
        returnId: ret.id,
      },
      { actorId: principal.userId },
      { within: (tx, refundId) => claimReturnRefund(tx, ret.id, refundId) },
    )
    if (made.status === 'pending') status = 202
  }
  return orderAnswer(db, orderId, true, status)
}
