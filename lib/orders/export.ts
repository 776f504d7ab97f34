import { and, asc, eq, gt, gte, lte, type SQL, sql } from 'drizzle-orm'
import { z } from 'zod'
import { financialStatuses, fulfillmentStatuses, orderStatuses, orders } from '../../db/schema/index.js'
import { csvRow } from '../http/csv.js'
import type { Db } from '../platform/db.js'
import { log } from '../platform/logger.js'
import { toMajor } from '../platform/money.js'
import { OrderSchema } from './view.js'

// GET /orders/export: the orders matching the list's filters as CSV or JSON, streamed with constant memory
// (the pattern of lib/users/export.ts: keyset batches by order_number, one statement per pull, nothing
// fetched ahead of the reader).

/** As the order list (lib/orders/read.ts): a date as `to` covers that whole day. */
const bound = (v: string, end: boolean) =>
  /^\d{4}-\d{2}-\d{2}$/.test(v) ? new Date(`${v}T${end ? '23:59:59.999' : '00:00:00.000'}Z`) : new Date(v)

export const OrderFilterQuery = z.object({
  status: z.enum(orderStatuses).optional(),
  financial_status: z.enum(financialStatuses).optional(),
  fulfillment_status: z.enum(fulfillmentStatuses).optional(),
  from: z.iso
    .datetime({ offset: true })
    .or(z.iso.date())
    .transform((s) => bound(s, false))
    .optional()
    .describe('placed at or after (a date: from its start)'),
  to: z.iso
    .datetime({ offset: true })
    .or(z.iso.date())
    .transform((s) => bound(s, true))
    .optional()
    .describe('placed at or before (a date: the whole day)'),
  email: z.string().trim().min(1).max(320).optional().describe("the buyer's email, case-insensitive"),
})
export type OrderFilters = z.output<typeof OrderFilterQuery>

export function orderFilters(f: OrderFilters): SQL | undefined {
  return and(
    f.status ? eq(orders.status, f.status) : undefined,
    f.financial_status ? eq(orders.financialStatus, f.financial_status) : undefined,
    f.fulfillment_status ? eq(orders.fulfillmentStatus, f.fulfillment_status) : undefined,
    f.from ? gte(orders.createdAt, f.from) : undefined,
    f.to ? lte(orders.createdAt, f.to) : undefined,
    f.email ? sql`lower(${orders.email}) = ${f.email.toLowerCase()}` : undefined,
  )
}

export const ORDER_EXPORT_FORMATS = ['csv', 'json'] as const
export const OrderExportQuery = OrderFilterQuery.extend({
  format: z.enum(ORDER_EXPORT_FORMATS).default('csv'),
})

export const ORDER_EXPORT_COLUMNS = [
  'id',
  'order_number',
  'created_at',
  'status',
  'financial_status',
  'fulfillment_status',
  'email',
  'source',
  'currency',
  'item_count',
  'subtotal',
  'discount_amount',
  'shipping_amount',
  'tax_amount',
  'total_amount',
  'taxes_included',
  'paid_amount',
  'refunded_amount',
  'discount_code',
  'shipping_method',
  'shipping_country',
  'tags',
] as const

const columns = {
  id: orders.id,
  orderNumber: orders.orderNumber,
  createdAt: orders.createdAt,
  status: orders.status,
  financialStatus: orders.financialStatus,
  fulfillmentStatus: orders.fulfillmentStatus,
  email: orders.email,
  source: orders.source,
  currency: orders.currency,
  itemCount: sql<number>`(select coalesce(sum(i.quantity), 0) from order_items i
    where i.order_id = "orders"."id")`.mapWith(Number),
  subtotalCents: orders.subtotalCents,
  discountAmountCents: orders.discountAmountCents,
  shippingAmountCents: orders.shippingAmountCents,
  taxAmountCents: orders.taxAmountCents,
  totalAmountCents: orders.totalAmountCents,
  taxesIncluded: orders.taxesIncluded,
  paidAmountCents: orders.paidAmountCents,
  refundedAmountCents: orders.refundedAmountCents,
  discountCode: orders.discountCode,
  shippingMethod: orders.shippingMethod,
  shippingCountry: sql<string | null>`${orders.shippingAddress}->>'country'`,
  tags: orders.tags,
}

