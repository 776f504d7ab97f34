import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CommerceClient, createCommerceClient } from '../../clients/typescript/index.js'
import { fetchChecked } from '../support/contract.js'
import { type DevServer, startDevServer } from '../support/dev-server.js'

// A storefront's life through the typed client (clients/typescript) against `npm run dev` over real HTTP:
// register, browse with a cursor, search, quote, order as a guest and as a customer, pay (manual), follow
// the order, request a return. Every answer is also checked against the OpenAPI document.

const ADMIN = { email: 'storefront-admin@example.test', password: 'storefront-flow-admin-passphrase' }
const address = {
  first_name: 'Ada',
  last_name: 'Lovelace',
  line1: '1 Analytical Way',
  city: 'Portland',
  state: 'OR',
  postal_code: '97201',
  country: 'US',
}

let dev: DevServer
const tokens: { customer?: string; admin?: string } = {}
const client = (who?: keyof typeof tokens): CommerceClient =>
  createCommerceClient({
    baseUrl: dev.base,
    fetch: (request) => fetchChecked(request),
    accessToken: () => (who ? tokens[who] : undefined),
  })

beforeAll(async () => {
  // manual payment and shipping: no Stripe, Shippo or Resend keys reach the server
  dev = await startDevServer({
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password,
    STRIPE_SECRET_KEY: undefined,
    STRIPE_WEBHOOK_SECRET: undefined,
    SHIPPO_API_KEY: undefined,
    RESEND_API_KEY: undefined,
  })
})

afterAll(async () => {
  await dev?.stop()
})

describe('the typed client, as a storefront uses it', () => {
  it('registers, browses, searches, quotes, orders as guest and customer, pays, follows and returns', async () => {
    const anonymous = client()
    const customer = client('customer')
    const admin = client('admin')

    // register: the customer is signed in at once
    const email = `shopper-${randomUUID().slice(0, 8)}@example.test`
    const registered = await anonymous.POST('/api/v1/auth/register', {
      body: { email, password: 'a long storefront passphrase', first_name: 'Ada', last_name: 'Lovelace' },
    })
    expect(registered.response.status).toBe(201)
    tokens.customer = registered.data!.access_token
    const me = await customer.GET('/api/v1/auth/me')
    expect(me.data!.email).toBe(email)

    const signedIn = await anonymous.POST('/api/v1/auth/login', { body: ADMIN })
    expect(signedIn.response.status).toBe(200)
    tokens.admin = (signedIn.data as { access_token: string }).access_token

    // browse with a cursor: two pages of the demo catalog, nothing twice
    const first = await anonymous.GET('/api/v1/products', { params: { query: { limit: 2 } } })
    expect(first.response.status).toBe(200)
    expect(first.data!.products).toHaveLength(2)
    const cursor = first.data!.pagination.next_cursor
    expect(cursor).toEqual(expect.any(String))
    const second = await anonymous.GET('/api/v1/products', {
      params: { query: { limit: 2, cursor: cursor! } },
    })
    expect(second.data!.products).toHaveLength(2)
    const firstIds = first.data!.products.map((p) => p.id)
    for (const p of second.data!.products) expect(firstIds).not.toContain(p.id)

    // search: a word of a product's name finds that product
    const wanted = first.data!.products[0]!
    const word = wanted.name.split(/\s+/).find((w) => w.length > 3) ?? wanted.name
    const found = await anonymous.POST('/api/v1/products/search', { body: { query: word, limit: 50 } })
    expect(found.response.status).toBe(200)
    expect(found.data!.products.map((p) => p.id)).toContain(wanted.id)

    // a product in stock without variants, so an order can name it alone
    const inStock = await anonymous.GET('/api/v1/products', {
      params: { query: { in_stock: 'true', limit: 50 } },
    })
    const product = inStock.data!.products.find((p) => (p.variants ?? []).length === 0)
    expect(product, 'the demo catalog has a product without variants in stock').toBeDefined()
    const items = [{ product_id: product!.id, quantity: 1 }]

    // quote, then order as the customer: the order costs what the quote said
    const quote = await customer.POST('/api/v1/orders/quote', { body: { items, shipping_address: address } })
    expect(quote.response.status).toBe(200)
    const ordered = await customer.POST('/api/v1/orders', {
      body: { items, shipping_address: address },
      headers: { 'Idempotency-Key': randomUUID() },
    })
    expect(ordered.response.status).toBe(201)
    const order = ordered.data!
    expect(order.total_amount).toBe(quote.data!.total_amount)
    expect(order.status).toBe('pending')

    // a guest orders too, and reads the order with its token
    const guestOrdered = await anonymous.POST('/api/v1/orders', {
      body: {
        items,
        shipping_address: address,
        customer_email: `guest-${randomUUID().slice(0, 8)}@example.test`,
      },
      headers: { 'Idempotency-Key': randomUUID() },
    })
    expect(guestOrdered.response.status).toBe(201)
    const guestOrder = guestOrdered.data!
    expect(guestOrder.access_token).toEqual(expect.any(String))
    const guestView = await anonymous.GET('/api/v1/orders/{order_id}', {
      params: { path: { order_id: guestOrder.id } },
      headers: { 'X-Order-Token': guestOrder.access_token! },
    })
    expect(guestView.data!.id).toBe(guestOrder.id)
    const stranger = await anonymous.GET('/api/v1/orders/{order_id}', {
      params: { path: { order_id: guestOrder.id } },
    })
    expect(stranger.response.status).toBe(404)

    // pay (manual): staff confirm both payments
    for (const id of [order.id, guestOrder.id]) {
      const paid = await admin.POST('/api/v1/orders/{order_id}/mark-paid', {
        params: { path: { order_id: id } },
        body: { reason: 'paid by bank transfer' },
      })
      expect(paid.response.status).toBe(200)
    }
    const guestPaid = await anonymous.GET('/api/v1/orders/{order_id}', {
      params: { path: { order_id: guestOrder.id } },
      headers: { 'X-Order-Token': guestOrder.access_token! },
    })
    expect(guestPaid.data!.financial_status).toBe('paid')

    // follow the order: confirmed and paid, then shipped and delivered by staff
    const followed = await customer.GET('/api/v1/orders/{order_id}', {
      params: { path: { order_id: order.id } },
    })
    expect(followed.data).toMatchObject({ status: 'confirmed', financial_status: 'paid' })
    const path = { params: { path: { order_id: order.id } } }
    const shipped = await admin.POST('/api/v1/orders/{order_id}/ship', {
      ...path,
      body: { carrier: 'UPS', tracking_number: '1Z999AA10123456784' },
    })
    expect(shipped.response.status).toBe(200)
    const tracking = await customer.GET('/api/v1/orders/{order_id}/tracking', path)
    expect(tracking.response.status).toBe(200)
    expect(JSON.stringify(tracking.data)).toContain('1Z999AA10123456784')
    const delivered = await admin.POST('/api/v1/orders/{order_id}/deliver', { ...path, body: {} })
    expect(delivered.response.status).toBe(200)
    const mine = await customer.GET('/api/v1/orders', { params: { query: { limit: 10 } } })
    expect(mine.data!.orders.find((o) => o.id === order.id)?.status).toBe('delivered')

    // request a return of the delivered unit
    const returned = await customer.POST('/api/v1/orders/{order_id}/return', {
      ...path,
      body: { items: [{ order_item_id: followed.data!.items[0]!.id, quantity: 1 }], reason: 'too small' },
    })
    expect(returned.response.status).toBe(201)
    expect(returned.data).toMatchObject({ status: 'requested', rma_number: expect.any(String) })
  }, 120_000)
})
