import { describe, expect, it } from 'vitest'
import { pairedRatios, perRequest, spread } from '../../bench/stats.js'

describe('bench statistics', () => {
  it('takes the median of an odd count as the middle value, with min and max', () => {
    expect(spread([30, 10, 20])).toEqual({ median: 20, min: 10, max: 30 })
  })

  it('takes the mean of the middle two for an even count', () => {
    expect(spread([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4 })
  })

  it('ignores values that are not finite and answers NaN for none', () => {
    expect(spread([Number.NaN, 5, Number.POSITIVE_INFINITY])).toEqual({ median: 5, min: 5, max: 5 })
    expect(spread([]).median).toBeNaN()
  })

  it('pairs ratios run by run, NaN for a zero baseline', () => {
    expect(pairedRatios([10, 20, 30], [20, 0, 60, 99])).toEqual([0.5, Number.NaN, 0.5])
  })

  it('divides a counter by the requests served, NaN for none', () => {
    expect(perRequest(30, 10)).toBe(3)
    expect(perRequest(3, 0)).toBeNaN()
  })
})
