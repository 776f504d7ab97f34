import { eq, sql } from 'drizzle-orm'
import {
  type Order,
  type OrderFlag,
  orderStatusHistory,
  orders,
  type StatusHistoryType,
} from '../../db/schema/index.js'
import { conflict, notFound } from '../http/errors.js'
import type { Runner } from './view.js'

// The lifecycle's shared pieces: lock the order row for a change, refuse an illegal transition, write
// every status change to order_status_history in the same transaction, raise a staff flag.

export interface Transition {
  type: StatusHistoryType
  from: string | null
  to: string
  reason?: string | null
}

/** The order row, locked for this transaction (SELECT ... FOR UPDATE); 404 when there is none. */
export async function lockOrder(tx: Runner, orderId: string): Promise<Order> {
  const [row] = await tx.select().from(orders).where(eq(orders.id, orderId)).for('update')
  if (!row) throw notFound('order')
  return row
}

export const illegalTransition = (action: string, order: Pick<Order, 'status' | 'financialStatus'>) =>
  conflict(
    'illegal_transition',
    `Cannot ${action} an order that is ${order.status} (payment ${order.financialStatus}).`,
  )

/** Write the changes that really happened (from != to) to the status history, in one statement. */
export async function recordTransitions(
  tx: Runner,
  orderId: string,
  actorId: string | null,
  transitions: Transition[],
): Promise<void> {
  const rows = transitions
    .filter((t) => t.from !== t.to)
    .map((t, i) => ({
      orderId,
      type: t.type,
      fromStatus: t.from,
      toStatus: t.to,
      actorId,
      reason: t.reason ?? null,
      // the wall clock, not the transaction's start, so changes made in one transaction keep their order;
      // rows of one statement can share a microsecond, so each is one microsecond after the one before
      createdAt: sql`clock_timestamp() + ${sql.raw(String(i))} * interval '1 microsecond'`,
    }))
  if (rows.length > 0) await tx.insert(orderStatusHistory).values(rows)
}

/** Append a flag for staff (late or mismatched payment, dispute, failed delivery). */
export async function addFlag(tx: Runner, orderId: string, flag: Omit<OrderFlag, 'at'>): Promise<void> {
  const entry = { ...flag, at: new Date().toISOString() }
  await tx
    .update(orders)
    .set({ flags: sql`${orders.flags} || ${JSON.stringify([entry])}::jsonb`, updatedAt: new Date() })
    .where(eq(orders.id, orderId))
}
