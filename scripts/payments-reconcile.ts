// `npm run payments:reconcile`: once, after deploying the one reconcile step of the money path, bring
// orders the old path got wrong to Stripe's truth (lib/payments/repair.ts says which). Needs
// STRIPE_SECRET_KEY and the database settings. Safe to run again: a second run changes nothing.
import { repairPayments } from '../lib/payments/repair.js'
import { closeDatabase, getDb } from '../lib/platform/db.js'
import { env } from '../lib/platform/env.js'

if (!env().STRIPE_SECRET_KEY) {
  console.error('STRIPE_SECRET_KEY is not set: there is nothing to reconcile with')
  process.exit(1)
}
const report = await repairPayments(await getDb())
await closeDatabase()
console.log(
  `looked at ${report.orders} order(s): ${report.settled} refund(s) already right or settled, ` +
    `${report.repaired} recorded and flagged refund_repaired for staff, ${report.failed} order(s) failed`,
)
process.exit(report.failed > 0 ? 1 : 0)
