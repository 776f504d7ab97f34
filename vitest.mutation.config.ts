import { defineConfig } from 'vitest/config'
import base from './vitest.config.js'

// `npm run test:mutation` (StrykerJS): only the suites that exercise lib/auth and lib/users, on PGlite and
// the in-process store. Stryker runs them in one worker thread per Stryker process and re-runs, for every
// mutant, just the tests that covered it.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    // Modules stay loaded between test files (each file still gets a fresh database in setup.ts):
    // reloading them for every file and every mutant would make a run take hours.
    isolate: false,
    include: [
      'tests/api/auth*.test.ts',
      'tests/api/users-*.test.ts',
      'tests/api/hardening.test.ts',
      'tests/api/security-pins.test.ts',
    ],
  },
})
