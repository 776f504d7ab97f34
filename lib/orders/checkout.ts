import { sql } from 'drizzle-orm'
import { z } from 'zod'
import { orderItems, orderSources, orders } from '../../db/schema/index.js'
import type { Principal } from '../auth/permissions.js'
import { enqueueEmail } from '../email/outbox.js'
import { fieldError, ProblemError, unauthorized } from '../http/errors.js'
import { guestCaller, type Saver } from '../http/idempotency.js'
import { type Db, rowsOf } from '../platform/db.js'
import { env } from '../platform/env.js'
import { Money, toMajor } from '../platform/money.js'
import { rateLimitsEnabled } from '../platform/ratelimit.js'
import { assertQuantityLimits, CartItems, type ResolvedLine, resolveCart } from './cart.js'
import { recordTransitions } from './history.js'
import { type DiscountSetting, type Pricing, priceCart } from './pricing.js'
import { AddressSchema } from './schemas.js'
import { findDiscount, loadPricingSettings } from './settings.js'
import { assertInStock, takeStock } from './stock.js'
import { type FullOrder, loadOrder, type Runner } from './view.js'

// Creating an order (and quoting one): the cart resolved from the catalog, priced by the pure pipeline,
// then written in ONE transaction whose statement count does not depend on the number of lines:
//   advisory lock per buyer email -> the buyer's users row FOR KEY SHARE -> unpaid caps -> cart +
//   settings + discount -> order row -> all lines in one INSERT -> history -> confirmation email
//   (outbox) -> Idempotency-Key answer -> the order read back for the answer -> stock and discount
//   redemption in one last statement.
// The payment starts after the commit, in lib/payments/checkout.ts (a Stripe call never holds the
// transaction or the stock open).

export const OrderInput = z
  .object({
    items: CartItems,
    shipping_address: AddressSchema,
    billing_address: AddressSchema.optional(),
    shipping_method: z.string().trim().min(1).max(64).optional(),
    discount_code: z.string().trim().min(1).max(64).optional(),
    customer_email: z.email().max(254).optional(),
    customer_phone: z.string().trim().min(1).max(40).optional(),
    notes: z.string().trim().max(2000).optional(),
    source: z.enum(orderSources).optional(),
  })
  .strict()
export type OrderInputBody = z.output<typeof OrderInput>

/** Who buys: a signed-in buyer's account email is used (customer_email refused); guests must give one. */
function guestEmail(body: OrderInputBody, principal: Principal | null, required: boolean): string | null {
  if (principal) {
    if (body.customer_email !== undefined) {
      throw fieldError(
        'customer_email',
        'Signed-in buyers order under their account email: leave customer_email out.',
        'customer_email_not_allowed',
      )
    }
    return null
  }
  if (!body.customer_email) {
    if (!required) return null
    throw fieldError('customer_email', 'Guests must give customer_email.', 'required')
  }
  return body.customer_email.trim().toLowerCase()
}

interface Priced {
  lines: ResolvedLine[]
  pricing: Pricing
  discount: DiscountSetting | null
  currency: string
}

/** Resolve, read the settings and the discount, price: 3-4 statements, the same for any cart. */
async function priceOrder(
  db: Runner,
  body: OrderInputBody,
  buyer: { userId: string | null; email: string },
): Promise<Priced> {
  const lines = await resolveCart(db, body.items)
  const settings = await loadPricingSettings(db)
  const discount = body.discount_code ? await findDiscount(db, body.discount_code, buyer) : null
  const pricing = priceCart(
    {
      lines: lines.map((l) => ({ unitPriceCents: l.unitPriceCents, quantity: l.quantity })),
      address: { country: body.shipping_address.country, state: body.shipping_address.state ?? null },
      shippingMethod: body.shipping_method ?? null,
      discount,
    },
    settings,
  )
  return { lines, pricing, discount, currency: settings.currency }
}

// ---------------------------------------------------------------------------------------------------
// Quote
// ---------------------------------------------------------------------------------------------------

const money = Money
export const QuoteSchema = z.object({
  currency: z.string(),
  taxes_included: z.boolean(),
  items: z.array(
    z.object({
      product_id: z.string(),
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
    }),
  ),
  subtotal: money,
  discount_code: z.string().nullable(),
  discount_amount: money,
  tax_amount: money.describe('Lines’ tax plus shipping tax'),
  shipping_tax_amount: money,
  shipping_amount: money,
  shipping_method: z.string().nullable(),
  total_amount: money,
  shipping_options: z.array(
    z.object({
      method: z.string(),
      name: z.string(),
      amount: money,
      min_days: z.number().int().nullable(),
      max_days: z.number().int().nullable(),
    }),
  ),
})
export type Quote = z.infer<typeof QuoteSchema>

