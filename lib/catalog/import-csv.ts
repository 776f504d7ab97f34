import { CsvError, parse } from 'csv-parse/sync'
import { ProblemError, unprocessable } from '../http/errors.js'

// CSV bodies of POST /products/bulk-import, parsed by csv-parse (RFC 4180: quoted fields with commas,
// doubled quotes and line breaks) into the same rows the JSON body carries, so one validation serves
// both. The header row names product fields as in JSON (`sku,name,price,tags,...`); a `product_sku`
// column makes a row a variant of that product (with the variant fields `title`, `option1`..`option3`,
// `barcode`, `is_active`, `position`). An empty cell is a field not given (an update leaves it as it is).
// Cells become the JSON types their field expects; a cell that cannot be read as that type is passed on
// as text, so the row's validation names the field instead of the whole file being refused. Text is
// kept exactly as written, formula-looking cells (`=SUM(A1)`) included: they are data here, and escaped
// only when written out as CSV.

type Kind = 'text' | 'int' | 'number' | 'bool' | 'tags' | 'json' | 'media'

const COLUMNS: Record<string, Kind> = {
  product_sku: 'text',
  sku: 'text',
  name: 'text',
  slug: 'text',
  description: 'text',
  short_description: 'text',
  // money stays a decimal string: the money helper reads it exactly (no binary float on the way)
  price: 'text',
  compare_at_price: 'text',
  cost_price: 'text',
  category_id: 'text',
  brand: 'text',
  tags: 'tags',
  weight: 'number',
  dimensions: 'json',
  status: 'text',
  is_visible: 'bool',
  is_featured: 'bool',
  seo_title: 'text',
  seo_description: 'text',
  images: 'media',
  videos: 'media',
  track_inventory: 'bool',
  inventory_policy: 'text',
  inventory_quantity: 'int',
  low_stock_threshold: 'int',
  metadata: 'json',
  title: 'text',
  option1: 'text',
  option2: 'text',
  option3: 'text',
  barcode: 'text',
  is_active: 'bool',
  position: 'int',
}

export const CSV_COLUMNS = Object.keys(COLUMNS)

const TRUE = new Set(['true', 'yes', '1'])
const FALSE = new Set(['false', 'no', '0'])

function cellValue(kind: Kind, raw: string): unknown {
  const cell = raw.trim()
  switch (kind) {
    case 'text':
      return raw
    case 'int':
    case 'number':
      return /^-?\d+(\.\d+)?$/.test(cell) ? Number(cell) : cell
    case 'bool': {
      const lower = cell.toLowerCase()
      return TRUE.has(lower) ? true : FALSE.has(lower) ? false : cell
    }
    case 'tags':
      return cell
        .split('|')
        .map((t) => t.trim())
        .filter(Boolean)
    case 'json':
      try {
        return JSON.parse(cell)
      } catch {
        return cell
      }
    case 'media':
      // a JSON array of { url, alt? }, or plain URLs separated by `|`
      if (cell.startsWith('[')) {
        try {
          return JSON.parse(cell)
        } catch {
          return cell
        }
      }
      return cell
        .split('|')
        .map((u) => u.trim())
        .filter(Boolean)
        .map((url) => ({ url }))
  }
}

/** The CSV body as `{ products: rows }`; 400 for text that is not CSV, 422 for an unusable header. */
export function parseImportCsv(text: string): { products: Record<string, unknown>[] } {
  let records: string[][]
  try {
    records = parse(text, { bom: true, skip_empty_lines: true }) as string[][]
  } catch (err) {
    if (err instanceof CsvError) {
      throw new ProblemError(400, 'malformed_csv', `The CSV body cannot be read: ${err.message}`)
    }
    throw err
  }
  const [header, ...rows] = records
  if (!header) return { products: [] }
  const names = header.map((h) => h.trim().toLowerCase())
  const problems = names.flatMap((n, i) => {
    if (!(n in COLUMNS)) {
      return [{ path: `header.${i}`, message: `Unknown column "${n}".`, code: 'unknown_column' }]
    }
    if (names.indexOf(n) !== i) {
      return [{ path: `header.${i}`, message: `Column "${n}" appears twice.`, code: 'duplicate_column' }]
    }
    return []
  })
  if (problems.length) throw unprocessable(problems, 'The CSV header names unknown or repeated columns.')
  return {
    products: rows.map((cells) => {
      const row: Record<string, unknown> = {}
      names.forEach((n, i) => {
        const raw = cells[i] ?? ''
        if (raw.trim() !== '') row[n] = cellValue(COLUMNS[n]!, raw)
      })
      return row
    }),
  }
}
