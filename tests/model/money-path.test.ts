import fc from 'fast-check'
import { afterAll, beforeAll, it } from 'vitest'
import { restoreEnv } from '../support/env.js'
import { useMsw } from '../support/msw.js'
import { commandArbitraries } from './commands.js'
import { modelEnv, modelScheduler, reconcileEnabled, runModel } from './harness.js'

// The money path under a faulty Stripe, searched by fast-check (docs/orders.md, "The model-based test").
// `npm test` runs a fixed seed and a few runs; `npm run test:model -- --runs N [--seed S]` runs longer.

const server = useMsw()
const runs = Number(process.env.MODEL_RUNS ?? 12)
const seed = Number(process.env.MODEL_SEED ?? 150_015)
const maxCommands = Number(process.env.MODEL_COMMANDS ?? 24)
const budgetMs = Number(process.env.MODEL_MINUTES ?? 2) * 60_000

beforeAll(modelEnv)
afterAll(restoreEnv)

it(
  'keeps Stripe and the books in step whatever Stripe answers, loses or delivers late',
  async () => {
    if (process.env.MODEL_RUNS)
      console.log(`model test: seed ${seed}, ${runs} runs, reconcile ${reconcileEnabled() ? 'on' : 'off'}`)
    await fc.assert(
      fc.asyncProperty(
        modelScheduler(),
        fc.array(fc.oneof(...commandArbitraries({ reconcile: reconcileEnabled() })), {
          minLength: Math.min(10, maxCommands),
          maxLength: maxCommands,
        }),
        (s, cmds) => runModel(server, s, cmds),
      ),
      {
        seed,
        numRuns: runs,
        endOnFailure: process.env.MODEL_SHRINK !== '1',
        // a long local run stops in time and reports the smallest counterexample found so far
        ...(process.env.MODEL_SHRINK === '1' ? { interruptAfterTimeLimit: budgetMs - 30_000 } : {}),
      },
    )
  },
  budgetMs,
)
