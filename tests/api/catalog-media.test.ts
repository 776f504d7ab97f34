import { randomBytes } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { products, userPermissions } from '../../db/schema/index.js'
import { getDb } from '../../lib/platform/db.js'
import { as, callers, catalogTestEnv, expectProblem } from '../support/catalog.js'
import { restoreEnv, setEnv } from '../support/env.js'
import { makeOrderWithItems, makeProduct, makeUser } from '../support/factories.js'
import { call, request } from '../support/http.js'
import {
  CLOUDINARY,
  cloudinaryEnv,
  cloudinarySignature,
  FakeCloudinary,
  noStorageEnv,
} from '../support/media.js'
import { useMsw } from '../support/msw.js'

// Media uploads with Cloudinary (issue 16, item 5): a signed direct upload, the confirmation that checks the
// file with Cloudinary's Admin API before attaching it to a product or variant, and files deleted at
// Cloudinary only after the change that let them go has committed. Cloudinary is MSW (tests/support/media.ts).

catalogTestEnv()
const server = useMsw()
let who: Awaited<ReturnType<typeof callers>>
let cloud: FakeCloudinary

beforeAll(async () => {
  who = await callers()
})
beforeEach(() => {
  setEnv(cloudinaryEnv)
  cloud = new FakeCloudinary()
  server.use(...cloud.handlers())
})
afterEach(() => restoreEnv())

const staff = () => as(who.staff.token)
const base = (id: string) => `/api/v1/products/${id}/media`
const tag = () => randomBytes(4).toString('hex')
const storedProduct = async (id: string) =>
  (await (await getDb()).select().from(products).where(eq(products.id, id)))[0]!

/** A file uploaded to Cloudinary for the product, as the signed upload would have put it there. */
async function uploaded(productId: string, file: Partial<Parameters<FakeCloudinary['add']>[0]> = {}) {
  const ticket = await staff().post(`${base(productId)}/uploads`, { content_type: 'image/jpeg' })
  expect(ticket.status, ticket.text).toBe(200)
  const publicId = ticket.body.provider_id as string
  const url = cloud.add({
    public_id: publicId,
    resource_type: 'image',
    format: 'jpg',
    bytes: 476_846,
    width: 1870,
    height: 1250,
    ...file,
  })
  return { publicId, url }
}

async function attached(productId: string, body: Record<string, unknown> = {}) {
  const { publicId } = await uploaded(productId)
  const res = await staff().post(base(productId), { provider_id: publicId, ...body })
  expect(res.status, res.text).toBe(201)
  return res.body
}

describe('who may upload and attach media', () => {
  it('answers 401 without a token, 403 to customers and to a reader without products.write', async () => {
    const p = await makeProduct()
    const reader = await makeUser({ role: 'customer' })
    await (await getDb())
      .insert(userPermissions)
      .values({ userId: reader.user.id, permission: 'products.read' })
    const writes = [
      ['POST', `${base(p.id)}/uploads`, { content_type: 'image/jpeg' }],
      ['POST', base(p.id), { provider_id: `products/${p.id}/x` }],
      ['DELETE', `${base(p.id)}/${crypto.randomUUID()}`, undefined],
    ] as const
    for (const [method, path, body] of writes) {
      expectProblem(await call(method, path, { body }), 401)
      expectProblem(await call(method, path, { token: who.customer.token, body }), 403, 'forbidden')
      expectProblem(await call(method, path, { token: reader.token, body }), 403, 'forbidden')
    }
    expect(cloud.lookups).toEqual([])
    expect((await storedProduct(p.id)).images).toEqual([])
  })
})

