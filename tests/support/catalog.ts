import { afterEach, beforeEach, expect } from 'vitest'
import { resetEnv } from '../../lib/platform/env.js'
import { makeUser } from './factories.js'
import type { CallResult } from './http.js'
import { call } from './http.js'

// Shared set-up of the catalog tests: generous rate limits, the three kinds of caller, and assertions.

export function catalogTestEnv() {
  let saved: Record<string, string | undefined>
  beforeEach(() => {
    saved = { ...process.env }
    process.env.RATE_LIMIT_DEFAULT = '100000/60'
    resetEnv()
  })
  afterEach(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
    Object.assign(process.env, saved)
    resetEnv()
  })
}

export async function callers() {
  const [staff, customer, admin] = await Promise.all([
    makeUser({ role: 'staff' }),
    makeUser({ role: 'customer' }),
    makeUser({ role: 'admin' }),
  ])
  return { staff, customer, admin }
}

export const as = (token?: string) => ({
  get: (path: string, headers?: Record<string, string>) => call('GET', path, { token, headers }),
  post: (path: string, body?: unknown) => call('POST', path, { token, body }),
  put: (path: string, body: unknown) => call('PUT', path, { token, body }),
  del: (path: string) => call('DELETE', path, { token }),
})

export function expectProblem(res: CallResult, status: number, code?: string) {
  expect(res.status, res.text).toBe(status)
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  if (code) expect(res.body.code, res.text).toBe(code)
}
