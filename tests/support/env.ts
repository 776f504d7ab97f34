import { resetEnv } from '../../lib/platform/env.js'

// Settings a test changes, put back afterwards: call setEnv in a test or beforeEach, restoreEnv in
// afterEach. `undefined` removes a setting.

const saved = new Map<string, string | undefined>()

export function setEnv(vars: Record<string, string | undefined>): void {
  for (const [k, v] of Object.entries(vars)) {
    if (!saved.has(k)) saved.set(k, process.env[k])
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  resetEnv()
}

export function restoreEnv(): void {
  for (const [k, v] of saved) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  saved.clear()
  resetEnv()
}
