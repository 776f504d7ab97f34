import { z } from 'zod'
import { type FieldError, ProblemError } from '../http/errors.js'
import { Uuid } from '../http/validation.js'
import type { Db } from '../platform/db.js'
import { log, safeError } from '../platform/logger.js'
import { fulfillOrder, processOrder } from './fulfilment.js'

// Bulk actions over many orders: each order on its own (its own transaction), so one refusal never
// holds back the others; the answer reports every order in request order.

export const BULK_ORDERS_MAX = 100

export const BulkOrdersBody = z
  .object({
    order_ids: z
      .array(Uuid)
      .min(1)
      .max(BULK_ORDERS_MAX)
      .describe(`1..${BULK_ORDERS_MAX} order ids; each order is handled on its own`),
  })
  .strict()

export const BULK_ORDER_STATUSES = ['processed', 'fulfilled', 'error'] as const

export const BulkOrderResult = z.object({
  index: z.number().int().describe('Position of the order id in `order_ids`'),
  id: z.string(),
  status: z.enum(BULK_ORDER_STATUSES),
  errors: z.array(z.object({ path: z.string(), message: z.string(), code: z.string() })).optional(),
})
export type BulkOrderResult = z.output<typeof BulkOrderResult>
export const BulkOrdersResponse = z.object({ results: z.array(BulkOrderResult) })

/** A refusal as the errors of one row; anything unexpected is logged and reported without internals. */
function rowErrors(err: unknown, id: string): FieldError[] {
  if (err instanceof ProblemError) {
    const errors = err.extra.errors
    if (errors?.length) return errors
    return [{ path: '', code: err.code, message: err.detail ?? err.code }]
  }
  log.error('bulk order action failed', { order_id: id, err: safeError(err) })
  return [{ path: '', code: 'internal_error', message: 'Something went wrong on our side.' }]
}

async function eachOrder(
  ids: string[],
  done: BulkOrderResult['status'],
  act: (id: string) => Promise<unknown>,
): Promise<{ results: BulkOrderResult[] }> {
  const results: BulkOrderResult[] = []
  // one after the other: they are independent, and a bulk request should not take every connection
  for (const [index, id] of ids.entries()) {
    try {
      await act(id)
      results.push({ index, id, status: done })
    } catch (err) {
      results.push({ index, id, status: 'error', errors: rowErrors(err, id) })
    }
  }
  return { results }
}

/** POST /orders/bulk-process: every confirmed order named moves to processing. */
export const bulkProcess = (db: Db, ids: string[], actorId: string | null) =>
  eachOrder(ids, 'processed', (id) => processOrder(db, id, actorId))

/** POST /orders/bulk-fulfill: all remaining units of every order named in one fulfilment each. */
export const bulkFulfill = (db: Db, ids: string[], actorId: string | null) =>
  eachOrder(ids, 'fulfilled', (id) => fulfillOrder(db, id, undefined, actorId))
