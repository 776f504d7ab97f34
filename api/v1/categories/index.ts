import { viewerOf } from '../../../lib/catalog/access.js'
import { catalogJson } from '../../../lib/catalog/cache.js'
import {
  CategoryListSchema,
  createCategory,
  ListCategoriesQuery,
  listCategories,
} from '../../../lib/catalog/categories.js'
import { CategoryInput } from '../../../lib/catalog/schemas.js'
import { CategorySchema } from '../../../lib/catalog/view.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route } from '../../../lib/http/route.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/categories – every category (flat, or nested with ?tree=true)
  GET: route(
    {
      path: '/api/v1/categories',
      summary: 'List categories',
      description:
        'Customers and anonymous callers see visible categories under visible parents. Anonymous answers ' +
        'are publicly cacheable (60 s, ETag).',
      tags: ['categories'],
      auth: 'optional',
      query: ListCategoriesQuery,
      response: CategoryListSchema,
      responses: { 304: 'Not modified (If-None-Match)' },
    },
    async ({ request, db, query, principal }) =>
      catalogJson(request, await listCategories(db, viewerOf(principal), query.tree ?? false)),
  ),
  // POST /api/v1/categories – create a category
  POST: route(
    {
      path: '/api/v1/categories',
      summary: 'Create a category',
      description: 'The slug is generated from the name unless given; a taken slug is a 409 slug_taken.',
      tags: ['categories'],
      auth: { permission: 'products.write' },
      body: CategoryInput,
      response: CategorySchema,
      status: 201,
      creates: 'category_id',
      responses: { 409: 'slug_taken' },
    },
    async ({ db, body }) => json(await createCategory(db, body), 201),
  ),
})
