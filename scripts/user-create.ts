// `npm run user:create -- --email E --role admin|staff|customer [--first-name F] [--last-name L] [--password-stdin]`
// Creates a verified account against DATABASE_URL (or the embedded database). The password is read from
// a hidden prompt, or from standard input with --password-stdin; never from the command line.
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { ROLES, type Role } from '../lib/auth/permissions.js'
import { closeDatabase, getDb } from '../lib/platform/db.js'
import { AccountError, createAccount } from '../lib/users/accounts.js'

const { values } = parseArgs({
  options: {
    email: { type: 'string' },
    role: { type: 'string', default: 'customer' },
    'first-name': { type: 'string' },
    'last-name': { type: 'string' },
    'password-stdin': { type: 'boolean', default: false },
    password: { type: 'string' },
  },
})

// Exit 2: the command line is wrong; exit 1: the account was refused (one line naming the input and rule).
function fail(message: string, code: 1 | 2 = 2): never {
  console.error(message)
  process.exit(code)
}

if (values.password !== undefined) fail('Refusing --password: use the prompt or --password-stdin.')
if (!values.email)
  fail('Usage: npm run user:create -- --email E --role admin|staff|customer [--password-stdin]')
if (!(ROLES as readonly string[]).includes(values.role!)) fail(`--role must be one of ${ROLES.join(', ')}`)

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
}

async function prompt(question: string): Promise<string> {
  if (!process.stdin.isTTY) fail('No terminal for the password prompt: use --password-stdin.')
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true })
  // Hide what is typed: print the question once, then nothing for each keystroke.
  const rlOutput = rl as unknown as { _writeToOutput: (s: string) => void }
  let asked = false
  rlOutput._writeToOutput = (s: string) => {
    if (!asked) process.stdout.write(s)
    asked = true
  }
  const answer = await new Promise<string>((resolve) => rl.question(question, resolve))
  rl.close()
  process.stdout.write('\n')
  return answer
}

const password = values['password-stdin'] ? await readStdin() : await prompt('Password: ')
try {
  const db = await getDb()
  const user = await createAccount(db, {
    email: values.email,
    password,
    role: values.role as Role,
    firstName: values['first-name'],
    lastName: values['last-name'],
  })
  console.log(`created ${values.role} ${user.email} (${user.id})`)
  await closeDatabase()
  process.exit(0)
} catch (err) {
  if (!(err instanceof AccountError)) throw err
  await closeDatabase()
  fail(`${err.field === 'email' ? '--email' : 'password'}: ${err.message} (account not created)`, 1)
}
