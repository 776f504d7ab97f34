import { sql } from 'drizzle-orm'
import { z } from 'zod'
import { type ProductMedia, products } from '../../db/schema/index.js'
import type { Db } from '../platform/db.js'
import { catalogDbError, productKey, productNotFound } from './access.js'
import { applyProductUpdate, findProduct, lockProduct, productSlugBase } from './products.js'
import type { ProductUpdate } from './schemas.js'
import { ProductSchema, type ProductView, toProduct } from './view.js'

// POST /products/{product_id}/optimize: deterministic content and SEO checks of one product, each with
// the field, the reason and a proposed value; no outside service, the same product always gets the same
// suggestions. `safe` ones only fill what is empty in search-engine fields (SEO title and description,
// image alt texts) or remove a compare-at price that is not above the price (a "was" price that was
// never higher misleads buyers); they are applied with `{ apply: true }` in one transaction. The others
// change what shoppers read or where the product lives (name, description, tags, slug) and are left to
// staff. Lengths follow what search engines show: titles up to 60 characters, descriptions up to 160.

export const SEO_TITLE_MAX = 60
export const SEO_DESCRIPTION_MAX = 160
const NAME_MIN = 15
const NAME_MAX = 70
const DESCRIPTION_MIN_WORDS = 30
const SLUG_MAX = 60

export const OptimizeBody = z
  .object({ apply: z.boolean().default(false).describe('Apply the safe suggestions') })
  .strict()
  .optional()

const Suggestion = z.object({
  field: z.string(),
  code: z.string(),
  reason: z.string(),
  current: z.unknown(),
  proposed: z
    .unknown()
    .describe('The proposed value in the API’s shape (null: remove, or nothing to propose)'),
  safe: z.boolean().describe('Applied by `apply: true`'),
})
export type Suggestion = z.output<typeof Suggestion>

export const OptimizeResponse = z.object({
  score: z.number().int().describe('0..100: share of the checks the product passes'),
  suggestions: z.array(Suggestion),
  applied: z.array(z.string()).describe('Fields changed by this request (empty without `apply`)'),
  product: ProductSchema,
})

const CHECKS = 9

/** Cut at a word boundary to at most `max` characters. */
function clip(text: string, max: number): string {
  const clean = text.replace(/\s+/g, ' ').trim()
  if (clean.length <= max) return clean
  const cut = clean.slice(0, max + 1)
  const at = cut.lastIndexOf(' ')
  return (at > max / 2 ? cut.slice(0, at) : clean.slice(0, max)).replace(/[\s,;:.-]+$/, '')
}

const plain = (html: string) =>
  html
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
const words = (text: string) => (text.match(/[\p{L}\p{N}]+/gu) ?? []).length

/** The name's slug, cut at a hyphen to SLUG_MAX characters. */
const proposedSlug = (name: string) =>
  clip(productSlugBase(name).replace(/-/g, ' '), SLUG_MAX).replace(/ /g, '-')

const STOP = new Set(['and', 'the', 'for', 'with', 'a', 'an', 'of', 'in', 'on', 'to', 'by'])

