import { relations, sql } from 'drizzle-orm'
import {
  bigint,
  boolean,
  char,
  check,
  index,
  integer,
  jsonb,
  pgSequence,
  pgTable,
  text,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core'
import { products, productVariants } from './catalog.js'
import { id, oneOf, timestamps, tstz } from './platform.js'
import { users } from './users.js'

export const orderStatuses = [
  'pending',
  'confirmed',
  'processing',
  'shipped',
  'delivered',
  'cancelled',
  'refunded',
  'returned',
] as const
export type OrderStatus = (typeof orderStatuses)[number]

export const financialStatuses = [
  'pending',
  'paid',
  'partially_paid',
  'partially_refunded',
  'refunded',
  'voided',
] as const
export type FinancialStatus = (typeof financialStatuses)[number]

export const fulfillmentStatuses = ['unfulfilled', 'partial', 'fulfilled'] as const
export type FulfillmentStatus = (typeof fulfillmentStatuses)[number]

export const orderSources = ['web', 'mobile', 'api', 'pos'] as const
export type OrderSource = (typeof orderSources)[number]

export const paymentProviders = ['stripe', 'manual'] as const
export type PaymentProvider = (typeof paymentProviders)[number]

export const statusHistoryTypes = ['order', 'financial', 'fulfillment'] as const
export type StatusHistoryType = (typeof statusHistoryTypes)[number]

export const paymentStatuses = [
  'pending',
  'requires_action',
  'processing',
  'succeeded',
  'failed',
  'cancelled',
] as const
export type PaymentStatus = (typeof paymentStatuses)[number]

export const refundStatuses = ['pending', 'succeeded', 'failed', 'cancelled'] as const
export type RefundStatus = (typeof refundStatuses)[number]

/**
 * What a refund row is: `refund` (asked for through this API or made in Stripe's dashboard: part of the
 * order's refunded total), `unexpected_payment` (a payment this order cannot keep, sent straight back: it
 * never counts in the order's paid or refunded totals), `dispute_lost` (a chargeback the shop lost: counts
 * as refunded, never sent to Stripe).
 */
export const refundKinds = ['refund', 'unexpected_payment', 'dispute_lost'] as const
export type RefundKind = (typeof refundKinds)[number]

export const shipmentStatuses = [
  'pending',
  'label_created',
  'shipped',
  'in_transit',
  'out_for_delivery',
  'delivered',
  'failed',
  'returned',
  'cancelled',
] as const
export type ShipmentStatus = (typeof shipmentStatuses)[number]

export const returnStatuses = ['requested', 'approved', 'received', 'refunded', 'rejected'] as const
export type ReturnStatus = (typeof returnStatuses)[number]

export type Address = {
  first_name?: string
  last_name?: string
  company?: string
  line1: string
  line2?: string
  city: string
  /** ISO 3166-2 subdivision code without the country ("IL", "ON"); validated for US and CA */
  state?: string
  postal_code?: string
  country: string
  phone?: string
  [key: string]: unknown
}

/** A note on the order for staff (payment anomalies, disputes, failed deliveries). */
export type OrderFlag = { code: string; message: string; at: string; [key: string]: unknown }

/** one line of a refund or return: which order item, how many */
export type OrderLineQuantity = { order_item_id: string; quantity: number }

/**
 * One line of a refund as stored: besides the units, what the line's share of the money was and how many
 * of its units the refund cancelled (not yet fulfilled when it was made), so a refund that fails gives
 * exactly that back. The API shows only `order_item_id` and `quantity`.
 */
export type RefundLine = OrderLineQuantity & { amount_cents?: number; cancelled_quantity?: number }

/** Human order numbers: 1001, 1002, ... (gaps possible on rollback; never reused). */
export const orderNumberSeq = pgSequence('order_number_seq', { startWith: 1001 })

// ---------------------------------------------------------------------------
// orders
// ---------------------------------------------------------------------------

export const orders = pgTable(
  'orders',
  {
    id: id(),
    orderNumber: bigint('order_number', { mode: 'number' })
      .notNull()
      .default(sql`nextval('order_number_seq')`),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'set null' }),
    email: text('email').notNull(),
    phone: text('phone'),
    status: text('status', { enum: orderStatuses }).notNull().default('pending'),
    financialStatus: text('financial_status', { enum: financialStatuses }).notNull().default('pending'),
    fulfillmentStatus: text('fulfillment_status', { enum: fulfillmentStatuses })
      .notNull()
      .default('unfulfilled'),
    /** ISO 4217, upper case (SHOP_CURRENCY) */
    currency: char('currency', { length: 3 }).notNull(),
    subtotalCents: bigint('subtotal_cents', { mode: 'number' }).notNull().default(0),
    taxAmountCents: bigint('tax_amount_cents', { mode: 'number' }).notNull().default(0),
    shippingAmountCents: bigint('shipping_amount_cents', { mode: 'number' }).notNull().default(0),
    discountAmountCents: bigint('discount_amount_cents', { mode: 'number' }).notNull().default(0),
    totalAmountCents: bigint('total_amount_cents', { mode: 'number' }).notNull().default(0),
    /** the shipping's own tax, part of tax_amount */
    shippingTaxAmountCents: bigint('shipping_tax_amount_cents', { mode: 'number' }).notNull().default(0),
    /** PRICES_INCLUDE_TAX at order time: tax is inside the prices and not added to the total */
    taxesIncluded: boolean('taxes_included').notNull().default(false),
    /** captured (payment succeeded / marked paid) */
    paidAmountCents: bigint('paid_amount_cents', { mode: 'number' }).notNull().default(0),
    /** sum of refunds that did not fail */
    refundedAmountCents: bigint('refunded_amount_cents', { mode: 'number' }).notNull().default(0),
    discountId: uuid('discount_id').references(() => discounts.id, { onDelete: 'set null' }),
    discountCode: text('discount_code'),
    /** the buyer's IP when the order was placed (unpaid-order cap per IP); erased with the buyer */
    clientIp: text('client_ip'),
    /** staff-facing anomalies: late or mismatched payments, disputes, failed deliveries */
    flags: jsonb('flags').$type<OrderFlag[]>().notNull().default([]),
    billingAddress: jsonb('billing_address').$type<Address>(),
    shippingAddress: jsonb('shipping_address').$type<Address>(),
    shippingMethod: text('shipping_method'),
    trackingNumber: text('tracking_number'),
    trackingUrl: text('tracking_url'),
    carrier: text('carrier'),
    paymentProvider: text('payment_provider', { enum: paymentProviders }),
    paymentIntentId: text('payment_intent_id'),
    notes: text('notes'),
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    source: text('source', { enum: orderSources }).notNull().default('web'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    processedAt: tstz('processed_at'),
    shippedAt: tstz('shipped_at'),
    deliveredAt: tstz('delivered_at'),
    cancelledAt: tstz('cancelled_at'),
    cancelReason: text('cancel_reason'),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('orders_order_number_unique').on(t.orderNumber),
    index('orders_user_id_created_at_idx').on(t.userId, t.createdAt.desc()),
    index('orders_status_idx').on(t.status),
    index('orders_financial_status_idx').on(t.financialStatus),
    index('orders_created_at_idx').on(t.createdAt),
    index('orders_email_lower_idx').on(sql`lower(${t.email})`),
    index('orders_payment_intent_id_idx').on(t.paymentIntentId),
    index('orders_pending_client_ip_idx').on(t.clientIp).where(sql`${t.status} = 'pending'`),
    index('orders_pending_created_at_idx').on(t.createdAt).where(sql`${t.status} = 'pending'`),
    check('orders_status_check', oneOf(t.status, orderStatuses)),
    check('orders_financial_status_check', oneOf(t.financialStatus, financialStatuses)),
    check('orders_fulfillment_status_check', oneOf(t.fulfillmentStatus, fulfillmentStatuses)),
    check('orders_source_check', oneOf(t.source, orderSources)),
    check(
      'orders_payment_provider_check',
      sql`${t.paymentProvider} is null or ${oneOf(t.paymentProvider, paymentProviders)}`,
    ),
    check('orders_currency_check', sql`${t.currency} ~ '^[A-Z]{3}$'`),
    check(
      'orders_money_nonnegative_check',
      sql`${t.subtotalCents} >= 0 and ${t.taxAmountCents} >= 0 and ${t.shippingAmountCents} >= 0 and ${t.discountAmountCents} >= 0 and ${t.totalAmountCents} >= 0`,
    ),
    check(
      'orders_money_total_check',
      sql`${t.subtotalCents} - ${t.discountAmountCents} + ${t.shippingAmountCents} + (case when ${t.taxesIncluded} then 0 else ${t.taxAmountCents} end) = ${t.totalAmountCents}`,
    ),
    check(
      'orders_refunded_amount_check',
      sql`${t.paidAmountCents} >= 0 and ${t.refundedAmountCents} >= 0 and ${t.refundedAmountCents} <= ${t.paidAmountCents}`,
    ),
    check('orders_shipping_tax_check', sql`${t.shippingTaxAmountCents} between 0 and ${t.taxAmountCents}`),
  ],
)

