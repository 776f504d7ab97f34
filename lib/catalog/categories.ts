import { and, asc, eq, sql } from 'drizzle-orm'
import { z } from 'zod'
import { type Category, categories } from '../../db/schema/index.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'
import {
  catalogDbError,
  categoryKey,
  categoryNotFound,
  fieldError,
  slugTaken,
  type Viewer,
} from './access.js'
import { afterCatalogWrite } from './counts.js'
import { type CategoryInput, type CategoryUpdate, slugify } from './schemas.js'
import {
  type CategoryNode,
  CategoryNodeSchema,
  CategorySchema,
  type CategoryView,
  toCategory,
} from './view.js'

// Categories: a tree by parent_id with unique slugs and no cycles. Customers and anonymous callers see
// visible categories whose ancestors are visible too (a hidden category hides its subtree).

export const ListCategoriesQuery = z.object({
  tree: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional()
    .describe('true: nested under `children`'),
})

export const CategoryListSchema = z.object({
  categories: z.array(z.union([CategorySchema, CategoryNodeSchema])),
})
export const CategoryDetailSchema = CategorySchema.extend({
  parent: CategorySchema.nullable(),
  children: z.array(CategorySchema),
})

const ordered = [asc(categories.sortOrder), asc(categories.name), asc(categories.id)]

/** Every category the viewer may see, in tree order (one query). */
async function visibleCategories(db: Db, viewer: Viewer): Promise<Category[]> {
  const rows = await db
    .select()
    .from(categories)
    .orderBy(...ordered)
  if (viewer.staff) return rows
  const byId = new Map(rows.map((c) => [c.id, c]))
  const shown = (c: Category, depth = 0): boolean =>
    c.isVisible && (!c.parentId || depth > 100 || shown(byId.get(c.parentId) ?? c, depth + 1))
  return rows.filter((c) => shown(c))
}

function nest(rows: Category[]): CategoryNode[] {
  const nodes = new Map(rows.map((c) => [c.id, { ...toCategory(c), children: [] as CategoryNode[] }]))
  const roots: CategoryNode[] = []
  for (const c of rows) {
    const node = nodes.get(c.id)!
    const parent = c.parentId ? nodes.get(c.parentId) : undefined
    if (parent) parent.children.push(node)
    else roots.push(node)
  }
  return roots
}

/** GET /categories -> { categories } (flat, or nested with ?tree=true). */
export async function listCategories(db: Db, viewer: Viewer, tree = false) {
  const rows = await visibleCategories(db, viewer)
  return { categories: tree ? nest(rows) : rows.map(toCategory) }
}

/** GET /categories/{category_id}: by id or slug, with its parent and direct children (one query). */
export async function getCategory(db: Db, raw: string, viewer: Viewer) {
  const rows = await visibleCategories(db, viewer)
  const c = rows.find((r) => r.id === raw.toLowerCase() || r.slug === raw)
  if (!c) throw categoryNotFound()
  const parent = c.parentId ? rows.find((r) => r.id === c.parentId) : undefined
  return {
    ...toCategory(c),
    parent: parent ? toCategory(parent) : null,
    children: rows.filter((r) => r.parentId === c.id).map(toCategory),
  }
}

async function freeCategorySlug(tx: Db, name: string): Promise<string> {
  const base = slugify(name)
  const rows = await tx
    .select({ slug: categories.slug })
    .from(categories)
    .where(sql`${categories.slug} = ${base} or ${categories.slug} like ${`${base}-%`}`)
  const used = new Set(rows.map((r) => r.slug))
  if (!used.has(base)) return base
  for (let n = 2; ; n++) if (!used.has(`${base}-${n}`)) return `${base}-${n}`
}

async function assertSlugFree(tx: Db, slug: string, exceptId?: string) {
  const [row] = await tx
    .select({ id: categories.id })
    .from(categories)
    .where(and(eq(categories.slug, slug), exceptId ? sql`${categories.id} <> ${exceptId}` : undefined))
    .limit(1)
  if (row) throw slugTaken(slug)
}

