import { count } from 'drizzle-orm'
import { categories, products } from '../../db/schema/index.js'
import { insertProduct } from '../catalog/products.js'
import { ProductInput } from '../catalog/schemas.js'
import type { Db } from '../platform/db.js'
import { createAccount, findUserIdByEmail } from '../users/accounts.js'

// Demo data for `npm run dev` on an empty embedded database: a small fashion catalog with a category tree,
// size/colour variants and believable stock (some low, some sold out). It goes through the catalog's own
// create path, so it follows the stock model: a product with variants holds no stock itself, each variant
// holds its own; the initial levels are in the ledger (reason `import`).

const CATEGORIES = [
  { slug: 'women', name: 'Women', parent: null, sort: 1 },
  { slug: 'men', name: 'Men', parent: null, sort: 2 },
  { slug: 'accessories', name: 'Accessories', parent: null, sort: 3 },
  { slug: 'women-dresses', name: 'Dresses', parent: 'women', sort: 1 },
  { slug: 'women-knitwear', name: 'Knitwear', parent: 'women', sort: 2 },
  { slug: 'men-shirts', name: 'Shirts', parent: 'men', sort: 1 },
  { slug: 'men-outerwear', name: 'Outerwear', parent: 'men', sort: 2 },
  { slug: 'accessories-bags', name: 'Bags', parent: 'accessories', sort: 1 },
  { slug: 'accessories-scarves', name: 'Scarves', parent: 'accessories', sort: 2 },
] as const
type CategorySlug = (typeof CATEGORIES)[number]['slug']

/** Size x colour variants with the given stock per size, in order. */
const sizes = (sku: string, colour: string, stock: number[], labels = ['S', 'M', 'L']) =>
  labels.map((size, i) => ({
    sku: `${sku}-${colour.slice(0, 3).toUpperCase()}-${size}`,
    option1: size,
    option2: colour,
    inventory_quantity: stock[i] ?? 0,
  }))

interface DemoProduct {
  category: CategorySlug
  input: Record<string, unknown>
}

