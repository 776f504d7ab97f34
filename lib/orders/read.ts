import { and, desc, eq, gte, lte, or, type SQL, sql } from 'drizzle-orm'
import { z } from 'zod'
import { financialStatuses, fulfillmentStatuses, orderStatuses, orders } from '../../db/schema/index.js'
import type { Principal } from '../auth/permissions.js'
import { conflict, forbidden, ProblemError } from '../http/errors.js'
import { PageQuery, pagination } from '../http/pagination.js'
import { type Db, preparedPerDb } from '../platform/db.js'
import { checkAccess } from './access.js'
import { illegalTransition, lockOrder } from './history.js'
import { priceCart } from './pricing.js'
import { AddressSchema } from './schemas.js'
import { loadPricingSettings } from './settings.js'
import { FULL_ORDER, type FullOrder, loadOrder, OrderSchema, orderView } from './view.js'

// Reading orders (a customer's own, or all of them for staff with orders.view) and the buyer's and staff's
// edits of an order. Lists are two statements whatever the page size: the page's ids (with the total),
// then the orders with everything nested.

export const ListOrdersQuery = PageQuery.extend({
  status: z.enum(orderStatuses).optional(),
  financial_status: z.enum(financialStatuses).optional(),
  fulfillment_status: z.enum(fulfillmentStatuses).optional(),
  from: z.iso.datetime({ offset: true }).or(z.iso.date()).optional().describe('created_at at or after'),
  to: z.iso.datetime({ offset: true }).or(z.iso.date()).optional().describe('created_at at or before'),
  email: z.string().trim().min(1).max(254).optional().describe('Exact buyer email, case-insensitive'),
  cursor: z.string().max(200).optional().describe('pagination.next_cursor of the previous page'),
})
export type ListOrdersRequest = z.output<typeof ListOrdersQuery>

export const OrderListSchema = z.object({
  orders: z.array(OrderSchema),
  pagination: z.object({
    page: z.number().int().optional().describe('Absent with a cursor'),
    limit: z.number().int(),
    total: z.number().int().optional().describe('Absent with a cursor'),
    pages: z.number().int().optional().describe('Absent with a cursor'),
    next_cursor: z
      .string()
      .nullable()
      .describe('Keyset cursor for the next page (newest first), null at the end'),
  }),
})

const invalid = (path: string, message: string, code = 'invalid') =>
  new ProblemError(422, code === 'invalid' ? 'validation_failed' : code, message, {
    errors: [{ path, message, code }],
  })

/** `to` given as a date covers that whole day */
const bound = (v: string, end: boolean) =>
  /^\d{4}-\d{2}-\d{2}$/.test(v) ? new Date(`${v}T${end ? '23:59:59.999' : '00:00:00.000'}Z`) : new Date(v)

const encodeCursor = (o: { createdAt: Date; id: string }) =>
  Buffer.from(JSON.stringify([o.createdAt.toISOString(), o.id])).toString('base64url')

function decodeCursor(raw: string): { at: Date; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as [string, string]
    const d = new Date(at)
    if (Number.isNaN(d.getTime()) || !/^[0-9a-f-]{36}$/i.test(id)) throw new Error('bad')
    return { at: d, id }
  } catch {
    throw invalid('cursor', 'This cursor is not valid; start again without it.', 'invalid_cursor')
  }
}

// Built once per database (Drizzle keeps the SQL and the row mapping): a page of ids, then those orders
// with everything nested.
/** A page of order ids, newest first, with the total of all that match (a cursor page needs none). */
const pageQuery = (db: Db, filter: SQL | undefined, withTotal: boolean) =>
  db
    .select({
      id: orders.id,
      createdAt: orders.createdAt,
      total: withTotal ? sql<number>`(count(*) over ())::int` : sql<number>`0`,
    })
    .from(orders)
    .where(filter)
    .orderBy(desc(orders.createdAt), desc(orders.id))