// ---------------------------------------------------------------------------
// order_items: snapshot of what was bought
// ---------------------------------------------------------------------------

export const orderItems = pgTable(
  'order_items',
  {
    id: id(),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    productId: uuid('product_id').references(() => products.id, { onDelete: 'set null' }),
    variantId: uuid('variant_id').references(() => productVariants.id, { onDelete: 'set null' }),
    productName: text('product_name').notNull(),
    variantTitle: text('variant_title'),
    /** SKU at order time (a snapshot, not a reference to skus) */
    sku: text('sku').notNull(),
    quantity: integer('quantity').notNull(),
    unitPriceCents: integer('unit_price_cents').notNull(),
    subtotalCents: bigint('subtotal_cents', { mode: 'number' }).notNull(),
    taxAmountCents: bigint('tax_amount_cents', { mode: 'number' }).notNull().default(0),
    discountAmountCents: bigint('discount_amount_cents', { mode: 'number' }).notNull().default(0),
    totalAmountCents: bigint('total_amount_cents', { mode: 'number' }).notNull(),
    fulfilledQuantity: integer('fulfilled_quantity').notNull().default(0),
    refundedQuantity: integer('refunded_quantity').notNull().default(0),
    returnedQuantity: integer('returned_quantity').notNull().default(0),
    /** units refunded before fulfilment: never fulfilled */
    cancelledQuantity: integer('cancelled_quantity').notNull().default(0),
    refundedAmountCents: bigint('refunded_amount_cents', { mode: 'number' }).notNull().default(0),
    taxesIncluded: boolean('taxes_included').notNull().default(false),
    ...timestamps(),
  },
  (t) => [
    index('order_items_order_id_idx').on(t.orderId),
    index('order_items_product_id_idx').on(t.productId),
    index('order_items_variant_id_idx').on(t.variantId),
    check('order_items_quantity_check', sql`${t.quantity} > 0`),
    check(
      'order_items_money_nonnegative_check',
      sql`${t.unitPriceCents} >= 0 and ${t.subtotalCents} >= 0 and ${t.taxAmountCents} >= 0 and ${t.discountAmountCents} >= 0 and ${t.totalAmountCents} >= 0`,
    ),
    check(
      'order_items_money_total_check',
      sql`${t.subtotalCents} - ${t.discountAmountCents} + (case when ${t.taxesIncluded} then 0 else ${t.taxAmountCents} end) = ${t.totalAmountCents}`,
    ),
    check(
      'order_items_fulfilled_cancelled_check',
      sql`${t.cancelledQuantity} >= 0 and ${t.fulfilledQuantity} + ${t.cancelledQuantity} <= ${t.quantity}`,
    ),
    check(
      'order_items_refunded_amount_check',
      sql`${t.refundedAmountCents} between 0 and ${t.totalAmountCents}`,
    ),
    check('order_items_fulfilled_quantity_check', sql`${t.fulfilledQuantity} between 0 and ${t.quantity}`),
    check('order_items_refunded_quantity_check', sql`${t.refundedQuantity} between 0 and ${t.quantity}`),
    check('order_items_returned_quantity_check', sql`${t.returnedQuantity} between 0 and ${t.quantity}`),
  ],
)

