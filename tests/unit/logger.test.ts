import { afterEach, describe, expect, it, vi } from 'vitest'
import { resetEnv } from '../../lib/platform/env.js'
import { flushLogs, log, redact, safeError } from '../../lib/platform/logger.js'

const savedLevel = process.env.LOG_LEVEL

afterEach(() => {
  vi.restoreAllMocks()
  process.env.LOG_LEVEL = savedLevel
  resetEnv()
})

/** Nest `leaf` under `levels` objects: { a: { a: ... leaf } }. */
function nest(levels: number, leaf: Record<string, unknown>): Record<string, unknown> {
  let v: Record<string, unknown> = leaf
  for (let i = 0; i < levels; i++) v = { a: v }
  return v
}

describe('redact', () => {
  it('hides secrets: passwords, tokens, secrets, authorization, one-time codes', () => {
    expect(
      redact({
        password: 'hunter22',
        new_password: 'hunter23',
        access_token: 'eyJ...',
        refresh_token: 'r',
        token: 't',
        client_secret: 's',
        authorization: 'Bearer x',
        Authorization: 'Bearer y',
        code: '123456',
        api_key: 'k',
        cookie: 'c',
        password_hash: '$argon2id$',
      }),
    ).toEqual({
      password: '[redacted]',
      new_password: '[redacted]',
      access_token: '[redacted]',
      refresh_token: '[redacted]',
      token: '[redacted]',
      client_secret: '[redacted]',
      authorization: '[redacted]',
      Authorization: '[redacted]',
      code: '[redacted]',
      api_key: '[redacted]',
      cookie: '[redacted]',
      password_hash: '[redacted]',
    })
  })

  it('hides personal data: email, phone, names, address, ip', () => {
    expect(
      redact({
        email: 'a@b.test',
        phone: '+1',
        first_name: 'A',
        last_name: 'B',
        address: '1 Main St',
        ip: '203.0.113.9',
        ip_address: '203.0.113.9',
      }),
    ).toEqual({
      email: '[redacted]',
      phone: '[redacted]',
      first_name: '[redacted]',
      last_name: '[redacted]',
      address: '[redacted]',
      ip: '[redacted]',
      ip_address: '[redacted]',
    })
  })

  it('keeps everything else as it is', () => {
    const fields = {
      request_id: 'req_1',
      route: '/api/v1/orders/[order_id]',
      method: 'POST',
      status: 201,
      ms: 12.5,
      user_id: 'u1',
      order_id: 'o1',
      ok: true,
      nothing: null,
      tags: ['a', 'b'],
    }
    expect(redact(fields)).toEqual(fields)
  })

  it('hides secret keys inside nested objects and arrays', () => {
    expect(
      redact({
        user: { id: 'u1', email: 'a@b.test', profile: { phone: '1' } },
        attempts: [{ password: 'x', at: 1 }],
        headers: { authorization: 'Bearer x', accept: 'json' },
      }),
    ).toEqual({
      user: { id: 'u1', email: '[redacted]', profile: { phone: '[redacted]' } },
      attempts: [{ password: '[redacted]', at: 1 }],
      headers: { authorization: '[redacted]', accept: 'json' },
    })
  })

  it('hides a password however deeply it is nested', () => {
    for (const depth of [1, 5, 6, 7, 8, 12]) {
      const out = JSON.stringify(redact(nest(depth, { password: 'hunter22', ok: 1 })))
      expect(out, `depth ${depth}`).not.toContain('hunter22')
    }
  })

  it('hides email and ip under prefixed keys', () => {
    const out = JSON.stringify(
      redact({ customer_email: 'a@b.test', billing_email: 'c@d.test', client_ip: '203.0.113.9' }),
    )
    expect(out).not.toContain('a@b.test')
    expect(out).not.toContain('c@d.test')
    expect(out).not.toContain('203.0.113.9')
  })

  it('hides one-time codes under prefixed keys', () => {
    const out = JSON.stringify(redact({ backup_code: 'ABCD-EFGH', mfa_code: '654321', totp_code: '111111' }))
    expect(out).not.toContain('ABCD-EFGH')
    expect(out).not.toContain('654321')
    expect(out).not.toContain('111111')
  })

  it('reduces an Error to its name, message and stack', () => {
    const err = new TypeError('boom')
    const out = redact({ err }) as { err: Record<string, unknown> }
    expect(out.err).toMatchObject({ name: 'TypeError', message: 'boom' })
    expect(String(out.err.stack)).toContain('TypeError: boom')
  })

  it('never logs the bound parameters of a failed query (hashes, emails, names)', () => {
    const cause = Object.assign(new Error('duplicate key value violates unique constraint'), {
      code: '23505',
      constraint: 'users_email_lower_unique',
    })
    const err = new Error(
      'Failed query: insert into "users" ("email", "password_hash") values ($1, $2)\nparams: ada@example.com,$argon2id$v=19$m=19456$secret',
      { cause },
    )
    const text = JSON.stringify(redact({ err }))
    expect(text).not.toContain('ada@example.com')
    expect(text).not.toContain('$argon2id')
    expect(text).toContain('params: [redacted]')
    expect(text).toContain('users_email_lower_unique')
    expect(text).toContain('23505')
  })

  it('scrubs what an error message quotes: a provider echoing an email, a bearer token', () => {
    // Stripe's answer to a receipt_email it does not take quotes the address
    const err = new Error('Invalid email address: ada.lovelace@example.com (sent with Bearer sk_live_abc123)')
    const text = JSON.stringify([redact({ err }), safeError('no order for ada.lovelace@example.com')])
    expect(text).not.toContain('ada.lovelace@example.com')
    expect(text).not.toContain('sk_live_abc123')
    expect(text).toContain('Invalid email address')
  })

  it('leaves primitives alone', () => {
    expect(redact('text')).toBe('text')
    expect(redact(3)).toBe(3)
    expect(redact(null)).toBeNull()
  })
})

