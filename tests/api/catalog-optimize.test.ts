import { randomBytes } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { products } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { resetEnv } from '../../lib/platform/env.js'
import { makeProduct, makeUser } from '../support/factories.js'
import { type CallResult, call } from '../support/http.js'
import { badCredentials } from '../support/token-cases.js'

// POST /products/{product_id}/optimize (issue 8): deterministic suggestions; `apply` changes only the
// safe ones, in one transaction.

let saved: Record<string, string | undefined>
beforeEach(() => {
  saved = { ...process.env }
  process.env.RATE_LIMIT_DEFAULT = '100000/60'
  resetEnv()
})
afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
  Object.assign(process.env, saved)
  resetEnv()
})

const tag = () => randomBytes(4).toString('hex')
const optimize = (token: string | undefined, id: string, body?: unknown) =>
  call('POST', `/api/v1/products/${id}/optimize`, { token, body })

function expectProblem(res: CallResult, status: number, code?: string) {
  expect(res.status, res.text).toBe(status)
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  if (code) expect(res.body.code).toBe(code)
}

const byField = (res: CallResult) =>
  Object.fromEntries(res.body.suggestions.map((s: any) => [s.field, s])) as Record<string, any>

async function row(id: string) {
  const [p] = await (await getDb()).select().from(products).where(eq(products.id, id))
  return p!
}

describe('POST /products/{product_id}/optimize', () => {
  it('suggests fixes for a bare product, the same ones every time, and changes nothing without apply', async () => {
    const s = await makeUser({ role: 'staff' })
    const t = tag()
    const p = await makeProduct({
      sku: `OPT-${t}`,
      name: 'Tee',
      brand: 'Nordwear',
      price: 20,
      compare_at_price: 20,
      description: 'Soft cotton.',
      images: [{ url: 'https://img.example.com/tee.jpg' }],
    })
    const res = await optimize(s.token, p.id)
    expect(res.status, res.text).toBe(200)
    const f = byField(res)
    expect(Object.keys(f).sort()).toEqual(
      ['compare_at_price', 'description', 'images', 'name', 'seo_description', 'seo_title', 'tags'].sort(),
    )
    expect(f.name).toMatchObject({ code: 'title_too_short', proposed: 'Nordwear Tee', safe: false })
    expect(f.seo_title).toMatchObject({ code: 'seo_title_missing', proposed: 'Tee | Nordwear', safe: true })
    expect(f.description).toMatchObject({ code: 'description_thin', safe: false })
    expect(f.description.proposed).toBe('Soft cotton.\n\nTee by Nordwear.')
    expect(f.seo_description).toMatchObject({ proposed: 'Soft cotton.', safe: true })
    expect(f.images).toMatchObject({
      code: 'image_alt_missing',
      proposed: [{ url: 'https://img.example.com/tee.jpg', alt: 'Tee' }],
      safe: true,
    })
    expect(f.tags).toMatchObject({ proposed: ['tee', 'nordwear'], safe: false })
    expect(f.compare_at_price).toMatchObject({
      code: 'compare_at_price_not_above_price',
      current: 20,
      proposed: null,
      safe: true,
    })
    for (const sug of res.body.suggestions) expect(typeof sug.reason).toBe('string')
    expect(res.body.applied).toEqual([])
    expect(res.body.score).toBe(Math.round((100 * 2) / 9))
    expect(res.body.product.id).toBe(p.id)
    expect((await optimize(s.token, p.slug)).body.suggestions).toEqual(res.body.suggestions)
    const after = await row(p.id)
    expect(after).toMatchObject({
      seoTitle: null,
      compareAtPriceCents: 2000,
      updatedAt: new Date(p.updated_at),
    })
  })

  it('applies only the safe suggestions in one go and answers with the product', async () => {
    const s = await makeUser({ role: 'staff' })
    const t = tag()
    const long = `${'Organic cotton jersey, garment dyed and pre-washed. '.repeat(5)}`
    const p = await makeProduct({
      sku: `OPA-${t}`,
      name: `Relaxed Organic Cotton Tee ${t}`,
      price: 20,
      compare_at_price: 15,
      description: long,
      images: [
        { url: 'https://img.example.com/1.jpg', alt: 'Front' },
        { url: 'https://img.example.com/2.jpg' },
      ],
    })
    const res = await optimize(s.token, p.id, { apply: true })
    expect(res.status, res.text).toBe(200)
    expect(res.body.applied.sort()).toEqual(['compare_at_price', 'images', 'seo_description', 'seo_title'])
    const after = await row(p.id)
    expect(after.seoTitle).toBe(`Relaxed Organic Cotton Tee ${t}`)
    expect(after.seoDescription!.length).toBeLessThanOrEqual(160)
    expect(long.startsWith(after.seoDescription!)).toBe(true)
    expect(after.compareAtPriceCents).toBeNull()
    expect(after.images).toEqual([
      { url: 'https://img.example.com/1.jpg', alt: 'Front' },
      { url: 'https://img.example.com/2.jpg', alt: `Relaxed Organic Cotton Tee ${t} – image 2` },
    ])
    // not safe: left for staff, and still suggested
    expect(after.name).toBe(p.name)
    expect(after.tags).toEqual([])
    expect(res.body.suggestions.map((x: any) => x.field)).toEqual(['tags'])
    expect(res.body.product).toMatchObject({ id: p.id, seo_title: after.seoTitle, compare_at_price: null })
    const again = await optimize(s.token, p.id, { apply: true })
    expect(again.body.applied).toEqual([])
  })

  it('suggests a clean slug for a numbered or long one, only when that slug is free', async () => {
    const s = await makeUser({ role: 'staff' })
    const t = tag()
    const p = await makeProduct({ name: `Wrap Dress ${t} Midi`, slug: `wrap-dress-${t}-midi-7` })
    expect(byField(await optimize(s.token, p.id)).slug).toMatchObject({
      code: 'slug_quality',
      current: `wrap-dress-${t}-midi-7`,
      proposed: `wrap-dress-${t}-midi`,
      safe: false,
    })
    await makeProduct({ name: 'Other', slug: `wrap-dress-${t}-midi` })
    expect(byField(await optimize(s.token, p.id)).slug).toBeUndefined()
  })

  it('answers 404 for an unknown product and 422 for a bad body, changing nothing', async () => {
    const s = await makeUser({ role: 'staff' })
    expectProblem(await optimize(s.token, '00000000-0000-4000-8000-000000000000'), 404, 'not_found')
    expectProblem(await optimize(s.token, 'no-such-slug', { apply: true }), 404, 'not_found')
    const p = await makeProduct({ compare_at_price: 1, price: 5 })
    expectProblem(await optimize(s.token, p.id, { apply: 'yes' }), 422, 'validation_failed')
    expectProblem(await optimize(s.token, p.id, { apply: true, extra: 1 }), 422, 'validation_failed')
    expect((await row(p.id)).compareAtPriceCents).toBe(100)
  })

  it('needs products.write: 401 for every bad token, 403 for customers', async () => {
    const s = await makeUser({ role: 'staff' })
    const p = await makeProduct({ compare_at_price: 1, price: 5 })
    for (const { label, opts } of await badCredentials(s)) {
      const res = await call('POST', `/api/v1/products/${p.id}/optimize`, { ...opts, body: { apply: true } })
      expectProblem(res, 401)
      expect(res.headers.get('www-authenticate'), label).toBe('Bearer')
    }
    const customer = await makeUser({ role: 'customer' })
    expectProblem(await optimize(customer.token, p.id, { apply: true }), 403, 'forbidden')
    expect((await row(p.id)).compareAtPriceCents).toBe(100)
  })
})
