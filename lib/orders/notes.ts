import { asc, eq } from 'drizzle-orm'
import { z } from 'zod'
import {
  type OrderNote,
  orderNotes,
  orderStatusHistory,
  statusHistoryTypes,
  users,
} from '../../db/schema/index.js'
import type { Db } from '../platform/db.js'
import type { Runner } from './view.js'

// Staff notes on an order (their own table; orders.notes stays the buyer's) and the order's status
// history as staff read it.

export const NoteBody = z.object({ body: z.string().trim().min(1).max(5000) }).strict()

export const NoteSchema = z.object({
  id: z.string(),
  order_id: z.string(),
  body: z.string(),
  author_id: z.string().nullable(),
  created_at: z.string(),
})

export const noteView = (n: OrderNote) => ({
  id: n.id,
  order_id: n.orderId,
  body: n.body,
  author_id: n.authorId,
  created_at: n.createdAt.toISOString(),
})

export async function addNote(db: Db, orderId: string, body: string, authorId: string | null) {
  const [note] = await db.insert(orderNotes).values({ orderId, body, authorId }).returning()
  return noteView(note!)
}

/** The staff notes of an order, oldest first (for the staff view of the order). */
export async function staffNotes(db: Runner, orderId: string) {
  const rows = await db
    .select()
    .from(orderNotes)
    .where(eq(orderNotes.orderId, orderId))
    .orderBy(asc(orderNotes.createdAt), asc(orderNotes.id))
  return rows.map(noteView)
}

export const HistorySchema = z.object({
  history: z.array(
    z.object({
      id: z.string(),
      type: z.enum(statusHistoryTypes),
      from: z.string().nullable(),
      to: z.string(),
      actor: z
        .object({ id: z.string(), email: z.string() })
        .nullable()
        .describe('who made the change; null for the system (webhooks, crons) or an erased account'),
      reason: z.string().nullable(),
      created_at: z.string(),
    }),
  ),
})

/** Every status change of the order, oldest first, with who made it (one statement). */
export async function orderHistory(db: Db, orderId: string): Promise<z.output<typeof HistorySchema>> {
  const rows = await db
    .select({
      id: orderStatusHistory.id,
      type: orderStatusHistory.type,
      from: orderStatusHistory.fromStatus,
      to: orderStatusHistory.toStatus,
      actorId: orderStatusHistory.actorId,
      actorEmail: users.email,
      reason: orderStatusHistory.reason,
      createdAt: orderStatusHistory.createdAt,
    })
    .from(orderStatusHistory)
    .leftJoin(users, eq(users.id, orderStatusHistory.actorId))
    .where(eq(orderStatusHistory.orderId, orderId))
    .orderBy(asc(orderStatusHistory.createdAt), asc(orderStatusHistory.id))
  return {
    history: rows.map((r) => ({
      id: r.id,
      type: r.type,
      from: r.from,
      to: r.to,
      actor: r.actorId && r.actorEmail ? { id: r.actorId, email: r.actorEmail } : null,
      reason: r.reason,
      created_at: r.createdAt.toISOString(),
    })),
  }
}
