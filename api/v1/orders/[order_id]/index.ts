import { methods } from '../../../../lib/http/methods.js'
import { json, route } from '../../../../lib/http/route.js'
import { orderFor } from '../../../../lib/orders/access.js'
import { staffNotes } from '../../../../lib/orders/notes.js'
import { UpdateOrderBody, updateOrder } from '../../../../lib/orders/read.js'
import { OrderParams } from '../../../../lib/orders/schemas.js'
import { OrderSchema, orderView } from '../../../../lib/orders/view.js'

import { cancelRequest, ReasonBody } from '../../../../lib/payments/actions.js'
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/orders/{order_id} – the owner, the guest with X-Order-Token, or orders.view
  GET: route(
    {
      path: '/api/v1/orders/[order_id]',
      summary: 'Get an order',
      description:
        'The owner, a guest with the order’s `X-Order-Token`, or staff with orders.view (who also see ' +
        '`flags` and `staff_notes`). Anyone else gets a 404.',
      tags: ['orders'],
      auth: 'optional',
      params: OrderParams,
      response: OrderSchema,
    },
    async ({ db, params, principal, request }) => {
      const { order, staff } = await orderFor(db, params.order_id, principal, request)
      const notes = staff ? await staffNotes(db, order.id) : undefined
      return json(orderView(order, { staff, staffNotes: notes }))
    },
  ),
  // PUT /api/v1/orders/{order_id} – notes and addresses (owner), also tags and metadata (orders.manage)
  PUT: route(
    {
      path: '/api/v1/orders/[order_id]',
      summary: 'Update an order',
      description:
        'The owner may change `notes`, and the addresses while the order is pending; staff with ' +
        'orders.manage also `tags` and `metadata`, and the addresses until fulfilment starts. A shipping ' +
        'address that would change the tax or shipping is a 409 address_changes_price. Shipped and ' +
        'closed orders are a 409 illegal_transition.',
      tags: ['orders'],
      auth: 'authenticated',
      params: OrderParams,
      body: UpdateOrderBody,
      response: OrderSchema,
      responses: { 409: 'illegal_transition or address_changes_price' },
    },
    async ({ db, params, body, principal, request }) =>
      json(await updateOrder(db, params.order_id, body, principal, request)),
  ),
  // DELETE /api/v1/orders/{order_id} – cancel the order (stock back; unpaid voided, paid refunded)
  DELETE: route(
    {
      path: '/api/v1/orders/[order_id]',
      summary: 'Cancel an order',
      description:
        'The buyer while pending (the owner, or a guest with the order’s `X-Order-Token`); `orders.manage` ' +
        'when unpaid; `orders.refund` when paid (403 otherwise; checked again under the order’s lock, so ' +
        'a payment landing meanwhile answers 409 payment_succeeded instead of refunding). From pending, ' +
        'confirmed, or processing with nothing shipped (409 illegal_transition otherwise), and no refund in ' +
        'flight (409 refund_pending). Unshipped fulfilments are cancelled (bought labels voided) and the ' +
        'stock returned; an unpaid order releases its discount redemption and ends voided (a pending Stripe ' +
        'order’s PaymentIntent is cancelled first); a paid one is refunded in full in the same step: 200 ' +
        'once the refund went through, 202 while Stripe’s answer is unknown (the refund is pending and ' +
        'settles by itself). Optional body `{ reason }`.',
      tags: ['orders'],
      auth: 'optional',
      params: OrderParams,
      body: ReasonBody,
      response: OrderSchema,
      responses: {
        202: {
          description: 'Cancelled; the refund of a paid order is pending at Stripe',
          schema: OrderSchema,
        },
        403: 'Not this caller’s to cancel now (the buyer only while pending; staff need orders.manage or, once paid, orders.refund)',
        404: 'No such order (or not the caller’s)',
        409: 'illegal_transition, payment_succeeded, refund_pending',
        502: 'payment_provider_error',
      },
    },
    async ({ db, request, principal, params, body }) =>
      cancelRequest({ db, request, principal, orderId: params.order_id }, body?.reason),
  ),
})
