import { describe, expect, it } from 'vitest'
import { sharedTimeout } from '../../lib/platform/redis.js'

// The Upstash client's per-request abort signal: requests started within 100 ms share one timer, and each
// is aborted no sooner than its own timeout.
describe('sharedTimeout', () => {
  it('gives requests started together one signal, aborted no sooner than the timeout', async () => {
    const t0 = performance.now()
    const a = sharedTimeout(40)
    const b = sharedTimeout(40)
    expect(b).toBe(a)
    expect(a.aborted).toBe(false)
    await new Promise<void>((resolve) => a.addEventListener('abort', () => resolve(), { once: true }))
    expect(performance.now() - t0).toBeGreaterThanOrEqual(39)
    expect(a.reason).toBeInstanceOf(DOMException)
    expect((a.reason as DOMException).name).toBe('TimeoutError')
  })

  it('starts a new signal once the slice is over or its signal has fired', async () => {
    const a = sharedTimeout(10)
    await new Promise((resolve) => setTimeout(resolve, 150))
    expect(a.aborted).toBe(true)
    const b = sharedTimeout(10_000)
    expect(b).not.toBe(a)
    expect(b.aborted).toBe(false)
  })
})

describe('sharedTimeout with another timeout', () => {
  it('never hands a request a signal made for a different timeout', () => {
    const short = sharedTimeout(50)
    const long = sharedTimeout(5_000)
    expect(long).not.toBe(short)
  })
})
