import { eq } from 'drizzle-orm'
import { z } from 'zod'
import {
  type Address,
  type Fulfillment,
  financialStatuses,
  fulfillmentStatuses,
  type Order,
  type OrderFlag,
  type OrderItem,
  orderSources,
  orderStatuses,
  orders,
  type Payment,
  type Refund,
  type Return,
  refundKinds,
  refundStatuses,
  returnStatuses,
  shipmentStatuses,
} from '../../db/schema/index.js'
import { notFound } from '../http/errors.js'
import { EmailAddress } from '../http/validation.js'
import type { Db } from '../platform/db.js'
import { Money, toMajor } from '../platform/money.js'

// The one JSON shape of an order (items, fulfilments, refunds and returns nested) and the one statement
// that reads it. Every order action answers with this shape; staff also see `flags`.

/** An order with everything nested, as loadOrder reads it. */
export type FullOrder = Order & {
  items: OrderItem[]
  fulfillments: Array<Fulfillment & { items: Array<{ orderItemId: string; quantity: number }> }>
  refunds: Refund[]
  returns: Return[]
  payments: Payment[]
}

/** Any query runner: the db or a transaction handle. */
export type Runner = Pick<Db, 'query' | 'select' | 'insert' | 'update' | 'delete' | 'execute'>

/** What an order nests, oldest first: lines, fulfilments (with their lines), refunds, returns, payments. */
export const FULL_ORDER = {
  items: { orderBy: (i, { asc }) => [asc(i.createdAt), asc(i.id)] },
  fulfillments: {
    orderBy: (f, { asc }) => [asc(f.createdAt), asc(f.id)],
    with: { items: { columns: { orderItemId: true, quantity: true } } },
  },
  refunds: { orderBy: (r, { asc }) => [asc(r.createdAt), asc(r.id)] },
  returns: { orderBy: (r, { asc }) => [asc(r.createdAt), asc(r.id)] },
  payments: { orderBy: (p, { asc }) => [asc(p.createdAt), asc(p.id)] },
} satisfies NonNullable<Parameters<Db['query']['orders']['findFirst']>[0]>['with']

/** The order with its lines, fulfilments (and their lines), refunds, returns and payments: one statement. */
export async function loadOrder(db: Runner, orderId: string): Promise<FullOrder | undefined> {
  const row = await db.query.orders.findFirst({ where: eq(orders.id, orderId), with: FULL_ORDER })
  return row as FullOrder | undefined
}

export async function loadOrderOr404(db: Runner, orderId: string): Promise<FullOrder> {
  const order = await loadOrder(db, orderId)
  if (!order) throw notFound('order')
  return order
}

export interface ViewOptions {
  /** staff (orders.view) also see flags and the buyer's IP-free internals */
  staff: boolean
  /** Stripe's client secret, only in the answers that create or retry a payment (never stored) */
  clientSecret?: string | null
  /** the guest's order token, only in the 201 of a guest order and its replay */
  accessToken?: string
  /** staff notes (lib/orders/notes.ts staffNotes), shown to staff only; omitted when not read */
  staffNotes?: StaffNoteView[]
}

/** A staff note as the order view shows it. */
export interface StaffNoteView {
  id: string
  order_id: string
  body: string
  author_id: string | null
  created_at: string
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null)

