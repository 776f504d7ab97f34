// `npm run mfa:encrypt`: a one-off after deploying encryption at rest (ADR 007), and after every key
// rotation: seals the plaintext TOTP secrets still stored and re-seals those under
// MFA_ENCRYPTION_KEY_PREVIOUS with MFA_ENCRYPTION_KEY. Safe to run again; it changes nothing then.
import { encryptStoredSecrets } from '../lib/auth/mfa-secrets.js'
import { closeDatabase, getDb } from '../lib/platform/db.js'

const { sealed, unreadable } = await encryptStoredSecrets(await getDb())
await closeDatabase()
console.log(`sealed ${sealed} MFA secret(s) with the current key`)
if (unreadable) {
  console.error(
    `${unreadable} secret(s) are under a key that is not configured; set it as MFA_ENCRYPTION_KEY_PREVIOUS and run again`,
  )
  process.exit(1)
}
process.exit(0)
