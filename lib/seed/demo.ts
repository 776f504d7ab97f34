import { count } from 'drizzle-orm'
import { categories, inventoryLedger, products, productVariants, skus } from '../../db/schema/index.js'
import type { Db } from '../platform/db.js'
import { createAccount, findUserIdByEmail } from '../users/accounts.js'

// Demo data for `npm run dev` on an empty embedded database: a small fashion catalog with stock.

interface DemoVariant {
  sku: string
  title: string
  option1: string
  option2?: string
  qty: number
}
interface DemoProduct {
  sku: string
  name: string
  slug: string
  category: string
  brand: string
  price: number
  compareAt?: number
  tags: string[]
  description: string
  qty?: number
  variants?: DemoVariant[]
}

const CATEGORIES = [
  { slug: 'women', name: 'Women', parent: null, sort: 1 },
  { slug: 'men', name: 'Men', parent: null, sort: 2 },
  { slug: 'accessories', name: 'Accessories', parent: null, sort: 3 },
  { slug: 'women-dresses', name: 'Dresses', parent: 'women', sort: 1 },
  { slug: 'men-shirts', name: 'Shirts', parent: 'men', sort: 1 },
] as const

const sizes = (prefix: string, color: string, qty: number[]): DemoVariant[] =>
  ['S', 'M', 'L'].map((size, i) => ({
    sku: `${prefix}-${color.slice(0, 3).toUpperCase()}-${size}`,
    title: `${size} / ${color}`,
    option1: size,
    option2: color,
    qty: qty[i] ?? 0,
  }))

const PRODUCTS: DemoProduct[] = [
  {
    sku: 'DRS-LINEN',
    name: 'Linen Wrap Dress',
    slug: 'linen-wrap-dress',
    category: 'women-dresses',
    brand: 'Atelier North',
    price: 12900,
    compareAt: 14900,
    tags: ['linen', 'summer'],
    description: 'A breathable linen wrap dress with a tie waist.',
    variants: [...sizes('DRS-LINEN', 'Sand', [8, 12, 4]), ...sizes('DRS-LINEN', 'Olive', [5, 0, 2])],
  },
  {
    sku: 'SHT-OXFORD',
    name: 'Oxford Shirt',
    slug: 'oxford-shirt',
    category: 'men-shirts',
    brand: 'Harbor & Co',
    price: 6900,
    tags: ['cotton', 'classic'],
    description: 'A crisp cotton oxford shirt with a button-down collar.',
    variants: sizes('SHT-OXFORD', 'White', [20, 25, 15]),
  },
  {
    sku: 'ACC-TOTE',
    name: 'Canvas Tote',
    slug: 'canvas-tote',
    category: 'accessories',
    brand: 'Harbor & Co',
    price: 3500,
    tags: ['canvas', 'bags'],
    description: 'A heavyweight canvas tote with leather handles.',
    qty: 40,
  },
  {
    sku: 'ACC-SCARF',
    name: 'Merino Scarf',
    slug: 'merino-scarf',
    category: 'accessories',
    brand: 'Atelier North',
    price: 5900,
    tags: ['wool', 'winter'],
    description: 'A soft merino wool scarf.',
    qty: 6,
  },
]

/** Seed the demo catalog when there is no product yet. Returns whether it seeded. */
export async function seedDemoCatalog(db: Db): Promise<boolean> {
  const [existing] = await db.select({ n: count() }).from(products)
  if ((existing?.n ?? 0) > 0) return false
  await db.transaction(async (tx) => {
    const catIds = new Map<string, string>()
    for (const c of CATEGORIES) {
      const [row] = await tx
        .insert(categories)
        .values({
          name: c.name,
          slug: c.slug,
          sortOrder: c.sort,
          parentId: c.parent ? catIds.get(c.parent) : null,
        })
        .returning({ id: categories.id })
      catIds.set(c.slug, row!.id)
    }
    await tx
      .insert(skus)
      .values([
        ...PRODUCTS.map((p) => ({ sku: p.sku, kind: 'product' as const })),
        ...PRODUCTS.flatMap((p) => (p.variants ?? []).map((v) => ({ sku: v.sku, kind: 'variant' as const }))),
      ])
    for (const p of PRODUCTS) {
      const total = p.variants ? p.variants.reduce((s, v) => s + v.qty, 0) : (p.qty ?? 0)
      const [product] = await tx
        .insert(products)
        .values({
          sku: p.sku,
          name: p.name,
          slug: p.slug,
          description: p.description,
          priceCents: p.price,
          compareAtPriceCents: p.compareAt ?? null,
          categoryId: catIds.get(p.category)!,
          brand: p.brand,
          tags: p.tags,
          status: 'active',
          hasVariants: Boolean(p.variants),
          inventoryQuantity: total,
        })
        .returning({ id: products.id })
      if (!p.variants) {
        await tx.insert(inventoryLedger).values({
          productId: product!.id,
          delta: total,
          quantityAfter: total,
          reason: 'import',
          note: 'demo data',
        })
        continue
      }
      const variants = await tx
        .insert(productVariants)
        .values(
          p.variants.map((v, position) => ({
            productId: product!.id,
            sku: v.sku,
            title: v.title,
            option1: v.option1,
            option2: v.option2 ?? null,
            inventoryQuantity: v.qty,
            position,
          })),
        )
        .returning({ id: productVariants.id, qty: productVariants.inventoryQuantity })
      await tx.insert(inventoryLedger).values(
        variants.map((v) => ({
          productId: product!.id,
          variantId: v.id,
          delta: v.qty,
          quantityAfter: v.qty,
          reason: 'import' as const,
          note: 'demo data',
        })),
      )
    }
  })
  return true
}

/**
 * The first admin for development: created once from ADMIN_EMAIL / ADMIN_PASSWORD. Refused input throws
 * an AccountError, which the dev server turns into one line naming the variable.
 */
export async function ensureAdmin(
  db: Db,
  input: { email: string; password: string },
): Promise<{ email: string; created: boolean }> {
  if (await findUserIdByEmail(db, input.email)) return { email: input.email, created: false }
  await createAccount(db, { ...input, role: 'admin', firstName: 'Shop', lastName: 'Admin' })
  return { email: input.email, created: true }
}