describe('POST /products/{product_id}/media/uploads (Cloudinary)', () => {
  it('answers a signed upload that Cloudinary’s documented algorithm verifies, for this product’s folder', async () => {
    const p = await makeProduct()
    const res = await staff().post(`${base(p.id)}/uploads`, { content_type: 'image/png', size: 2_000_000 })
    expect(res.status, res.text).toBe(200)
    const t = res.body
    expect(t).toMatchObject({ provider: 'cloudinary', kind: 'image', content_type: 'image/png' })
    expect(t.upload).toMatchObject({
      method: 'POST',
      url: `https://api.cloudinary.com/v1_1/${CLOUDINARY.cloud}/image/upload`,
      file_field: 'file',
    })
    const fields = t.upload.fields as Record<string, string>
    expect(t.provider_id).toMatch(new RegExp(`^products/${p.id}/[0-9a-f-]{36}$`))
    expect(fields).toMatchObject({ public_id: t.provider_id, overwrite: 'false', api_key: CLOUDINARY.key })
    expect(fields.allowed_formats!.split(',')).toEqual(expect.arrayContaining(['jpg', 'png', 'webp']))
    expect(fields.allowed_formats).not.toMatch(/mp4/)
    expect(fields.signature).toBe(cloudinarySignature(fields, CLOUDINARY.secret))
    // The signature covers the folder: another public_id no longer verifies.
    const elsewhere = { ...fields, public_id: `products/${crypto.randomUUID()}/x` }
    expect(fields.signature).not.toBe(cloudinarySignature(elsewhere, CLOUDINARY.secret))
    expect(Date.parse(t.expires_at) - Number(fields.timestamp) * 1000).toBe(3_600_000)
    expect(t.max_bytes).toBe(10 * 1024 * 1024)
    expect(res.text).not.toContain(CLOUDINARY.secret)
  })

  it('signs video uploads at the video endpoint with video formats only', async () => {
    const p = await makeProduct()
    const res = await staff().post(`${base(p.id)}/uploads`, { content_type: 'video/mp4' })
    expect(res.body.upload.url).toBe(`https://api.cloudinary.com/v1_1/${CLOUDINARY.cloud}/video/upload`)
    expect(res.body.upload.fields.allowed_formats).toBe('mp4,webm,mov')
    expect(res.body.max_bytes).toBe(100 * 1024 * 1024)
  })

  it('refuses a type or size outside the settings, and an unknown product', async () => {
    const p = await makeProduct()
    setEnv({ MEDIA_ALLOWED_TYPES: 'image/jpeg', MEDIA_MAX_IMAGE_BYTES: '1000' })
    const html = await staff().post(`${base(p.id)}/uploads`, { content_type: 'text/html' })
    expectProblem(html, 422, 'media_type_not_allowed')
    expect(html.body.errors[0].path).toBe('content_type')
    expectProblem(
      await staff().post(`${base(p.id)}/uploads`, { content_type: 'image/png' }),
      422,
      'media_type_not_allowed',
    )
    expectProblem(
      await staff().post(`${base(p.id)}/uploads`, { content_type: 'image/jpeg', size: 1001 }),
      422,
      'media_too_large',
    )
    expect(
      (await staff().post(`${base(p.id)}/uploads`, { content_type: 'image/jpeg', size: 1000 })).status,
    ).toBe(200)
    expectProblem(
      await staff().post(`${base(crypto.randomUUID())}/uploads`, { content_type: 'image/jpeg' }),
      404,
    )
  })

  it('answers 503 media_storage_not_configured without a provider, naming the settings', async () => {
    const p = await makeProduct()
    setEnv(noStorageEnv)
    const res = await staff().post(`${base(p.id)}/uploads`, { content_type: 'image/jpeg' })
    expectProblem(res, 503, 'media_storage_not_configured')
    expect(res.body.detail).toMatch(/CLOUDINARY_URL.*BLOB_READ_WRITE_TOKEN/)
    expectProblem(
      await staff().post(base(p.id), { provider_id: `products/${p.id}/x` }),
      503,
      'media_storage_not_configured',
    )
    setEnv({ CLOUDINARY_CLOUD_NAME: 'half', CLOUDINARY_API_KEY: '1' })
    const half = await staff().post(`${base(p.id)}/uploads`, { content_type: 'image/jpeg' })
    expectProblem(half, 503, 'media_storage_not_configured')
    expect(half.body.detail).toContain('CLOUDINARY_API_SECRET')
  })
})

