import { viewerOf } from '../../../lib/catalog/access.js'
import { catalogJson } from '../../../lib/catalog/cache.js'
import {
  CategoryDetailSchema,
  deleteCategory,
  getCategory,
  updateCategory,
} from '../../../lib/catalog/categories.js'
import { CategoryParams, CategoryUpdate } from '../../../lib/catalog/schemas.js'
import { CategorySchema } from '../../../lib/catalog/view.js'
import { methods } from '../../../lib/http/methods.js'
import { json, noContent, route } from '../../../lib/http/route.js'

export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  // GET /api/v1/categories/{category_id} – one category (by id or slug) with its parent and children
  GET: route(
    {
      path: '/api/v1/categories/[category_id]',
      summary: 'Get a category',
      description: 'A hidden category is a 404 for customers and anonymous callers.',
      tags: ['categories'],
      auth: 'optional',
      params: CategoryParams,
      response: CategoryDetailSchema,
      responses: { 304: 'Not modified (If-None-Match)', 404: 'No such category' },
    },
    async ({ request, db, params, principal }) =>
      catalogJson(request, await getCategory(db, params.category_id, viewerOf(principal))),
  ),
  // PUT /api/v1/categories/{category_id} – partial update (moving it under its own subtree is a 422)
  PUT: route(
    {
      path: '/api/v1/categories/[category_id]',
      summary: 'Update a category',
      tags: ['categories'],
      auth: { permission: 'products.write' },
      params: CategoryParams,
      body: CategoryUpdate,
      response: CategorySchema,
      responses: { 404: 'No such category', 409: 'slug_taken' },
    },
    async ({ db, params, body }) => json(await updateCategory(db, params.category_id, body)),
  ),
  // DELETE /api/v1/categories/{category_id} – delete; subcategories move up, products lose the category
  DELETE: route(
    {
      path: '/api/v1/categories/[category_id]',
      summary: 'Delete a category',
      tags: ['categories'],
      auth: { permission: 'products.write' },
      params: CategoryParams,
      status: 204,
      responses: { 404: 'No such category' },
    },
    async ({ db, params }) => {
      await deleteCategory(db, params.category_id)
      return noContent()
    },
  ),
})
