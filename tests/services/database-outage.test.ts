import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as schema from '../../db/schema/index.js'
import { closeDatabase, setDatabase } from '../../lib/platform/db.js'
import { DEFAULT_PASSWORD, makeUser } from '../support/factories.js'
import { call } from '../support/http.js'
import { startWsProxy, type WsProxy } from '../support/ws-proxy.js'

// PostgreSQL unreachable (the WebSocket proxy in front of it stopped, as when Neon is down or the
// network drops): every route answers 503 problem+json `database_unavailable` with Retry-After, from
// route()'s one error mapper, never a 500. This file's database goes through a proxy of its own, so
// stopping it leaves the rest of the suite alone.

let proxy: WsProxy
let restoreProxy: () => void

beforeAll(async () => {
  const { Pool, neonConfig } = await import('@neondatabase/serverless')
  const { drizzle } = await import('drizzle-orm/neon-serverless')
  const previous = neonConfig.wsProxy
  restoreProxy = () => {
    neonConfig.wsProxy = previous
  }
  proxy = await startWsProxy({ pgHost: '127.0.0.1', pgPort: 5432 })
  neonConfig.wsProxy = () => proxy.url
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 2, connectionTimeoutMillis: 3000 })
  pool.on('error', () => undefined) // the proxy is stopped on purpose below
  setDatabase(drizzle({ client: pool, schema }) as never, 'neon', () => pool.end().catch(() => undefined))
})

afterAll(async () => {
  await closeDatabase()
  restoreProxy()
})

describe('with the database unreachable', () => {
  it('answers 503 database_unavailable with Retry-After on every route, never a 500', async () => {
    const staff = await makeUser({ role: 'admin' })
    const customer = await makeUser()
    // Reachable first: the same calls succeed.
    expect((await call('GET', '/api/v1/auth/me', { token: customer.token })).status).toBe(200)

    await proxy.close()

    const attempts = [
      call('POST', '/api/v1/auth/login', {
        body: { email: customer.user.email, password: DEFAULT_PASSWORD },
      }),
      call('GET', '/api/v1/auth/me', { token: customer.token }),
      call('GET', '/api/v1/users', { token: staff.token }),
      call('POST', '/api/v1/auth/register', {
        body: { email: 'new@example.test', password: DEFAULT_PASSWORD, first_name: 'N', last_name: 'W' },
      }),
    ]
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(503)
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
      expect(res.headers.get('retry-after')).toBe('5')
      expect(res.body).toMatchObject({ status: 503, code: 'database_unavailable' })
      // Nothing of the driver's message reaches the client.
      expect(res.text).not.toMatch(/ECONNREFUSED|terminated|Failed query|select/i)
    }
  })
})
