import { defineConfig } from 'vitest/config'

// `npm run test:browser`: the API reference page (GET /api/docs) in headless Chromium through
// playwright-core, against `npm run dev` on its embedded database. Needs a Chromium: CHROMIUM_PATH, else
// Debian's /usr/bin/chromium (`apt-get install chromium`; .ci/run installs it when missing). Not part of
// `npm test`, which must pass on a bare clone.
export default defineConfig({
  test: {
    include: ['tests/browser/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: { NODE_ENV: 'test', LOG_LEVEL: 'silent' },
  },
})
