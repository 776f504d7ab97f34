import type { Permission } from '../../lib/auth/permissions.js'
import type { AuthRequirement } from '../../lib/http/route.js'

// The access matrix: who may call what, the authoritative table (docs/auth.md, "Who may call what").
// tests/security/access-matrix.test.ts walks every operation of the served OpenAPI document (path x
// method, HEAD and OPTIONS aside) as each of the seven callers below, with a valid request on a real
// resource in the state the operation needs, and expects exactly the status written here. An operation
// without a row fails the test, and so does a row for an operation that no longer exists, or whose
// `auth` is not what the route declares.
//
// The callers, in column order:
//   anonymous  no token at all
//   owner      the customer who owns the resource (the buyer of the order, the account of the session or
//              of /users/{user_id}); for resources nobody owns (catalog, settings), a plain customer
//   other      another customer
//   guest      no Bearer token, but the X-Order-Token of ANOTHER guest order (the access_token of a guest
//              POST /orders 201). On order routes the order is then itself a guest order, so only its
//              own token could open it
//   staff      a staff account with the default permissions (lib/auth/permissions.ts)
//   granted    a staff account granted `grant` as well (a user_permissions row); where a row names no
//              grant, the route checks no permission and this is a second default staff account
//   admin      an admin
//
// Self-service routes (/auth/me, /auth/sessions, MFA, change-password) act on the caller's own account,
// so owner and other both act on their own. Public routes ignore any token: every caller gets their 2xx.
//
// Machine routes (cron, webhooks, /metrics) are not for users: `machine` gives the status of the one
// caller that is let in, with its secret (CRON_SECRET, a Stripe-Signature, the Shippo webhook token,
// METRICS_TOKEN); the user columns show what a request without that secret gets. The test runs with
// those secrets set, as a deployment does.
//
// A row's key is `METHOD /path` as in the document; `METHOD /path [case]` adds a second fixture state for
// the same operation (e.g. a cancel while pending besides a cancel once paid).

export const CALLERS = ['anonymous', 'owner', 'other', 'guest', 'staff', 'granted', 'admin'] as const
export type Caller = (typeof CALLERS)[number]

/** One status per caller, in CALLERS order. */
export type Statuses = readonly [number, number, number, number, number, number, number]

export interface MatrixRow {
  /** The route's declared `auth` (checked against the route itself). */
  auth: AuthRequirement
  /** What the `granted` caller holds beyond the staff defaults. */
  grant?: Permission
  /** The request every caller sends, in words (the test's fixture builds it). */
  fixture: string
  expect: Statuses
  /** Machine routes: the one caller that is let in. */
  machine?: { caller: string; status: number }
}

const CRON = 'cron' as const
const perm = (p: Permission) => ({ permission: p }) as const