describe('POST /products/{product_id}/media (Cloudinary)', () => {
  it('checks the file with the Admin API and attaches it to the product', async () => {
    const p = await makeProduct({ images: [{ url: 'https://example.com/old.jpg', alt: 'old' }] })
    const { publicId, url } = await uploaded(p.id)
    const res = await staff().post(base(p.id), { provider_id: publicId, alt: 'Front', position: 0 })
    expect(res.status, res.text).toBe(201)
    expect(res.body).toMatchObject({
      url,
      alt: 'Front',
      position: 0,
      provider: 'cloudinary',
      provider_id: publicId,
      content_type: 'image/jpeg',
      bytes: 476_846,
      width: 1870,
      height: 1250,
      kind: 'image',
      variant_id: null,
    })
    expect(cloud.lookups).toEqual([
      {
        resourceType: 'image',
        publicId,
        authorization: `Basic ${Buffer.from(`${CLOUDINARY.key}:${CLOUDINARY.secret}`).toString('base64')}`,
      },
    ])
    const read = await as().get(`/api/v1/products/${p.id}`)
    expect(read.body.images.map((i: { url: string }) => i.url)).toEqual(['https://example.com/old.jpg', url])
    expect(read.body.images[1].id).toBe(res.body.id)
  })

  it('takes the secure_url instead, finds a video by it, and attaches it to a variant', async () => {
    const p = await makeProduct({ variants: [{ sku: `RED-${tag()}`, option1: 'Red' }] })
    const variantId = p.variants[0]!.id
    const ticket = await staff().post(`${base(p.id)}/uploads`, { content_type: 'video/mp4' })
    const url = cloud.add({
      public_id: ticket.body.provider_id,
      resource_type: 'video',
      format: 'mp4',
      bytes: 7_527_695,
      width: 1920,
      height: 1080,
      duration: 12.4,
    })
    const res = await staff().post(base(p.id), { url, variant_id: variantId })
    expect(res.status, res.text).toBe(201)
    expect(res.body).toMatchObject({
      kind: 'video',
      content_type: 'video/mp4',
      duration: 12.4,
      variant_id: variantId,
    })
    expect(cloud.lookups.map((l) => l.resourceType)).toEqual(['video'])
    const variants = (await as().get(`/api/v1/products/${p.id}/variants`)).body.variants
    expect(variants[0].videos).toEqual([expect.objectContaining({ id: res.body.id, url })])
    expect((await storedProduct(p.id)).videos).toEqual([])
  })

  it('refuses what it must not attach with a 4xx and changes nothing', async () => {
    const p = await makeProduct({ images: [{ url: 'https://example.com/a.jpg' }] })
    const other = await makeProduct({ variants: [{ sku: `OTHER-${tag()}` }] })
    const before = await storedProduct(p.id)
    const { publicId, url } = await uploaded(p.id)
    const foreign = await uploaded(other.id)
    const svg = await uploaded(p.id, { format: 'svg' })
    const pdf = await uploaded(p.id, { resource_type: 'raw', format: 'pdf' })
    const big = await uploaded(p.id, { bytes: 10 * 1024 * 1024 + 1 })

    expectProblem(
      await staff().post(base(p.id), { provider_id: publicId, variant_id: other.variants[0]!.id }),
      404,
    )
    const otherCloud = url.replace(CLOUDINARY.cloud, 'someone-else')
    expectProblem(await staff().post(base(p.id), { url: otherCloud }), 422, 'media_url_not_allowed')
    expectProblem(
      await staff().post(base(p.id), { url: 'https://example.com/cat.jpg' }),
      422,
      'media_url_not_allowed',
    )
    expectProblem(
      await staff().post(base(p.id), { provider_id: foreign.publicId }),
      422,
      'media_outside_upload_folder',
    )
    expectProblem(
      await staff().post(base(p.id), { provider_id: `products/${p.id}/../x` }),
      422,
      'media_outside_upload_folder',
    )
    expectProblem(
      await staff().post(base(p.id), { provider_id: `products/${p.id}/never-uploaded` }),
      422,
      'media_not_found',
    )
    expectProblem(
      await staff().post(base(p.id), { provider_id: svg.publicId }),
      422,
      'media_type_not_allowed',
    )
    expectProblem(await staff().post(base(p.id), { provider_id: pdf.publicId }), 422, 'media_not_found')
    expectProblem(await staff().post(base(p.id), { provider_id: big.publicId }), 422, 'media_too_large')
    expectProblem(await staff().post(base(p.id), { provider_id: publicId, url }), 422)
    expect(await storedProduct(p.id)).toEqual(before)

    expect((await staff().post(base(p.id), { provider_id: publicId })).status).toBe(201)
    expectProblem(await staff().post(base(p.id), { url }), 409, 'media_already_attached')
    expect((await storedProduct(p.id)).images).toHaveLength(2)
  })

  it('answers 502 when Cloudinary cannot be asked, and attaches nothing', async () => {
    const p = await makeProduct()
    const { publicId } = await uploaded(p.id)
    cloud.failLookup = 500
    expectProblem(
      await staff().post(base(p.id), { provider_id: publicId }),
      502,
      'media_provider_unavailable',
    )
    expect((await storedProduct(p.id)).images).toEqual([])
  })
})

