import { methods } from '../../../../lib/http/methods.js'
import { route } from '../../../../lib/http/route.js'
import { OrderParams } from '../../../../lib/orders/schemas.js'
import { OrderSchema } from '../../../../lib/orders/view.js'
import { markPaid, ReasonBody } from '../../../../lib/payments/actions.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/orders/{order_id}/mark-paid – staff confirm the manual payment of a pending order
  POST: route(
    {
      path: '/api/v1/orders/[order_id]/mark-paid',
      summary: 'Confirm a manual payment',
      description:
        'Needs `orders.manage`. A pending manual order becomes financial paid and status confirmed (a ' +
        'payments row with provider manual, the total captured, history). A Stripe order: 409 stripe_payment; ' +
        'not pending: 409 illegal_transition.',
      tags: ['orders'],
      auth: 'authenticated',
      params: OrderParams,
      body: ReasonBody,
      response: OrderSchema,
      responses: { 404: 'No such order', 409: 'illegal_transition, stripe_payment' },
    },
    async ({ db, request, principal, params, body }) =>
      markPaid({ db, request, principal, orderId: params.order_id }, body?.reason),
  ),
})