/** What the logger writes to stdout, chunk by chunk, instead of the terminal. */
function captureStdout(): string[] {
  const lines: string[] = []
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk))
    return true
  })
  return lines
}

describe('log', () => {
  it('writes one JSON line with secret and personal fields redacted', () => {
    process.env.LOG_LEVEL = 'info'
    resetEnv()
    const lines = captureStdout()
    log.info('login', { user_id: 'u1', email: 'a@b.test', password: 'hunter22', nested: { token: 't' } })
    flushLogs()
    expect(lines).toHaveLength(1)
    expect(lines[0]!.endsWith('\n')).toBe(true)
    const line = JSON.parse(lines[0]!)
    expect(line).toMatchObject({
      level: 'info',
      msg: 'login',
      user_id: 'u1',
      email: '[redacted]',
      password: '[redacted]',
      nested: { token: '[redacted]' },
    })
    expect(lines[0]).not.toContain('hunter22')
  })

  it('writes nothing below LOG_LEVEL', () => {
    process.env.LOG_LEVEL = 'warn'
    resetEnv()
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    log.info('quiet')
    log.debug('quieter')
    flushLogs()
    expect(out).not.toHaveBeenCalled()
  })

  it('writes the lines of one turn of the event loop in one write, in order, before a warning', () => {
    process.env.LOG_LEVEL = 'info'
    resetEnv()
    const out: string[] = []
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(`stdout:${String(chunk)}`)
      return true
    })
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(`stderr:${String(chunk)}`)
      return true
    })
    log.info('first')
    log.info('second')
    expect(out).toHaveLength(0)
    log.warn('third')
    expect(out).toHaveLength(2)
    expect(out[0]!.startsWith('stdout:')).toBe(true)
    expect(
      out[0]!
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l.replace(/^stdout:/, '')).msg),
    ).toEqual(['first', 'second'])
    expect(JSON.parse(out[1]!.replace(/^stderr:/, '')).msg).toBe('third')
  })

  it('flushes by itself on the next turn of the event loop', async () => {
    process.env.LOG_LEVEL = 'info'
    resetEnv()
    const lines = captureStdout()
    log.info('later')
    await new Promise((resolve) => setImmediate(resolve))
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0]!).msg).toBe('later')
  })
})
