import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

// The money rooms import one way (docs/architecture.md): lib/payments decides from Stripe's truth and
// imports lib/orders; lib/orders records and never imports lib/payments.

const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )

describe('the money rooms', () => {
  it('lib/orders never imports lib/payments', () => {
    const offending = files('lib/orders').filter((f) =>
      /from ['"]\.\.\/payments\/|import\(['"]\.\.\/payments\//.test(readFileSync(f, 'utf8')),
    )
    expect(offending).toEqual([])
    expect(files('lib/payments').some((f) => /from '\.\.\/orders\//.test(readFileSync(f, 'utf8')))).toBe(true)
  })
})