const listStatements = preparedPerDb((db) => ({
  customerPage: pageQuery(db, eq(orders.userId, sql.placeholder('userId')), true)
    .limit(sql.placeholder('limit'))
    .offset(sql.placeholder('offset'))
    .prepare('orders_customer_page'),
  full: db.query.orders
    .findMany({
      where: sql`${orders.id} = any(${sql.placeholder('ids')}::uuid[])`,
      with: FULL_ORDER,
    })
    .prepare('orders_by_ids_full'),
}))

/** GET /orders: customers their own (by user_id), staff with orders.view all; newest first. */
export async function listOrders(db: Db, q: ListOrdersRequest, principal: Principal) {
  const staff = principal.permissions.has('orders.view')
  const where: SQL[] = []
  if (!staff) where.push(eq(orders.userId, principal.userId))
  if (q.status) where.push(eq(orders.status, q.status))
  if (q.financial_status) where.push(eq(orders.financialStatus, q.financial_status))
  if (q.fulfillment_status) where.push(eq(orders.fulfillmentStatus, q.fulfillment_status))
  const from = q.from ? bound(q.from, false) : undefined
  const to = q.to ? bound(q.to, true) : undefined
  if (from && to && from > to) throw invalid('from', 'from is after to.')
  if (from) where.push(gte(orders.createdAt, from))
  if (to) where.push(lte(orders.createdAt, to))
  if (q.email) where.push(sql`lower(${orders.email}) = ${q.email.toLowerCase()}`)
  const cursor = q.cursor ? decodeCursor(q.cursor) : undefined
  if (cursor) {
    where.push(
      or(
        sql`${orders.createdAt} < ${cursor.at.toISOString()}::timestamptz`,
        and(
          sql`${orders.createdAt} = ${cursor.at.toISOString()}::timestamptz`,
          sql`${orders.id} < ${cursor.id}::uuid`,
        ),
      )!,
    )
  }
  const filter = where.length ? and(...where) : undefined
  // A customer's plain first pages (no filter, no cursor: what an account page asks for) have a statement
  // built once; any other combination of filters is built for the request.
  const plain = !staff && where.length === 1
  const page = plain
    ? await listStatements(db).customerPage.execute({
        userId: principal.userId,
        limit: q.limit + 1,
        offset: (q.page - 1) * q.limit,
      })
    : await pageQuery(db, filter, !cursor)
        .limit(q.limit + 1)
        .offset(cursor ? 0 : (q.page - 1) * q.limit)
  const more = page.length > q.limit
  const rows = page.slice(0, q.limit)
  const ids = rows.map((r) => r.id)
  const full = ids.length ? ((await listStatements(db).full.execute({ ids })) as FullOrder[]) : []
  const byId = new Map(full.map((o) => [o.id, o]))
  const list = ids.map((id) => orderView(byId.get(id)!, { staff }))
  const last = rows.at(-1)
  const next_cursor = more && last ? encodeCursor(last) : null
  if (cursor) return { orders: list, pagination: { limit: q.limit, next_cursor } }
  // a page past the end has no rows to read the total from
  const total = rows[0]
    ? Number(rows[0].total)
    : Number((await db.select({ n: sql<number>`count(*)::int` }).from(orders).where(filter))[0]?.n ?? 0)
  return { orders: list, pagination: { ...pagination(q.page, q.limit, total), next_cursor } }
}

// ---------------------------------------------------------------------------------------------------
// PUT /orders/{order_id}
// ---------------------------------------------------------------------------------------------------

