import { describe, expect, it } from 'vitest'
import { errorToResponse } from '../../lib/http/errors.js'
import { isDatabaseUnavailable } from '../../lib/platform/db-errors.js'

// Which driver errors mean "the database cannot be reached" (503 database_unavailable, Retry-After) and
// which are ordinary failures (500) or the client's bad data (422). The shapes are the ones the drivers
// produce: drizzle wraps the driver error as `cause`; the Neon driver rejects with a ws ErrorEvent whose
// `error` carries the socket error; dual-stack connects fail with an AggregateError.

const wrapped = (cause: unknown) => Object.assign(new Error('Failed query: select 1\nparams: '), { cause })
const socketError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code })

describe('isDatabaseUnavailable', () => {
  it('recognises refused, reset and timed-out connections, wrapped or not', () => {
    expect(isDatabaseUnavailable(socketError('ECONNREFUSED'))).toBe(true)
    expect(isDatabaseUnavailable(wrapped(socketError('ECONNRESET')))).toBe(true)
    expect(isDatabaseUnavailable(wrapped({ type: 'error', error: socketError('ETIMEDOUT') }))).toBe(true)
    expect(isDatabaseUnavailable(new AggregateError([socketError('ECONNREFUSED')]))).toBe(true)
    expect(isDatabaseUnavailable(wrapped(new Error('Connection terminated unexpectedly')))).toBe(true)
    expect(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true)
  })

  it("recognises PostgreSQL's own unavailable states", () => {
    for (const code of ['08006', '08001', '57P01', '57P03', '53300']) {
      expect(isDatabaseUnavailable(wrapped(Object.assign(new Error('x'), { code }))), code).toBe(true)
    }
  })

  it('leaves query errors, constraint violations and bugs alone', () => {
    for (const code of ['23505', '42P01', '22P02', '40001']) {
      expect(isDatabaseUnavailable(wrapped(Object.assign(new Error('x'), { code }))), code).toBe(false)
    }
    expect(isDatabaseUnavailable(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(
      false,
    )
    expect(isDatabaseUnavailable(undefined)).toBe(false)
    expect(isDatabaseUnavailable('ECONNREFUSED')).toBe(false)
  })

  it('stops on a cause cycle', () => {
    const a: { message: string; cause?: unknown } = { message: 'a' }
    const b = { message: 'b', cause: a }
    a.cause = b
    expect(isDatabaseUnavailable(a)).toBe(false)
  })
})

describe('errorToResponse for an unreachable database', () => {
  it('is a 503 problem+json with Retry-After and no driver detail', async () => {
    const res = errorToResponse(wrapped(socketError('ECONNREFUSED')), 'req_test')
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('5')
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    const body = await res.json()
    expect(body).toMatchObject({ status: 503, code: 'database_unavailable', request_id: 'req_test' })
    expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|Failed query/)
  })

  it('keeps a plain bug a 500', () => {
    expect(errorToResponse(new Error('boom'), 'req_test').status).toBe(500)
  })
})

describe('errorToResponse for a transaction the database rolled back', () => {
  it('turns a deadlock or serialization failure into a retryable 409 without driver detail', async () => {
    for (const code of ['40P01', '40001']) {
      const err = wrapped(Object.assign(new Error('deadlock detected'), { code }))
      const res = errorToResponse(err, 'req_test')
      expect(res.status).toBe(409)
      expect(res.headers.get('retry-after')).toBe('1')
      const body = await res.json()
      expect(body).toMatchObject({ status: 409, code: 'concurrent_update' })
      expect(JSON.stringify(body)).not.toMatch(/deadlock detected|Failed query/)
    }
  })
})
