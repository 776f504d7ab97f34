import { randomBytes, randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { generate, generateSecret } from 'otplib'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { mfaDevices, userPermissions, users } from '../../db/schema/index.js'
import { startMfaChallenge } from '../../lib/auth/mfa.js'
import { issueOneTimeToken } from '../../lib/auth/one-time-tokens.js'
import type { Permission } from '../../lib/auth/permissions.js'
import { startSession } from '../../lib/auth/sessions.js'
import { toOpenApiPath } from '../../lib/http/path.js'
import { METHODS } from '../../lib/http/router.js'
import { ORDER_TOKEN_HEADER } from '../../lib/orders/access.js'
import { createDiscount, DiscountInput } from '../../lib/orders/discount-settings.js'
import {
  createShippingRate,
  createTaxRate,
  ShippingRateInput,
  TaxRateInput,
} from '../../lib/orders/pricing-settings.js'
import { requestReturn } from '../../lib/orders/returns.js'
import { deliverOrder, shipOrder } from '../../lib/orders/shipment.js'
import { resetStripeClient } from '../../lib/payments/stripe.js'
import { flushBackground } from '../../lib/platform/background.js'
import { getDb } from '../../lib/platform/db.js'
import { env } from '../../lib/platform/env.js'
import { IL_ADDRESS } from '../support/addresses.js'
import { restoreEnv, setEnv } from '../support/env.js'
import {
  DEFAULT_PASSWORD,
  makeCategory,
  makeProduct,
  makeProductRow,
  makeUser,
  makeVariantRow,
} from '../support/factories.js'
import { shippableOrder } from '../support/fulfilment.js'
import { allRoutes, call, request } from '../support/http.js'
import { cloudinaryEnv, FakeCloudinary } from '../support/media.js'
import { KEYS, useMsw } from '../support/msw.js'
import { orderInState } from '../support/orders-payments.js'
import { type FakeStripe, signedEvent, useFakeStripe, WEBHOOK_SECRET } from '../support/stripe.js'
import { ACCESS_MATRIX, CALLERS, type Caller, type MatrixRow } from './access-matrix.js'

// The access matrix (tests/security/access-matrix.ts): every operation of the served OpenAPI document,
// called by each of the seven callers with a valid request on a real resource in the state it needs, and
// the exact status the table gives. Every response is also checked against the document (request() does it).
// Operations that change state get a fresh resource, owner and caller for every caller, so one caller's
// success never changes what the next one sees; reads share one set of fixtures and callers.

const server = useMsw()
const CRON_SECRET = 'cron-secret-for-the-access-matrix-0123456789'
const METRICS_TOKEN = 'metrics-token-for-the-access-matrix-0123456789'
const SHIPPO_SECRET = 'shippo-webhook-secret-for-the-access-matrix'
const NEW_PASSWORD = 'a fresh matrix passphrase 7'

type Person = Awaited<ReturnType<typeof makeUser>>
type Db = Awaited<ReturnType<typeof getDb>>

/** What one caller sends: the path (with its query), and the body and headers when there are any. */
interface Prepared {
  path: string
  body?: unknown
  rawBody?: string
  headers?: Record<string, string>
  /** The request of the one machine caller that machine routes let in (its secret included). */
  machine?: Omit<Prepared, 'machine'> & { token?: string }
}

interface Kit {
  caller: Caller
  /** The customer owning this pair's resources (also the `owner` caller). */
  owner: Person
  /** The caller's own account; null for anonymous and guest. */
  me: Person | null
  /** The buyer of orders made for this pair: the owner, or nobody (a guest order) for the guest caller. */
  buyer: string | null
  db: Db
  world: World
  stripe: FakeStripe
  cloud: FakeCloudinary
}

interface Op {
  build: (k: Kit) => Promise<Prepared>
  /** Fresh resources and callers for every caller (default: every method but GET). */
  fresh?: boolean
  /** Settings for this operation only (the providers it needs). */
  env?: Record<string, string | undefined>
}

// --- shared, read-only fixtures ------------------------------------------------------------------------

interface World {
  people: Record<Exclude<Caller, 'anonymous' | 'guest' | 'granted'>, Person>
  granted: Map<string, Person>
  /** The access_token of a guest POST /orders 201: ANOTHER order's token for every fixture. */
  guestToken: string
  product: Awaited<ReturnType<typeof makeProduct>>
  draftProduct: Awaited<ReturnType<typeof makeProduct>>
  category: Awaited<ReturnType<typeof makeCategory>>
  hiddenCategory: Awaited<ReturnType<typeof makeCategory>>
  taxRate: { id: string }
  shippingRate: { id: string }
  discount: { id: string }
  /** a shipped order of the owner, and a shipped guest order (what the guest caller is shown) */
  order: { id: string }
  guestOrder: { id: string }
}

let world: World
let stripe: FakeStripe
let cloud: FakeCloudinary
let counter = 0
const tag = () => `${randomBytes(3).toString('hex')}${++counter}`

const BASE_ENV = {
  RATE_LIMITS: 'off',
  MAX_UNPAID_ORDERS_PER_BUYER: '100000',
  MAX_UNPAID_ORDERS_PER_IP: '100000',
  CRON_SECRET,
  STRIPE_SECRET_KEY: undefined,
  STRIPE_WEBHOOK_SECRET: undefined,
  SHIPPO_API_KEY: undefined,
  SHIPPO_WEBHOOK_SECRET: undefined,
  RESEND_API_KEY: undefined,
  METRICS_TOKEN: undefined,
  RETURN_WINDOW_DAYS: '30',
  VERCEL: undefined,
  VERCEL_ENV: undefined,
}
const STRIPE_ENV = {
  STRIPE_SECRET_KEY: KEYS.stripe,
  STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
}

async function grantTo(userId: string, permission: Permission): Promise<void> {
  await (await getDb()).insert(userPermissions).values({ userId, permission })
}

async function grantedStaff(grant: Permission | undefined): Promise<Person> {
  const p = await makeUser({ role: 'staff' })
  if (grant) await grantTo(p.user.id, grant)
  return p
}

beforeAll(async () => {
  setEnv(BASE_ENV)
  const db = await getDb()
  const [owner, other, staff, admin] = await Promise.all([
    makeUser({ role: 'customer' }),
    makeUser({ role: 'customer' }),
    makeUser({ role: 'staff' }),
    makeUser({ role: 'admin' }),
  ])
  const shippingRate = await createShippingRate(
    db,
    ShippingRateInput.parse({ name: 'Standard', method: 'standard', amount: 5 }),
  )
  const taxRate = await createTaxRate(
    db,
    TaxRateInput.parse({ name: 'Illinois', country: 'US', state: 'IL', rate_bps: 1000 }),
  )
  const discount = await createDiscount(
    db,
    DiscountInput.parse({ code: `MATRIX${tag()}`, type: 'percentage', value: 10 }),
  )
  const category = await makeCategory()
  const hiddenCategory = await makeCategory({ is_visible: false })
  const product = await makeProduct({
    variants: [{ sku: `MX-${tag()}`, option1: 'M', inventory_quantity: 5 }],
  })
  const draftProduct = await makeProduct({ status: 'draft' })
  const order = await shippedOrder(owner.user.id)
  const guestOrder = await shippedOrder(null)
  // ANOTHER guest order's token, as a guest checkout hands it out
  const stocked = await makeProductRow({ inventoryQuantity: 10 })
  const placed = await call('POST', '/api/v1/orders', {
    body: {
      items: [{ product_id: stocked.id, quantity: 1 }],
      shipping_address: IL_ADDRESS,
      customer_email: `guest-${tag()}@example.test`,
    },
  })
  expect(placed.status, placed.text).toBe(201)
  // the token does open its own order: refusals below are about whose order, not about a dead token
  const own = await call('GET', `/api/v1/orders/${placed.body.id}`, {
    headers: { [ORDER_TOKEN_HEADER]: placed.body.access_token },
  })
  expect(own.status, own.text).toBe(200)
  world = {
    people: { owner, other, staff, admin },
    granted: new Map(),
    guestToken: placed.body.access_token,
    product,
    draftProduct,
    category,
    hiddenCategory,
    taxRate,
    shippingRate,
    discount,
    order,
    guestOrder,
  }
  restoreEnv()
})

beforeEach(() => {
  setEnv(BASE_ENV)
  stripe = useFakeStripe(server)
  cloud = new FakeCloudinary()
  server.use(...cloud.handlers())
  resetStripeClient()
})

afterEach(() => {
  restoreEnv()
  resetStripeClient()
})

async function sharedKit(caller: Caller, row: MatrixRow): Promise<Kit> {
  const { people } = world
  let me: Person | null = null
  if (caller === 'granted') {
    const key = row.grant ?? ''
    if (!world.granted.has(key)) world.granted.set(key, await grantedStaff(row.grant))
    me = world.granted.get(key)!
  } else if (caller !== 'anonymous' && caller !== 'guest') {
    me = people[caller]
  }
  return kit(caller, people.owner, me)
}

async function freshKit(caller: Caller, row: MatrixRow): Promise<Kit> {
  const owner = await makeUser({ role: 'customer' })
  const me: Record<Caller, () => Promise<Person | null>> = {
    anonymous: async () => null,
    guest: async () => null,
    owner: async () => owner,
    other: () => makeUser({ role: 'customer' }),
    staff: () => makeUser({ role: 'staff' }),
    granted: () => grantedStaff(row.grant),
    admin: () => makeUser({ role: 'admin' }),
  }
  return kit(caller, owner, await me[caller]())
}

async function kit(caller: Caller, owner: Person, me: Person | null): Promise<Kit> {
  return {
    caller,
    owner,
    me,
    buyer: caller === 'guest' ? null : owner.user.id,
    db: await getDb(),
    world,
    stripe,
    cloud,
  }
}

// --- resources in the state an operation needs ------------------------------------------------------------

/** A paid, confirmed order with a shipping address (manual payment). */
const confirmedOrder = async (buyer: string | null) => (await shippableOrder({ userId: buyer })).order

async function shippedOrder(buyer: string | null) {
  const { order } = await shippableOrder({ userId: buyer })
  await shipOrder(await getDb(), order.id, { tracking_number: `T-${tag()}`, carrier: 'USPS' }, null)
  return order
}

async function deliveredOrder(buyer: string | null) {
  const { order, items } = await shippableOrder({ userId: buyer })
  const db = await getDb()
  await shipOrder(db, order.id, { tracking_number: `T-${tag()}`, carrier: 'USPS' }, null)
  await deliverOrder(db, order.id, {}, null)
  return { order, items }
}

async function requestedReturn(buyer: string | null) {
  const { order, items } = await deliveredOrder(buyer)
  const ret = await requestReturn(
    await getDb(),
    order.id,
    { items: [{ order_item_id: items[0]!.id, quantity: 1 }], reason: 'Too small' },
    { actorId: buyer, asStaff: false },
  )
  return ret.id
}

/** TOTP secrets are stored the way an older deployment left them (sealed on first use). */
async function mfaOn(userId: string): Promise<string> {
  const secret = generateSecret()
  const db = await getDb()
  await db.insert(mfaDevices).values({ userId, secret, confirmedAt: new Date() })
  await db.update(users).set({ mfaEnabled: true }).where(eq(users.id, userId))
  return secret
}

const totp = (secret: string) => generate({ secret, epoch: Math.floor(Date.now() / 1000) })

const cart = async () => ({
  items: [{ product_id: (await makeProductRow({ inventoryQuantity: 10 })).id, quantity: 1 }],
  shipping_address: IL_ADDRESS,
})

/** A place with no tax rate yet (one active rate per place). */
const newPlace = () => ({ country: 'FR', state: (counter++ % 46_655).toString(36).toUpperCase() })

const orderPath = (id: string, tail = '') => `/api/v1/orders/${id}${tail}`
const sharedOrder = (k: Kit) => (k.caller === 'guest' ? k.world.guestOrder.id : k.world.order.id)
const owned = (k: Kit) => k.me ?? k.owner

// --- one fixture per row -------------------------------------------------------------------------------

const OPS: Record<string, Op> = {
  // auth: public
  'POST /api/v1/auth/register': {
    build: async () => ({
      path: '/api/v1/auth/register',
      body: {
        email: `new-${tag()}@example.test`,
        password: NEW_PASSWORD,
        first_name: 'New',
        last_name: 'Customer',
      },
    }),
  },
  'POST /api/v1/auth/login': {
    build: async (k) => ({
      path: '/api/v1/auth/login',
      body: { email: k.owner.user.email, password: DEFAULT_PASSWORD },
    }),
  },
  'POST /api/v1/auth/refresh': {
    build: async (k) => ({ path: '/api/v1/auth/refresh', body: { refresh_token: k.owner.refreshToken } }),
  },
  'POST /api/v1/auth/forgot-password': {
    build: async (k) => ({ path: '/api/v1/auth/forgot-password', body: { email: k.owner.user.email } }),
  },
  'POST /api/v1/auth/reset-password': {
    build: async (k) => {
      const { token } = await issueOneTimeToken(k.db, k.owner.user.id, 'reset_password')
      return { path: '/api/v1/auth/reset-password', body: { token, password: NEW_PASSWORD } }
    },
  },
  'POST /api/v1/auth/resend-verification': {
    build: async (k) => ({
      path: '/api/v1/auth/resend-verification',
      body: { email: k.owner.user.email },
    }),
  },
  'POST /api/v1/auth/verify-email': {
    build: async (k) => {
      const { token } = await issueOneTimeToken(k.db, k.owner.user.id, 'verify_email')
      return { path: '/api/v1/auth/verify-email', body: { token } }
    },
  },
  'POST /api/v1/auth/unlock': {
    build: async (k) => {
      await k.db
        .update(users)
        .set({ lockedUntil: new Date(Date.now() + 600_000), failedLoginAttempts: 5 })
        .where(eq(users.id, k.owner.user.id))
      const { token } = await issueOneTimeToken(k.db, k.owner.user.id, 'unlock')
      return { path: '/api/v1/auth/unlock', body: { token } }
    },
  },
  'POST /api/v1/auth/mfa/verify': {
    build: async (k) => {
      if (k.me) {
        // a setup the caller started: its pending secret's code turns MFA on
        const secret = generateSecret()
        await k.db.insert(mfaDevices).values({ userId: k.me.user.id, secret })
        return { path: '/api/v1/auth/mfa/verify', body: { code: await totp(secret) } }
      }
      const secret = await mfaOn(k.owner.user.id)
      const mfaToken = await startMfaChallenge(k.db, k.owner.user.id)
      return { path: '/api/v1/auth/mfa/verify', body: { mfa_token: mfaToken, code: await totp(secret) } }
    },
  },

  // auth: the caller's own account
  'POST /api/v1/auth/logout': { build: async () => ({ path: '/api/v1/auth/logout' }) },
  'GET /api/v1/auth/me': { build: async () => ({ path: '/api/v1/auth/me' }) },
  'PUT /api/v1/auth/me': {
    build: async () => ({ path: '/api/v1/auth/me', body: { first_name: 'Renamed' } }),
  },
  'DELETE /api/v1/auth/me': {
    build: async () => ({ path: '/api/v1/auth/me', body: { password: DEFAULT_PASSWORD } }),
  },
  'GET /api/v1/auth/me/export': { build: async () => ({ path: '/api/v1/auth/me/export' }) },
  'POST /api/v1/auth/change-password': {
    build: async () => ({
      path: '/api/v1/auth/change-password',
      body: { current_password: DEFAULT_PASSWORD, new_password: NEW_PASSWORD },
    }),
  },
  'GET /api/v1/auth/sessions': { build: async () => ({ path: '/api/v1/auth/sessions' }) },
  'DELETE /api/v1/auth/sessions/{session_id}': {
    build: async (k) => {
      const second = await startSession(k.db, k.owner.user.id, { ip: '127.0.0.1', userAgent: 'matrix' })
      return { path: `/api/v1/auth/sessions/${second.session_id}` }
    },
  },
  'POST /api/v1/auth/sessions/revoke-all': {
    build: async () => ({ path: '/api/v1/auth/sessions/revoke-all', body: { keep_current: true } }),
  },
  'POST /api/v1/auth/mfa/enable': {
    build: async () => ({ path: '/api/v1/auth/mfa/enable', body: { password: DEFAULT_PASSWORD } }),
  },
  'POST /api/v1/auth/mfa/disable': {
    build: async (k) => {
      await mfaOn(owned(k).user.id)
      return { path: '/api/v1/auth/mfa/disable', body: { password: DEFAULT_PASSWORD } }
    },
  },
  'GET /api/v1/auth/mfa/backup-codes': {
    fresh: true,
    build: async (k) => {
      await mfaOn(owned(k).user.id)
      return { path: '/api/v1/auth/mfa/backup-codes' }
    },
  },
  'POST /api/v1/auth/mfa/backup-codes': {
    build: async (k) => {
      const secret = await mfaOn(owned(k).user.id)
      return { path: '/api/v1/auth/mfa/backup-codes', body: { code: await totp(secret) } }
    },
  },

  // catalog
  'GET /api/v1/products': { build: async () => ({ path: '/api/v1/products' }) },
  'POST /api/v1/products': {
    build: async () => ({
      path: '/api/v1/products',
      body: { sku: `NEW-${tag()}`, name: `Matrix product ${tag()}`, price: 12.5 },
    }),
  },
  'GET /api/v1/products/{product_id}': {
    build: async (k) => ({ path: `/api/v1/products/${k.world.product.id}` }),
  },
  'GET /api/v1/products/{product_id} [draft]': {
    build: async (k) => ({ path: `/api/v1/products/${k.world.draftProduct.id}` }),
  },
  'PUT /api/v1/products/{product_id}': {
    build: async () => ({
      path: `/api/v1/products/${(await makeProductRow()).id}`,
      body: { name: `Renamed ${tag()}` },
    }),
  },
  'DELETE /api/v1/products/{product_id}': {
    build: async () => ({ path: `/api/v1/products/${(await makeProductRow()).id}` }),
  },
  'GET /api/v1/products/{product_id}/inventory': {
    build: async (k) => ({ path: `/api/v1/products/${k.world.product.id}/inventory` }),
  },
  'GET /api/v1/products/{product_id}/inventory [draft]': {
    build: async (k) => ({ path: `/api/v1/products/${k.world.draftProduct.id}/inventory` }),
  },
  'PUT /api/v1/products/{product_id}/inventory': {
    build: async () => ({
      path: `/api/v1/products/${(await makeProductRow({ inventoryQuantity: 3 })).id}/inventory`,
      body: { inventory_quantity: 7, reason: 'stock count' },
    }),
  },
  'POST /api/v1/products/{product_id}/inventory/adjust': {
    build: async () => ({
      path: `/api/v1/products/${(await makeProductRow({ inventoryQuantity: 3 })).id}/inventory/adjust`,
      body: { delta: 1, reason: 'found one' },
    }),
  },
  'POST /api/v1/products/{product_id}/media': {
    env: cloudinaryEnv,
    build: async (k) => {
      const product = await makeProductRow()
      const publicId = `${env().MEDIA_FOLDER}/${product.id}/matrix-${tag()}`
      k.cloud.add({
        public_id: publicId,
        resource_type: 'image',
        format: 'jpg',
        bytes: 20_000,
        width: 800,
        height: 600,
      })
      return { path: `/api/v1/products/${product.id}/media`, body: { provider_id: publicId } }
    },
  },
  'DELETE /api/v1/products/{product_id}/media/{media_id}': {
    build: async () => {
      const mediaId = randomUUID()
      const product = await makeProductRow({
        images: [{ id: mediaId, url: 'https://images.example.test/a.jpg', alt: 'front' }],
      })
      return { path: `/api/v1/products/${product.id}/media/${mediaId}` }
    },
  },
  'POST /api/v1/products/{product_id}/media/uploads': {
    env: cloudinaryEnv,
    build: async () => ({
      path: `/api/v1/products/${(await makeProductRow()).id}/media/uploads`,
      body: { content_type: 'image/jpeg' },
    }),
  },
  'POST /api/v1/products/{product_id}/optimize': {
    build: async () => ({
      path: `/api/v1/products/${(await makeProductRow()).id}/optimize`,
      body: { apply: false },
    }),
  },
  'GET /api/v1/products/{product_id}/variants': {
    build: async (k) => ({ path: `/api/v1/products/${k.world.product.id}/variants` }),
  },
  'GET /api/v1/products/{product_id}/variants [draft]': {
    build: async (k) => ({ path: `/api/v1/products/${k.world.draftProduct.id}/variants` }),
  },
  'POST /api/v1/products/{product_id}/variants': {
    build: async () => {
      const product = await makeProductRow({ inventoryQuantity: 0 })
      await makeVariantRow(product.id, { option1: 'M', inventoryQuantity: 2 })
      return {
        path: `/api/v1/products/${product.id}/variants`,
        body: { sku: `NV-${tag()}`, option1: 'L', inventory_quantity: 1 },
      }
    },
  },
  'PUT /api/v1/products/{product_id}/variants/{variant_id}': {
    build: async () => {
      const product = await makeProductRow({ inventoryQuantity: 0 })
      const variant = await makeVariantRow(product.id, { option1: 'M' })
      return { path: `/api/v1/products/${product.id}/variants/${variant.id}`, body: { option1: 'XL' } }
    },
  },
  'DELETE /api/v1/products/{product_id}/variants/{variant_id}': {
    build: async () => {
      const product = await makeProductRow({ inventoryQuantity: 0 })
      const variant = await makeVariantRow(product.id, { option1: 'M' })
      return { path: `/api/v1/products/${product.id}/variants/${variant.id}` }
    },
  },
  'GET /api/v1/products/analytics': { build: async () => ({ path: '/api/v1/products/analytics' }) },
  'POST /api/v1/products/bulk-delete': {
    build: async () => ({
      path: '/api/v1/products/bulk-delete',
      body: { products: [{ id: (await makeProductRow()).id }] },
    }),
  },
  'POST /api/v1/products/bulk-import': {
    build: async () => ({
      path: '/api/v1/products/bulk-import',
      body: { products: [{ sku: `IMP-${tag()}`, name: `Imported ${tag()}`, price: 4.5 }] },
    }),
  },
  'POST /api/v1/products/bulk-update': {
    build: async () => ({
      path: '/api/v1/products/bulk-update',
      body: { products: [{ id: (await makeProductRow()).id, name: `Renamed ${tag()}` }] },
    }),
  },
  'GET /api/v1/products/recommendations': {
    build: async (k) => ({ path: `/api/v1/products/recommendations?customer_id=${k.owner.user.id}` }),
  },
  'POST /api/v1/products/search': {
    build: async () => ({ path: '/api/v1/products/search', body: { query: 'product' } }),
  },
  'GET /api/v1/categories': { build: async () => ({ path: '/api/v1/categories' }) },
  'POST /api/v1/categories': {
    build: async () => ({ path: '/api/v1/categories', body: { name: `Category ${tag()}` } }),
  },
  'GET /api/v1/categories/{category_id}': {
    build: async (k) => ({ path: `/api/v1/categories/${k.world.category.id}` }),
  },
  'GET /api/v1/categories/{category_id} [hidden]': {
    build: async (k) => ({ path: `/api/v1/categories/${k.world.hiddenCategory.id}` }),
  },
  'PUT /api/v1/categories/{category_id}': {
    build: async () => ({
      path: `/api/v1/categories/${(await makeCategory()).id}`,
      body: { name: `Renamed ${tag()}` },
    }),
  },
  'DELETE /api/v1/categories/{category_id}': {
    build: async () => ({ path: `/api/v1/categories/${(await makeCategory()).id}` }),
  },

  // pricing settings
  'GET /api/v1/tax-rates': { build: async () => ({ path: '/api/v1/tax-rates' }) },
  'POST /api/v1/tax-rates': {
    build: async () => ({
      path: '/api/v1/tax-rates',
      body: { name: 'Region', rate_bps: 550, ...newPlace() },
    }),
  },
  'GET /api/v1/tax-rates/{tax_rate_id}': {
    build: async (k) => ({ path: `/api/v1/tax-rates/${k.world.taxRate.id}` }),
  },
  'PUT /api/v1/tax-rates/{tax_rate_id}': {
    build: async (k) => {
      const rate = await createTaxRate(
        k.db,
        TaxRateInput.parse({ name: 'Region', rate_bps: 550, ...newPlace() }),
      )
      return { path: `/api/v1/tax-rates/${rate.id}`, body: { rate_bps: 600 } }
    },
  },
  'DELETE /api/v1/tax-rates/{tax_rate_id}': {
    build: async (k) => {
      const rate = await createTaxRate(
        k.db,
        TaxRateInput.parse({ name: 'Region', rate_bps: 550, ...newPlace() }),
      )
      return { path: `/api/v1/tax-rates/${rate.id}` }
    },
  },
  'GET /api/v1/shipping-rates': { build: async () => ({ path: '/api/v1/shipping-rates' }) },
  'POST /api/v1/shipping-rates': {
    build: async () => ({
      path: '/api/v1/shipping-rates',
      body: { name: 'Express', method: 'express', countries: ['US'], amount: 15 },
    }),
  },
  'GET /api/v1/shipping-rates/{shipping_rate_id}': {
    build: async (k) => ({ path: `/api/v1/shipping-rates/${k.world.shippingRate.id}` }),
  },
  'PUT /api/v1/shipping-rates/{shipping_rate_id}': {
    build: async (k) => {
      const rate = await createShippingRate(
        k.db,
        ShippingRateInput.parse({ name: 'Express', method: 'express', amount: 15 }),
      )
      return { path: `/api/v1/shipping-rates/${rate.id}`, body: { amount: 16 } }
    },
  },
  'DELETE /api/v1/shipping-rates/{shipping_rate_id}': {
    build: async (k) => {
      const rate = await createShippingRate(
        k.db,
        ShippingRateInput.parse({ name: 'Express', method: 'express', amount: 15 }),
      )
      return { path: `/api/v1/shipping-rates/${rate.id}` }
    },
  },
  'GET /api/v1/discounts': { build: async () => ({ path: '/api/v1/discounts' }) },
  'POST /api/v1/discounts': {
    build: async () => ({
      path: '/api/v1/discounts',
      body: { code: `SAVE${tag()}`, type: 'percentage', value: 10 },
    }),
  },
  'GET /api/v1/discounts/{discount_id}': {
    build: async (k) => ({ path: `/api/v1/discounts/${k.world.discount.id}` }),
  },
  'PUT /api/v1/discounts/{discount_id}': {
    build: async (k) => {
      const d = await createDiscount(
        k.db,
        DiscountInput.parse({ code: `SAVE${tag()}`, type: 'percentage', value: 10 }),
      )
      return { path: `/api/v1/discounts/${d.id}`, body: { value: 15 } }
    },
  },
  'DELETE /api/v1/discounts/{discount_id}': {
    build: async (k) => {
      const d = await createDiscount(
        k.db,
        DiscountInput.parse({ code: `SAVE${tag()}`, type: 'percentage', value: 10 }),
      )
      return { path: `/api/v1/discounts/${d.id}` }
    },
  },

  // orders
  'GET /api/v1/orders': { build: async () => ({ path: '/api/v1/orders' }) },
  'POST /api/v1/orders': {
    build: async (k) => ({
      path: '/api/v1/orders',
      body: { ...(await cart()), ...(k.me ? {} : { customer_email: `guest-${tag()}@example.test` }) },
    }),
  },
  'POST /api/v1/orders/quote': {
    build: async () => ({ path: '/api/v1/orders/quote', body: await cart() }),
  },
  'GET /api/v1/orders/{order_id}': { build: async (k) => ({ path: orderPath(sharedOrder(k)) }) },
  'PUT /api/v1/orders/{order_id}': {
    build: async (k) => ({
      path: orderPath((await confirmedOrder(k.buyer)).id),
      body: { notes: 'Please ring twice' },
    }),
  },
  'DELETE /api/v1/orders/{order_id}': {
    build: async (k) => ({ path: orderPath((await confirmedOrder(k.buyer)).id) }),
  },
  'DELETE /api/v1/orders/{order_id} [pending]': {
    build: async (k) => ({
      path: orderPath((await shippableOrder({ userId: k.buyer, status: 'pending' })).order.id),
    }),
  },
  'POST /api/v1/orders/{order_id}/payment': {
    env: STRIPE_ENV,
    build: async (k) => {
      const { order } = await orderInState({ userId: k.buyer, financialStatus: 'pending', stripe: k.stripe })
      return { path: orderPath(order.id, '/payment') }
    },
  },
  'POST /api/v1/orders/{order_id}/mark-paid': {
    build: async (k) => ({
      path: orderPath((await shippableOrder({ userId: k.buyer, status: 'pending' })).order.id, '/mark-paid'),
    }),
  },
  'POST /api/v1/orders/{order_id}/process': {
    build: async (k) => ({ path: orderPath((await confirmedOrder(k.buyer)).id, '/process') }),
  },
  'POST /api/v1/orders/{order_id}/fulfill': {
    build: async (k) => ({ path: orderPath((await confirmedOrder(k.buyer)).id, '/fulfill'), body: {} }),
  },
  'POST /api/v1/orders/{order_id}/ship': {
    build: async (k) => ({
      path: orderPath((await confirmedOrder(k.buyer)).id, '/ship'),
      body: { carrier: 'USPS', tracking_number: `T-${tag()}` },
    }),
  },
  'POST /api/v1/orders/{order_id}/deliver': {
    build: async (k) => ({ path: orderPath((await shippedOrder(k.buyer)).id, '/deliver'), body: {} }),
  },
  'GET /api/v1/orders/{order_id}/tracking': {
    build: async (k) => ({ path: orderPath(sharedOrder(k), '/tracking') }),
  },
  'GET /api/v1/orders/{order_id}/history': {
    build: async (k) => ({ path: orderPath(sharedOrder(k), '/history') }),
  },
  'POST /api/v1/orders/{order_id}/notes': {
    build: async (k) => ({
      path: orderPath((await confirmedOrder(k.buyer)).id, '/notes'),
      body: { body: 'Called the buyer' },
    }),
  },
  'POST /api/v1/orders/{order_id}/refund': {
    build: async (k) => ({
      path: orderPath((await confirmedOrder(k.buyer)).id, '/refund'),
      body: { reason: 'Goodwill' },
    }),
  },
  'POST /api/v1/orders/{order_id}/return': {
    build: async (k) => {
      const { order, items } = await deliveredOrder(k.buyer)
      return {
        path: orderPath(order.id, '/return'),
        body: { items: [{ order_item_id: items[0]!.id, quantity: 1 }], reason: 'Too small' },
      }
    },
  },
  'GET /api/v1/orders/analytics': { build: async () => ({ path: '/api/v1/orders/analytics' }) },
  'GET /api/v1/orders/metrics': { build: async () => ({ path: '/api/v1/orders/metrics' }) },
  'GET /api/v1/orders/export': { build: async () => ({ path: '/api/v1/orders/export' }) },
  'POST /api/v1/orders/bulk-process': {
    build: async (k) => ({
      path: '/api/v1/orders/bulk-process',
      body: { order_ids: [(await confirmedOrder(k.buyer)).id] },
    }),
  },
  'POST /api/v1/orders/bulk-fulfill': {
    build: async (k) => ({
      path: '/api/v1/orders/bulk-fulfill',
      body: { order_ids: [(await confirmedOrder(k.buyer)).id] },
    }),
  },

  // returns
  'GET /api/v1/returns': { build: async () => ({ path: '/api/v1/returns' }) },
  'POST /api/v1/returns/{return_id}/approve': {
    build: async (k) => ({ path: `/api/v1/returns/${await requestedReturn(k.owner.user.id)}/approve` }),
  },
  'POST /api/v1/returns/{return_id}/reject': {
    build: async (k) => ({
      path: `/api/v1/returns/${await requestedReturn(k.owner.user.id)}/reject`,
      body: { reason: 'Worn' },
    }),
  },
  'POST /api/v1/returns/{return_id}/receive': {
    build: async (k) => ({
      path: `/api/v1/returns/${await requestedReturn(k.owner.user.id)}/receive`,
      body: { restock: true, refund: true },
    }),
  },

  // users
  'GET /api/v1/users': { build: async () => ({ path: '/api/v1/users' }) },
  'POST /api/v1/users': {
    build: async () => ({
      path: '/api/v1/users',
      body: {
        email: `made-${tag()}@example.test`,
        first_name: 'Made',
        last_name: 'ByAdmin',
        password: NEW_PASSWORD,
      },
    }),
  },
  'GET /api/v1/users/{user_id}': { build: async (k) => ({ path: `/api/v1/users/${k.owner.user.id}` }) },
  'PUT /api/v1/users/{user_id}': {
    build: async (k) => ({ path: `/api/v1/users/${k.owner.user.id}`, body: { first_name: 'Renamed' } }),
  },
  'DELETE /api/v1/users/{user_id}': { build: async (k) => ({ path: `/api/v1/users/${k.owner.user.id}` }) },
  'POST /api/v1/users/{user_id}/activate': {
    build: async () => {
      const suspended = await makeUser({
        isActive: false,
        suspendedAt: new Date(),
        suspensionReason: 'matrix',
      })
      return { path: `/api/v1/users/${suspended.user.id}/activate` }
    },
  },
  'GET /api/v1/users/{user_id}/activity': {
    build: async (k) => ({ path: `/api/v1/users/${k.owner.user.id}/activity` }),
  },
  'POST /api/v1/users/{user_id}/mfa/reset': {
    build: async (k) => {
      await mfaOn(k.owner.user.id)
      return { path: `/api/v1/users/${k.owner.user.id}/mfa/reset` }
    },
  },
  'GET /api/v1/users/{user_id}/permissions': {
    build: async (k) => ({ path: `/api/v1/users/${k.owner.user.id}/permissions` }),
  },
  'PUT /api/v1/users/{user_id}/permissions': {
    build: async (k) => ({
      path: `/api/v1/users/${k.owner.user.id}/permissions`,
      body: { permissions: ['products.read'] },
    }),
  },
  'POST /api/v1/users/{user_id}/suspend': {
    build: async (k) => ({
      path: `/api/v1/users/${k.owner.user.id}/suspend`,
      body: { reason: 'Chargebacks' },
    }),
  },
  'POST /api/v1/users/{user_id}/unlock': {
    build: async () => {
      const locked = await makeUser({ lockedUntil: new Date(Date.now() + 600_000), failedLoginAttempts: 5 })
      return { path: `/api/v1/users/${locked.user.id}/unlock` }
    },
  },
  'GET /api/v1/users/analytics': { build: async () => ({ path: '/api/v1/users/analytics' }) },
  'GET /api/v1/users/export': { build: async () => ({ path: '/api/v1/users/export' }) },
  'POST /api/v1/users/bulk-update': {
    build: async (k) => ({
      path: '/api/v1/users/bulk-update',
      body: { user_ids: [k.owner.user.id], changes: { is_active: false } },
    }),
  },

  // health, status, documents, monitoring
  'GET /api/v1/health': { build: async () => ({ path: '/api/v1/health' }) },
  'GET /api/v1/health/database': { build: async () => ({ path: '/api/v1/health/database' }) },
  'GET /api/v1/health/redis': { build: async () => ({ path: '/api/v1/health/redis' }) },
  'GET /api/v1/health/external': { build: async () => ({ path: '/api/v1/health/external' }) },
  'GET /api/v1/health/detailed': { build: async () => ({ path: '/api/v1/health/detailed' }) },
  'GET /api/v1/status': { build: async () => ({ path: '/api/v1/status' }) },
  'GET /api/v1/openapi.json': { build: async () => ({ path: '/api/v1/openapi.json' }) },
  'GET /api/docs': { build: async () => ({ path: '/api/docs' }) },
  'GET /api/v1/metrics': {
    env: { METRICS_TOKEN },
    build: async () => ({
      path: '/api/v1/metrics',
      machine: { path: '/api/v1/metrics', token: METRICS_TOKEN },
    }),
  },
  'GET /api/v1/metrics/business': { build: async () => ({ path: '/api/v1/metrics/business' }) },

  // cron
  ...Object.fromEntries(
    ['cleanup', 'low-stock', 'outbox', 'reconcile-payments', 'release-unpaid'].map((job) => [
      `GET /api/cron/${job}`,
      {
        build: async () => ({
          path: `/api/cron/${job}`,
          machine: { path: `/api/cron/${job}`, token: CRON_SECRET },
        }),
      } satisfies Op,
    ]),
  ),

  // webhooks
  'POST /api/webhooks/stripe': {
    env: { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET },
    build: async () => {
      const { payload, signature } = signedEvent('customer.created', {
        id: `cus_${tag()}`,
        object: 'customer',
      })
      const headers = { 'content-type': 'application/json' }
      return {
        path: '/api/webhooks/stripe',
        rawBody: payload,
        headers,
        machine: {
          path: '/api/webhooks/stripe',
          rawBody: payload,
          headers: { ...headers, 'stripe-signature': signature },
        },
      }
    },
  },
  'POST /api/webhooks/shippo': {
    env: { SHIPPO_WEBHOOK_SECRET: SHIPPO_SECRET },
    build: async () => {
      const rawBody = JSON.stringify({ event: 'transaction_created', test: true, data: {} })
      const headers = { 'content-type': 'application/json' }
      return {
        path: '/api/webhooks/shippo',
        rawBody,
        headers,
        machine: {
          path: `/api/webhooks/shippo?token=${encodeURIComponent(SHIPPO_SECRET)}`,
          rawBody,
          headers,
        },
      }
    },
  },
}

// --- the walk --------------------------------------------------------------------------------------------

const operationOf = (key: string) => key.replace(/ \[[^\]]+\]$/, '')