// ---------------------------------------------------------------------------
// order_status_history
// ---------------------------------------------------------------------------

export const orderStatusHistory = pgTable(
  'order_status_history',
  {
    id: id(),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    type: text('type', { enum: statusHistoryTypes }).notNull(),
    fromStatus: text('from_status'),
    toStatus: text('to_status').notNull(),
    actorId: uuid('actor_id').references(() => users.id, { onDelete: 'set null' }),
    reason: text('reason'),
    ...timestamps(),
  },
  (t) => [
    index('order_status_history_order_id_created_at_idx').on(t.orderId, t.createdAt),
    check('order_status_history_type_check', oneOf(t.type, statusHistoryTypes)),
  ],
)

// ---------------------------------------------------------------------------
// payments and refunds (money records: never cascade-deleted with the order)
// ---------------------------------------------------------------------------

export const payments = pgTable(
  'payments',
  {
    id: id(),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'restrict' }),
    provider: text('provider', { enum: paymentProviders }).notNull(),
    /** e.g. Stripe PaymentIntent id; null for manual payments */
    providerPaymentId: text('provider_payment_id'),
    amountCents: bigint('amount_cents', { mode: 'number' }).notNull(),
    /** sum of succeeded refunds against this payment */
    refundedAmountCents: bigint('refunded_amount_cents', { mode: 'number' }).notNull().default(0),
    currency: char('currency', { length: 3 }).notNull(),
    status: text('status', { enum: paymentStatuses }).notNull().default('pending'),
    failureCode: text('failure_code'),
    failureMessage: text('failure_message'),
    paidAt: tstz('paid_at'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('payments_provider_payment_id_unique').on(t.providerPaymentId),
    index('payments_order_id_idx').on(t.orderId),
    check('payments_provider_check', oneOf(t.provider, paymentProviders)),
    check('payments_status_check', oneOf(t.status, paymentStatuses)),
    check('payments_currency_check', sql`${t.currency} ~ '^[A-Z]{3}$'`),
    check(
      'payments_amount_check',
      sql`${t.amountCents} >= 0 and ${t.refundedAmountCents} >= 0 and ${t.refundedAmountCents} <= ${t.amountCents}`,
    ),
  ],
)

