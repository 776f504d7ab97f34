import { spawnSync } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { parseArgs } from 'node:util'

// npm run test:model -- [--runs N] [--seed S] [--commands C] [--minutes M] [--no-shrink]
// Long local runs of the model test: a random seed unless given (printed first, so any run can be
// repeated), counterexamples shrunk to a minimal sequence unless --no-shrink.

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '200' },
    seed: { type: 'string' },
    commands: { type: 'string' },
    minutes: { type: 'string' },
    'no-shrink': { type: 'boolean', default: false },
  },
})
const seed = values.seed ?? String(randomInt(2 ** 31))
const runs = Number(values.runs)
const minutes = Number(values.minutes ?? Math.max(10, Math.ceil(runs / 15)))
console.log(`model test: seed ${seed}, ${runs} runs (npm run test:model -- --runs ${runs} --seed ${seed})`)
const r = spawnSync('npx', ['vitest', 'run', 'tests/model/money-path.test.ts'], {
  stdio: 'inherit',
  env: {
    ...process.env,
    MODEL_RUNS: String(runs),
    MODEL_SEED: seed,
    MODEL_SHRINK: values['no-shrink'] ? '0' : '1',
    MODEL_MINUTES: String(minutes),
    ...(values.commands ? { MODEL_COMMANDS: values.commands } : {}),
  },
})
process.exit(r.status ?? 1)