async function documentedOperations(): Promise<string[]> {
  const res = await call('GET', '/api/v1/openapi.json')
  expect(res.status).toBe(200)
  const ops: string[] = []
  for (const [path, item] of Object.entries(res.body.paths as Record<string, Record<string, unknown>>)) {
    for (const method of Object.keys(item)) {
      const m = method.toUpperCase()
      if ((METHODS as readonly string[]).includes(m) && m !== 'HEAD' && m !== 'OPTIONS')
        ops.push(`${m} ${path}`)
    }
  }
  return ops.sort()
}

describe('the table', () => {
  it('has a row for every operation of the served document, and none for an operation that is gone', async () => {
    const documented = await documentedOperations()
    const rows = Object.keys(ACCESS_MATRIX)
    const covered = new Set(rows.map(operationOf))
    expect(
      documented.filter((op) => !(op in ACCESS_MATRIX)),
      'operations without a row',
    ).toEqual([])
    expect(
      [...covered].filter((op) => !documented.includes(op)),
      'rows for operations not in the document',
    ).toEqual([])
    expect(Object.keys(OPS).sort(), 'every row has exactly one fixture').toEqual([...rows].sort())
  })

  it("states each route's declared auth", async () => {
    const declared = new Map<string, unknown>()
    for (const file of await allRoutes()) {
      for (const method of METHODS) {
        const spec = (file.module[method] as { spec?: { auth: unknown } } | undefined)?.spec
        if (spec) declared.set(`${method} ${toOpenApiPath(file.path)}`, spec.auth)
      }
    }
    const wrong = Object.entries(ACCESS_MATRIX)
      .filter(([key, row]) => JSON.stringify(declared.get(operationOf(key))) !== JSON.stringify(row.auth))
      .map(
        ([key, row]) =>
          `${key}: the table says ${JSON.stringify(row.auth)}, the route ${JSON.stringify(declared.get(operationOf(key)))}`,
      )
    expect(wrong).toEqual([])
  })

  it('names no grant that a route declaring a permission does not ask for', () => {
    const wrong = Object.entries(ACCESS_MATRIX).filter(
      ([, row]) =>
        typeof row.auth === 'object' && 'permission' in row.auth && row.grant !== row.auth.permission,
    )
    // the one exception: receiving a return with `refund` also needs orders.refund (checked in the handler)
    expect(wrong.map(([key]) => key)).toEqual(['POST /api/v1/returns/{return_id}/receive'])
  })
})

