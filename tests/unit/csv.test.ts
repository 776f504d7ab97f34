import { describe, expect, it } from 'vitest'
import { csvCell, csvRow } from '../../lib/http/csv.js'

// lib/http/csv: RFC 4180 quoting plus formula-injection escaping (docs/architecture.md, "HTTP conventions").

describe('csvCell', () => {
  it('writes plain text as is', () => {
    expect(csvCell('Ada Lovelace')).toBe('Ada Lovelace')
    expect(csvCell('ada@example.test')).toBe('ada@example.test')
  })

  it('writes null, undefined and the empty string as an empty field', () => {
    expect(csvCell(null)).toBe('')
    expect(csvCell(undefined)).toBe('')
    expect(csvCell('')).toBe('')
  })

  it('writes numbers, booleans and dates', () => {
    expect(csvCell(42)).toBe('42')
    expect(csvCell(-1.5)).toBe('-1.5')
    expect(csvCell(true)).toBe('true')
    expect(csvCell(false)).toBe('false')
    expect(csvCell(new Date('2024-03-01T10:00:00Z'))).toBe('2024-03-01T10:00:00.000Z')
  })

  it('quotes a field holding a comma, a quote or a line break, doubling the quotes', () => {
    expect(csvCell('Acme, Inc')).toBe('"Acme, Inc"')
    expect(csvCell('say "hi"')).toBe('"say ""hi"""')
    expect(csvCell('"')).toBe('""""')
    expect(csvCell('line 1\nline 2')).toBe('"line 1\nline 2"')
    expect(csvCell('line 1\r\nline 2')).toBe('"line 1\r\nline 2"')
  })

  it.each([
    ['=1+1', "'=1+1"],
    ['+1', "'+1"],
    ['-1', "'-1"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\tx', "'\tx"],
  ])('escapes a text cell starting with a formula character: %j', (input, output) => {
    expect(csvCell(input)).toBe(output)
  })

  it('escapes a formula that also needs quoting: the quote goes inside the quotes', () => {
    expect(csvCell("=cmd|' /C calc'!A0")).toBe("'=cmd|' /C calc'!A0")
    expect(csvCell('=HYPERLINK("http://x","y")')).toBe('"\'=HYPERLINK(""http://x"",""y"")"')
    expect(csvCell('\rboom')).toBe('"\'\rboom"')
  })

  it('leaves formula characters alone when they are not at the start', () => {
    expect(csvCell('a=b')).toBe('a=b')
    expect(csvCell('jean-luc@example.test')).toBe('jean-luc@example.test')
    expect(csvCell(' =1')).toBe(' =1')
  })
})

describe('csvRow', () => {
  it('joins cells with commas and ends the record with CRLF', () => {
    expect(csvRow(['a', 1, null, true, 'b,c'])).toBe('a,1,,true,"b,c"\r\n')
  })

  it('writes an empty record for no cells', () => {
    expect(csvRow([])).toBe('\r\n')
  })
})
