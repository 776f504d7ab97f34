import { sql } from 'drizzle-orm'
import { z } from 'zod'
import type { FieldError } from '../http/errors.js'
import { issuesToFieldErrors } from '../http/validation.js'
import { ProductInput, Sku, VariantInput } from './schemas.js'

export { changedFields, sameValue } from './changes.js'

// Shared pieces of the bulk endpoints: the per-row report, row validation with the same schemas as the
// single-product endpoints, value comparison, and array parameters that stay ONE bind parameter.

export const BULK_STATUSES = ['created', 'updated', 'unchanged', 'deleted', 'archived', 'error'] as const
export type BulkStatus = (typeof BULK_STATUSES)[number]

export const BulkRowError = z.object({ path: z.string(), message: z.string(), code: z.string() })
export const BulkRowResult = z.object({
  index: z.number().int().describe('Position of the row in the request (0 = first row after a CSV header)'),
  id: z.string().optional(),
  sku: z.string().optional(),
  status: z.enum(BULK_STATUSES),
  errors: z.array(BulkRowError).optional(),
})
export type BulkRowResult = z.output<typeof BulkRowResult>
export const BulkResponse = z.object({ results: z.array(BulkRowResult) })

export const rowError = (path: string, code: string, message: string): FieldError => ({ path, code, message })

/** A variant row of an import: a variant's fields plus the SKU of its product. */
export const VariantRow = VariantInput.extend({
  product_sku: Sku.describe('SKU of the product this row is a variant of'),
})
export type VariantRow = z.output<typeof VariantRow>

export type ParsedRow =
  | { kind: 'product'; input: ProductInput }
  | { kind: 'variant'; input: VariantRow }
  | { kind: 'invalid'; errors: FieldError[]; sku?: string }

/** One row through the product schema, or the variant schema when it names a `product_sku`. */
export function parseRow(raw: unknown): ParsedRow {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    return {
      kind: 'invalid',
      errors: [rowError('', 'invalid_type', 'A row is an object of product fields.')],
    }
  }
  const sku = typeof (raw as { sku?: unknown }).sku === 'string' ? (raw as { sku: string }).sku : undefined
  if ('product_sku' in raw) {
    const r = VariantRow.safeParse(raw)
    return r.success
      ? { kind: 'variant', input: r.data }
      : { kind: 'invalid', errors: issuesToFieldErrors(r.error.issues), sku }
  }
  const r = ProductInput.safeParse(raw)
  return r.success
    ? { kind: 'product', input: r.data }
    : { kind: 'invalid', errors: issuesToFieldErrors(r.error.issues), sku }
}

/** A text[] (or uuid[]) built from one JSON parameter: drizzle would spread a JS array into one per item. */
export const textArray = (values: readonly string[]) =>
  sql`array(select jsonb_array_elements_text(${JSON.stringify(values)}::jsonb))`
export const uuidArray = (values: readonly string[]) =>
  sql`array(select jsonb_array_elements_text(${JSON.stringify(values)}::jsonb)::uuid)`
