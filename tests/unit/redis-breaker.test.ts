import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { setClock } from '../../lib/platform/clock.js'
import { resetEnv } from '../../lib/platform/env.js'
import {
  breakerAllows,
  breakerOpenedCount,
  breakerState,
  configureBreaker,
  guarded,
  RedisUnavailable,
  resetBreaker,
  untrustedBefore,
  whenBreakerCloses,
} from '../../lib/platform/redis-breaker.js'

// The Redis circuit breaker's states (docs/monitoring.md, "When Redis is sick"): closed until
// REDIS_BREAKER_FAILURES failures in a row, then open (nothing sent) for the cool-down, then one probe.

let t = 1_000_000
let probeAnswers: Array<'ok' | 'fail'> = []
let probes = 0
const later: Array<() => Promise<unknown>> = []
const runLater = async () => {
  while (later.length) await later.shift()!()
}
const failing = () => Promise.reject(new Error('ECONNRESET'))
const sent: string[] = []
const op = (name: string, ok = true) =>
  guarded(async () => {
    sent.push(name)
    if (!ok) throw new Error(`${name} failed`)
    return name
  })

beforeEach(() => {
  process.env.REDIS_BREAKER_FAILURES = '3'
  process.env.REDIS_BREAKER_COOLDOWN_SECONDS = '10'
  resetEnv()
  setClock(() => t)
  resetBreaker()
  sent.length = 0
  probes = 0
  probeAnswers = []
  configureBreaker({
    probe: async () => {
      probes++
      if (probeAnswers.shift() !== 'ok') throw new Error('probe failed')
    },
    later: (task) => void later.push(task),
  })
})

afterEach(() => {
  setClock(undefined)
  delete process.env.REDIS_BREAKER_FAILURES
  delete process.env.REDIS_BREAKER_COOLDOWN_SECONDS
  resetEnv()
})

describe('the Redis circuit breaker', () => {
  it('opens after three failures in a row, and a success in between starts the count again', async () => {
    await expect(guarded(failing)).rejects.toThrow('ECONNRESET')
    await expect(guarded(failing)).rejects.toThrow('ECONNRESET')
    await op('ok')
    await expect(guarded(failing)).rejects.toThrow()
    await expect(guarded(failing)).rejects.toThrow()
    expect(breakerState()).toBe('closed')
    await expect(guarded(failing)).rejects.toThrow('ECONNRESET')
    expect(breakerState()).toBe('open')
    expect(breakerOpenedCount()).toBe(1)
  })

  it('sends nothing while open, probes once after the cool-down, and closes when the probe answers', async () => {
    for (let i = 0; i < 3; i++) await op(`fail ${i}`, false).catch(() => {})
    sent.length = 0
    for (let i = 0; i < 5; i++) await expect(op('skipped')).rejects.toBeInstanceOf(RedisUnavailable)
    expect(sent).toEqual([])
    t += 9_999
    expect(breakerAllows()).toBe(false)
    expect(later).toHaveLength(0)
    t += 1
    // the first caller after the cool-down starts the probe but does not wait for it
    await expect(op('during probe')).rejects.toBeInstanceOf(RedisUnavailable)
    expect(breakerState()).toBe('half_open')
    await expect(op('during probe')).rejects.toBeInstanceOf(RedisUnavailable)
    expect(later).toHaveLength(1)
    probeAnswers = ['ok']
    await runLater()
    expect(probes).toBe(1)
    expect(breakerState()).toBe('closed')
    expect(sent).toEqual([])
    await expect(op('after')).resolves.toBe('after')
  })

  it('opens again for a whole cool-down when the probe fails', async () => {
    for (let i = 0; i < 3; i++) await op('x', false).catch(() => {})
    t += 10_000
    breakerAllows()
    probeAnswers = ['fail']
    await runLater()
    expect(breakerState()).toBe('open')
    t += 9_000
    expect(breakerAllows()).toBe(false)
    expect(later).toHaveLength(0)
    t += 1_000
    breakerAllows()
    probeAnswers = ['ok']
    await runLater()
    expect(probes).toBe(2)
    expect(breakerState()).toBe('closed')
    expect(breakerOpenedCount()).toBe(1)
  })

  it('distrusts what was cached before it closed, and runs the close hooks', async () => {
    expect(untrustedBefore()).toBe(0)
    let replayed = 0
    whenBreakerCloses(async () => {
      replayed++
    })
    for (let i = 0; i < 3; i++) await op('x', false).catch(() => {})
    t += 10_000
    breakerAllows()
    probeAnswers = ['ok']
    await runLater() // the probe, which closes and queues the hooks
    await runLater()
    expect(untrustedBefore()).toBe(t)
    expect(replayed).toBe(1)
  })

  it('does not count its own refusals as failures', async () => {
    for (let i = 0; i < 3; i++) await op('x', false).catch(() => {})
    for (let i = 0; i < 10; i++) await op('skipped').catch(() => {})
    expect(breakerOpenedCount()).toBe(1)
  })
})
