import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

// `npm test`: unit, in-process route, e2e and security (access matrix) tests on PGlite and the in-process store, no services.
// `npm run test:services` (TEST_SERVICES=1): what depends on PostgreSQL or Redis semantics, on the
// machine's PostgreSQL (through the Neon driver and a local WebSocket proxy) and Redis (through the Upstash
// clients and a local Upstash-REST proxy); the harness starts both proxies itself. That is tests/services,
// the route and end-to-end suites, the model test (3 runs) and the unit tests of database errors, the
// schema and rate limits. The other unit tests touch neither service, and the security suites check who
// may call what and what is logged, which the database does not change: running them twice cost about
// 80 s of every CI run and could find nothing new.
const services = process.env.TEST_SERVICES === '1'
const SERVICE_SUITES = [
  'tests/services/**/*.test.ts',
  'tests/api/**/*.test.ts',
  'tests/e2e/**/*.test.ts',
  'tests/model/**/*.test.ts',
  'tests/unit/db-errors.test.ts',
  'tests/unit/schema.test.ts',
  'tests/unit/ratelimit.test.ts',
]

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
      ? SERVICE_SUITES
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