describe('who may call what', () => {
  for (const [key, row] of Object.entries(ACCESS_MATRIX)) {
    it(key, async () => {
      const op = OPS[key]
      if (!op) throw new Error(`no fixture for ${key}`)
      if (op.env) {
        setEnv(op.env)
        resetStripeClient()
      }
      const method = key.split(' ')[0]!
      const fresh = op.fresh ?? method !== 'GET'
      const wrong: string[] = []
      // request() checks each response against the document as call() does; the after-response work
      // (metrics writes, spaced 50 ms apart) is awaited once per row instead of after every call.
      const send = async (who: string, expected: number, prepared: Prepared, token?: string) => {
        try {
          const res = await request(method, prepared.path, {
            token,
            body: prepared.body,
            rawBody: prepared.rawBody,
            headers: prepared.headers,
          })
          const text = await res.text()
          if (res.status !== expected) {
            wrong.push(`${who}: expected ${expected}, got ${res.status} ${text.slice(0, 300)}`)
          }
        } catch (err) {
          wrong.push(`${who}: ${(err as Error).message}`)
        }
      }
      for (const [i, caller] of CALLERS.entries()) {
        const k = fresh ? await freshKit(caller, row) : await sharedKit(caller, row)
        const prepared = await op.build(k)
        const headers = { ...prepared.headers }
        if (caller === 'guest') headers[ORDER_TOKEN_HEADER] = world.guestToken
        await send(caller, row.expect[i]!, { ...prepared, headers }, k.me?.token)
        if (Boolean(row.machine) !== Boolean(prepared.machine)) {
          throw new Error(`${key}: the row and the fixture disagree on a machine caller`)
        }
        if (caller === 'admin' && row.machine && prepared.machine) {
          await send(row.machine.caller, row.machine.status, prepared.machine, prepared.machine.token)
        }
      }
      await flushBackground()
      expect(wrong, `${key} (${row.fixture})`).toEqual([])
    })
  }
})