export const refunds = pgTable(
  'refunds',
  {
    id: id(),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'restrict' }),
    /** null when nothing was captured through a provider (e.g. manual) */
    paymentId: uuid('payment_id').references(() => payments.id, { onDelete: 'restrict' }),
    amountCents: bigint('amount_cents', { mode: 'number' }).notNull(),
    currency: char('currency', { length: 3 }).notNull(),
    reason: text('reason'),
    restock: boolean('restock').notNull().default(false),
    /** the part of amount that refunds shipping */
    shippingAmountCents: bigint('shipping_amount_cents', { mode: 'number' }).notNull().default(0),
    /** lines refunded (and restocked when restock = true) */
    items: jsonb('items').$type<RefundLine[]>().notNull().default([]),
    providerRefundId: text('provider_refund_id'),
    status: text('status', { enum: refundStatuses }).notNull().default('pending'),
    kind: text('kind', { enum: refundKinds }).notNull().default('refund'),
    failureReason: text('failure_reason'),
    /** requests sent to Stripe for this row; attempt n uses the idempotency key `<id>` (n = 1) or `<id>:<n>` */
    attempts: integer('attempts').notNull().default(1),
    /** when the latest attempt was sent (reconcile retries one still absent at Stripe 10 minutes later) */
    attemptedAt: tstz('attempted_at').notNull().defaultNow(),
    /** when its units went back to stock (a restocking refund that succeeded), so no one returns them again */
    stockReturnedAt: tstz('stock_returned_at'),
    actorId: uuid('actor_id').references(() => users.id, { onDelete: 'set null' }),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('refunds_provider_refund_id_unique').on(t.providerRefundId),
    index('refunds_order_id_idx').on(t.orderId),
    index('refunds_payment_id_idx').on(t.paymentId),
    index('refunds_pending_attempted_at_idx').on(t.attemptedAt).where(sql`${t.status} = 'pending'`),
    check('refunds_amount_check', sql`${t.amountCents} > 0`),
    check('refunds_status_check', oneOf(t.status, refundStatuses)),
    check('refunds_kind_check', oneOf(t.kind, refundKinds)),
    check('refunds_attempts_check', sql`${t.attempts} >= 1`),
    check('refunds_currency_check', sql`${t.currency} ~ '^[A-Z]{3}$'`),
  ],
)