export function orderView(o: FullOrder, opts: ViewOptions) {
  const m = (minor: number) => toMajor(minor, o.currency)
  const latestPayment = o.payments.at(-1)
  // the order's carrier/tracking mirror its latest shipment
  const shipped = [...o.fulfillments].reverse().find((f) => f.trackingNumber || f.carrier || f.shippedAt)
  const view = {
    id: o.id,
    order_number: o.orderNumber,
    user_id: o.userId,
    email: o.email,
    customer_email: o.email,
    phone: o.phone,
    customer_phone: o.phone,
    status: o.status,
    financial_status: o.financialStatus,
    fulfillment_status: o.fulfillmentStatus,
    currency: o.currency,
    taxes_included: o.taxesIncluded,
    subtotal: m(o.subtotalCents),
    discount_amount: m(o.discountAmountCents),
    discount_code: o.discountCode,
    tax_amount: m(o.taxAmountCents),
    shipping_tax_amount: m(o.shippingTaxAmountCents),
    shipping_amount: m(o.shippingAmountCents),
    total_amount: m(o.totalAmountCents),
    paid_amount: m(o.paidAmountCents),
    refunded_amount: m(o.refundedAmountCents),
    shipping_method: o.shippingMethod,
    shipping_address: o.shippingAddress as Address | null,
    billing_address: o.billingAddress as Address | null,
    carrier: shipped?.carrier ?? o.carrier,
    tracking_number: shipped?.trackingNumber ?? o.trackingNumber,
    tracking_url: shipped?.trackingUrl ?? o.trackingUrl,
    notes: o.notes,
    tags: o.tags,
    source: o.source,
    metadata: o.metadata,
    items: o.items.map((i) => ({
      id: i.id,
      product_id: i.productId,
      variant_id: i.variantId,
      product_name: i.productName,
      variant_title: i.variantTitle,
      sku: i.sku,
      quantity: i.quantity,
      unit_price: m(i.unitPriceCents),
      subtotal: m(i.subtotalCents),
      discount_amount: m(i.discountAmountCents),
      tax_amount: m(i.taxAmountCents),
      total_amount: m(i.totalAmountCents),
      taxes_included: i.taxesIncluded,
      fulfilled_quantity: i.fulfilledQuantity,
      cancelled_quantity: i.cancelledQuantity,
      refunded_quantity: i.refundedQuantity,
      returned_quantity: i.returnedQuantity,
      refunded_amount: m(i.refundedAmountCents),
    })),
    fulfillments: o.fulfillments.map((f) => ({
      id: f.id,
      status: f.status,
      carrier: f.carrier,
      service_level: f.service,
      tracking_number: f.trackingNumber,
      tracking_url: f.trackingUrl,
      label_url: f.labelUrl,
      items: f.items.map((fi) => ({ order_item_id: fi.orderItemId, quantity: fi.quantity })),
      shipped_at: iso(f.shippedAt),
      delivered_at: iso(f.deliveredAt),
      created_at: iso(f.createdAt),
    })),
    refunds: o.refunds.map((r) => ({
      id: r.id,
      amount: m(r.amountCents),
      shipping_amount: m(r.shippingAmountCents),
      currency: r.currency,
      reason: r.reason,
      restock: r.restock,
      items: r.items.map((l) => ({ order_item_id: l.order_item_id, quantity: l.quantity })),
      status: r.status,
      kind: r.kind,
      created_at: iso(r.createdAt),
    })),
    returns: o.returns.map(returnView),
    payment: {
      provider: o.paymentProvider ?? latestPayment?.provider ?? 'manual',
      status: latestPayment?.status ?? (o.financialStatus === 'pending' ? 'pending' : null),
      payment_intent_id: o.paymentIntentId,
      client_secret: opts.clientSecret ?? null,
    },
    processed_at: iso(o.processedAt),
    shipped_at: iso(o.shippedAt),
    delivered_at: iso(o.deliveredAt),
    cancelled_at: iso(o.cancelledAt),
    cancel_reason: o.cancelReason,
    created_at: iso(o.createdAt),
    updated_at: iso(o.updatedAt),
    ...(opts.accessToken ? { access_token: opts.accessToken } : {}),
    ...(opts.staff ? { flags: o.flags as OrderFlag[] } : {}),
    ...(opts.staff && opts.staffNotes ? { staff_notes: opts.staffNotes } : {}),
  }
  return view
}

export function returnView(r: Return) {
  return {
    id: r.id,
    order_id: r.orderId,
    rma_number: r.rmaNumber,
    status: r.status,
    reason: r.reason,
    items: r.items,
    restock: r.restock,
    refund_id: r.refundId,
    notes: r.notes,
    received_at: iso(r.receivedAt),
    created_at: iso(r.createdAt),
    updated_at: iso(r.updatedAt),
  }
}

// --- OpenAPI ------------------------------------------------------------------------------------------------

const money = Money.describe('major units of `currency`')
const ts = z.string().nullable()

export const AddressOut = z
  .object({
    first_name: z.string(),
    last_name: z.string(),
    company: z.string().optional(),
    line1: z.string(),
    line2: z.string().optional(),
    city: z.string(),
    state: z.string().optional(),
    postal_code: z.string().optional(),
    country: z.string(),
    phone: z.string().optional(),
  })
  .nullable()

