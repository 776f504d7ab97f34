import { eq, type SQL } from 'drizzle-orm'
import { categories, products } from '../../db/schema/index.js'
import type { Principal } from '../auth/permissions.js'
import { conflict, fieldError, notFound, ProblemError } from '../http/errors.js'

export { fieldError }

import { isUuid } from './schemas.js'

// Who is looking at the catalog, how a path segment names a product or category (id or slug), and the
// catalog's refusals in one place.

export interface Viewer {
  /** Staff (products.read) see every product and the staff-only fields. */
  staff: boolean
  userId: string | null
}

export const viewerOf = (principal: Principal | null): Viewer => ({
  staff: principal?.permissions.has('products.read') ?? false,
  userId: principal?.userId ?? null,
})

/** `{product_id}` is an id or a slug (storefronts route by slug). */
/** How a path segment names a row: a UUID is an id (any case), anything else a slug. */
export const segmentKey = (raw: string): { column: 'id' | 'slug'; value: string } =>
  isUuid(raw) ? { column: 'id', value: raw.toLowerCase() } : { column: 'slug', value: raw }

export const productKey = (raw: string): SQL => {
  const key = segmentKey(raw)
  return eq(products[key.column], key.value)
}

export const categoryKey = (raw: string): SQL => {
  const key = segmentKey(raw)
  return eq(categories[key.column], key.value)
}

export const productNotFound = () => notFound('product')
export const variantNotFound = () => notFound('variant')
export const categoryNotFound = () => notFound('category')

export const skuTaken = (sku: string) =>
  conflict('sku_taken', `The SKU ${sku} is already used by a product or variant.`)
export const slugTaken = (slug: string) => conflict('slug_taken', `The slug ${slug} is already used.`)

const sqlCode = (err: unknown): string | undefined => {
  const e = err as { code?: unknown; cause?: { code?: unknown; constraint?: unknown } }
  const code = typeof e?.cause?.code === 'string' ? e.cause.code : e?.code
  return typeof code === 'string' ? code : undefined
}
const constraintOf = (err: unknown): string => {
  const e = err as { constraint?: unknown; cause?: { constraint?: unknown } }
  return String(e?.cause?.constraint ?? e?.constraint ?? '')
}

/**
 * A constraint a concurrent request won between our checks and our write (or a rule only the database
 * states) as the caller's 409/422, never a 500. The checks before each write make this the rare path.
 */
export function catalogDbError(err: unknown): unknown {
  if (err instanceof ProblemError) return err
  const code = sqlCode(err)
  const constraint = constraintOf(err)
  if (code === '23505') {
    if (constraint.includes('slug')) return conflict('slug_taken', 'The slug is already used.')
    return conflict('sku_taken', 'The SKU is already used by a product or variant.')
  }
  if (code === '23503') {
    return fieldError(
      constraint.includes('categor') ? 'category_id' : 'id',
      'The referenced record does not exist.',
    )
  }
  if (code === '23514' && constraint.includes('inventory')) {
    return conflict(
      'negative_stock',
      'The stock is below zero: the deny policy needs a quantity of at least 0 (set the stock first).',
    )
  }
  return err
}
