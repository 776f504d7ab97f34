import { defineConfig } from 'vitest/config'

// `npm run test:build`: checks the Vercel build output (.vercel/output, made by `npm run build:vercel`).
// No globalSetup/setupFiles: the built functions run in child Node processes with their own settings,
// not against the test databases.
export default defineConfig({
  test: {
    include: ['tests/build/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    env: { NODE_ENV: 'test', LOG_LEVEL: 'silent' },
  },
})
