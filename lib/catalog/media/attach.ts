import { and, eq, sql } from 'drizzle-orm'
import { type ProductMedia, products, productVariants } from '../../../db/schema/index.js'
import { conflict, fieldError, notFound, ProblemError } from '../../http/errors.js'
import { now } from '../../platform/clock.js'
import type { Db } from '../../platform/db.js'
import { newId } from '../../platform/ids.js'
import { productKey, productNotFound, variantNotFound } from '../access.js'
import { findProduct, lockProduct } from '../products.js'
import { isUuid } from '../schemas.js'
import type { ProductRow } from '../view.js'
import { assetOf, isManaged, MAX_MEDIA, type ManagedMedia } from './items.js'
import { MediaProviderError, providerOf } from './provider.js'
import { transactionReleasingMedia } from './release.js'
import type { AttachBody, AttachedMediaView, UploadBody, UploadTicketView } from './schemas.js'
import {
  isMediaType,
  MEDIA_TYPES,
  type MediaKind,
  type MediaType,
  requireStorage,
  type StorageConfig,
} from './settings.js'

// Uploads straight to the provider (a signed ticket, so a file never passes through a function body and
// its 4.5 MB cap), then a confirmation that checks the file with the provider and attaches it to the
// product or one of its variants, and removal. Every refusal comes before the one transaction that writes.

const STAFF = { staff: true, userId: null }

/** Uploads for a product go to `<MEDIA_FOLDER>/<product id>/`, one file name per ticket. */
const folderOf = (config: StorageConfig, productId: string) => `${config.limits.folder}/${productId}/`

const typeRefused = (path: string, type: string, config: StorageConfig) =>
  fieldError(
    path,
    `Files of type ${type} are not accepted; allowed: ${config.limits.allowedTypes.join(', ')}.`,
    'media_type_not_allowed',
  )

const tooLarge = (path: string, bytes: number, kind: MediaKind, config: StorageConfig) =>
  fieldError(
    path,
    `The ${kind} has ${bytes} bytes; at most ${config.limits.maxBytes[kind]} are accepted.`,
    'media_too_large',
  )

function allowedType(type: string, config: StorageConfig): MediaType | null {
  return isMediaType(type) && config.limits.allowedTypes.includes(type) ? type : null
}

async function productFor(db: Db, raw: string): Promise<ProductRow> {
  const product = await findProduct(db, raw, STAFF)
  if (!product) throw productNotFound()
  return product
}

const providerDown = (err: unknown) =>
  err instanceof MediaProviderError
    ? new ProblemError(
        502,
        'media_provider_unavailable',
        'The media storage could not be asked right now; nothing changed. Try again shortly.',
      )
    : err

// --- Upload ticket -----------------------------------------------------------------------------------------

/** POST /products/{product_id}/media/uploads: where and how to send one file. Writes nothing. */
export async function createUpload(db: Db, raw: string, body: UploadBody): Promise<UploadTicketView> {
  const config = requireStorage()
  const product = await productFor(db, raw)
  const type = allowedType(body.content_type, config)
  if (!type) throw typeRefused('content_type', body.content_type, config)
  const { kind, ext } = MEDIA_TYPES[type]
  if (body.size !== undefined && body.size > config.limits.maxBytes[kind]) {
    throw tooLarge('size', body.size, kind, config)
  }
  // Blob derives the served Content-Type from the extension as well; Cloudinary adds the format itself.
  const name = `${newId()}${config.provider === 'vercel_blob' ? `.${ext}` : ''}`
  const storage = await providerOf(config)
  const ticket = await storage
    .ticket({ providerId: folderOf(config, product.id) + name, kind, type, now: now() })
    .catch((err) => {
      throw providerDown(err)
    })
  return {
    provider: config.provider,
    kind,
    provider_id: ticket.provider_id,
    content_type: type,
    max_bytes: config.limits.maxBytes[kind],
    allowed_types: [type],
    expires_at: ticket.expires_at.toISOString(),
    upload: ticket.upload,
    ...(ticket.client_token ? { client_token: ticket.client_token } : {}),
  }
}

// --- Confirm and attach ------------------------------------------------------------------------------------

/** Every item of the product and its variants that is this file. */
const attachedAnywhere = (
  lists: ReadonlyArray<readonly ProductMedia[]>,
  provider: string,
  providerId: string,
) => lists.some((l) => l.some((i) => isManaged(i) && i.provider === provider && i.provider_id === providerId))