export const UpdateOrderBody = z
  .object({
    notes: z.string().trim().max(2000).nullable().optional(),
    shipping_address: AddressSchema.optional(),
    billing_address: AddressSchema.nullable().optional(),
    tags: z.array(z.string().trim().min(1).max(64)).max(50).optional().describe('orders.manage only'),
    metadata: z.record(z.string(), z.unknown()).optional().describe('orders.manage only'),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'Give at least one field to change.')
export type UpdateOrderInput = z.output<typeof UpdateOrderBody>

const CLOSED = new Set(['shipped', 'delivered', 'cancelled', 'refunded', 'returned'])

/**
 * Owner: notes, and addresses while the order is pending. orders.manage: also tags and metadata, and
 * addresses until fulfilment starts. Once paid, an address change that would change tax or shipping is a
 * 409 (the amount paid is fixed); a pending order's amounts are never silently changed either (409: cancel
 * and order again).
 */
export async function updateOrder(
  db: Db,
  orderId: string,
  body: UpdateOrderInput,
  principal: Principal | null,
  request: Request,
): Promise<ReturnType<typeof orderView>> {
  const visible = await loadOrder(db, orderId)
  if (!visible) throw new ProblemError(404, 'not_found', 'The order was not found.')
  const { staff } = checkAccess(visible, principal, request, { owner: true, permission: 'orders.manage' })
  const manager = principal?.permissions.has('orders.manage') ?? false
  if (!manager && (body.tags !== undefined || body.metadata !== undefined)) {
    throw forbidden('Only staff with orders.manage may change tags and metadata.')
  }
  const addressChange = body.shipping_address !== undefined || body.billing_address !== undefined
  const settings = body.shipping_address ? await loadPricingSettings(db) : null
  await db.transaction(async (tx) => {
    const o = await lockOrder(tx, orderId)
    if (CLOSED.has(o.status)) throw illegalTransition('update', o)
    if (addressChange) {
      if (!manager && o.status !== 'pending') {
        throw conflict(
          'illegal_transition',
          'Addresses can be changed by the buyer only while the order is pending.',
        )
      }
      if (o.fulfillmentStatus !== 'unfulfilled') {
        throw conflict('illegal_transition', 'Addresses cannot change once fulfilment has started.')
      }
    }
    if (body.shipping_address && settings) {
      const lines = visible.items.map((i) => ({ unitPriceCents: i.unitPriceCents, quantity: i.quantity }))
      // Price the new address as the order was priced (its lines, its discount — a fixed amount spreads
      // over the lines exactly as the original discount did — and its taxes_included), and compare with
      // what the order stores, not with today's price of the old address.
      const after = priceCart(
        {
          lines,
          address: { country: body.shipping_address.country, state: body.shipping_address.state ?? null },
          shippingMethod: o.shippingMethod,
          discount:
            o.discountAmountCents > 0
              ? {
                  id: 'stored',
                  code: 'stored',
                  type: 'fixed_amount',
                  percentBps: null,
                  amountCents: o.discountAmountCents,
                  minSubtotalCents: null,
                }
              : null,
        },
        { ...settings, taxesIncluded: o.taxesIncluded },
      )
      const changes =
        after.taxCents !== o.taxAmountCents ||
        after.shippingCents !== o.shippingAmountCents ||
        after.shippingTaxCents !== o.shippingTaxAmountCents
      if (changes) {
        throw conflict(
          'address_changes_price',
          o.financialStatus === 'pending'
            ? 'This address changes the tax or shipping of the order: cancel it and order again.'
            : 'The order is paid and this address would change its tax or shipping.',
        )
      }
    }
    await tx
      .update(orders)
      .set({
        ...(body.notes !== undefined ? { notes: body.notes } : {}),
        ...(body.shipping_address ? { shippingAddress: body.shipping_address } : {}),
        ...(body.billing_address !== undefined ? { billingAddress: body.billing_address } : {}),
        ...(body.tags ? { tags: [...new Set(body.tags)] } : {}),
        ...(body.metadata ? { metadata: body.metadata } : {}),
        updatedAt: new Date(),
      })
      .where(eq(orders.id, orderId))
  })
  return orderView((await loadOrder(db, orderId))!, { staff })
}
