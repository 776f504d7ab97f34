import { describe, expect, it } from 'vitest'
import { scrubData, scrubText } from '../../lib/platform/scrub.js'

// What error reporting does to free text and data before anything leaves for Sentry.
describe('scrubText', () => {
  it('removes emails, bearer and JWT tokens, credentials in key=value form, and query strings', () => {
    const out = scrubText(
      'login failed for ada@example.com with Authorization: Bearer abc.def.ghi, password=hunter22 ' +
        'token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig at https://shop.example/api/v1/orders?token=t0k&x=1',
    )
    expect(out).toBe(
      'login failed for [email] with Authorization: [redacted] [redacted], password=[redacted] ' +
        'token [token] at https://shop.example/api/v1/orders?[query]',
    )
  })

  it('removes quoted personal fields, phone numbers, IPs, street lines, postcodes and long secrets', () => {
    const out = scrubText(
      '{"first_name":"Ada","line1":"12 Baker Street","phone":"+44 20 7946 0958"} from 203.0.113.9, ' +
        'ship to 221B Baker Street, NW1 6XE; key sk_live_51HfQ2eFzR8xYtK0aBcDeFgHiJkLmNoPq',
    )
    expect(out).not.toMatch(/Ada|Baker|7946|203\.0|NW1|sk_live/)
    expect(out).toContain('"first_name":[redacted]')
  })

  it('keeps what finds the problem: UUIDs, request ids, routes, SQLSTATEs, drizzle queries without params', () => {
    const text =
      'order 3f2b8c1e-9d4a-4e6b-8f0a-1c2d3e4f5a6b of req_bEnFjCssaWeu at /api/v1/orders/[order_id]: ' +
      'duplicate key value violates unique constraint "users_email_unique" (23505)'
    expect(scrubText(text)).toBe(text)
    expect(scrubText('Failed query: select 1\nparams: ada@example.com,42')).toBe(
      'Failed query: select 1\nparams: [redacted]',
    )
  })
})

describe('scrubData', () => {
  it('redacts secret and personal keys and scrubs the strings left', () => {
    expect(
      scrubData({ email: 'ada@example.com', nested: { note: 'call +1 555 010 9999', count: 2 } }),
    ).toEqual({ email: '[redacted]', nested: { note: 'call [phone]', count: 2 } })
  })
})