// ---------------------------------------------------------------------------
// fulfillments (shipments), their lines, tracking events
// ---------------------------------------------------------------------------

export const fulfillments = pgTable(
  'fulfillments',
  {
    id: id(),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    status: text('status', { enum: shipmentStatuses }).notNull().default('pending'),
    carrier: text('carrier'),
    service: text('service'),
    trackingNumber: text('tracking_number'),
    trackingUrl: text('tracking_url'),
    labelUrl: text('label_url'),
    /** e.g. Shippo transaction id when the label was bought through Shippo */
    providerShipmentId: text('provider_shipment_id'),
    /** when a bought label was voided (Shippo refund) because the order was cancelled before it shipped */
    labelVoidedAt: tstz('label_voided_at'),
    shippedAt: tstz('shipped_at'),
    deliveredAt: tstz('delivered_at'),
    actorId: uuid('actor_id').references(() => users.id, { onDelete: 'set null' }),
    ...timestamps(),
  },
  (t) => [
    index('fulfillments_order_id_idx').on(t.orderId),
    index('fulfillments_tracking_number_idx').on(t.trackingNumber),
    check('fulfillments_status_check', oneOf(t.status, shipmentStatuses)),
  ],
)

export const fulfillmentItems = pgTable(
  'fulfillment_items',
  {
    id: id(),
    fulfillmentId: uuid('fulfillment_id')
      .notNull()
      .references(() => fulfillments.id, { onDelete: 'cascade' }),
    orderItemId: uuid('order_item_id')
      .notNull()
      .references(() => orderItems.id, { onDelete: 'cascade' }),
    quantity: integer('quantity').notNull(),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('fulfillment_items_fulfillment_id_order_item_id_unique').on(t.fulfillmentId, t.orderItemId),
    index('fulfillment_items_order_item_id_idx').on(t.orderItemId),
    check('fulfillment_items_quantity_check', sql`${t.quantity} > 0`),
  ],
)

export const trackingEvents = pgTable(
  'tracking_events',
  {
    id: id(),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    fulfillmentId: uuid('fulfillment_id').references(() => fulfillments.id, { onDelete: 'cascade' }),
    status: text('status').notNull(),
    description: text('description'),
    location: text('location'),
    occurredAt: tstz('occurred_at').notNull(),
    raw: jsonb('raw').$type<unknown>(),
    ...timestamps(),
  },
  (t) => [
    index('tracking_events_order_id_occurred_at_idx').on(t.orderId, t.occurredAt),
    index('tracking_events_fulfillment_id_idx').on(t.fulfillmentId),
  ],
)

// ---------------------------------------------------------------------------
// returns (RMA)
// ---------------------------------------------------------------------------

export const returns = pgTable(
  'returns',
  {
    id: id(),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    rmaNumber: text('rma_number').notNull(),
    status: text('status', { enum: returnStatuses }).notNull().default('requested'),
    reason: text('reason'),
    items: jsonb('items').$type<OrderLineQuantity[]>().notNull().default([]),
    restock: boolean('restock').notNull().default(false),
    refundId: uuid('refund_id').references(() => refunds.id, { onDelete: 'set null' }),
    actorId: uuid('actor_id').references(() => users.id, { onDelete: 'set null' }),
    notes: text('notes'),
    receivedAt: tstz('received_at'),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('returns_rma_number_unique').on(t.rmaNumber),
    index('returns_order_id_idx').on(t.orderId),
    check('returns_status_check', oneOf(t.status, returnStatuses)),
  ],
)

// ---------------------------------------------------------------------------
// order_notes: staff-only notes (orders.notes stays the buyer's)
// ---------------------------------------------------------------------------

export const orderNotes = pgTable(
  'order_notes',
  {
    id: id(),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    authorId: uuid('author_id').references(() => users.id, { onDelete: 'set null' }),
    body: text('body').notNull(),
    ...timestamps(),
  },
  (t) => [index('order_notes_order_id_created_at_idx').on(t.orderId, t.createdAt)],
)