/**
 * The parent must exist and must not be the category itself or one of its descendants (a cycle). Moves
 * are serialised by a transaction-level advisory lock so two concurrent moves cannot build a cycle
 * together.
 */
async function assertParent(tx: Db, parentId: string, selfId?: string) {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext('categories.tree'))`)
  const result = (await tx.execute(sql`
    with recursive up(id, parent_id) as (
      select id, parent_id from categories where id = ${parentId}::uuid
      union select c.id, c.parent_id from categories c join up on c.id = up.parent_id)
    select id from up`)) as unknown as { rows: Array<{ id: string }> }
  if (!result.rows.length) throw fieldError('parent_id', 'No such category.', 'unknown_category')
  if (selfId && result.rows.some((r) => r.id === selfId)) {
    throw fieldError(
      'parent_id',
      'A category cannot sit under itself or one of its subcategories.',
      'category_cycle',
    )
  }
}

function columnsOf(input: CategoryUpdate): Partial<typeof categories.$inferInsert> {
  const out: Partial<typeof categories.$inferInsert> = {}
  if (input.name !== undefined) out.name = input.name
  if (input.slug !== undefined) out.slug = input.slug
  if (input.description !== undefined) out.description = input.description
  if (input.parent_id !== undefined) out.parentId = input.parent_id?.toLowerCase() ?? null
  if (input.is_visible !== undefined) out.isVisible = input.is_visible
  if (input.sort_order !== undefined) out.sortOrder = input.sort_order
  if (input.seo_title !== undefined) out.seoTitle = input.seo_title
  if (input.seo_description !== undefined) out.seoDescription = input.seo_description
  return out
}

/** POST /categories -> 201. */
export async function createCategory(db: Db, input: CategoryInput): Promise<CategoryView> {
  try {
    return await db.transaction(async (tx) => {
      if (input.parent_id) await assertParent(tx, input.parent_id.toLowerCase())
      if (input.slug) await assertSlugFree(tx, input.slug)
      const slug = input.slug ?? (await freeCategorySlug(tx, input.name))
      const [row] = await tx
        .insert(categories)
        .values({ ...columnsOf(input), name: input.name, slug })
        .returning()
      return toCategory(row!)
    })
  } catch (err) {
    throw catalogDbError(err)
  }
}

async function lockCategory(tx: Db, raw: string): Promise<Category> {
  const [row] = await tx.select().from(categories).where(categoryKey(raw)).limit(1).for('update')
  if (!row) throw categoryNotFound()
  return row
}

/** PUT /categories/{category_id}: partial update; moving under itself or a descendant is a 422. */
export async function updateCategory(db: Db, raw: string, input: CategoryUpdate): Promise<CategoryView> {
  try {
    return await afterCatalogWrite(
      db.transaction(async (tx) => {
        const current = await lockCategory(tx, raw)
        const patch = columnsOf(input)
        if (patch.parentId) await assertParent(tx, patch.parentId, current.id)
        if (patch.slug && patch.slug !== current.slug) await assertSlugFree(tx, patch.slug, current.id)
        if (!Object.keys(patch).length) return toCategory(current)
        const [row] = await tx
          .update(categories)
          .set({ ...patch, updatedAt: now() })
          .where(eq(categories.id, current.id))
          .returning()
        return toCategory(row!)
      }),
    )
  } catch (err) {
    throw catalogDbError(err)
  }
}

/**
 * DELETE /categories/{category_id} -> 204. Its subcategories move up to its parent and its products keep
 * existing without a category (the foreign key sets it null).
 */
export async function deleteCategory(db: Db, raw: string): Promise<void> {
  await afterCatalogWrite(
    db.transaction(async (tx) => {
      const current = await lockCategory(tx, raw)
      await tx
        .update(categories)
        .set({ parentId: current.parentId, updatedAt: now() })
        .where(eq(categories.parentId, current.id))
      await tx.delete(categories).where(eq(categories.id, current.id))
    }),
  )
}
