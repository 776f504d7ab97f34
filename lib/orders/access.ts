import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Permission, Principal } from '../auth/permissions.js'
import { forbidden, notFound } from '../http/errors.js'
import { orderTokenSecret } from '../platform/env.js'
import { type FullOrder, loadOrder, type Runner } from './view.js'

// Who may touch an order. Ownership is orders.user_id only (never a matching email); a guest reaches its
// order only with the order token (X-Order-Token, an HMAC of the order id, never stored); staff by
// permission. An order the caller cannot see is a 404 on every route (its existence is not confirmed);
// one they can see but not change this way is a 403.

export const ORDER_TOKEN_HEADER = 'x-order-token'

/** The guest's access token for an order: base64url HMAC-SHA256 of the id under ORDER_TOKEN_SECRET. */
export function orderToken(orderId: string): string {
  return createHmac('sha256', orderTokenSecret()).update(`order:${orderId}`).digest('base64url')
}

export function validOrderToken(orderId: string, token: string | null | undefined): boolean {
  if (!token) return false
  const expected = Buffer.from(orderToken(orderId))
  const given = Buffer.from(token.trim())
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** How the caller relates to the order. */
export type OrderRelation = 'staff' | 'owner' | 'guest' | null

export function relationTo(
  order: { id: string; userId: string | null },
  principal: Principal | null,
  request: Request,
): OrderRelation {
  if (principal?.permissions.has('orders.view')) return 'staff'
  if (principal && order.userId === principal.userId) return 'owner'
  // a token opens guest orders only (an account's orders need the account)
  if (order.userId === null && validOrderToken(order.id, request.headers.get(ORDER_TOKEN_HEADER)))
    return 'guest'
  return null
}

export interface AccessRule {
  /** the buyer with an account may do this */
  owner?: boolean
  /** the guest with the order token may do this */
  guest?: boolean
  /** staff with this permission may do this (default orders.view) */
  permission?: Permission
}

export interface OrderAccess {
  order: FullOrder
  relation: Exclude<OrderRelation, null>
  /** staff see flags and staff notes */
  staff: boolean
}

/**
 * Load the order and check the caller may act on it: 404 when they cannot see it at all, 403 when they
 * can see it but this action is not theirs.
 */
export async function orderFor(
  db: Runner,
  orderId: string,
  principal: Principal | null,
  request: Request,
  rule: AccessRule = { owner: true, guest: true },
): Promise<OrderAccess> {
  const order = await loadOrder(db, orderId)
  if (!order) throw notFound('order')
  return checkAccess(order, principal, request, rule)
}

export function checkAccess<O extends FullOrder>(
  order: O,
  principal: Principal | null,
  request: Request,
  rule: AccessRule,
): OrderAccess & { order: O } {
  const relation = relationTo(order, principal, request)
  if (!relation) throw notFound('order')
  const staffPermission = rule.permission ?? 'orders.view'
  const staffAllowed = principal?.permissions.has(staffPermission) ?? false
  // staff who are also the buyer may act as the buyer
  const ownerAllowed = rule.owner === true && principal !== null && order.userId === principal.userId
  const guestAllowed = rule.guest === true && relation === 'guest'
  if (!staffAllowed && !ownerAllowed && !guestAllowed) {
    throw forbidden('You are not allowed to do this to the order.')
  }
  return { order, relation, staff: principal?.permissions.has('orders.view') ?? false }
}
