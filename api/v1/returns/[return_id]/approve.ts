import { methods } from '../../../../lib/http/methods.js'
import { route } from '../../../../lib/http/route.js'
import { approveReturnRequest } from '../../../../lib/orders/fulfilment-requests.js'
import { ReturnParams } from '../../../../lib/orders/schemas.js'
import { OrderSchema } from '../../../../lib/orders/view.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/returns/{return_id}/approve – accept a requested return
  POST: route(
    {
      path: '/api/v1/returns/[return_id]/approve',
      summary: 'Approve a return',
      description:
        'Needs `orders.manage`. requested -> approved (409 illegal_transition otherwise). 200 with the order.',
      tags: ['returns'],
      auth: { permission: 'orders.manage' },
      params: ReturnParams,
      response: OrderSchema,
      responses: { 404: 'No such return', 409: 'illegal_transition' },
    },
    async ({ db, principal, params }) => approveReturnRequest(db, principal!, params.return_id),
  ),
})
