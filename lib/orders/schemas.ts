import { z } from 'zod'
import { Uuid } from '../http/validation.js'

// Request shapes shared by the order routes: the path's order id, addresses, order-line quantities.

export const OrderParams = z.object({ order_id: Uuid })
export const ReturnParams = z.object({ return_id: Uuid })

/** ISO 3166-2 subdivisions of the two countries whose states decide tax here. */
export const SUBDIVISIONS: Record<string, ReadonlySet<string>> = {
  US: new Set(
    'AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC AS GU MP PR UM VI'.split(
      ' ',
    ),
  ),
  CA: new Set('AB BC MB NB NL NS NT NU ON PE QC SK YT'.split(' ')),
}

const text = (max: number) => z.string().trim().min(1).max(max)

/** An address; `country` is ISO 3166-1 alpha-2 and, for US and CA, `state` must be a real code. */
export const AddressSchema = z
  .object({
    first_name: text(100),
    last_name: text(100),
    company: text(200).optional(),
    line1: text(200),
    line2: z.string().trim().max(200).optional(),
    city: text(100),
    state: z
      .string()
      .trim()
      .min(1)
      .max(3)
      .transform((s) => s.toUpperCase())
      .optional(),
    postal_code: z.string().trim().max(20).optional(),
    country: z
      .string()
      .trim()
      .regex(/^[A-Za-z]{2}$/, 'an ISO 3166-1 alpha-2 code')
      .transform((s) => s.toUpperCase()),
    phone: z.string().trim().max(40).optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    const known = SUBDIVISIONS[a.country]
    if (!known) return
    if (!a.state) {
      ctx.addIssue({ code: 'custom', path: ['state'], message: `required for ${a.country}` })
    } else if (!known.has(a.state)) {
      ctx.addIssue({ code: 'custom', path: ['state'], message: `not a ${a.country} state code` })
    }
  })
export type AddressInput = z.output<typeof AddressSchema>

/** `[{ order_item_id, quantity }]`: which lines and how many units */
export const LineQuantities = z
  .array(z.object({ order_item_id: Uuid, quantity: z.number().int().min(1).max(1_000_000) }).strict())
  .min(1)
  .max(500)
