import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import { OrderInput, QuoteSchema, quoteOrder } from '../../../lib/orders/checkout.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // POST /api/v1/orders/quote – price a cart without creating anything
  POST: route(
    {
      path: '/api/v1/orders/quote',
      summary: 'Quote an order',
      description:
        'The same body as POST /orders. Answers every amount (catalog prices; a client price field is ' +
        'ignored) and `shipping_options` for the address, cheapest first; creates, reserves and redeems ' +
        'nothing. Signed-in buyers may not send `customer_email`; guests may (it changes nothing). A ' +
        'discount code limited per customer needs a signed-in buyer (guests: 422 sign_in_required). At ' +
        'most MAX_QUANTITY_PER_ITEM units of one item (422 quantity_limit naming the line).',
      tags: ['orders'],
      auth: 'optional',
      body: OrderInput,
      response: QuoteSchema,
      responses: { 422: 'A line, the address, the shipping method or the discount code is not usable' },
    },
    async ({ db, body, principal }) => json(await quoteOrder(db, body, principal)),
  ),
})
