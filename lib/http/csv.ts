// A small CSV writer: RFC 4180 (comma separated, CRLF line ends, a field holding a comma, quote, CR or LF
// is quoted and its quotes doubled) plus formula-injection escaping (docs/architecture.md, "HTTP
// conventions"): a text cell starting with = + - @ tab or CR gets a leading single quote, so a spreadsheet
// shows it as text instead of evaluating it (OWASP "CSV Injection").

export type CsvValue = string | number | boolean | Date | null | undefined

const FORMULA_START = /^[=+\-@\t\r]/
const NEEDS_QUOTES = /[",\r\n]/

/** One cell. null/undefined are empty; dates are ISO 8601; numbers and booleans are written as is. */
export function csvCell(value: CsvValue): string {
  if (value === null || value === undefined) return ''
  if (value instanceof Date) return value.toISOString()
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  const text = FORMULA_START.test(value) ? `'${value}` : value
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

/** One record, terminated by CRLF. */
export function csvRow(values: readonly CsvValue[]): string {
  return `${values.map(csvCell).join(',')}\r\n`
}
