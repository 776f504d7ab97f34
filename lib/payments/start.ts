import type { FullOrder } from '../orders/view.js'
import type { Db } from '../platform/db.js'

// PLACEHOLDER until the payments branch lands (it owns this file: take its version on merge). Same
// signatures: after the order committed, start its payment; without Stripe there is nothing to start.

/** After the order committed: start its payment and return the client secret (null: manual payment). */
export async function startPayment(_db: Db, _order: FullOrder): Promise<{ clientSecret: string | null }> {
  return { clientSecret: null }
}

/** The client secret of an existing PaymentIntent (for an Idempotency-Key replay), or null. */
export async function paymentClientSecret(_order: FullOrder): Promise<string | null> {
  return null
}