/** POST /orders/quote: every amount and the shipping options for the address; creates nothing. */
export async function quoteOrder(db: Db, body: OrderInputBody, principal: Principal | null): Promise<Quote> {
  const guest = guestEmail(body, principal, false)
  assertQuantityLimits(body.items)
  let email = guest ?? ''
  if (principal) {
    const r = await db.execute(sql`select email from users where id = ${principal.userId}`)
    email = String(rowsOf<{ email: string }>(r)[0]?.email ?? '')
  }
  const { lines, pricing, discount, currency } = await priceOrder(db, body, {
    userId: principal?.userId ?? null,
    email,
  })
  const m = (minor: number) => toMajor(minor, currency)
  return {
    currency,
    taxes_included: pricing.taxesIncluded,
    items: lines.map((l, n) => {
      const p = pricing.lines[n]!
      return {
        product_id: l.productId,
        variant_id: l.variantId,
        product_name: l.productName,
        variant_title: l.variantTitle,
        sku: l.sku,
        quantity: l.quantity,
        unit_price: m(l.unitPriceCents),
        subtotal: m(p.subtotalCents),
        discount_amount: m(p.discountCents),
        tax_amount: m(p.taxCents),
        total_amount: m(p.totalCents),
      }
    }),
    subtotal: m(pricing.subtotalCents),
    discount_code: discount?.code ?? null,
    discount_amount: m(pricing.discountCents),
    tax_amount: m(pricing.taxCents),
    shipping_tax_amount: m(pricing.shippingTaxCents),
    shipping_amount: m(pricing.shippingCents),
    shipping_method: pricing.shippingMethod,
    total_amount: m(pricing.totalCents),
    shipping_options: pricing.shippingOptions.map((o) => ({
      method: o.method,
      name: o.name,
      amount: m(o.amountCents),
      min_days: o.minDays,
      max_days: o.maxDays,
    })),
  }
}

// ---------------------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------------------

export interface CheckoutContext {
  db: Db
  request: Request
  principal: Principal | null
  ip: string
  body: OrderInputBody
}

const tooManyUnpaid = (detail: string) => new ProblemError(429, 'too_many_unpaid_orders', detail)

/** Whether the IP is worth counting (tests and local servers without a socket address say `unknown`). */
const knownIp = (ip: string) => ip !== '' && ip !== 'unknown'

/**
 * Who buys, before anything is written: the guest's email (null for a signed-in buyer), and the
 * Idempotency-Key scope of the caller. 422 for a cart over MAX_QUANTITY_PER_ITEM.
 */
export function checkoutBuyer(ctx: CheckoutContext): { guest: string | null; caller: string } {
  const guest = guestEmail(ctx.body, ctx.principal, true)
  assertQuantityLimits(ctx.body.items)
  return { guest, caller: ctx.principal ? `user:${ctx.principal.userId}` : guestCaller(guest!) }
}