// ---------------------------------------------------------------------------
// pricing settings: tax rates, shipping rates, discount codes
// ---------------------------------------------------------------------------

export const taxRates = pgTable(
  'tax_rates',
  {
    id: id(),
    name: text('name').notNull(),
    /** ISO 3166-1 alpha-2, upper case */
    country: char('country', { length: 2 }).notNull(),
    /** ISO 3166-2 subdivision without the country ("IL"); null: the whole country */
    state: text('state'),
    /** basis points: 825 = 8.25 % */
    rateBps: integer('rate_bps').notNull(),
    appliesToShipping: boolean('applies_to_shipping').notNull().default(false),
    isActive: boolean('is_active').notNull().default(true),
    ...timestamps(),
  },
  (t) => [
    /** one active rate per place, so "the most specific active rate" is never ambiguous */
    uniqueIndex('tax_rates_active_place_unique')
      .on(t.country, sql`coalesce(${t.state}, '')`)
      .where(sql`${t.isActive}`),
    check('tax_rates_rate_bps_check', sql`${t.rateBps} between 0 and 10000`),
    check('tax_rates_country_check', sql`${t.country} ~ '^[A-Z]{2}$'`),
  ],
)

export const shippingRates = pgTable(
  'shipping_rates',
  {
    id: id(),
    name: text('name').notNull(),
    method: text('method').notNull(),
    /** ISO alpha-2 codes; empty: everywhere */
    countries: text('countries').array().notNull().default(sql`'{}'::text[]`),
    amountCents: bigint('amount_cents', { mode: 'number' }).notNull(),
    freeAboveCents: bigint('free_above_cents', { mode: 'number' }),
    minDays: integer('min_days'),
    maxDays: integer('max_days'),
    isActive: boolean('is_active').notNull().default(true),
    ...timestamps(),
  },
  (t) => [
    index('shipping_rates_method_idx').on(t.method),
    check(
      'shipping_rates_amount_check',
      sql`${t.amountCents} >= 0 and (${t.freeAboveCents} is null or ${t.freeAboveCents} >= 0)`,
    ),
    check(
      'shipping_rates_days_check',
      sql`(${t.minDays} is null or ${t.minDays} >= 0) and (${t.maxDays} is null or ${t.maxDays} >= coalesce(${t.minDays}, 0))`,
    ),
  ],
)

export const discountTypes = ['percentage', 'fixed_amount'] as const
export type DiscountType = (typeof discountTypes)[number]

export const discounts = pgTable(
  'discounts',
  {
    id: id(),
    /** as entered; unique case-insensitively */
    code: text('code').notNull(),
    type: text('type', { enum: discountTypes }).notNull(),
    /** percentage in basis points (12.5 % = 1250), for type percentage */
    percentBps: integer('percent_bps'),
    /** minor units, for type fixed_amount */
    amountCents: bigint('amount_cents', { mode: 'number' }),
    minSubtotalCents: bigint('min_subtotal_cents', { mode: 'number' }),
    startsAt: tstz('starts_at'),
    endsAt: tstz('ends_at'),
    usageLimit: integer('usage_limit'),
    usageLimitPerCustomer: integer('usage_limit_per_customer'),
    /** redemptions so far; raised in the order's transaction by a conditional UPDATE */
    timesUsed: integer('times_used').notNull().default(0),
    isActive: boolean('is_active').notNull().default(true),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('discounts_code_lower_unique').on(sql`lower(${t.code})`),
    check('discounts_type_check', oneOf(t.type, discountTypes)),
    check(
      'discounts_value_check',
      sql`(${t.type} = 'percentage' and ${t.percentBps} between 0 and 10000 and ${t.amountCents} is null) or (${t.type} = 'fixed_amount' and ${t.amountCents} >= 0 and ${t.percentBps} is null)`,
    ),
    check(
      'discounts_usage_check',
      sql`${t.timesUsed} >= 0 and (${t.usageLimit} is null or ${t.timesUsed} <= ${t.usageLimit}) and (${t.usageLimitPerCustomer} is null or ${t.usageLimitPerCustomer} > 0)`,
    ),
  ],
)