function selectBatch(db: Db, where: SQL | undefined, after: number | null, limit: number) {
  return db
    .select(columns)
    .from(orders)
    .where(after === null ? where : and(where, gt(orders.orderNumber, after)))
    .orderBy(asc(orders.orderNumber))
    .limit(limit)
}
type Row = Awaited<ReturnType<typeof selectBatch>>[number]

/** One element of the JSON export. */
export const ExportedOrderSchema = OrderSchema.pick({
  id: true,
  order_number: true,
  created_at: true,
  status: true,
  financial_status: true,
  fulfillment_status: true,
  email: true,
  source: true,
  currency: true,
  subtotal: true,
  discount_amount: true,
  shipping_amount: true,
  tax_amount: true,
  total_amount: true,
  taxes_included: true,
  paid_amount: true,
  refunded_amount: true,
  discount_code: true,
  shipping_method: true,
  tags: true,
}).extend({ item_count: z.number().int(), shipping_country: z.string().nullable() })

export function toExportedOrder(r: Row): z.input<typeof ExportedOrderSchema> {
  const m = (cents: number) => toMajor(cents, r.currency)
  return {
    id: r.id,
    order_number: r.orderNumber,
    created_at: r.createdAt.toISOString(),
    status: r.status,
    financial_status: r.financialStatus,
    fulfillment_status: r.fulfillmentStatus,
    email: r.email,
    source: r.source,
    currency: r.currency,
    item_count: r.itemCount,
    subtotal: m(r.subtotalCents),
    discount_amount: m(r.discountAmountCents),
    shipping_amount: m(r.shippingAmountCents),
    tax_amount: m(r.taxAmountCents),
    total_amount: m(r.totalAmountCents),
    taxes_included: r.taxesIncluded,
    paid_amount: m(r.paidAmountCents),
    refunded_amount: m(r.refundedAmountCents),
    discount_code: r.discountCode,
    shipping_method: r.shippingMethod,
    shipping_country: r.shippingCountry,
    tags: r.tags,
  }
}

const csvRecord = (r: Row) => {
  const o = toExportedOrder(r)
  return csvRow(ORDER_EXPORT_COLUMNS.map((c) => (c === 'tags' ? o.tags.join(';') : o[c])))
}

export interface OrderExportOptions {
  format: (typeof ORDER_EXPORT_FORMATS)[number]
  batchSize?: number
  /** called after each batch query (tests count round trips with it) */
  onBatch?: (batch: { index: number; rows: number }) => void
}

/** The export as a byte stream: CSV with a header row, or a JSON array; one query per pull. */
export function exportOrders(db: Db, filters: OrderFilters, opts: OrderExportOptions) {
  const where = orderFilters(filters)
  const batchSize = opts.batchSize ?? 500
  const encoder = new TextEncoder()
  let last: number | null = null
  let index = 0
  let written = 0
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let rows: Row[]
        try {
          rows = await selectBatch(db, where, last, batchSize)
        } catch (err) {
          log.error('order export failed', { err, batch: index })
          throw err
        }
        opts.onBatch?.({ index, rows: rows.length })
        let text = ''
        if (index === 0) text += opts.format === 'csv' ? csvRow(ORDER_EXPORT_COLUMNS) : '['
        for (const r of rows) {
          text +=
            opts.format === 'csv'
              ? csvRecord(r)
              : `${written === 0 ? '\n' : ',\n'}${JSON.stringify(toExportedOrder(r))}`
          written++
        }
        index++
        const finished = rows.length < batchSize
        if (finished && opts.format === 'json') text += '\n]\n'
        if (rows.length) last = rows[rows.length - 1]!.orderNumber
        if (text) controller.enqueue(encoder.encode(text))
        if (finished) controller.close()
      },
    },
    { highWaterMark: 0 },
  )
}
