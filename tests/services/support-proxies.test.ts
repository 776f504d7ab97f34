// The test-support proxies against the real local PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379).
import { createHash, randomBytes } from 'node:crypto'
import { neonConfig, Pool } from '@neondatabase/serverless'
import { Ratelimit } from '@upstash/ratelimit'
import { Redis as UpstashRedis } from '@upstash/redis'
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/neon-serverless'
import { Redis as IORedis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import ws from 'ws'
import { startUpstashProxy, type UpstashProxy } from '../support/upstash-proxy.js'
import { startWsProxy, type WsProxy } from '../support/ws-proxy.js'

const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@localhost:5432/test'
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const uniq = () => randomBytes(6).toString('hex')

/** Opens a raw WebSocket; resolves with it once open, or with the HTTP status of a refused upgrade. */
function openWs(url: string): Promise<ws | number> {
  return new Promise((resolve, reject) => {
    const socket = new ws(url)
    socket.once('open', () => resolve(socket))
    socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
    socket.once('error', reject)
  })
}

describe('ws proxy + Neon serverless driver', () => {
  let proxy: WsProxy
  let pool: Pool
  const table = `proxy_lock_test_${uniq()}`

  beforeAll(async () => {
    proxy = await startWsProxy({ port: 0 })
    neonConfig.webSocketConstructor = ws
    neonConfig.wsProxy = () => proxy.url
    neonConfig.useSecureWebSocket = false
    neonConfig.pipelineTLS = false
    neonConfig.pipelineConnect = false
    pool = new Pool({ connectionString: DATABASE_URL, max: 4 })
  })

  afterAll(async () => {
    await pool?.query(`DROP TABLE IF EXISTS ${table}`)
    await pool?.end()
    await proxy?.close()
  })

  it('listens on a random port and gives the wsProxy value', () => {
    expect(proxy.port).toBeGreaterThan(0)
    expect(proxy.url).toBe(`localhost:${proxy.port}/v1`)
  })

  it('runs a query', async () => {
    const { rows } = await pool.query<{ x: number; db: string }>('SELECT 1 AS x, current_database() AS db')
    expect(rows).toEqual([{ x: 1, db: 'test' }])
  })

  it('runs an interactive transaction whose ROLLBACK leaves nothing', async () => {
    const client = await pool.connect()
    try {
      await client.query('CREATE TEMP TABLE proxy_tx (id int)')
      await client.query('BEGIN')
      await client.query('INSERT INTO proxy_tx VALUES ($1), ($2)', [1, 2])
      const inside = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM proxy_tx')
      expect(inside.rows[0]?.n).toBe(2)
      await client.query('ROLLBACK')
      const after = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM proxy_tx')
      expect(after.rows[0]?.n).toBe(0)
      await client.query('DROP TABLE proxy_tx')
    } finally {
      client.release()
    }
  })

  it('holds SELECT ... FOR UPDATE row locks across connections', async () => {
    await pool.query(`CREATE TABLE ${table} (id int PRIMARY KEY, qty int NOT NULL)`)
    await pool.query(`INSERT INTO ${table} VALUES (1, 10)`)
    const a = await pool.connect()
    const b = await pool.connect()
    try {
      await a.query('BEGIN')
      const locked = await a.query<{ qty: number }>(`SELECT qty FROM ${table} WHERE id = 1 FOR UPDATE`)
      expect(locked.rows).toEqual([{ qty: 10 }])

      await b.query('BEGIN')
      await expect(b.query(`SELECT qty FROM ${table} WHERE id = 1 FOR UPDATE NOWAIT`)).rejects.toMatchObject({
        code: '55P03', // lock_not_available
      })
      await b.query('ROLLBACK')

      // b waits for the lock and then sees a's committed update
      await b.query('BEGIN')
      const waiting = b.query<{ qty: number }>(`SELECT qty FROM ${table} WHERE id = 1 FOR UPDATE`)
      await a.query(`UPDATE ${table} SET qty = qty - 3 WHERE id = 1`)
      await a.query('COMMIT')
      expect((await waiting).rows).toEqual([{ qty: 7 }])
      await b.query('COMMIT')
    } finally {
      a.release()
      b.release()
    }
  })

  it('streams large payloads both ways (backpressure)', async () => {
    const big = 'é'.repeat(3_000_000) // 6 MB up
    const up = await pool.query<{ n: number }>('SELECT octet_length($1::text) AS n', [big])
    expect(up.rows[0]?.n).toBe(6_000_000)
    const down = await pool.query<{ s: string }>(
      "SELECT repeat('x', 1000000) AS s FROM generate_series(1, 24)",
    )
    expect(down.rows).toHaveLength(24) // 24 MB down
    expect(down.rows.every((r) => r.s.length === 1_000_000)).toBe(true)
  })

  it('works under drizzle (neon-serverless)', async () => {
    const db = drizzle({ client: pool })
    const result = await db.execute<{ x: number }>(sql`select 1 as x`)
    expect(result.rows).toEqual([{ x: 1 }])
  })

  it('honours ?address= for the configured server and refuses any other', async () => {
    const base = `ws://localhost:${proxy.port}/v1`
    for (const address of ['example.com:5432', '127.0.0.1:6379', '10.0.0.1:5432']) {
      expect(await openWs(`${base}?address=${address}`)).toBe(403)
    }
    expect(await openWs(`ws://localhost:${proxy.port}/other`)).toBe(403)

    // SSLRequest through an allowed address: PostgreSQL answers with one byte, 'S' or 'N'
    const socket = await openWs(`${base}?address=localhost:5432`)
    if (typeof socket === 'number') throw new Error(`refused with ${socket}`)
    const reply = new Promise<Buffer>((resolve) => socket.once('message', (data) => resolve(data as Buffer)))
    const sslRequest = Buffer.alloc(8)
    sslRequest.writeInt32BE(8, 0)
    sslRequest.writeInt32BE(80877103, 4)
    socket.send(sslRequest)
    expect(['S', 'N']).toContain((await reply).toString())
    const closed = new Promise((resolve) => socket.once('close', resolve))
    socket.close()
    await closed
  })

  it('close() terminates open connections', async () => {
    const other = await startWsProxy()
    const socket = await openWs(`ws://localhost:${other.port}/v1`)
    if (typeof socket === 'number') throw new Error(`refused with ${socket}`)
    const closed = new Promise((resolve) => socket.once('close', resolve))
    await other.close()
    await closed
    expect(socket.readyState).toBe(ws.CLOSED)
  })
})

describe('Upstash REST proxy', () => {
  let proxy: UpstashProxy
  let redis: UpstashRedis
  let admin: IORedis // direct connection, for checks and clean-up
  let prefix: string

  const key = (name: string) => `${prefix}${name}`
  const post = (path: string, body: unknown, token = proxy.token) =>
    fetch(`${proxy.url}${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Upstash-Encoding': 'base64' },
      body: JSON.stringify(body),
    })

  beforeAll(async () => {
    proxy = await startUpstashProxy({ port: 0, redisUrl: REDIS_URL })
    redis = new UpstashRedis({ url: proxy.url, token: proxy.token })
    admin = new IORedis(REDIS_URL)
    prefix = `test:proxy:${uniq()}:`
  })

  afterAll(async () => {
    if (admin) {
      const keys = await admin.keys(`${prefix}*`)
      if (keys.length) await admin.del(...keys)
      expect(await admin.keys(`${prefix}*`)).toEqual([])
      await admin.quit()
    }
    await proxy?.close()
  })

  it('sets and gets strings (non-ASCII too) and JSON objects', async () => {
    expect(await redis.set(key('s'), 'héllo ✓ 日本')).toBe('OK')
    expect(await redis.get(key('s'))).toBe('héllo ✓ 日本')
    expect(await admin.get(key('s'))).toBe('héllo ✓ 日本')

    const order = { id: 'o_1', items: [{ sku: 'A', qty: 2 }], paid: false }
    await redis.set(key('json'), order)
    expect(await redis.get(key('json'))).toEqual(order)
    expect(await redis.get(key('missing'))).toBeNull()
  })

  it('increments counters and hashes', async () => {
    expect(await redis.incr(key('n'))).toBe(1)
    expect(await redis.incr(key('n'))).toBe(2)
    expect(await redis.hincrby(key('h'), 'a', 5)).toBe(5)
    expect(await redis.hincrby(key('h'), 'a', -2)).toBe(3)
    expect(await redis.hincrby(key('h'), 'b', 1)).toBe(1)
    expect(await redis.hgetall(key('h'))).toEqual({ a: 3, b: 1 })
    expect(await redis.hgetall(key('nohash'))).toBeNull()
  })

  it('sets expiries', async () => {
    await redis.set(key('ttl'), 'x')
    expect(await redis.ttl(key('ttl'))).toBe(-1)
    expect(await redis.expire(key('ttl'), 60)).toBe(1)
    const ttl = await redis.ttl(key('ttl'))
    expect(ttl).toBeGreaterThan(55)
    expect(ttl).toBeLessThanOrEqual(60)
    await redis.set(key('ex'), 'y', { ex: 30 })
    expect(await admin.ttl(key('ex'))).toBeGreaterThan(25)
  })

  it('runs pipelines, with per-command errors', async () => {
    const results = await redis.pipeline().set(key('p'), 1).incr(key('p')).get(key('p')).exec()
    expect(results).toEqual(['OK', 2, 2])

    await redis.set(key('word'), 'abc')
    const kept = await redis.pipeline().incr(key('word')).get(key('word')).exec({ keepErrors: true })
    expect(kept[0]?.error).toMatch(/not an integer/)
    expect(kept[1]).toEqual({ result: 'abc', error: undefined })
    await expect(redis.pipeline().incr(key('word')).exec()).rejects.toThrow(/not an integer/)
  })

  it('runs MULTI/EXEC transactions', async () => {
    const results = await redis.multi().set(key('m'), 10).incrby(key('m'), 5).get(key('m')).exec()
    expect(results).toEqual(['OK', 15, 15])
    expect(await admin.get(key('m'))).toBe('15')
  })

  it('deletes keys', async () => {
    await redis.set(key('d1'), 1)
    await redis.set(key('d2'), 2)
    expect(await redis.del(key('d1'), key('d2'), key('d3'))).toBe(2)
    expect(await redis.exists(key('d1'), key('d2'))).toBe(0)
  })

  it('refuses a wrong token', async () => {
    const intruder = new UpstashRedis({ url: proxy.url, token: 'wrong', retry: false })
    await expect(intruder.get(key('s'))).rejects.toThrow(/Unauthorized/)
    const res = await post('/', ['get', key('s')], 'wrong')
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({ error: 'Unauthorized' })
  })

  it('speaks the REST wire format (status codes, base64, raw integers and nils)', async () => {
    await admin.set(key('raw'), 'héllo')
    let res = await post('/', ['GET', key('raw')])
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ result: Buffer.from('héllo').toString('base64') })

    res = await post('/', ['incr', key('raw')])
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ error: 'ERR value is not an integer or out of range' })

    res = await post('/pipeline', [
      ['set', key('raw2'), 'OK'],
      ['incr', key('raw3')],
      ['get', key('nothing')],
      ['rpush', key('list'), 'a', 'OK'],
      ['lrange', key('list'), 0, -1],
      ['incr', key('raw')],
    ])
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual([
      { result: 'OK' },
      { result: 1 },
      { result: null },
      { result: 2 },
      { result: ['YQ==', 'T0s='] }, // strings inside arrays are always base64
      { error: 'ERR value is not an integer or out of range' },
    ])
    expect(await redis.lrange(key('list'), 0, -1)).toEqual(['a', 'OK'])

    const unencoded = await fetch(proxy.url, {
      method: 'POST',
      headers: { Authorization: `Bearer ${proxy.token}` },
      body: JSON.stringify(['get', key('raw')]),
    })
    expect(await unencoded.json()).toEqual({ result: 'héllo' })
  })

  it('also works without base64, auto-pipelining or deserialization', async () => {
    const plain = new UpstashRedis({
      url: proxy.url,
      token: proxy.token,
      responseEncoding: false,
      enableAutoPipelining: false,
      automaticDeserialization: false,
    })
    await plain.set(key('plain'), JSON.stringify({ a: 1 }))
    expect(await plain.get(key('plain'))).toBe('{"a":1}')
    await plain.hset(key('plainh'), { f: 'v', n: 2 })
    // without deserialization the client hands back Redis's flat field/value reply
    expect(await plain.hgetall(key('plainh'))).toEqual(['f', 'v', 'n', '2'])
    await expect(plain.incr(key('plain'))).rejects.toThrow(/not an integer/)
  })

  it('strips the allow-key-locking flag and maps EVALSHA to the stripped script', async () => {
    const script = `#!lua flags=allow-key-locking\n-- ${uniq()}\nreturn {ARGV[1], redis.call('INCR', KEYS[1])}`
    const sha = createHash('sha1').update(script).digest('hex')
    await expect(redis.evalsha(sha, [key('lua')], ['a'])).rejects.toThrow(/NOSCRIPT/)
    expect(await redis.eval(script, [key('lua')], ['a'])).toEqual(['a', 1])
    expect(await redis.evalsha(sha, [key('lua')], ['b'])).toEqual(['b', 2])
    expect(await redis.scriptLoad(script)).toBe(sha)
    expect(await redis.scriptExists(sha)).toEqual([1])
  })

  describe('@upstash/ratelimit through the proxy', () => {
    afterEach(() => {
      vi.restoreAllMocks()
    })

    for (const [name, limiter] of [
      ['slidingWindow', Ratelimit.slidingWindow(3, '30 s')],
      ['fixedWindow', Ratelimit.fixedWindow(3, '30 s')],
    ] as const) {
      it(`${name} allows 3, then refuses (EVAL, then cached EVALSHA)`, async () => {
        const fetchSpy = vi.spyOn(globalThis, 'fetch')
        const ratelimit = new Ratelimit({
          redis,
          limiter,
          prefix: key(`rl:${name}`),
          ephemeralCache: false, // every call goes to Redis
          analytics: false,
        })
        const id = `user-${uniq()}`
        const results = []
        for (let i = 0; i < 5; i++) {
          const result = await ratelimit.limit(id)
          await result.pending
          results.push(result)
        }
        expect(results.map((r) => r.success)).toEqual([true, true, true, false, false])
        expect(results.map((r) => r.remaining)).toEqual([2, 1, 0, 0, 0])
        for (const r of results) {
          expect(r.limit).toBe(3)
          expect(r.reason).toBeUndefined() // not a fail-open timeout
          expect(r.reset).toBeGreaterThan(Date.now())
          expect(r.reset).toBeLessThanOrEqual(Date.now() + 30_000)
        }
        // EVALSHA every time; the EVAL fallback only once, after the first NOSCRIPT
        const sent = fetchSpy.mock.calls.flatMap(([, init]) => {
          const body: unknown[] = JSON.parse(String(init?.body))
          return (Array.isArray(body[0]) ? body : [body]).map((command) => String((command as unknown[])[0]))
        })
        expect(sent.filter((name) => name === 'evalsha')).toHaveLength(5)
        expect(sent.filter((name) => name === 'eval')).toHaveLength(1)
        // another identifier has its own budget
        const fresh = await ratelimit.limit(`other-${uniq()}`)
        expect(fresh).toMatchObject({ success: true, remaining: 2 })
        expect(await admin.keys(`${key(`rl:${name}`)}*`)).not.toEqual([])
      })
    }
  })
})
