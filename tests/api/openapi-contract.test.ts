import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { compilePath } from '../../lib/http/path.js'
import { route } from '../../lib/http/route.js'
import type { RouteFile } from '../../lib/http/router.js'
import { buildOpenApi } from '../../lib/openapi/build.js'
import { contractViolations } from '../support/contract.js'
import { restoreEnv, setEnv } from '../support/env.js'
import { makeUser } from '../support/factories.js'
import { call } from '../support/http.js'

// The document says what the server enforces (issue 16, item 1), and the response checks every route
// test goes through catch what it does not (item 2).

type Json = Record<string, any>
const served = async (): Promise<Json> => (await call('GET', '/api/v1/openapi.json')).body
const jsonBody = (op: Json) => op.requestBody.content['application/json'].schema
const ok = (op: Json, status = '200') => op.responses[status].content['application/json'].schema

afterEach(() => restoreEnv())

describe('the served OpenAPI document', () => {
  it('resolves every $ref inside the document, the recursive category tree included', async () => {
    const doc = await served()
    const refs: string[] = []
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk)
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) k === '$ref' ? refs.push(x as string) : walk(x)
      }
    }
    walk(doc)
    const resolve = (ref: string) =>
      ref
        .slice(2)
        .split('/')
        .reduce<any>((at, part) => at?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc)
    expect(refs.filter((r) => !r.startsWith('#/') || resolve(r) === undefined)).toEqual([])
    expect(JSON.stringify(ok(doc.paths['/api/v1/categories'].get))).toContain(
      '#/components/schemas/CategoryNode',
    )
    expect(JSON.stringify(doc.components.schemas.CategoryNode)).toContain('#/components/schemas/CategoryNode')
  })

  it('gives money the currency step and the maximum the server enforces, in one shared schema', async () => {
    const doc = await served()
    const { Price, Amount, Money } = doc.components.schemas
    expect(Price).toMatchObject({ type: 'number', minimum: 0, multipleOf: 0.01, maximum: 21_474_836.47 })
    expect(Amount).toMatchObject({
      type: 'number',
      minimum: 0,
      multipleOf: 0.01,
      maximum: 9_999_999_999_999.99,
    })
    expect(Money).toMatchObject({ type: 'number', multipleOf: 0.01 })
    expect(jsonBody(doc.paths['/api/v1/products'].post).properties.price.$ref).toBe(
      '#/components/schemas/Price',
    )
    expect(jsonBody(doc.paths['/api/v1/orders/{order_id}/refund'].post).properties.amount.$ref).toBe(
      '#/components/schemas/Amount',
    )
    expect(ok(doc.paths['/api/v1/orders'].post, '201').$ref).toBe('#/components/schemas/Order')
    expect(doc.components.schemas.Order.properties.total_amount.$ref).toBe('#/components/schemas/Money')

    // The documented maximum is the server's: one minor unit more is refused.
    const { token } = await makeUser({ role: 'admin' })
    const product = (price: number) =>
      call('POST', '/api/v1/products', {
        token,
        body: { name: `Coat ${price}`, sku: `MAX-${Math.round(price * 100)}`, price },
      })
    expect((await product(Price.maximum)).status).toBe(201)
    const over = await product(Price.maximum + 0.01)
    expect(over.status).toBe(422)
    expect(over.body.errors[0].path).toBe('price')
  })

  it("serves the deployment's currency and password length, not the committed defaults", async () => {
    setEnv({ SHOP_CURRENCY: 'JPY', PASSWORD_MIN_LENGTH: '12' })
    const { Price, Money, NewPassword } = (await served()).components.schemas
    expect(Money.multipleOf).toBe(1)
    expect(Price).toMatchObject({ multipleOf: 1, maximum: 2_147_483_647 })
    expect(NewPassword.minLength).toBe(12)
  })

  it('documents new passwords as at least 8 characters while a short one keeps its weak_password refusal', async () => {
    const doc = await served()
    expect(doc.components.schemas.NewPassword).toMatchObject({ type: 'string', minLength: 8, maxLength: 128 })
    for (const [path, field] of [
      ['/api/v1/auth/register', 'password'],
      ['/api/v1/auth/reset-password', 'password'],
      ['/api/v1/auth/change-password', 'new_password'],
      ['/api/v1/users', 'password'],
    ] as const) {
      expect(jsonBody(doc.paths[path].post).properties[field].$ref, path).toBe(
        '#/components/schemas/NewPassword',
      )
    }
    expect(jsonBody(doc.paths['/api/v1/auth/login'].post).properties.password.minLength).toBe(1)
    for (const password of ['', 'short']) {
      const res = await call('POST', '/api/v1/auth/register', {
        body: { email: `short-${password.length}@example.test`, password, first_name: 'A', last_name: 'B' },
      })
      expect(res.status).toBe(422)
      expect(res.body.errors).toEqual([expect.objectContaining({ path: 'password', code: 'weak_password' })])
    }
  })

  it('marks every email field of a request as format email', async () => {
    const doc = await served()
    expect(doc.components.schemas.Email).toMatchObject({ type: 'string', format: 'email' })
    expect(jsonBody(doc.paths['/api/v1/auth/login'].post).properties.email.format).toBe('email')
    expect(jsonBody(doc.paths['/api/v1/auth/forgot-password'].post).properties.email.format).toBe('email')
    expect(JSON.stringify(jsonBody(doc.paths['/api/v1/orders'].post).properties.customer_email)).toContain(
      '"format":"email"',
    )
  })

  it('documents the JSON format of both exports beside CSV', async () => {
    const doc = await served()
    for (const path of ['/api/v1/users/export', '/api/v1/orders/export']) {
      const content = doc.paths[path].get.responses['200'].content
      expect(Object.keys(content).sort(), path).toEqual(['application/json', 'text/csv'])
      expect(content['application/json'].schema.type).toBe('array')
    }
  })

  it('types the analytics period and refuses ?from=null with a message saying what to send', async () => {
    const doc = await served()
    for (const path of [
      '/api/v1/metrics/business',
      '/api/v1/products/analytics',
      '/api/v1/users/analytics',
    ]) {
      const from = doc.paths[path].get.parameters.find((p: Json) => p.name === 'from')
      expect(
        from.schema.anyOf.map((s: Json) => s.format),
        path,
      ).toEqual(['date-time', 'date'])
    }
    const { token } = await makeUser({ role: 'admin' })
    for (const path of [
      '/api/v1/metrics/business',
      '/api/v1/products/analytics',
      '/api/v1/users/analytics',
    ]) {
      const res = await call('GET', `${path}?from=null`, { token })
      expect(res.status, path).toBe(422)
      expect(res.body.errors[0]).toMatchObject({
        path: 'query.from',
        message: expect.stringContaining('ISO 8601'),
      })
    }
    const dated = await call(
      'GET',
      '/api/v1/metrics/business?from=2026-01-01&to=2026-01-31T12:00:00%2B01:00',
      {
        token,
      },
    )
    expect(dated.status).toBe(200)
    expect(dated.body.period).toEqual({ from: '2026-01-01T00:00:00.000Z', to: '2026-01-31T11:00:00.000Z' })
  })

  it('links a created order to reading, paying, fulfilling, shipping, refunding and returning it', async () => {
    const doc = await served()
    const links = doc.paths['/api/v1/orders'].post.responses['201'].links
    for (const id of [
      'getV1OrdersOrderId',
      'postV1OrdersOrderIdPayment',
      'postV1OrdersOrderIdFulfill',
      'postV1OrdersOrderIdShip',
      'postV1OrdersOrderIdRefund',
      'postV1OrdersOrderIdReturn',
    ]) {
      expect(links[id], id).toEqual({
        operationId: id,
        parameters: { order_id: '$response.body#/id' },
        description: expect.any(String),
      })
    }
    const product = doc.paths['/api/v1/products'].post.responses['201'].links
    expect(Object.keys(product)).toEqual(
      expect.arrayContaining([
        'getV1ProductsProductIdVariants',
        'postV1ProductsProductIdVariants',
        'putV1ProductsProductIdInventory',
      ]),
    )
    const variant = doc.paths['/api/v1/products/{product_id}/variants'].post.responses['201'].links
    expect(variant.putV1ProductsProductIdVariantsVariantId.parameters).toEqual({
      product_id: '$request.path.product_id',
      variant_id: '$response.body#/id',
    })
    const ret = doc.paths['/api/v1/orders/{order_id}/return'].post.responses['201'].links
    expect(Object.keys(ret).sort()).toEqual([
      'postV1ReturnsReturnIdApprove',
      'postV1ReturnsReturnIdReceive',
      'postV1ReturnsReturnIdReject',
    ])
  })
})

