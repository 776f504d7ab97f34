import { BULK_IMPORT_MAX, BulkImportBody, importProducts } from '../../../lib/catalog/bulk-import.js'
import { BulkResponse } from '../../../lib/catalog/bulk-rows.js'
import { parseImportCsv } from '../../../lib/catalog/import-csv.js'
import { methods } from '../../../lib/http/methods.js'
import { json, route, VERCEL_MAX_BODY_BYTES } from '../../../lib/http/route.js'

// POST /api/v1/products/bulk-import – create or update up to 5,000 products and variants by SKU, row by row
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  POST: route(
    {
      path: '/api/v1/products/bulk-import',
      summary: 'Import products and variants (JSON or CSV)',
      description:
        `\`{ products: [...] }\` (1..${BULK_IMPORT_MAX} rows) as JSON, or the same rows as a \`text/csv\` body ` +
        'whose header names the fields (`tags` separated by `|`, `images` as `|`-separated URLs or JSON, ' +
        '`dimensions`/`metadata` as JSON; an empty cell is a field not given). A row is a product (the ' +
        'fields of POST /products, `variants` inline in JSON) or, with `product_sku`, a variant of that ' +
        'product (created here or already in the catalog). Each row is created or updated by its SKU on its ' +
        'own: `created`, `updated`, `unchanged` (the same row again changes nothing) or `error` with its ' +
        '`errors` (schema violations, `sku_taken`, `duplicate_sku`, `slug_taken`, `unknown_category`, ' +
        '`unknown_product`, `product_has_stock`, `product_has_variants`); the other rows still land. Stock ' +
        'given by the import is written to the inventory ledger with reason `import`. Results are in row ' +
        'order; `index` 0 is the first row (after the CSV header).',
      tags: ['products'],
      auth: { permission: 'products.write' },
      rateLimit: 'bulk',
      body: BulkImportBody,
      csvBody: parseImportCsv,
      maxBodyBytes: VERCEL_MAX_BODY_BYTES,
      response: BulkResponse,
      responses: { 400: 'Malformed JSON, or a CSV body that cannot be read (malformed_csv)' },
    },
    async ({ db, principal, body }) => json(await importProducts(db, body.products, principal!.userId)),
  ),
})
