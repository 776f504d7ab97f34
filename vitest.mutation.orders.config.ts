import { defineConfig } from 'vitest/config'
import base from './vitest.config.js'

// `npm run test:mutation:orders` (StrykerJS, stryker.orders.config.json): the orders and payments suites
// on PGlite and the in-process store, for mutants of lib/orders and lib/payments. The service suites
// (real PostgreSQL and Redis, races) are not run here: mutants only they would kill show as survivors
// and are named in the README's mutation table.
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    // Modules stay loaded between test files (each file still gets a fresh database in setup.ts):
    // reloading them for every file and every mutant would make a run take hours.
    isolate: false,
    // Stryker's runs share two cores with everything else; the refund property test alone can take 30 s.
    testTimeout: 120_000,
    include: [
      'tests/unit/pricing*.test.ts',
      'tests/unit/payments-*.test.ts',
      'tests/unit/money.test.ts',
      'tests/api/orders-*.test.ts',
      'tests/api/payments-*.test.ts',
      'tests/api/pricing-settings.test.ts',
      'tests/api/webhooks-*.test.ts',
      'tests/api/cron.test.ts',
      // the model test's counterexamples, replayed as fixed sequences (the searching test itself is not run:
      // its time-bounded search would kill a different set of mutants on every run)
      'tests/model/regressions.test.ts',
    ],
  },
})
