import { methods } from '../../../../lib/http/methods.js'
import { route } from '../../../../lib/http/route.js'
import { rejectReturnRequest } from '../../../../lib/orders/fulfilment-requests.js'
import { RejectBody } from '../../../../lib/orders/returns.js'
import { ReturnParams } from '../../../../lib/orders/schemas.js'
import { OrderSchema } from '../../../../lib/orders/view.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/returns/{return_id}/reject – turn a return down (its units become returnable again)
  POST: route(
    {
      path: '/api/v1/returns/[return_id]/reject',
      summary: 'Reject a return',
      description:
        'Needs `orders.manage`. requested or approved -> rejected, `reason` kept as its note (409 ' +
        'illegal_transition otherwise). 200 with the order.',
      tags: ['returns'],
      auth: { permission: 'orders.manage' },
      params: ReturnParams,
      body: RejectBody,
      response: OrderSchema,
      responses: { 404: 'No such return', 409: 'illegal_transition' },
    },
    async ({ db, principal, params, body }) =>
      rejectReturnRequest(db, principal!, params.return_id, body.reason),
  ),
})
