import { randomBytes } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { taxRates } from '../../db/schema/index.js'
import { resetStripeClient } from '../../lib/payments/stripe.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { IL_ADDRESS as IL } from '../support/addresses.js'
import { expectProblem } from '../support/catalog.js'
import { restoreEnv, setEnv } from '../support/env.js'
import { makeProductRow, makeUser } from '../support/factories.js'
import { type CallResult, call } from '../support/http.js'
import { KEYS, useMsw } from '../support/msw.js'
import { type FakeStripe, useFakeStripe } from '../support/stripe.js'

// A shop in a three-decimal currency (issue 15, defect 12): Stripe charges KWD, BHD, JOD, OMR and TND only
// in whole 0.010 steps, so every amount checkout computes rounds in those steps (the order can be paid),
// and a price, rate or fixed amount with a non-zero third decimal is a 422 wherever it is entered.

const server = useMsw()
let fake: FakeStripe
beforeEach(() => {
  fake = useFakeStripe(server)
  setEnv({ SHOP_CURRENCY: 'KWD', STRIPE_SECRET_KEY: KEYS.stripe, RATE_LIMIT_DEFAULT: '100000/60' })
  resetEnv()
  resetStripeClient()
})
afterEach(() => {
  restoreEnv()
  resetEnv()
  resetStripeClient()
})

const tag = () => randomBytes(4).toString('hex')
const paths = (res: CallResult) => (res.body.errors ?? []).map((e: { path: string }) => e.path)
function expectRefused(res: CallResult, path: string) {
  expectProblem(res, 422)
  expect(paths(res), res.text).toContain(path)
  expect(res.text).toMatch(/steps of 0\.010/)
}

describe('checkout in KWD', () => {
  it('charges 1.230 KWD at 8.25 % as 1.330 (tax 0.100, not 0.101): a PaymentIntent Stripe accepts', async () => {
    await (await getDb()).insert(taxRates).values({ name: 'IL', country: 'US', state: 'IL', rateBps: 825 })
    const p = await makeProductRow({ priceCents: 1230, inventoryQuantity: 5 })
    const res = await call('POST', '/api/v1/orders', {
      body: {
        items: [{ product_id: p.id, quantity: 1 }],
        shipping_address: IL,
        customer_email: `kwd-${tag()}@example.test`,
      },
    })
    expect(res.status, res.text).toBe(201)
    expect(res.body).toMatchObject({ currency: 'KWD', subtotal: 1.23, tax_amount: 0.1, total_amount: 1.33 })
    const [create] = fake.only(/^\/v1\/payment_intents$/)
    expect(create!.params.get('amount')).toBe('1330')
    expect(create!.params.get('currency')).toBe('kwd')
    expect(res.body.payment.client_secret).toEqual(expect.any(String))
  })
})

describe('amounts entered in KWD must be whole steps of 0.010', () => {
  it('refuses prices, compare and cost prices with a third decimal in products, variants and bulk import', async () => {
    const admin = await makeUser({ role: 'admin' })
    const post = (path: string, body: unknown) => call('POST', path, { token: admin.token, body })
    const product = (extra: Record<string, unknown>) => ({ sku: `K-${tag()}`, name: 'Dishdasha', ...extra })
    expectRefused(await post('/api/v1/products', product({ price: 1.235 })), 'price')
    expectRefused(
      await post('/api/v1/products', product({ price: '1.230', compare_at_price: '2.005' })),
      'compare_at_price',
    )
    expectRefused(await post('/api/v1/products', product({ price: 1.23, cost_price: 0.001 })), 'cost_price')
    const ok = await post('/api/v1/products', product({ price: '1.230' }))
    expect(ok.status, ok.text).toBe(201)
    expect(ok.body.price).toBe(1.23)
    const id = ok.body.id
    expectRefused(
      await call('PUT', `/api/v1/products/${id}`, { token: admin.token, body: { price: 1.239 } }),
      'price',
    )
    expectRefused(
      await post(`/api/v1/products/${id}/variants`, { sku: `KV-${tag()}`, price: 3.333 }),
      'price',
    )
    const bulk = await post('/api/v1/products/bulk-import', {
      products: [product({ price: 4.444 }), product({ price: 4.44 })],
    })
    expect(bulk.status, bulk.text).toBe(200)
    expect(bulk.body.results.map((r: { status: string }) => r.status)).toEqual(['error', 'created'])
    expect(bulk.body.results[0].errors.map((e: { path: string }) => e.path)).toContain('price')
  })

  it('refuses shipping rates, free-above thresholds, fixed discounts and minimum subtotals with a third decimal', async () => {
    const admin = await makeUser({ role: 'admin' })
    const post = (path: string, body: unknown) => call('POST', path, { token: admin.token, body })
    const rate = { name: 'Std', method: 'standard', amount: 1.99 }
    expectRefused(await post('/api/v1/shipping-rates', { ...rate, amount: 1.995 }), 'amount')
    expectRefused(await post('/api/v1/shipping-rates', { ...rate, free_above: 10.005 }), 'free_above')
    const made = await post('/api/v1/shipping-rates', rate)
    expect(made.status, made.text).toBe(201)
    expectRefused(
      await call('PUT', `/api/v1/shipping-rates/${made.body.id}`, {
        token: admin.token,
        body: { amount: '2.001' },
      }),
      'amount',
    )
    const discount = { code: `K${tag()}`, type: 'fixed_amount', value: 0.5 }
    expectRefused(await post('/api/v1/discounts', { ...discount, value: 0.505 }), 'value')
    expectRefused(await post('/api/v1/discounts', { ...discount, min_subtotal: 1.001 }), 'min_subtotal')
    // a percentage is not an amount: two decimals of a percent stay allowed
    const pct = await post('/api/v1/discounts', { code: `P${tag()}`, type: 'percentage', value: 12.5 })
    expect(pct.status, pct.text).toBe(201)
    expect((await post('/api/v1/discounts', discount)).status).toBe(201)
  })
})