/** Every suggestion for a product as the API shows it. */
export function suggestionsFor(p: ProductView, slugFree: (slug: string) => boolean): Suggestion[] {
  const out: Suggestion[] = []
  const add = (s: Suggestion) => out.push(s)
  const context = p.brand ?? p.category?.name ?? null
  const name = p.name.replace(/\s+/g, ' ').trim()

  if (name.length < NAME_MIN) {
    const proposed =
      p.brand && !name.toLowerCase().includes(p.brand.toLowerCase()) ? `${p.brand} ${name}` : null
    add({
      field: 'name',
      code: 'title_too_short',
      reason: `The name has ${name.length} characters; ${NAME_MIN} to ${NAME_MAX} tell shoppers and search engines what it is.`,
      current: p.name,
      proposed,
      safe: false,
    })
  } else if (name.length > NAME_MAX) {
    add({
      field: 'name',
      code: 'title_too_long',
      reason: `The name has ${name.length} characters; listings cut it after about ${NAME_MAX}.`,
      current: p.name,
      proposed: clip(name, NAME_MAX),
      safe: false,
    })
  }

  const seoTitle = clip(
    context && `${name} | ${context}`.length <= SEO_TITLE_MAX ? `${name} | ${context}` : name,
    SEO_TITLE_MAX,
  )
  if (!p.seo_title?.trim()) {
    add({
      field: 'seo_title',
      code: 'seo_title_missing',
      reason: 'No SEO title: search engines fall back to the name, without brand or category.',
      current: p.seo_title,
      proposed: seoTitle,
      safe: true,
    })
  } else if (p.seo_title.length > SEO_TITLE_MAX) {
    add({
      field: 'seo_title',
      code: 'seo_title_too_long',
      reason: `The SEO title has ${p.seo_title.length} characters; search results show about ${SEO_TITLE_MAX}.`,
      current: p.seo_title,
      proposed: clip(p.seo_title, SEO_TITLE_MAX),
      safe: false,
    })
  }

  const text = plain(p.description ?? '')
  const template = `${name}${p.brand ? ` by ${p.brand}` : ''}${p.category ? ` from our ${p.category.name} collection` : ''}.`
  if (!text) {
    add({
      field: 'description',
      code: 'description_missing',
      reason: 'No description: shoppers and search engines have nothing to read.',
      current: p.description,
      proposed: template,
      safe: false,
    })
  } else if (words(text) < DESCRIPTION_MIN_WORDS) {
    add({
      field: 'description',
      code: 'description_thin',
      reason: `The description has ${words(text)} words; at least ${DESCRIPTION_MIN_WORDS} describe material, fit and care.`,
      current: p.description,
      proposed: `${p.description!.trim()}\n\n${template}`,
      safe: false,
    })
  }

  const source = plain(p.short_description ?? '') || text || template
  if (!p.seo_description?.trim()) {
    add({
      field: 'seo_description',
      code: 'seo_description_missing',
      reason: 'No SEO description: search engines pick a snippet of their own.',
      current: p.seo_description,
      proposed: clip(source, SEO_DESCRIPTION_MAX),
      safe: true,
    })
  } else if (p.seo_description.length > SEO_DESCRIPTION_MAX) {
    add({
      field: 'seo_description',
      code: 'seo_description_too_long',
      reason: `The SEO description has ${p.seo_description.length} characters; results show about ${SEO_DESCRIPTION_MAX}.`,
      current: p.seo_description,
      proposed: clip(p.seo_description, SEO_DESCRIPTION_MAX),
      safe: false,
    })
  }

  const base = proposedSlug(name)
  // `base-2`, `base-3`: what a taken slug became (the slug is made of [a-z0-9-] only, safe in a pattern)
  const numbered = new RegExp(`^${base}-\\d+$`).test(p.slug)
  const suspicious = p.slug.length > SLUG_MAX || numbered || !p.slug.startsWith(base)
  if (suspicious && p.slug !== base && slugFree(base)) {
    add({
      field: 'slug',
      code: 'slug_quality',
      reason:
        'The slug is long, numbered or does not match the name; a short slug of the name reads better in links (changing it changes the product’s URL).',
      current: p.slug,
      proposed: base,
      safe: false,
    })
  }

  if (!p.images.length) {
    add({
      field: 'images',
      code: 'images_missing',
      reason: 'No images: products without a photo rarely sell.',
      current: p.images,
      proposed: null,
      safe: false,
    })
  } else if ((p.images as ProductMedia[]).some((i) => !i.alt?.trim())) {
    const proposed = (p.images as ProductMedia[]).map((i, n) =>
      i.alt?.trim() ? i : { ...i, alt: p.images.length > 1 ? `${name} – image ${n + 1}` : name },
    )
    add({
      field: 'images',
      code: 'image_alt_missing',
      reason: 'Images without alt text are invisible to screen readers and image search.',
      current: p.images,
      proposed,
      safe: true,
    })
  }

  if (!p.tags.length) {
    const fromName = name.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []
    const tags = [
      ...new Set([
        ...fromName.filter((w) => w.length > 2 && !STOP.has(w)),
        ...(p.brand ? [p.brand.toLowerCase()] : []),
        ...(p.category ? [p.category.slug] : []),
      ]),
    ].slice(0, 10)
    add({
      field: 'tags',
      code: 'tags_missing',
      reason: 'No tags: the product is missing from tag filters and tag search.',
      current: p.tags,
      proposed: tags,
      safe: false,
    })
  }

  if (p.compare_at_price !== null && p.compare_at_price <= p.price) {
    add({
      field: 'compare_at_price',
      code: 'compare_at_price_not_above_price',
      reason: `The compare-at price (${p.compare_at_price}) is not above the price (${p.price}): shown struck through, it promises a saving that is not there.`,
      current: p.compare_at_price,
      proposed: null,
      safe: true,
    })
  }
  return out
}

const score = (suggestions: Suggestion[]) =>
  Math.round((100 * (CHECKS - new Set(suggestions.map((s) => s.field)).size)) / CHECKS)

/** The safe suggestions as a partial update (money back in major units, as the update schema reads it). */
function safeUpdate(suggestions: Suggestion[]): ProductUpdate {
  const update: Record<string, unknown> = {}
  for (const s of suggestions) if (s.safe) update[s.field] = s.proposed
  return update as ProductUpdate
}

export async function optimizeProduct(
  db: Db,
  raw: string,
  apply: boolean,
  actorId: string | null,
): Promise<z.output<typeof OptimizeResponse>> {
  const staff = { staff: true, userId: actorId }
  const slugFree = async (tx: Db, p: ProductView) => {
    const base = proposedSlug(p.name)
    const [row] = await tx
      .select({ id: products.id })
      .from(products)
      .where(sql`${products.slug} = ${base} and ${products.id} <> ${p.id}`)
      .limit(1)
    return (slug: string) => slug !== base || !row
  }
  if (!apply) {
    const row = await findProduct(db, raw, staff)
    if (!row) throw productNotFound()
    const product = toProduct(row, true)
    const suggestions = suggestionsFor(product, await slugFree(db, product))
    return { score: score(suggestions), suggestions, applied: [], product }
  }
  try {
    return await db.transaction(async (tx) => {
      const current = await lockProduct(tx, productKey(raw))
      const before = toProduct((await findProduct(tx, current.id, staff))!, true)
      const suggestions = suggestionsFor(before, await slugFree(tx, before))
      const update = safeUpdate(suggestions)
      await applyProductUpdate(tx, current, update, { actorId })
      const product = toProduct((await findProduct(tx, current.id, staff))!, true)
      const remaining = suggestionsFor(product, await slugFree(tx, product))
      return { score: score(remaining), suggestions: remaining, applied: Object.keys(update), product }
    })
  } catch (err) {
    throw catalogDbError(err)
  }
}
