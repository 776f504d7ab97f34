import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

// `npm test`: unit, in-process route, e2e and security (access matrix) tests on PGlite and the in-process store, no services.
// `npm run test:services` (TEST_SERVICES=1): the same suites plus tests/services on the machine's
// PostgreSQL (through the Neon driver and a local WebSocket proxy) and Redis (through the Upstash clients
// and a local Upstash-REST proxy). The harness starts both proxies itself.
const services = process.env.TEST_SERVICES === '1'

export default defineConfig({
  // @vercel/blob reaches its API through the npm `undici`, which MSW cannot see: tests give it the global
  // fetch instead (tests/support/undici-fetch.ts). Inlining the SDK is what lets the alias apply to it.
  resolve: {
    alias: [
      {
        find: /^undici$/,
        replacement: fileURLToPath(new URL('./tests/support/undici-fetch.ts', import.meta.url)),
      },
    ],
  },
  test: {
    server: { deps: { inline: ['@vercel/blob'] } },
    include: services
      ? ['tests/**/*.test.ts']
      : [
          'tests/unit/**/*.test.ts',
          'tests/api/**/*.test.ts',
          'tests/model/**/*.test.ts',
          'tests/e2e/**/*.test.ts',
          'tests/security/**/*.test.ts',
        ],
    exclude: ['tests/build/**', 'tests/browser/**', 'node_modules/**'],
    globalSetup: ['tests/support/global-setup.ts'],
    setupFiles: ['tests/support/setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 120_000,
    env: { NODE_ENV: 'test', LOG_LEVEL: 'silent' },
  },
})
