import { z } from 'zod'
import { CategorySchema, ProductSchema, VariantSchema } from '../catalog/view.js'
import { OrderSchema, ReturnSchema } from '../orders/view.js'
import { AdminUserSchema, ProfileSchema } from '../users/view.js'

// The response shapes many operations share, named once so the document refers to one component each
// (a generated client gets an `Order` type; a validator compiles it once) instead of repeating it inline.
// Shapes whose limits are settings or that must be recursive are named where they are declared
// (`.meta({ id })`: Money, Price, Amount, NewPassword, Email, CategoryNode).
const NAMES: ReadonlyArray<[z.ZodType, string]> = [
  [OrderSchema, 'Order'],
  [ReturnSchema, 'Return'],
  [ProductSchema, 'Product'],
  [VariantSchema, 'Variant'],
  [CategorySchema, 'Category'],
  [AdminUserSchema, 'User'],
  [ProfileSchema, 'Profile'],
]

for (const [schema, id] of NAMES) z.globalRegistry.add(schema, { ...z.globalRegistry.get(schema), id })
