import { getTableColumns, getTableName, SQL, sql } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import type { Db } from './db.js'

// Set-based writes of many rows in ONE statement with ONE bind parameter: the rows travel as a JSON
// array and `jsonb_to_recordset` turns them back into typed columns. A multi-row VALUES list would need a
// parameter per cell and PostgreSQL takes at most 65,535 per statement (about 2,300 rows of 28 columns),
// and one statement per row would make the round trips grow with the rows.
// Rows are keyed by the table's TypeScript property names (`priceCents`), as in drizzle inserts.

type Row = Record<string, unknown>

function columnsOf(table: PgTable, keys: readonly string[]): Array<[string, PgColumn]> {
  const all = getTableColumns(table) as Record<string, PgColumn>
  return keys.map((k) => {
    const c = all[k]
    if (!c) throw new Error(`${getTableName(table)} has no column ${k}`)
    return [k, c]
  })
}

/** JSON for jsonb_to_recordset: keyed by column name; dates as ISO strings. */
function encode(rows: readonly Row[], cols: Array<[string, PgColumn]>): string {
  return JSON.stringify(
    rows.map((r) => {
      const out: Row = {}
      for (const [k, c] of cols) {
        const v = r[k]
        out[c.name] = v instanceof Date ? v.toISOString() : v
      }
      return out
    }),
  )
}

/** `jsonb_to_recordset($1::jsonb) as x(col type, ...)`. */
function source(rows: readonly Row[], cols: Array<[string, PgColumn]>): SQL {
  const defs = cols.map(([, c]) => `"${c.name}" ${c.getSQLType()}`).join(', ')
  return sql`jsonb_to_recordset(${encode(rows, cols)}::jsonb) as x(${sql.raw(defs)})`
}

/**
 * INSERT every row in one statement. A value a row leaves out (undefined) takes the column's default:
 * literal defaults from the schema are filled in here, SQL defaults (now(), '{}') through coalesce, so
 * the schema stays the one place defaults are stated.
 */
export async function insertRecordset(
  tx: Db,
  table: PgTable,
  keys: readonly string[],
  rows: readonly Row[],
): Promise<void> {
  if (!rows.length) return
  const cols = columnsOf(table, keys)
  const filled = rows.map((r) => {
    const out: Row = { ...r }
    for (const [k, c] of cols) {
      if (out[k] === undefined && c.hasDefault && !(c.default instanceof SQL)) out[k] = c.default
    }
    return out
  })
  const names = sql.raw(cols.map(([, c]) => `"${c.name}"`).join(', '))
  const values = sql.join(
    cols.map(([, c]) =>
      c.default instanceof SQL
        ? sql`coalesce(x.${sql.raw(`"${c.name}"`)}, ${c.default})`
        : sql`x.${sql.raw(`"${c.name}"`)}`,
    ),
    sql`, `,
  )
  await tx.execute(sql`insert into ${table} (${names}) select ${values} from ${source(filled, cols)}`)
}

/**
 * UPDATE every row in one statement, matched on `key` (e.g. `id`): each row carries the full new values
 * of the columns in `keys` (the caller holds the rows' locks and merged the changes).
 */
export async function updateRecordset(
  tx: Db,
  table: PgTable,
  key: string,
  keys: readonly string[],
  rows: readonly Row[],
): Promise<void> {
  if (!rows.length) return
  const cols = columnsOf(table, [key, ...keys.filter((k) => k !== key)])
  const [, keyCol] = cols[0]!
  const set = sql.raw(
    cols
      .slice(1)
      .map(([, c]) => `"${c.name}" = x."${c.name}"`)
      .join(', '),
  )
  const k = sql.raw(`"${keyCol.name}"`)
  await tx.execute(sql`update ${table} as t set ${set} from ${source(rows, cols)} where t.${k} = x.${k}`)
}