export const discountRedemptions = pgTable(
  'discount_redemptions',
  {
    id: id(),
    discountId: uuid('discount_id')
      .notNull()
      .references(() => discounts.id, { onDelete: 'cascade' }),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'set null' }),
    /** lower-cased buyer email (guests are counted by it) */
    email: text('email').notNull(),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('discount_redemptions_order_id_unique').on(t.orderId),
    index('discount_redemptions_discount_user_idx').on(t.discountId, t.userId),
    index('discount_redemptions_discount_email_idx').on(t.discountId, t.email),
  ],
)

// ---------------------------------------------------------------------------
// relations
// ---------------------------------------------------------------------------

export const ordersRelations = relations(orders, ({ one, many }) => ({
  user: one(users, { fields: [orders.userId], references: [users.id] }),
  items: many(orderItems),
  history: many(orderStatusHistory),
  payments: many(payments),
  refunds: many(refunds),
  fulfillments: many(fulfillments),
  trackingEvents: many(trackingEvents),
  returns: many(returns),
  staffNotes: many(orderNotes),
}))

export const orderItemsRelations = relations(orderItems, ({ one, many }) => ({
  order: one(orders, { fields: [orderItems.orderId], references: [orders.id] }),
  product: one(products, { fields: [orderItems.productId], references: [products.id] }),
  variant: one(productVariants, { fields: [orderItems.variantId], references: [productVariants.id] }),
  fulfillmentItems: many(fulfillmentItems),
}))

export const orderStatusHistoryRelations = relations(orderStatusHistory, ({ one }) => ({
  order: one(orders, { fields: [orderStatusHistory.orderId], references: [orders.id] }),
  actor: one(users, { fields: [orderStatusHistory.actorId], references: [users.id] }),
}))

export const paymentsRelations = relations(payments, ({ one, many }) => ({
  order: one(orders, { fields: [payments.orderId], references: [orders.id] }),
  refunds: many(refunds),
}))

export const refundsRelations = relations(refunds, ({ one }) => ({
  order: one(orders, { fields: [refunds.orderId], references: [orders.id] }),
  payment: one(payments, { fields: [refunds.paymentId], references: [payments.id] }),
}))

export const fulfillmentsRelations = relations(fulfillments, ({ one, many }) => ({
  order: one(orders, { fields: [fulfillments.orderId], references: [orders.id] }),
  items: many(fulfillmentItems),
  trackingEvents: many(trackingEvents),
}))

export const fulfillmentItemsRelations = relations(fulfillmentItems, ({ one }) => ({
  fulfillment: one(fulfillments, { fields: [fulfillmentItems.fulfillmentId], references: [fulfillments.id] }),
  orderItem: one(orderItems, { fields: [fulfillmentItems.orderItemId], references: [orderItems.id] }),
}))

export const trackingEventsRelations = relations(trackingEvents, ({ one }) => ({
  order: one(orders, { fields: [trackingEvents.orderId], references: [orders.id] }),
  fulfillment: one(fulfillments, { fields: [trackingEvents.fulfillmentId], references: [fulfillments.id] }),
}))

export const orderNotesRelations = relations(orderNotes, ({ one }) => ({
  order: one(orders, { fields: [orderNotes.orderId], references: [orders.id] }),
  author: one(users, { fields: [orderNotes.authorId], references: [users.id] }),
}))

export const returnsRelations = relations(returns, ({ one }) => ({
  order: one(orders, { fields: [returns.orderId], references: [orders.id] }),
  refund: one(refunds, { fields: [returns.refundId], references: [refunds.id] }),
}))

export type Order = typeof orders.$inferSelect
export type NewOrder = typeof orders.$inferInsert
export type OrderItem = typeof orderItems.$inferSelect
export type NewOrderItem = typeof orderItems.$inferInsert
export type Payment = typeof payments.$inferSelect
export type Refund = typeof refunds.$inferSelect
export type Fulfillment = typeof fulfillments.$inferSelect
export type Return = typeof returns.$inferSelect
export type OrderNote = typeof orderNotes.$inferSelect
export type TaxRate = typeof taxRates.$inferSelect
export type ShippingRate = typeof shippingRates.$inferSelect
export type Discount = typeof discounts.$inferSelect