/** The file the body names, checked against the provider: a media item ready to store. */
async function checkedItem(config: StorageConfig, product: ProductRow, body: AttachBody) {
  const path = body.url !== undefined ? 'url' : 'provider_id'
  const storage = await providerOf(config)
  const ref = body.url !== undefined ? storage.refFromUrl(body.url) : storage.refFromId(body.provider_id!)
  if (!ref) {
    throw fieldError(
      'url',
      `This URL is not a file of the configured ${config.provider} storage.`,
      'media_url_not_allowed',
    )
  }
  const folder = folderOf(config, product.id)
  const inFolder = (id: string) =>
    id.startsWith(folder) && !id.slice(folder.length).includes('/') && id.length > folder.length
  if (!inFolder(ref.provider_id)) {
    throw fieldError(
      path,
      `Only files uploaded for this product can be attached (under ${folder}).`,
      'media_outside_upload_folder',
    )
  }
  const lists = [product.images, product.videos, ...product.variants.flatMap((v) => [v.images, v.videos])]
  if (attachedAnywhere(lists, config.provider, ref.provider_id)) {
    throw conflict('media_already_attached', 'This file is already attached to this product or a variant.')
  }
  const found = await storage.lookup(ref).catch((err) => {
    throw providerDown(err)
  })
  if (!found || !inFolder(found.provider_id)) {
    throw fieldError(path, 'The storage has no such file: upload it first.', 'media_not_found')
  }
  const type = allowedType(found.content_type, config)
  if (!type) throw typeRefused(path, found.content_type, config)
  const kind = MEDIA_TYPES[type].kind
  if (found.resource_type && found.resource_type !== kind) throw typeRefused(path, found.content_type, config)
  if (!(found.bytes <= config.limits.maxBytes[kind])) throw tooLarge(path, found.bytes, kind, config)
  const item: ManagedMedia = {
    id: newId(),
    url: found.url,
    ...(body.alt !== undefined ? { alt: body.alt } : {}),
    ...(body.position !== undefined ? { position: body.position } : {}),
    provider: config.provider,
    provider_id: found.provider_id,
    ...(found.resource_type ? { resource_type: found.resource_type } : {}),
    content_type: type,
    bytes: found.bytes,
    ...(found.width !== undefined ? { width: found.width } : {}),
    ...(found.height !== undefined ? { height: found.height } : {}),
    ...(found.duration !== undefined ? { duration: found.duration } : {}),
  }
  return { item, kind }
}

/**
 * POST /products/{product_id}/media: attach an uploaded file to the product, or to one of its variants.
 * The provider is asked first (outside the transaction: no row stays locked during an HTTP call); then,
 * with the product row locked, the same checks that could have changed meanwhile are made again.
 */
export async function attachMedia(db: Db, raw: string, body: AttachBody): Promise<AttachedMediaView> {
  const config = requireStorage()
  const product = await productFor(db, raw)
  const variantId = body.variant_id ?? null
  if (variantId && !product.variants.some((v) => v.id === variantId)) throw variantNotFound()
  const { item, kind } = await checkedItem(config, product, body)
  const column = kind === 'image' ? 'images' : 'videos'

  await db.transaction(async (tx) => {
    const locked = await lockProduct(tx, eq(products.id, product.id))
    const variants = await tx
      .select({ id: productVariants.id, images: productVariants.images, videos: productVariants.videos })
      .from(productVariants)
      .where(eq(productVariants.productId, locked.id))
      .for('update')
    const lists = [locked.images, locked.videos, ...variants.flatMap((v) => [v.images, v.videos])]
    if (attachedAnywhere(lists, item.provider, item.provider_id)) {
      throw conflict('media_already_attached', 'This file is already attached to this product or a variant.')
    }
    const owner = variantId ? variants.find((v) => v.id === variantId) : locked
    if (!owner) throw variantNotFound()
    if (owner[column].length >= MAX_MEDIA[column]) {
      throw conflict('media_limit_reached', `At most ${MAX_MEDIA[column]} ${column} per product or variant.`)
    }
    const appended = sql`${variantId ? productVariants[column] : products[column]} || ${JSON.stringify([item])}::jsonb`
    if (variantId) {
      await tx
        .update(productVariants)
        .set({ [column]: appended, updatedAt: now() })
        .where(eq(productVariants.id, variantId))
    } else {
      await tx
        .update(products)
        .set({ [column]: appended, updatedAt: now() })
        .where(eq(products.id, locked.id))
    }
  })
  return { ...item, kind, variant_id: variantId }
}

// --- Remove ------------------------------------------------------------------------------------------------

const mediaNotFound = () => notFound('image or video')

/**
 * DELETE /products/{product_id}/media/{media_id}: the item leaves the product or variant; its file is
 * deleted at the provider after the commit.
 */
export async function removeMedia(db: Db, raw: string, mediaId: string): Promise<void> {
  if (!isUuid(mediaId)) throw mediaNotFound()
  const id = mediaId.toLowerCase()
  const has = (list: readonly ProductMedia[]) => list.some((i) => i.id === id)
  await transactionReleasingMedia(db, async (tx, releaseMedia) => {
    const product = await lockProduct(tx, productKey(raw))
    const contains = (column: 'images' | 'videos') =>
      sql`${productVariants[column]} @> ${JSON.stringify([{ id }])}::jsonb`
    const [variant] =
      has(product.images) || has(product.videos)
        ? []
        : await tx
            .select({
              id: productVariants.id,
              images: productVariants.images,
              videos: productVariants.videos,
            })
            .from(productVariants)
            .where(
              and(
                eq(productVariants.productId, product.id),
                sql`(${contains('images')} or ${contains('videos')})`,
              ),
            )
            .limit(1)
            .for('update')
    const owner = variant ?? (has(product.images) || has(product.videos) ? product : null)
    if (!owner) throw mediaNotFound()
    const column = has(owner.images) ? 'images' : 'videos'
    const removed = owner[column].find((i) => i.id === id)!
    const rest = owner[column].filter((i) => i.id !== id)
    if (variant) {
      await tx
        .update(productVariants)
        .set({ [column]: rest, updatedAt: now() })
        .where(eq(productVariants.id, variant.id))
    } else {
      await tx
        .update(products)
        .set({ [column]: rest, updatedAt: now() })
        .where(eq(products.id, product.id))
    }
    if (isManaged(removed)) releaseMedia([assetOf(removed)])
  })
}
