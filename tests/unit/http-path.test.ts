import { describe, expect, it } from 'vitest'
import { comparePatterns, compilePath, matchPath, toOpenApiPath } from '../../lib/http/path.js'

describe('compilePath', () => {
  it('splits a file path into literal and [param] segments and lists the params in order', () => {
    const p = compilePath('/api/v1/products/[product_id]/variants/[variant_id]')
    expect(p.path).toBe('/api/v1/products/[product_id]/variants/[variant_id]')
    expect(p.segments).toEqual([
      { literal: 'api' },
      { literal: 'v1' },
      { literal: 'products' },
      { param: 'product_id' },
      { literal: 'variants' },
      { param: 'variant_id' },
    ])
    expect(p.params).toEqual(['product_id', 'variant_id'])
  })

  it('has no params for a static path', () => {
    expect(compilePath('/api/v1/orders/export').params).toEqual([])
  })
})

describe('matchPath', () => {
  const thing = compilePath('/api/v1/things/[thing_id]')

  it('returns the dynamic segment under its placeholder name', () => {
    expect(matchPath(thing, '/api/v1/things/abc-123')).toEqual({ thing_id: 'abc-123' })
  })

  it('percent-decodes a dynamic segment', () => {
    expect(matchPath(thing, '/api/v1/things/a%20b%2Fc')).toEqual({ thing_id: 'a b/c' })
    expect(matchPath(thing, '/api/v1/things/caf%C3%A9')).toEqual({ thing_id: 'café' })
  })

  it('does not match (and does not throw) on a malformed percent-encoding', () => {
    expect(() => matchPath(thing, '/api/v1/things/%E0%A4%A')).not.toThrow()
    expect(matchPath(thing, '/api/v1/things/%E0%A4%A')).toBeNull()
    expect(matchPath(thing, '/api/v1/things/%')).toBeNull()
  })

  it('needs exactly as many segments as the pattern', () => {
    expect(matchPath(thing, '/api/v1/things')).toBeNull()
    expect(matchPath(thing, '/api/v1/things/a/b')).toBeNull()
  })

  it('needs every literal segment to be equal', () => {
    expect(matchPath(thing, '/api/v1/other/abc')).toBeNull()
    expect(matchPath(thing, '/api/v2/things/abc')).toBeNull()
  })

  it('ignores a trailing slash', () => {
    expect(matchPath(thing, '/api/v1/things/abc/')).toEqual({ thing_id: 'abc' })
  })

  it('matches a static path with no params as an empty object', () => {
    expect(matchPath(compilePath('/api/v1/health'), '/api/v1/health')).toEqual({})
  })
})

describe('comparePatterns', () => {
  const sort = (paths: string[]) =>
    paths
      .map(compilePath)
      .sort(comparePatterns)
      .map((p) => p.path)

  it('puts a static segment before a dynamic one at the same position', () => {
    expect(sort(['/api/v1/orders/[order_id]', '/api/v1/orders/export'])).toEqual([
      '/api/v1/orders/export',
      '/api/v1/orders/[order_id]',
    ])
  })

  it('lets the earliest differing segment decide', () => {
    expect(sort(['/api/v1/[a]/static', '/api/v1/static/[b]'])).toEqual([
      '/api/v1/static/[b]',
      '/api/v1/[a]/static',
    ])
  })
})

describe('toOpenApiPath', () => {
  it('turns [param] placeholders into {param}', () => {
    expect(toOpenApiPath('/api/v1/products/[product_id]/variants/[variant_id]')).toBe(
      '/api/v1/products/{product_id}/variants/{variant_id}',
    )
    expect(toOpenApiPath('/api/v1/health')).toBe('/api/v1/health')
  })
})
