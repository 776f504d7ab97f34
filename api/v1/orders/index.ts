import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'
import { OrderInput } from '../../../lib/orders/checkout.js'
import { ListOrdersQuery, listOrders, OrderListSchema } from '../../../lib/orders/read.js'
import { OrderSchema } from '../../../lib/orders/view.js'
import { checkout } from '../../../lib/payments/checkout.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/orders – a customer's own orders; staff with orders.view: all
  GET: route(
    {
      path: '/api/v1/orders',
      summary: 'List orders',
      description:
        'Customers see their own orders (by account), staff with orders.view every order. Filters: ' +
        '`status`, `financial_status`, `fulfillment_status`, `from`/`to` (created_at, inclusive; a date ' +
        'covers its whole day), `email`. Newest first; `page`/`limit`, or `cursor` from ' +
        '`pagination.next_cursor` (keyset, no total).',
      tags: ['orders'],
      auth: 'authenticated',
      query: ListOrdersQuery,
      response: OrderListSchema,
    },
    async ({ db, query, principal }) => json(await listOrders(db, query, principal!)),
  ),
  // POST /api/v1/orders – checkout: one transaction, stock taken, payment started after the commit
  POST: route(
    {
      path: '/api/v1/orders',
      summary: 'Create an order',
      description:
        'Anyone may order. Signed-in buyers order under their account email (`customer_email` is a 422); ' +
        'guests must give `customer_email` and get `access_token` (send it as X-Order-Token). Prices come ' +
        'from the catalog; stock is taken for every tracked item or none (409 out_of_stock naming the ' +
        'line), at most MAX_QUANTITY_PER_ITEM units of one item (422 quantity_limit naming the line). At ' +
        'most MAX_UNPAID_ORDERS_PER_BUYER pending orders per account, or per guest email from one client ' +
        'IP, and MAX_UNPAID_ORDERS_PER_IP per address (429 too_many_unpaid_orders). A discount code ' +
        'limited per customer needs a signed-in buyer (422 sign_in_required). `Idempotency-Key` replays ' +
        'the first answer for the same body (409 for another); the replay of a pending order whose ' +
        'PaymentIntent the first request never recorded starts it (the same one Stripe may have made).',
      tags: ['orders'],
      auth: 'optional',
      body: OrderInput,
      response: OrderSchema,
      status: 201,
      creates: 'order_id',
      responses: {
        409: 'out_of_stock, idempotency_key_reused',
        429: 'too_many_unpaid_orders',
      },
    },
    async ({ db, request, body, principal, ip }) => checkout({ db, request, principal, ip, body }),
  ),
})
