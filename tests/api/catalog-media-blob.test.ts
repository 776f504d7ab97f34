import { createHmac } from 'node:crypto'
import { getPayloadFromClientToken } from '@vercel/blob/client'
import { eq } from 'drizzle-orm'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { products } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { as, callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
import { restoreEnv, setEnv } from '../support/env.js'
import { makeProduct } from '../support/factories.js'
import { BLOB, blobEnv, cloudinaryEnv, FakeBlob } from '../support/media.js'
import { useMsw } from '../support/msw.js'

// Media uploads with Vercel Blob (issue 16, item 5): a client-upload token for exactly one pathname, the
// confirmation through head(), and del() after the commit. Blob's API is MSW (tests/support/media.ts).

catalogTestEnv()
const server = useMsw()
let who: Awaited<ReturnType<typeof callers>>
let blob: FakeBlob

beforeAll(async () => {
  who = await callers()
})
beforeEach(() => {
  setEnv(blobEnv)
  blob = new FakeBlob()
  server.use(...blob.handlers())
})
afterEach(() => restoreEnv())

const staff = () => as(who.staff.token)
const base = (id: string) => `/api/v1/products/${id}/media`
const storedProduct = async (id: string) =>
  (await (await getDb()).select().from(products).where(eq(products.id, id)))[0]!

async function uploaded(productId: string, type = 'image/webp', size = 52_000) {
  const ticket = await staff().post(`${base(productId)}/uploads`, { content_type: type })
  expect(ticket.status, ticket.text).toBe(200)
  const pathname = ticket.body.provider_id as string
  return { pathname, url: blob.add({ pathname, contentType: type, size }) }
}

describe('POST /products/{product_id}/media/uploads (Vercel Blob)', () => {
  it('answers a client token signed with the store token, for one pathname, type and size', async () => {
    const p = await makeProduct()
    const res = await staff().post(`${base(p.id)}/uploads`, { content_type: 'image/webp' })
    expect(res.status, res.text).toBe(200)
    const t = res.body
    expect(t).toMatchObject({ provider: 'vercel_blob', kind: 'image', content_type: 'image/webp' })
    expect(t.provider_id).toMatch(new RegExp(`^products/${p.id}/[0-9a-f-]{36}\\.webp$`))
    expect(t.client_token).toMatch(new RegExp(`^vercel_blob_client_${BLOB.storeId}_`))
    const payload = getPayloadFromClientToken(t.client_token)
    expect(payload).toMatchObject({
      pathname: t.provider_id,
      allowedContentTypes: ['image/webp'],
      maximumSizeInBytes: 10 * 1024 * 1024,
      addRandomSuffix: false,
      allowOverwrite: false,
      validUntil: Date.parse(t.expires_at),
    })
    // The token is `<hmac-sha256(payload, read-write token)>.<payload>`: Blob accepts only what we signed.
    const [mac, encoded] = Buffer.from(t.client_token.split('_').slice(4).join('_'), 'base64')
      .toString()
      .split('.')
    expect(mac).toBe(createHmac('sha256', BLOB.token).update(encoded!).digest('hex'))
    expect(t.upload).toEqual({
      method: 'PUT',
      url: `https://vercel.com/api/blob/?pathname=${encodeURIComponent(t.provider_id)}`,
      fields: {},
      file_field: null,
      headers: {
        authorization: `Bearer ${t.client_token}`,
        'x-api-version': '13',
        'x-vercel-blob-access': 'public',
        'x-content-type': 'image/webp',
      },
    })
    expect(res.text).not.toContain(BLOB.token)
  })

  it('uses Cloudinary when both are configured', async () => {
    const p = await makeProduct()
    setEnv(cloudinaryEnv)
    setEnv({ BLOB_READ_WRITE_TOKEN: BLOB.token })
    expect((await staff().post(`${base(p.id)}/uploads`, { content_type: 'image/jpeg' })).body.provider).toBe(
      'cloudinary',
    )
  })
})

describe('POST /products/{product_id}/media (Vercel Blob)', () => {
  it('checks the file with head() and attaches it, by url or by pathname', async () => {
    const p = await makeProduct({ variants: [{ sku: `BLOB-${Date.now()}` }] })
    const first = await uploaded(p.id)
    const byUrl = await staff().post(base(p.id), { url: first.url, alt: 'Side' })
    expect(byUrl.status, byUrl.text).toBe(201)
    expect(byUrl.body).toMatchObject({
      url: first.url,
      alt: 'Side',
      provider: 'vercel_blob',
      provider_id: first.pathname,
      content_type: 'image/webp',
      bytes: 52_000,
      kind: 'image',
      variant_id: null,
    })
    expect(blob.heads).toEqual([{ url: first.url, authorization: `Bearer ${BLOB.token}` }])

    const second = await uploaded(p.id, 'video/mp4', 9_000_000)
    const variantId = p.variants[0]!.id
    const byPath = await staff().post(base(p.id), { provider_id: second.pathname, variant_id: variantId })
    expect(byPath.status, byPath.text).toBe(201)
    expect(byPath.body).toMatchObject({ kind: 'video', url: second.url, variant_id: variantId })
    const read = (await as().get(`/api/v1/products/${p.id}`)).body
    expect(read.images).toEqual([expect.objectContaining({ id: byUrl.body.id })])
    expect(read.variants[0].videos).toEqual([expect.objectContaining({ id: byPath.body.id })])
  })

  it('refuses another store, another folder, a missing file, a wrong type and a large file', async () => {
    const p = await makeProduct()
    const other = await makeProduct()
    const ok = await uploaded(p.id)
    const foreign = await uploaded(other.id)
    const html = await uploaded(p.id)
    blob.add({ pathname: html.pathname, contentType: 'text/html', size: 10 })
    const big = await uploaded(p.id, 'image/webp', 10 * 1024 * 1024 + 1)
    const before = await storedProduct(p.id)

    const otherStore = ok.url.replace(BLOB.storeId.toLowerCase(), 'otherstore99')
    expectProblem(await staff().post(base(p.id), { url: otherStore }), 422, 'media_url_not_allowed')
    expectProblem(await staff().post(base(p.id), { url: foreign.url }), 422, 'media_outside_upload_folder')
    expectProblem(
      await staff().post(base(p.id), { provider_id: `products/${p.id}/missing.webp` }),
      422,
      'media_not_found',
    )
    expectProblem(await staff().post(base(p.id), { url: html.url }), 422, 'media_type_not_allowed')
    expectProblem(await staff().post(base(p.id), { url: big.url }), 422, 'media_too_large')
    expect(await storedProduct(p.id)).toEqual(before)
  })
})

describe('Blob files are deleted after the commit', () => {
  it('deletes a removed item with del(), one request with the store token', async () => {
    const p = await makeProduct()
    const { pathname } = await uploaded(p.id)
    const item = (await staff().post(base(p.id), { provider_id: pathname })).body
    expect((await staff().del(`${base(p.id)}/${item.id}`)).status).toBe(204)
    expect(blob.deletes).toEqual([{ urls: [item.url], authorization: `Bearer ${BLOB.token}` }])
    expect(blob.files.has(pathname)).toBe(false)
  })

  it('still deletes Blob files once the shop has moved its uploads to Cloudinary', async () => {
    const p = await makeProduct()
    const { pathname } = await uploaded(p.id)
    const item = (await staff().post(base(p.id), { provider_id: pathname })).body
    setEnv(cloudinaryEnv)
    setEnv({ BLOB_READ_WRITE_TOKEN: BLOB.token })
    expect((await staff().put(`/api/v1/products/${p.id}`, { images: [] })).status).toBe(200)
    expect(blob.deletes.map((d) => d.urls)).toEqual([[item.url]])
  })
})