/** The order in ONE transaction (see the top of this file); `saver` stores the Idempotency-Key answer. */
export async function createOrderTx(
  ctx: CheckoutContext,
  guest: string | null,
  saver: Saver,
): Promise<{ id: string; emailId: string; order: FullOrder }> {
  const { db, principal, body } = ctx
  const e = env()
  const ip = knownIp(ctx.ip) ? ctx.ip : null
  return db.transaction(async (tx) => {
    const userId = principal?.userId ?? null
    // 1. one checkout at a time per buyer email (trimmed, lower-cased), whether signed in or not: an
    //    account's checkout and a guest's under its email queue on one lock, so what each counts (the
    //    unpaid caps, the per-customer discount count) includes what the other committed. An account
    //    also locks its id first (erasure's order: id, then email), so an email change in between cannot
    //    split one account's checkouts over two keys.
    if (userId) {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`checkout:user:${userId}`}, 0)),
        pg_advisory_xact_lock(hashtextextended('checkout:email:' || lower(trim(email)), 0))
        from users where id = ${userId}`)
    } else {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`checkout:email:${guest}`}, 0))`)
    }
    // 2. the buyer's account, held against erasure until the order is in (FOR KEY SHARE)
    let email = guest!
    if (userId) {
      const r = await tx.execute(sql`select email, deleted_at from users where id = ${userId} for key share`)
      const u = rowsOf<{ email: string; deleted_at: unknown }>(r)[0]
      if (!u || u.deleted_at) throw unauthorized('This account no longer exists.', 'account_erased')
      email = u.email
    }
    // 3. unpaid caps, in one statement: an account counts its own orders; a guest counts the orders under
    //    its email from its client IP (an account's too: signing out buys no second allowance), so a
    //    stranger elsewhere typing someone's email cannot use up their allowance. An unknown IP is one
    //    address of its own (orders without an IP). The per-IP cap counts every pending order from the IP.
    const ipCapped = ip !== null && rateLimitsEnabled()
    const buyerMatch = userId
      ? sql`user_id = ${userId}`
      : sql`lower(email) = ${guest} and client_ip is not distinct from ${ip}`
    const cr = await tx.execute(sql`
      select
        (select count(*)::int from orders where status = 'pending' and ${buyerMatch}) as buyer,
        ${ipCapped ? sql`(select count(*)::int from orders where status = 'pending' and client_ip = ${ip})` : sql`0`} as ip`)
    const counts = rowsOf<{ buyer: number; ip: number }>(cr)[0]!
    if (Number(counts.buyer) >= e.MAX_UNPAID_ORDERS_PER_BUYER) {
      throw tooManyUnpaid(
        userId
          ? `At most ${e.MAX_UNPAID_ORDERS_PER_BUYER} unpaid orders per account: pay or cancel one first.`
          : `At most ${e.MAX_UNPAID_ORDERS_PER_BUYER} unpaid orders per email from one address: pay or cancel one first.`,
      )
    }
    if (ipCapped && Number(counts.ip) >= e.MAX_UNPAID_ORDERS_PER_IP) {
      throw tooManyUnpaid(`At most ${e.MAX_UNPAID_ORDERS_PER_IP} unpaid orders from one address.`)
    }
    // 4. the cart, the settings, the discount (this buyer's redemptions counted under the lock); an item
    //    the cart's read already shows short is refused here, before anything is written
    const { lines, pricing, discount, currency } = await priceOrder(tx, body, { userId, email })
    assertInStock(lines)
    // 5. the order and its lines
    const [order] = await tx
      .insert(orders)
      .values({
        userId,
        email,
        phone: body.customer_phone ?? null,
        currency,
        subtotalCents: pricing.subtotalCents,
        discountAmountCents: pricing.discountCents,
        taxAmountCents: pricing.taxCents,
        shippingTaxAmountCents: pricing.shippingTaxCents,
        shippingAmountCents: pricing.shippingCents,
        totalAmountCents: pricing.totalCents,
        taxesIncluded: pricing.taxesIncluded,
        discountId: discount?.id ?? null,
        discountCode: discount?.code ?? null,
        clientIp: ip,
        shippingAddress: body.shipping_address,
        billingAddress: body.billing_address ?? null,
        shippingMethod: pricing.shippingMethod,
        paymentProvider: e.STRIPE_SECRET_KEY ? 'stripe' : 'manual',
        notes: body.notes ?? null,
        source: body.source ?? 'web',
      })
      .returning({ id: orders.id, orderNumber: orders.orderNumber })
    const id = order!.id
    // loadOrder lists lines by (created_at, id): a millisecond apart, they keep the cart's order
    const t0 = Date.now()
    await tx.insert(orderItems).values(
      lines.map((l, n) => {
        const p = pricing.lines[n]!
        return {
          orderId: id,
          createdAt: new Date(t0 + n),
          productId: l.productId,
          variantId: l.variantId,
          productName: l.productName,
          variantTitle: l.variantTitle,
          sku: l.sku,
          quantity: l.quantity,
          unitPriceCents: l.unitPriceCents,
          subtotalCents: p.subtotalCents,
          discountAmountCents: p.discountCents,
          taxAmountCents: p.taxCents,
          totalAmountCents: p.totalCents,
          taxesIncluded: pricing.taxesIncluded,
        }
      }),
    )
    // 6. history, the confirmation email and the Idempotency-Key answer: written before the stock, so
    //    that the hot rows are locked by the last statement only (and rolled back with the rest on a 409)
    await recordTransitions(tx, id, userId, [{ type: 'order', from: null, to: 'pending' }])
    const emailId = await enqueueEmail(tx as unknown as Db, {
      to: email,
      userId,
      template: 'order_confirmation',
      data: {
        order_number: order!.orderNumber,
        total: toMajor(pricing.totalCents, currency),
        currency,
        item_count: lines.reduce((s, l) => s + l.quantity, 0),
      },
      dedupeKey: `order_confirmation:${id}`,
    })
    await saver.save(tx, { status: 201, body: { order_id: id } })
    // the answer's order, read on this connection: everything it shows is written, and the stock is not
    // part of it. After the commit a manual order needs no connection again, where a second checkout
    // from the pool would queue behind every buyer of a flash sale.
    const full = (await loadOrder(tx, id))!
    // 7. last, right before COMMIT: stock for every tracked item and the discount's redemption, in one
    //    statement (409 out_of_stock or 422 discount_usage_limit_reached rolls all of this back). Every
    //    checkout of a popular product queues on its row: the row is held for this statement's round
    //    trip and the commit, nothing else (ADR 019).
    await takeStock(
      tx,
      lines.map((l) => ({ productId: l.productId, variantId: l.variantId, quantity: l.quantity })),
      {
        orderId: id,
        actorId: userId,
        ...(discount ? { redeem: { discountId: discount.id, userId, email } } : {}),
      },
    )
    return { id, emailId, order: full }
  })
}