describe('building the document', () => {
  const fileOf = (path: string, spec: Partial<Parameters<typeof route>[0]>): RouteFile => ({
    file: `api${path}.ts`,
    path,
    pattern: compilePath(path),
    module: {
      GET: route(
        { path, summary: 'A test route', tags: ['meta'], auth: 'public', ...spec },
        async () => new Response(),
      ),
    },
  })

  it('refuses an unnamed recursive schema, which could only point into $defs nowhere', () => {
    type Node = { children: Node[] }
    const Node: z.ZodType<Node> = z.lazy(() => z.object({ children: z.array(Node) }))
    expect(() => buildOpenApi([fileOf('/api/v1/tree', { response: Node })], '0')).toThrow(
      /name it with \.meta/,
    )
  })

  it('refuses a tag without a description and a link nothing takes', () => {
    expect(() => buildOpenApi([fileOf('/api/v1/x', { tags: ['nowhere'] })], '0')).toThrow(
      /lib\/openapi\/tags\.ts/,
    )
    expect(() => buildOpenApi([fileOf('/api/v1/x', { creates: 'thing_id' })], '0')).toThrow(
      /no operation takes/,
    )
  })
})

describe('checking responses against the document', () => {
  const health = { status: 'healthy', timestamp: new Date().toISOString(), version: '0.1.0' }
  const observed = (over: Partial<Parameters<typeof contractViolations>[0]> = {}) => ({
    method: 'GET',
    url: '/api/v1/health',
    status: 200,
    headers: new Headers({ 'content-type': 'application/json; charset=utf-8' }),
    text: JSON.stringify(health),
    ...over,
  })

  it('passes a documented response and names each way one can differ', () => {
    expect(contractViolations(observed())).toEqual([])
    expect(contractViolations(observed({ status: 418 }))[0]).toMatch(/status 418 is not documented/)
    expect(
      contractViolations(observed({ headers: new Headers({ 'content-type': 'text/plain' }) }))[0],
    ).toMatch(/content type "text\/plain" is not documented/)
    const { status: _gone, ...noStatus } = health
    expect(contractViolations(observed({ text: JSON.stringify(noStatus) }))).toEqual([
      expect.stringMatching(/must have required property 'status'/),
    ])
    expect(contractViolations(observed({ url: '/api/v1/nowhere' }))).toEqual(['no documented path matches'])
  })

  it('checks an amount on its decimal digits: 4.99 is a multiple of 0.01, 4.999 is not', async () => {
    const { token } = await makeUser({ role: 'admin' })
    const made = await call('POST', '/api/v1/shipping-rates', {
      token,
      body: { name: 'Standard', method: 'standard', amount: 4.99, countries: [] },
    })
    expect(made.status).toBe(201)
    const rate = {
      method: 'GET',
      url: `/api/v1/shipping-rates/${made.body.id}`,
      headers: made.headers,
      status: 200,
    }
    expect(contractViolations({ ...rate, text: JSON.stringify(made.body) })).toEqual([])
    expect(contractViolations({ ...rate, text: JSON.stringify({ ...made.body, amount: 4.999 }) })).toEqual([
      expect.stringMatching(/^body\/amount must pass "multipleOf" keyword/),
    ])
  })

  it("lets the router's own answers through and makes an opt-out give its reason", async () => {
    expect((await call('GET', '/api/v1/no-such-route')).status).toBe(404)
    expect((await call('DELETE', '/api/v1/health')).status).toBe(405)
    await expect(call('GET', '/api/v1/health', { outsideContract: ' ' })).rejects.toThrow(/needs the reason/)
  })
})