const PRODUCTS: DemoProduct[] = [
  {
    category: 'women-dresses',
    input: {
      sku: 'DRS-LINEN',
      name: 'Linen Wrap Dress',
      brand: 'Atelier North',
      price: 129,
      compare_at_price: 149,
      cost_price: 48,
      tags: ['linen', 'summer'],
      is_featured: true,
      weight: 0.35,
      short_description: 'Breathable linen with a tie waist.',
      description: 'A relaxed wrap dress in washed European linen, with a tie waist and side pockets.',
      variants: [...sizes('DRS-LINEN', 'Sand', [8, 12, 4]), ...sizes('DRS-LINEN', 'Olive', [5, 0, 2])],
    },
  },
  {
    category: 'women-dresses',
    input: {
      sku: 'DRS-SLIP',
      name: 'Silk Slip Dress',
      brand: 'Maison Lune',
      price: 189,
      cost_price: 70,
      tags: ['silk', 'evening'],
      weight: 0.2,
      description: 'A bias-cut slip dress in sandwashed silk with adjustable straps.',
      variants: sizes('DRS-SLIP', 'Black', [3, 1, 0]),
    },
  },
  {
    category: 'women-knitwear',
    input: {
      sku: 'KNT-CASH',
      name: 'Cashmere Crew Sweater',
      brand: 'Atelier North',
      price: 219,
      cost_price: 90,
      tags: ['cashmere', 'winter'],
      is_featured: true,
      weight: 0.3,
      low_stock_threshold: 3,
      description: 'Two-ply Mongolian cashmere in a classic crew neck.',
      variants: [...sizes('KNT-CASH', 'Oatmeal', [6, 9, 5]), ...sizes('KNT-CASH', 'Navy', [2, 4, 1])],
    },
  },
  {
    category: 'men-shirts',
    input: {
      sku: 'SHT-OXFORD',
      name: 'Oxford Shirt',
      brand: 'Harbor & Co',
      price: 69,
      cost_price: 22,
      tags: ['cotton', 'classic'],
      weight: 0.28,
      description: 'A crisp cotton oxford shirt with a button-down collar.',
      variants: [
        ...sizes('SHT-OXFORD', 'White', [20, 25, 15], ['S', 'M', 'L', 'XL']),
        ...sizes('SHT-OXFORD', 'Blue', [12, 18, 9, 4], ['S', 'M', 'L', 'XL']),
      ],
    },
  },
  {
    category: 'men-shirts',
    input: {
      sku: 'SHT-FLANNEL',
      name: 'Brushed Flannel Shirt',
      brand: 'Harbor & Co',
      price: 79,
      compare_at_price: 95,
      tags: ['cotton', 'winter'],
      weight: 0.35,
      description: 'Heavyweight brushed cotton flannel in a seasonal check.',
      variants: sizes('SHT-FLANNEL', 'Red', [7, 0, 3]),
    },
  },
  {
    category: 'men-outerwear',
    input: {
      sku: 'OUT-PARKA',
      name: 'Waxed Field Parka',
      brand: 'Northbound',
      price: 349,
      cost_price: 140,
      tags: ['waterproof', 'winter'],
      is_featured: true,
      weight: 1.4,
      description: 'A waxed-cotton parka with a quilted lining and a storm hood.',
      variants: [
        ...sizes('OUT-PARKA', 'Olive', [2, 5, 3]),
        // made to order: sells without stock
        { sku: 'OUT-PARKA-OLI-XL', option1: 'XL', option2: 'Olive', inventory_policy: 'continue' },
      ],
    },
  },
  {
    category: 'men-outerwear',
    input: {
      sku: 'OUT-RAIN',
      name: 'Packable Rain Jacket',
      brand: 'Northbound',
      price: 129,
      tags: ['waterproof', 'travel'],
      weight: 0.3,
      description: 'A featherweight rain shell that packs into its own pocket.',
      variants: sizes('OUT-RAIN', 'Black', [0, 0, 0]),
    },
  },
  {
    category: 'accessories-bags',
    input: {
      sku: 'ACC-TOTE',
      name: 'Canvas Tote',
      brand: 'Harbor & Co',
      price: 35,
      cost_price: 9,
      tags: ['canvas', 'bags'],
      weight: 0.6,
      inventory_quantity: 40,
      description: 'A heavyweight canvas tote with leather handles.',
    },
  },
  {
    category: 'accessories-bags',
    input: {
      sku: 'ACC-WEEKENDER',
      name: 'Leather Weekender',
      brand: 'Maison Lune',
      price: 289,
      cost_price: 110,
      tags: ['leather', 'travel', 'bags'],
      weight: 1.8,
      inventory_quantity: 4,
      description: 'A full-grain leather holdall sized for carry-on.',
    },
  },
  {
    category: 'accessories-scarves',
    input: {
      sku: 'ACC-SCARF',
      name: 'Merino Scarf',
      brand: 'Atelier North',
      price: 59,
      tags: ['wool', 'winter'],
      weight: 0.15,
      inventory_quantity: 6,
      description: 'A soft merino wool scarf.',
    },
  },
  {
    category: 'accessories-scarves',
    input: {
      sku: 'ACC-GIFTCARD',
      name: 'Gift Card',
      brand: 'Harbor & Co',
      price: 50,
      tags: ['gift'],
      track_inventory: false,
      description: 'A digital gift card, delivered by email.',
    },
  },
  {
    category: 'women-knitwear',
    input: {
      sku: 'KNT-BERET',
      name: 'Wool Beret',
      brand: 'Maison Lune',
      price: 45,
      tags: ['wool'],
      status: 'draft',
      inventory_quantity: 12,
      description: 'Coming next season.',
    },
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
    for (const p of PRODUCTS) {
      const input = ProductInput.parse({ status: 'active', ...p.input, category_id: catIds.get(p.category) })
      await insertProduct(tx, input, { actorId: null, stockReason: 'import', note: 'demo data' })
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