export const ACCESS_MATRIX: Record<string, MatrixRow> = {
  // --- auth: public account recovery and sign-in (tokens are ignored) ---------------------------------
  'POST /api/v1/auth/register': {
    auth: 'public',
    fixture: 'a new email and a strong password',
    expect: [201, 201, 201, 201, 201, 201, 201],
  },
  'POST /api/v1/auth/login': {
    auth: 'public',
    fixture: "the owner's email and password",
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'POST /api/v1/auth/refresh': {
    auth: 'public',
    fixture: "the owner's refresh token",
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'POST /api/v1/auth/forgot-password': {
    auth: 'public',
    fixture: "the owner's email",
    expect: [202, 202, 202, 202, 202, 202, 202],
  },
  'POST /api/v1/auth/reset-password': {
    auth: 'public',
    fixture: 'a reset token issued to the owner',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'POST /api/v1/auth/resend-verification': {
    auth: 'public',
    fixture: "an unverified owner's email",
    expect: [202, 202, 202, 202, 202, 202, 202],
  },
  'POST /api/v1/auth/verify-email': {
    auth: 'public',
    fixture: 'a verification token issued to the owner',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'POST /api/v1/auth/unlock': {
    auth: 'public',
    fixture: 'an unlock token of the locked owner',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'POST /api/v1/auth/mfa/verify': {
    auth: 'public',
    fixture:
      'with a Bearer token: a code of the caller’s pending MFA setup; without: the mfa_token of the owner’s MFA login and a code',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },

  // --- auth: the signed-in caller's own account --------------------------------------------------------
  'POST /api/v1/auth/logout': {
    auth: 'authenticated',
    fixture: 'the caller’s own session',
    expect: [401, 204, 204, 401, 204, 204, 204],
  },
  'GET /api/v1/auth/me': {
    auth: 'authenticated',
    fixture: 'the caller’s own profile',
    expect: [401, 200, 200, 401, 200, 200, 200],
  },
  'PUT /api/v1/auth/me': {
    auth: 'authenticated',
    fixture: 'a new first name',
    expect: [401, 200, 200, 401, 200, 200, 200],
  },
  'DELETE /api/v1/auth/me': {
    auth: 'authenticated',
    fixture: 'the caller’s password (customers only: staff and admins get self_erasure_forbidden)',
    expect: [401, 204, 204, 401, 403, 403, 403],
  },
  'GET /api/v1/auth/me/export': {
    auth: 'authenticated',
    fixture: 'the caller’s own data',
    expect: [401, 200, 200, 401, 200, 200, 200],
  },
  'POST /api/v1/auth/change-password': {
    auth: 'authenticated',
    fixture: 'the caller’s current password and a new one',
    expect: [401, 200, 200, 401, 200, 200, 200],
  },
  'GET /api/v1/auth/sessions': {
    auth: 'authenticated',
    fixture: 'the caller’s own sessions',
    expect: [401, 200, 200, 401, 200, 200, 200],
  },
  'DELETE /api/v1/auth/sessions/{session_id}': {
    auth: 'authenticated',
    fixture: 'a second live session of the owner: anyone else’s is a 404, staff and admins included',
    expect: [401, 204, 404, 401, 404, 404, 404],
  },
  'POST /api/v1/auth/sessions/revoke-all': {
    auth: 'authenticated',
    fixture: 'keep_current: true',
    expect: [401, 200, 200, 401, 200, 200, 200],
  },
  'POST /api/v1/auth/mfa/enable': {
    auth: 'authenticated',
    fixture: 'the caller’s password (MFA off)',
    expect: [401, 200, 200, 401, 200, 200, 200],
  },
  'POST /api/v1/auth/mfa/disable': {
    auth: 'authenticated',
    fixture: 'the caller’s password (MFA on)',
    expect: [401, 200, 200, 401, 200, 200, 200],
  },
  'GET /api/v1/auth/mfa/backup-codes': {
    auth: 'authenticated',
    fixture: 'the caller with MFA on',
    expect: [401, 200, 200, 401, 200, 200, 200],
  },
  'POST /api/v1/auth/mfa/backup-codes': {
    auth: 'authenticated',
    fixture: 'a current TOTP code of the caller (MFA on)',
    expect: [401, 200, 200, 401, 200, 200, 200],
  },

  // --- catalog: public reads, products.write writes ----------------------------------------------------
  'GET /api/v1/products': {
    auth: 'optional',
    fixture: 'the catalog',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'POST /api/v1/products': {
    auth: perm('products.write'),
    grant: 'products.write',
    fixture: 'a new product',
    expect: [401, 403, 403, 401, 201, 201, 201],
  },
  'GET /api/v1/products/{product_id}': {
    auth: 'optional',
    fixture: 'an active, visible product',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'GET /api/v1/products/{product_id} [draft]': {
    auth: 'optional',
    fixture: 'a draft product: not visible outside staff (products.read)',
    expect: [404, 404, 404, 404, 200, 200, 200],
  },
  'PUT /api/v1/products/{product_id}': {
    auth: perm('products.write'),
    grant: 'products.write',
    fixture: 'a new name',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'DELETE /api/v1/products/{product_id}': {
    auth: perm('products.write'),
    grant: 'products.write',
    fixture: 'a product never ordered',
    expect: [401, 403, 403, 401, 204, 204, 204],
  },
  'GET /api/v1/products/{product_id}/inventory': {
    auth: 'optional',
    fixture: 'a visible product with a variant',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'GET /api/v1/products/{product_id}/inventory [draft]': {
    auth: 'optional',
    fixture: 'a draft product',
    expect: [404, 404, 404, 404, 200, 200, 200],
  },
  'PUT /api/v1/products/{product_id}/inventory': {
    auth: perm('inventory.write'),
    grant: 'inventory.write',
    fixture: 'inventory_quantity of a product without variants',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'POST /api/v1/products/{product_id}/inventory/adjust': {
    auth: perm('inventory.write'),
    grant: 'inventory.write',
    fixture: 'delta +1 with a reason',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'POST /api/v1/products/{product_id}/media': {
    auth: perm('products.write'),
    grant: 'products.write',
    fixture: 'a file uploaded to (fake) Cloudinary under the product’s folder',
    expect: [401, 403, 403, 401, 201, 201, 201],
  },
  'DELETE /api/v1/products/{product_id}/media/{media_id}': {
    auth: perm('products.write'),
    grant: 'products.write',
    fixture: 'an image of the product',
    expect: [401, 403, 403, 401, 204, 204, 204],
  },
  'POST /api/v1/products/{product_id}/media/uploads': {
    auth: perm('products.write'),
    grant: 'products.write',
    fixture: 'image/jpeg, Cloudinary configured',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'POST /api/v1/products/{product_id}/optimize': {
    auth: perm('products.write'),
    grant: 'products.write',
    fixture: 'suggestions only (apply false)',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'GET /api/v1/products/{product_id}/variants': {
    auth: 'optional',
    fixture: 'a visible product with a variant',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'GET /api/v1/products/{product_id}/variants [draft]': {
    auth: 'optional',
    fixture: 'a draft product',
    expect: [404, 404, 404, 404, 200, 200, 200],
  },
  'POST /api/v1/products/{product_id}/variants': {
    auth: perm('products.write'),
    grant: 'products.write',
    fixture: 'a new variant of a product with variants',
    expect: [401, 403, 403, 401, 201, 201, 201],
  },
  'PUT /api/v1/products/{product_id}/variants/{variant_id}': {
    auth: perm('products.write'),
    grant: 'products.write',
    fixture: 'a new option value',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'DELETE /api/v1/products/{product_id}/variants/{variant_id}': {
    auth: perm('products.write'),
    grant: 'products.write',
    fixture: 'a variant never ordered',
    expect: [401, 403, 403, 401, 204, 204, 204],
  },
  'GET /api/v1/products/analytics': {
    auth: perm('analytics.view'),
    grant: 'analytics.view',
    fixture: 'the default period',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'POST /api/v1/products/bulk-delete': {
    auth: perm('products.write'),
    grant: 'products.write',
    fixture: 'one product never ordered, by id',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'POST /api/v1/products/bulk-import': {
    auth: perm('products.write'),
    grant: 'products.write',
    fixture: 'one new product row (JSON)',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'POST /api/v1/products/bulk-update': {
    auth: perm('products.write'),
    grant: 'products.write',
    fixture: 'one product renamed, by id',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'GET /api/v1/products/recommendations': {
    auth: 'optional',
    fixture: 'customer_id of the owner: only that customer or staff with orders.view (404 to anyone else)',
    expect: [404, 200, 404, 404, 200, 200, 200],
  },
  'POST /api/v1/products/search': {
    auth: 'optional',
    fixture: 'a text query',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'GET /api/v1/categories': {
    auth: 'optional',
    fixture: 'every category',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'POST /api/v1/categories': {
    auth: perm('products.write'),
    grant: 'products.write',
    fixture: 'a new category',
    expect: [401, 403, 403, 401, 201, 201, 201],
  },
  'GET /api/v1/categories/{category_id}': {
    auth: 'optional',
    fixture: 'a visible category',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'GET /api/v1/categories/{category_id} [hidden]': {
    auth: 'optional',
    fixture: 'a hidden category: not visible outside staff (products.read)',
    expect: [404, 404, 404, 404, 200, 200, 200],
  },
  'PUT /api/v1/categories/{category_id}': {
    auth: perm('products.write'),
    grant: 'products.write',
    fixture: 'a new name',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'DELETE /api/v1/categories/{category_id}': {
    auth: perm('products.write'),
    grant: 'products.write',
    fixture: 'a category',
    expect: [401, 403, 403, 401, 204, 204, 204],
  },

  // --- pricing settings: orders.view reads, settings.manage writes (admins by default) -----------------
  'GET /api/v1/tax-rates': {
    auth: perm('orders.view'),
    grant: 'orders.view',
    fixture: 'every tax rate',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'POST /api/v1/tax-rates': {
    auth: perm('settings.manage'),
    grant: 'settings.manage',
    fixture: 'a rate for a place that has none',
    expect: [401, 403, 403, 401, 403, 201, 201],
  },
  'GET /api/v1/tax-rates/{tax_rate_id}': {
    auth: perm('orders.view'),
    grant: 'orders.view',
    fixture: 'a tax rate',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'PUT /api/v1/tax-rates/{tax_rate_id}': {
    auth: perm('settings.manage'),
    grant: 'settings.manage',
    fixture: 'a new rate',
    expect: [401, 403, 403, 401, 403, 200, 200],
  },
  'DELETE /api/v1/tax-rates/{tax_rate_id}': {
    auth: perm('settings.manage'),
    grant: 'settings.manage',
    fixture: 'a tax rate',
    expect: [401, 403, 403, 401, 403, 204, 204],
  },
  'GET /api/v1/shipping-rates': {
    auth: perm('orders.view'),
    grant: 'orders.view',
    fixture: 'every shipping rate',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'POST /api/v1/shipping-rates': {
    auth: perm('settings.manage'),
    grant: 'settings.manage',
    fixture: 'a new rate',
    expect: [401, 403, 403, 401, 403, 201, 201],
  },
  'GET /api/v1/shipping-rates/{shipping_rate_id}': {
    auth: perm('orders.view'),
    grant: 'orders.view',
    fixture: 'a shipping rate',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'PUT /api/v1/shipping-rates/{shipping_rate_id}': {
    auth: perm('settings.manage'),
    grant: 'settings.manage',
    fixture: 'a new amount',
    expect: [401, 403, 403, 401, 403, 200, 200],
  },
  'DELETE /api/v1/shipping-rates/{shipping_rate_id}': {
    auth: perm('settings.manage'),
    grant: 'settings.manage',
    fixture: 'a shipping rate',
    expect: [401, 403, 403, 401, 403, 204, 204],
  },
  'GET /api/v1/discounts': {
    auth: perm('orders.view'),
    grant: 'orders.view',
    fixture: 'every discount code',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'POST /api/v1/discounts': {
    auth: perm('settings.manage'),
    grant: 'settings.manage',
    fixture: 'a new code',
    expect: [401, 403, 403, 401, 403, 201, 201],
  },
  'GET /api/v1/discounts/{discount_id}': {
    auth: perm('orders.view'),
    grant: 'orders.view',
    fixture: 'a discount code',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'PUT /api/v1/discounts/{discount_id}': {
    auth: perm('settings.manage'),
    grant: 'settings.manage',
    fixture: 'a new value',
    expect: [401, 403, 403, 401, 403, 200, 200],
  },
  'DELETE /api/v1/discounts/{discount_id}': {
    auth: perm('settings.manage'),
    grant: 'settings.manage',
    fixture: 'a code no order used',
    expect: [401, 403, 403, 401, 403, 204, 204],
  },

  // --- orders: the buyer, the guest with the order's own token, staff by permission ---------------------
  // An order the caller cannot see is a 404 on every route; one they see but may not change this way a
  // 403; routes that take no guest answer 401 without a Bearer token.
  'GET /api/v1/orders': {
    auth: 'authenticated',
    fixture: 'customers see their own orders, staff with orders.view all',
    expect: [401, 200, 200, 401, 200, 200, 200],
  },
  'POST /api/v1/orders': {
    auth: 'optional',
    fixture: 'one line of a product in stock; customer_email when there is no Bearer token',
    expect: [201, 201, 201, 201, 201, 201, 201],
  },
  'POST /api/v1/orders/quote': {
    auth: 'optional',
    fixture: 'one line of a product in stock',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'GET /api/v1/orders/{order_id}': {
    auth: 'optional',
    grant: 'orders.view',
    fixture: 'a shipped order',
    expect: [404, 200, 404, 404, 200, 200, 200],
  },
  'PUT /api/v1/orders/{order_id}': {
    auth: 'authenticated',
    grant: 'orders.manage',
    fixture: 'new buyer notes on a confirmed order',
    expect: [401, 200, 404, 401, 200, 200, 200],
  },
  'DELETE /api/v1/orders/{order_id}': {
    auth: 'optional',
    grant: 'orders.refund',
    fixture: 'a paid, confirmed order: cancelling refunds it, so orders.refund only (the buyer: 403)',
    expect: [404, 403, 404, 404, 403, 200, 200],
  },
  'DELETE /api/v1/orders/{order_id} [pending]': {
    auth: 'optional',
    grant: 'orders.manage',
    fixture: 'a pending, unpaid order: the buyer, or orders.manage',
    expect: [404, 200, 404, 404, 200, 200, 200],
  },
  'POST /api/v1/orders/{order_id}/payment': {
    auth: 'optional',
    grant: 'orders.manage',
    fixture: 'a pending Stripe order (fake Stripe)',
    expect: [404, 200, 404, 404, 200, 200, 200],
  },
  'POST /api/v1/orders/{order_id}/mark-paid': {
    auth: 'authenticated',
    grant: 'orders.manage',
    fixture: 'a pending manual order',
    expect: [401, 403, 404, 401, 200, 200, 200],
  },
  'POST /api/v1/orders/{order_id}/process': {
    auth: 'authenticated',
    grant: 'orders.manage',
    fixture: 'a confirmed order',
    expect: [401, 403, 404, 401, 200, 200, 200],
  },
  'POST /api/v1/orders/{order_id}/fulfill': {
    auth: 'authenticated',
    grant: 'orders.manage',
    fixture: 'a confirmed order, every remaining unit',
    expect: [401, 403, 404, 401, 200, 200, 200],
  },
  'POST /api/v1/orders/{order_id}/ship': {
    auth: 'authenticated',
    grant: 'orders.manage',
    fixture: 'a confirmed order with a tracking number (no label bought)',
    expect: [401, 403, 404, 401, 200, 200, 200],
  },
  'POST /api/v1/orders/{order_id}/deliver': {
    auth: 'authenticated',
    grant: 'orders.manage',
    fixture: 'a shipped order',
    expect: [401, 403, 404, 401, 200, 200, 200],
  },
  'GET /api/v1/orders/{order_id}/tracking': {
    auth: 'optional',
    grant: 'orders.view',
    fixture: 'a shipped order',
    expect: [404, 200, 404, 404, 200, 200, 200],
  },
  'GET /api/v1/orders/{order_id}/history': {
    auth: 'authenticated',
    grant: 'orders.view',
    fixture: 'a shipped order (staff only: the buyer gets 403)',
    expect: [401, 403, 404, 401, 200, 200, 200],
  },
  'POST /api/v1/orders/{order_id}/notes': {
    auth: 'authenticated',
    grant: 'orders.manage',
    fixture: 'a staff note on a confirmed order',
    expect: [401, 403, 404, 401, 201, 201, 201],
  },
  'POST /api/v1/orders/{order_id}/refund': {
    auth: 'authenticated',
    grant: 'orders.refund',
    fixture: 'a paid manual order, everything refunded',
    expect: [401, 403, 404, 401, 403, 200, 200],
  },
  'POST /api/v1/orders/{order_id}/return': {
    auth: 'authenticated',
    grant: 'orders.manage',
    fixture: 'one delivered unit of an order delivered today',
    expect: [401, 201, 404, 401, 201, 201, 201],
  },
  'GET /api/v1/orders/analytics': {
    auth: perm('orders.view'),
    grant: 'orders.view',
    fixture: 'the default period',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'GET /api/v1/orders/metrics': {
    auth: perm('orders.view'),
    grant: 'orders.view',
    fixture: 'the default period',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'GET /api/v1/orders/export': {
    auth: perm('orders.view'),
    grant: 'orders.view',
    fixture: 'every order as CSV',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'POST /api/v1/orders/bulk-process': {
    auth: perm('orders.manage'),
    grant: 'orders.manage',
    fixture: 'one confirmed order',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'POST /api/v1/orders/bulk-fulfill': {
    auth: perm('orders.manage'),
    grant: 'orders.manage',
    fixture: 'one confirmed order',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },

  // --- returns: staff by permission ----------------------------------------------------------------------
  'GET /api/v1/returns': {
    auth: perm('orders.view'),
    grant: 'orders.view',
    fixture: 'every return',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'POST /api/v1/returns/{return_id}/approve': {
    auth: perm('orders.manage'),
    grant: 'orders.manage',
    fixture: 'a requested return of the owner’s order',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'POST /api/v1/returns/{return_id}/reject': {
    auth: perm('orders.manage'),
    grant: 'orders.manage',
    fixture: 'a requested return of the owner’s order, with a reason',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'POST /api/v1/returns/{return_id}/receive': {
    auth: perm('orders.manage'),
    grant: 'orders.refund',
    fixture: 'a requested return received with restock and refund: refund needs orders.refund too',
    expect: [401, 403, 403, 401, 403, 200, 200],
  },

  // --- users: users.view reads, users.manage writes, admin-only creation and MFA reset ------------------
  // /users/{user_id} names the owner's own account: asking about yourself needs the permission too.
  'GET /api/v1/users': {
    auth: perm('users.view'),
    grant: 'users.view',
    fixture: 'every user',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'POST /api/v1/users': {
    auth: { role: 'admin' },
    fixture: 'a new customer with a password',
    expect: [401, 403, 403, 401, 403, 403, 201],
  },
  'GET /api/v1/users/{user_id}': {
    auth: perm('users.view'),
    grant: 'users.view',
    fixture: 'the owner',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'PUT /api/v1/users/{user_id}': {
    auth: perm('users.manage'),
    grant: 'users.manage',
    fixture: 'the owner, a new first name',
    expect: [401, 403, 403, 401, 403, 200, 200],
  },
  'DELETE /api/v1/users/{user_id}': {
    auth: perm('users.manage'),
    grant: 'users.manage',
    fixture: 'the owner, no open orders',
    expect: [401, 403, 403, 401, 403, 204, 204],
  },
  'POST /api/v1/users/{user_id}/activate': {
    auth: perm('users.manage'),
    grant: 'users.manage',
    fixture: 'a suspended customer (not the owner, whose suspended session could not call)',
    expect: [401, 403, 403, 401, 403, 200, 200],
  },
  'GET /api/v1/users/{user_id}/activity': {
    auth: perm('users.view'),
    grant: 'users.view',
    fixture: 'the owner',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'POST /api/v1/users/{user_id}/mfa/reset': {
    auth: { role: 'admin' },
    fixture: 'the owner with MFA on',
    expect: [401, 403, 403, 401, 403, 403, 200],
  },
  'GET /api/v1/users/{user_id}/permissions': {
    auth: perm('users.view'),
    grant: 'users.view',
    fixture: 'the owner',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'PUT /api/v1/users/{user_id}/permissions': {
    auth: perm('users.manage'),
    grant: 'users.manage',
    fixture: 'the owner granted products.read (which the granting staff holds)',
    expect: [401, 403, 403, 401, 403, 200, 200],
  },
  'POST /api/v1/users/{user_id}/suspend': {
    auth: perm('users.manage'),
    grant: 'users.manage',
    fixture: 'the owner, with a reason',
    expect: [401, 403, 403, 401, 403, 200, 200],
  },
  'POST /api/v1/users/{user_id}/unlock': {
    auth: perm('users.manage'),
    grant: 'users.manage',
    fixture: 'a locked customer (not the owner, whose locked session could not call)',
    expect: [401, 403, 403, 401, 403, 200, 200],
  },
  'GET /api/v1/users/analytics': {
    auth: perm('users.view'),
    grant: 'users.view',
    fixture: 'the default period',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'GET /api/v1/users/export': {
    auth: perm('users.view'),
    grant: 'users.view',
    fixture: 'every user as CSV',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },
  'POST /api/v1/users/bulk-update': {
    auth: perm('users.manage'),
    grant: 'users.manage',
    fixture: 'the owner deactivated',
    expect: [401, 403, 403, 401, 403, 200, 200],
  },

  // --- health, status, the document and monitoring -----------------------------------------------------
  'GET /api/v1/health': {
    auth: 'public',
    fixture: 'liveness',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'GET /api/v1/health/database': {
    auth: 'optional',
    fixture: 'staff see the details, everyone else the public view',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'GET /api/v1/health/redis': {
    auth: 'optional',
    fixture: 'staff see the details, everyone else the public view',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'GET /api/v1/health/external': {
    auth: 'optional',
    fixture: 'staff see the details, everyone else the public view',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'GET /api/v1/health/detailed': {
    auth: 'optional',
    fixture: 'staff see the details, everyone else the public view',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'GET /api/v1/status': {
    auth: 'public',
    fixture: 'the status page data',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'GET /api/v1/openapi.json': {
    auth: 'public',
    fixture: 'the document',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'GET /api/docs': {
    auth: 'public',
    fixture: 'the reference page',
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  'GET /api/v1/metrics': {
    auth: 'public',
    fixture: 'METRICS_TOKEN set: a user access token is not the metrics token',
    expect: [401, 401, 401, 401, 401, 401, 401],
    machine: { caller: 'Bearer METRICS_TOKEN', status: 200 },
  },
  'GET /api/v1/metrics/business': {
    auth: perm('analytics.view'),
    grant: 'analytics.view',
    fixture: 'the default period',
    expect: [401, 403, 403, 401, 200, 200, 200],
  },

  // --- cron jobs: the scheduler's CRON_SECRET only; no user token is ever a cron secret -----------------
  'GET /api/cron/cleanup': {
    auth: CRON,
    fixture: 'CRON_SECRET set',
    expect: [401, 401, 401, 401, 401, 401, 401],
    machine: { caller: 'Bearer CRON_SECRET', status: 200 },
  },
  'GET /api/cron/low-stock': {
    auth: CRON,
    fixture: 'CRON_SECRET set',
    expect: [401, 401, 401, 401, 401, 401, 401],
    machine: { caller: 'Bearer CRON_SECRET', status: 200 },
  },
  'GET /api/cron/outbox': {
    auth: CRON,
    fixture: 'CRON_SECRET set',
    expect: [401, 401, 401, 401, 401, 401, 401],
    machine: { caller: 'Bearer CRON_SECRET', status: 200 },
  },
  'GET /api/cron/reconcile-payments': {
    auth: CRON,
    fixture: 'CRON_SECRET set',
    expect: [401, 401, 401, 401, 401, 401, 401],
    machine: { caller: 'Bearer CRON_SECRET', status: 200 },
  },
  'GET /api/cron/release-unpaid': {
    auth: CRON,
    fixture: 'CRON_SECRET set',
    expect: [401, 401, 401, 401, 401, 401, 401],
    machine: { caller: 'Bearer CRON_SECRET', status: 200 },
  },

  // --- webhooks: authenticated by the provider's signature or token, never by a user token --------------
  'POST /api/webhooks/stripe': {
    auth: 'public',
    fixture: 'an event without a Stripe-Signature: 400 invalid_signature, nothing changed',
    expect: [400, 400, 400, 400, 400, 400, 400],
    machine: { caller: 'Stripe-Signature of STRIPE_WEBHOOK_SECRET', status: 200 },
  },
  'POST /api/webhooks/shippo': {
    auth: 'public',
    fixture: 'an event without ?token=: 401 invalid_webhook_token',
    expect: [401, 401, 401, 401, 401, 401, 401],
    machine: { caller: '?token=SHIPPO_WEBHOOK_SECRET', status: 200 },
  },
}
