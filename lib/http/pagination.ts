import { z } from 'zod'

// The one pagination helper: `page` from 1, `limit` 1..100 (more is a 422), and the list envelope.
export const PageQuery = z.object({
  page: z.coerce.number().int().min(1).default(1),
  limit: z.coerce.number().int().min(1).max(100).default(20),
})

export const PaginationSchema = z.object({
  page: z.number().int(),
  limit: z.number().int(),
  total: z.number().int(),
  pages: z.number().int(),
})

export function pagination(page: number, limit: number, total: number) {
  return { page, limit, total, pages: Math.ceil(total / limit) }
}

export const offsetOf = (page: number, limit: number) => (page - 1) * limit