describe('files are deleted at Cloudinary after the commit, by every route that lets them go', () => {
  it('DELETE .../media/{media_id}: 204, then a signed destroy once the item is gone from the catalog', async () => {
    const p = await makeProduct()
    const item = await attached(p.id)
    const seen: string[] = []
    cloud.onDestroy = async () => {
      // A destroy sent inside the transaction would find this read waiting for it (PGlite: one connection).
      const read = (async () => JSON.stringify((await storedProduct(p.id)).images))()
      seen.push(await Promise.race([read, new Promise<string>((r) => setTimeout(() => r('blocked'), 2000))]))
    }
    const res = await request('DELETE', `${base(p.id)}/${item.id}`, { token: who.staff.token })
    expect(res.status).toBe(204)
    await call('GET', '/api/v1/health') // flushes the after-response work
    expect(cloud.destroys).toEqual([
      expect.objectContaining({
        resourceType: 'image',
        signatureValid: true,
        params: expect.objectContaining({ public_id: item.provider_id, invalidate: 'true', type: 'upload' }),
      }),
    ])
    expect(seen).toEqual(['[]'])
    expectProblem(await staff().del(`${base(p.id)}/${item.id}`), 404)
    expectProblem(await staff().del(`${base(p.id)}/not-a-uuid`), 404)
  })

  it('PUT keeps uploaded items sent back as read, deletes the ones it drops, and never trusts forged fields', async () => {
    const p = await makeProduct()
    const keep = await attached(p.id)
    const drop = await attached(p.id)
    const read = (await staff().get(`/api/v1/products/${p.id}`)).body
    expect((await staff().put(`/api/v1/products/${p.id}`, { images: read.images })).status).toBe(200)
    expect(cloud.destroys).toEqual([])
    expect((await storedProduct(p.id)).images).toEqual(read.images)

    const forged = {
      url: 'https://example.com/x.jpg',
      provider: 'cloudinary',
      provider_id: keep.provider_id,
      id: keep.id,
    }
    const res = await staff().put(`/api/v1/products/${p.id}`, {
      images: [{ ...read.images[0], alt: 'Kept' }, forged],
    })
    expect(res.status, res.text).toBe(200)
    expect(cloud.destroyedIds()).toEqual([drop.provider_id])
    expect(res.body.images).toEqual([
      { ...read.images[0], alt: 'Kept' },
      { url: 'https://example.com/x.jpg' },
    ])

    // Dropping the forged link deletes nothing at Cloudinary; a change that fails deletes nothing either.
    const taken = await makeProduct()
    expectProblem(
      await staff().put(`/api/v1/products/${p.id}`, { images: [], slug: taken.slug }),
      409,
      'slug_taken',
    )
    expect(cloud.destroyedIds()).toEqual([drop.provider_id])
    await staff().put(`/api/v1/products/${p.id}`, { images: [{ url: 'https://example.com/x.jpg' }] })
    expect(cloud.destroyedIds()).toEqual([drop.provider_id, keep.provider_id])
  })

  it('deleting a variant or a product deletes their files; archiving an ordered product keeps them', async () => {
    const p = await makeProduct({ variants: [{ sku: `A-${tag()}` }, { sku: `B-${tag()}` }] })
    const onVariant = await attached(p.id, { variant_id: p.variants[0]!.id })
    const onProduct = await attached(p.id)
    const onOther = await attached(p.id, { variant_id: p.variants[1]!.id })
    expect((await staff().del(`/api/v1/products/${p.id}/variants/${p.variants[0]!.id}`)).status).toBe(204)
    expect(cloud.destroyedIds()).toEqual([onVariant.provider_id])
    expect((await staff().del(`/api/v1/products/${p.id}`)).status).toBe(204)
    expect(cloud.destroyedIds().sort()).toEqual(
      [onVariant.provider_id, onProduct.provider_id, onOther.provider_id].sort(),
    )

    const ordered = await makeProduct()
    await attached(ordered.id)
    await makeOrderWithItems({ items: [{ productId: ordered.id, quantity: 1 }] })
    const before = cloud.destroys.length
    expect((await staff().del(`/api/v1/products/${ordered.id}`)).status).toBe(200)
    expect(cloud.destroys).toHaveLength(before)
  })

  it('bulk update and bulk delete let files go after their commit too', async () => {
    const a = await makeProduct()
    const b = await makeProduct()
    const fromA = await attached(a.id)
    const fromB = await attached(b.id)
    const upd = await staff().post('/api/v1/products/bulk-update', { products: [{ id: a.id, images: [] }] })
    expect(upd.body.results[0].status, upd.text).toBe('updated')
    expect(cloud.destroyedIds()).toEqual([fromA.provider_id])
    const del = await staff().post('/api/v1/products/bulk-delete', { products: [{ id: b.id }] })
    expect(del.body.results[0].status, del.text).toBe('deleted')
    expect(cloud.destroyedIds()).toEqual([fromA.provider_id, fromB.provider_id])
  })

  it('keeps a file another product still shows by URL', async () => {
    const p = await makeProduct()
    const item = await attached(p.id)
    await makeProduct({ images: [{ url: item.url }] })
    expect((await staff().del(`${base(p.id)}/${item.id}`)).status).toBe(204)
    expect(cloud.destroys).toEqual([])
  })

  it('logs a failed deletion at Cloudinary and still answers 204', async () => {
    const p = await makeProduct()
    const item = await attached(p.id)
    cloud.failDestroy = 500
    setEnv({ LOG_LEVEL: 'error' })
    const lines: string[] = []
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk))
      return true
    })
    try {
      expect((await staff().del(`${base(p.id)}/${item.id}`)).status).toBe(204)
    } finally {
      spy.mockRestore()
    }
    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'media file not deleted')
    expect(logged).toMatchObject({ level: 'error', provider: 'cloudinary', provider_id: item.provider_id })
    expect(logged.reason).toMatch(/HTTP 500/)
    expect(lines.join('')).not.toContain(CLOUDINARY.secret)
    expect((await storedProduct(p.id)).images).toEqual([])
  })
})
