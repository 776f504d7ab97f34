import { methods } from '../../../../lib/http/methods.js'
import { route } from '../../../../lib/http/route.js'
import { noteRequest } from '../../../../lib/orders/fulfilment-requests.js'
import { NoteBody, NoteSchema } from '../../../../lib/orders/notes.js'
import { OrderParams } from '../../../../lib/orders/schemas.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/orders/{order_id}/notes – add a staff note
  POST: route(
    {
      path: '/api/v1/orders/[order_id]/notes',
      summary: 'Add a staff note',
      description:
        "Needs `orders.manage`. A note for staff in its own table (the order's `notes` stays the buyer's); " +
        'staff see them as `staff_notes` on the order. 201 with the note.',
      tags: ['orders'],
      auth: 'authenticated',
      params: OrderParams,
      body: NoteBody,
      response: NoteSchema,
      status: 201,
      responses: { 404: 'No such order' },
    },
    async ({ db, request, principal, params, body }) =>
      noteRequest({ db, request, principal, orderId: params.order_id, body }),
  ),
})