const LineQuantity = z.object({ order_item_id: z.string(), quantity: z.number().int() })

export const ReturnSchema = z.object({
  id: z.string(),
  order_id: z.string(),
  rma_number: z.string(),
  status: z.enum(returnStatuses),
  reason: z.string().nullable(),
  items: z.array(LineQuantity),
  restock: z.boolean(),
  refund_id: z.string().nullable(),
  notes: z.string().nullable(),
  received_at: ts,
  created_at: ts,
  updated_at: ts,
})

export const OrderSchema = z.object({
  id: z.string(),
  order_number: z.number().int(),
  user_id: z.string().nullable(),
  email: EmailAddress,
  customer_email: EmailAddress,
  phone: z.string().nullable(),
  customer_phone: z.string().nullable(),
  status: z.enum(orderStatuses),
  financial_status: z.enum(financialStatuses),
  fulfillment_status: z.enum(fulfillmentStatuses),
  currency: z.string(),
  taxes_included: z.boolean(),
  subtotal: money,
  discount_amount: money,
  discount_code: z.string().nullable(),
  tax_amount: money,
  shipping_tax_amount: money,
  shipping_amount: money,
  total_amount: money,
  paid_amount: money,
  refunded_amount: money,
  shipping_method: z.string().nullable(),
  shipping_address: AddressOut,
  billing_address: AddressOut,
  carrier: z.string().nullable(),
  tracking_number: z.string().nullable(),
  tracking_url: z.string().nullable(),
  notes: z.string().nullable(),
  tags: z.array(z.string()),
  source: z.enum(orderSources),
  metadata: z.record(z.string(), z.unknown()),
  items: z.array(
    z.object({
      id: z.string(),
      product_id: z.string().nullable(),
      variant_id: z.string().nullable(),
      product_name: z.string(),
      variant_title: z.string().nullable(),
      sku: z.string(),
      quantity: z.number().int(),
      unit_price: money,
      subtotal: money,
      discount_amount: money,
      tax_amount: money,
      total_amount: money,
      taxes_included: z.boolean(),
      fulfilled_quantity: z.number().int(),
      cancelled_quantity: z.number().int(),
      refunded_quantity: z.number().int(),
      returned_quantity: z.number().int(),
      refunded_amount: money,
    }),
  ),
  fulfillments: z.array(
    z.object({
      id: z.string(),
      status: z.enum(shipmentStatuses),
      carrier: z.string().nullable(),
      service_level: z.string().nullable(),
      tracking_number: z.string().nullable(),
      tracking_url: z.string().nullable(),
      label_url: z.string().nullable(),
      items: z.array(LineQuantity),
      shipped_at: ts,
      delivered_at: ts,
      created_at: ts,
    }),
  ),
  refunds: z.array(
    z.object({
      id: z.string(),
      amount: money,
      shipping_amount: money,
      currency: z.string(),
      reason: z.string().nullable(),
      restock: z.boolean(),
      items: z.array(LineQuantity),
      status: z.enum(refundStatuses).describe('pending while the payment provider has not confirmed it'),
      kind: z
        .enum(refundKinds)
        .describe('refund; unexpected_payment (a payment the order could not keep, sent back); dispute_lost'),
      created_at: ts,
    }),
  ),
  returns: z.array(ReturnSchema),
  payment: z.object({
    provider: z.enum(['stripe', 'manual']),
    status: z.string().nullable(),
    payment_intent_id: z.string().nullable(),
    client_secret: z.string().nullable().describe('Stripe client secret; only when a payment is created'),
  }),
  processed_at: ts,
  shipped_at: ts,
  delivered_at: ts,
  cancelled_at: ts,
  cancel_reason: z.string().nullable(),
  created_at: ts,
  updated_at: ts,
  access_token: z.string().optional().describe('guest orders only, in the 201: send it as X-Order-Token'),
  flags: z
    .array(z.object({ code: z.string(), message: z.string(), at: z.string() }).passthrough())
    .optional()
    .describe('staff only'),
  staff_notes: z
    .array(
      z.object({
        id: z.string(),
        order_id: z.string(),
        body: z.string(),
        author_id: z.string().nullable(),
        created_at: z.string(),
      }),
    )
    .optional()
    .describe('staff only: notes from POST /orders/{order_id}/notes, oldest first'),
})
