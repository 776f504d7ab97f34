import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fetchChecked } from '../support/contract.js'
import { type DevServer, startDevServer } from '../support/dev-server.js'

// The real dev server over real HTTP, as a client would use it: `npm run dev` on a fresh data dir. Every
// answer is checked against the OpenAPI document (fetchChecked).

let dev: DevServer
let base: string

beforeAll(async () => {
  dev = await startDevServer()
  base = dev.base
})

afterAll(async () => {
  await dev?.stop()
})

describe('npm run dev', () => {
  it('serves /api/v1/health over HTTP with 200 and the liveness body', async () => {
    const res = await fetchChecked(`${base}/api/v1/health`)
    expect(res.status).toBe(200)
    expect(res.headers.get('x-request-id')).toMatch(/^req_/)
    const body = await res.json()
    expect(body).toMatchObject({ status: 'healthy', version: expect.any(String) })
    expect(Date.parse(body.timestamp)).not.toBeNaN()
  })

  it('answers unknown paths with 404 problem+json and wrong methods with 405 and Allow', async () => {
    const missing = await fetchChecked(`${base}/api/v1/no-such-thing`)
    expect(missing.status).toBe(404)
    expect(missing.headers.get('content-type')).toBe('application/problem+json')
    expect((await missing.json()).code).toBe('route_not_found')

    const wrong = await fetchChecked(`${base}/api/v1/health`, { method: 'DELETE' })
    expect(wrong.status).toBe(405)
    expect(wrong.headers.get('allow')).toContain('GET')
  })

  it('has a migrated, seeded database behind /health/database and the demo admin announced', async () => {
    const res = await fetchChecked(`${base}/api/v1/health/database`)
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.status).toBe('healthy')
    expect(body.migrations.up_to_date).toBe(true)
    expect(dev.output()).toContain('Admin account:')
  })
})
