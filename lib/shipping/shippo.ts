import { and, eq, inArray, isNotNull, isNull, sql } from 'drizzle-orm'
import type { Rate, Shippo, Transaction } from 'shippo'
import { z } from 'zod'
import { type Address, fulfillments, orderItems, products, productVariants } from '../../db/schema/index.js'
import { conflict, ProblemError, unprocessable } from '../http/errors.js'
import type { FullOrder } from '../orders/view.js'
import { afterResponse } from '../platform/background.js'
import { now } from '../platform/clock.js'
import { type Db, getDb } from '../platform/db.js'
import { env } from '../platform/env.js'
import { log, safeError } from '../platform/logger.js'

// Shipping labels through the official Shippo SDK: a shipment from SHIP_FROM_ADDRESS to the order's
// shipping address with DEFAULT_PARCEL and the packed items' weight, its cheapest rate (or the one
// `service_level` names), then a transaction (the label) for that rate.
//
// Buying costs money, so it happens outside any database transaction and never twice for one fulfilment:
// before buying, the chosen rate is claimed on the fulfilment (`provider_shipment_id = 'rate:<id>'`, a
// conditional UPDATE, so of two racing requests one buys); after buying, the Shippo transaction id
// replaces the claim together with the label. A request that crashed between buying and writing leaves
// the claim behind; the next attempt, once the claim is older than LABEL_CLAIM_MS, asks Shippo for the
// transactions of the claimed rate and takes the label it already bought instead of buying again. Shippo
// also carries `fulfillment:<id>` as metadata on the shipment and the transaction, for reconciliation.

/** A claim younger than this belongs to a request still buying; older, it is taken over. */
export const LABEL_CLAIM_MS = 2 * 60_000
const SHIPPO_TIMEOUT_MS = 20_000
const CLAIM_PREFIX = 'rate:'

const dimension = z.union([z.number().positive(), z.string().regex(/^\d+(\.\d+)?$/)]).transform(String)

const ParcelSetting = z.object({
  length: dimension,
  width: dimension,
  height: dimension,
  distance_unit: z.enum(['cm', 'in', 'ft', 'm', 'mm', 'yd']),
  mass_unit: z.enum(['g', 'kg', 'lb', 'oz']),
  /** used when the items carry no weight */
  weight: dimension.optional(),
})
type ParcelSetting = z.output<typeof ParcelSetting>

const FromSetting = z.object({
  name: z.string().optional(),
  first_name: z.string().optional(),
  last_name: z.string().optional(),
  company: z.string().optional(),
  line1: z.string().min(1),
  line2: z.string().optional(),
  city: z.string().min(1),
  state: z.string().optional(),
  postal_code: z.string().optional(),
  country: z.string().length(2),
  phone: z.string().optional(),
  email: z.string().optional(),
})

const notConfigured = (detail: string) => conflict('label_not_configured', detail)

function setting<T extends z.ZodType>(name: 'SHIP_FROM_ADDRESS' | 'DEFAULT_PARCEL', schema: T): z.output<T> {
  const raw = env()[name]
  const hint = 'or give a tracking_number to ship without a label'
  if (!raw) throw notConfigured(`Buying a label needs ${name}; set it, ${hint}.`)
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    throw notConfigured(`${name} is not valid JSON; fix it, ${hint}.`)
  }
  const r = schema.safeParse(parsed)
  if (!r.success)
    throw notConfigured(
      `${name} is not a valid ${name === 'DEFAULT_PARCEL' ? 'parcel' : 'address'}; fix it, ${hint}.`,
    )
  return r.data
}

/** Whether /ship buys a label: Shippo is configured and no tracking number was given. */
export const buysLabels = (trackingNumber: string | undefined) =>
  Boolean(env().SHIPPO_API_KEY) && !trackingNumber

let client: { key: string; base: string; sdk: Shippo } | undefined

async function shippo(): Promise<Shippo> {
  const key = env().SHIPPO_API_KEY!
  const base = env().SHIPPO_API_BASE
  if (client?.key !== key || client.base !== base) {
    // loaded on first use: functions that never buy a label never load the SDK
    const { Shippo } = await import('shippo')
    const header = key.startsWith('ShippoToken ') ? key : `ShippoToken ${key}`
    client = {
      key,
      base,
      // no SDK retries: a retried purchase whose first answer was lost would buy a second label
      sdk: new Shippo({
        apiKeyHeader: header,
        serverURL: base,
        timeoutMs: SHIPPO_TIMEOUT_MS,
        retryConfig: { strategy: 'none' },
      }),
    }
  }
  return client.sdk
}

/** Any SDK failure (refused, unreachable, timed out, an answer it could not read) as a 502. */
async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof ProblemError) throw err
    log.warn('shippo call failed', { call: what, err: safeError(err) })
    throw new ProblemError(502, 'shipping_provider_error', `Shippo could not ${what}; try again shortly.`)
  }
}

const shippoAddress = (a: z.output<typeof FromSetting> | Address, email?: string) => ({
  name:
    ('name' in a && typeof a.name === 'string' && a.name) ||
    [a.first_name, a.last_name].filter(Boolean).join(' ') ||
    a.company ||
    undefined,
  company: a.company,
  street1: a.line1,
  street2: a.line2 || undefined,
  city: a.city,
  state: a.state,
  zip: a.postal_code,
  country: a.country,
  phone: a.phone,
  email: ('email' in a && typeof a.email === 'string' && a.email) || email,
})

const GRAMS_PER: Record<ParcelSetting['mass_unit'], number> = {
  g: 1,
  kg: 1000,
  oz: 28.349523125,
  lb: 453.59237,
}

/** The packed items' weight in the parcel's unit (variant weight, else the product's). */
async function parcelWeight(
  db: Db,
  packed: Array<{ orderItemId: string; quantity: number }>,
  parcel: ParcelSetting,
) {
  const ids = packed.map((i) => i.orderItemId)
  const rows = ids.length
    ? await db
        .select({
          id: orderItems.id,
          grams: sql<number | null>`coalesce(${productVariants.weightGrams}, ${products.weightGrams})`,
        })
        .from(orderItems)
        .leftJoin(productVariants, eq(productVariants.id, orderItems.variantId))
        .leftJoin(products, eq(products.id, orderItems.productId))
        .where(inArray(orderItems.id, ids))
    : []
  const grams = new Map(rows.map((r) => [r.id, Number(r.grams ?? 0)]))
  const total = packed.reduce((s, i) => s + (grams.get(i.orderItemId) ?? 0) * i.quantity, 0)
  if (total > 0)
    return String(Math.max(0.001, Math.round((total / GRAMS_PER[parcel.mass_unit]) * 1000) / 1000))
  if (parcel.weight) return parcel.weight
  throw notConfigured('The items carry no weight; give products a weight or DEFAULT_PARCEL a weight.')
}

function pickRate(rates: Rate[], serviceLevel: string | undefined): Rate {
  if (!rates.length) {
    throw new ProblemError(502, 'no_shipping_rates', 'Shippo offered no rate for this parcel and address.')
  }
  if (serviceLevel) {
    const wanted = serviceLevel.toLowerCase()
    const match = rates
      .filter(
        (r) =>
          r.servicelevel.token?.toLowerCase() === wanted || r.servicelevel.name?.toLowerCase() === wanted,
      )
      .sort((a, b) => Number(a.amount) - Number(b.amount))[0]
    if (match) return match
    const offered = [...new Set(rates.map((r) => r.servicelevel.token).filter(Boolean))].join(', ')
    throw unprocessable(
      [{ path: 'service_level', code: 'unknown_service_level', message: `Offered: ${offered}.` }],
      'No rate has this service level.',
    )
  }
  return [...rates].sort((a, b) => Number(a.amount) - Number(b.amount))[0]!
}

export interface BoughtLabel {
  transactionId: string
  labelUrl: string | null
  trackingNumber: string | null
  trackingUrl: string | null
  carrier: string | null
  serviceLevel: string | null
}

const labelOf = (t: Transaction, rate: Pick<Rate, 'provider' | 'servicelevel'>): BoughtLabel => ({
  transactionId: t.objectId!,
  labelUrl: t.labelUrl || null,
  trackingNumber: t.trackingNumber || null,
  trackingUrl: t.trackingUrlProvider || null,
  carrier: rate.provider || null,
  serviceLevel: rate.servicelevel.token || null,
})

/**
 * Write the bought label over the claim (only the claim's holder writes it). A fulfilment cancelled while
 * the label was being bought stays cancelled, and its label is voided at Shippo.
 */
async function storeLabel(db: Db, fulfilmentId: string, claim: string, label: BoughtLabel) {
  const [stored] = await db
    .update(fulfillments)
    .set({
      providerShipmentId: label.transactionId,
      labelUrl: label.labelUrl,
      trackingNumber: label.trackingNumber,
      trackingUrl: label.trackingUrl,
      carrier: label.carrier,
      service: label.serviceLevel,
      status: sql`case when ${fulfillments.status} = 'pending' then 'label_created' else ${fulfillments.status} end`,
      updatedAt: now(),
    })
    .where(and(eq(fulfillments.id, fulfilmentId), eq(fulfillments.providerShipmentId, claim)))
    .returning({ status: fulfillments.status })
  if (stored?.status === 'cancelled') await voidLabels(db, [fulfilmentId])
}

/**
 * Void the bought labels of cancelled fulfilments at Shippo (a refund of the label's transaction), once
 * each: `label_voided_at` records it. A purchase still claimed (its answer was lost) is looked up by its
 * rate first. Shippo failing is logged; the label can be voided in Shippo's app.
 */
export async function voidLabels(db: Db, fulfilmentIds: string[]): Promise<void> {
  if (!fulfilmentIds.length || !env().SHIPPO_API_KEY) return
  const rows = await db
    .select({ id: fulfillments.id, transaction: fulfillments.providerShipmentId })
    .from(fulfillments)
    .where(
      and(
        inArray(fulfillments.id, fulfilmentIds),
        eq(fulfillments.status, 'cancelled'),
        isNull(fulfillments.labelVoidedAt),
        isNotNull(fulfillments.providerShipmentId),
      ),
    )
  const sdk = await shippo()
  for (const r of rows) {
    try {
      const bought = r.transaction!.startsWith(CLAIM_PREFIX)
        ? ((await sdk.transactions.list({ rate: r.transaction!.slice(CLAIM_PREFIX.length) })).results ?? [])
            .filter((t) => t.status === 'SUCCESS' && t.objectId)
            .map((t) => t.objectId!)
        : [r.transaction!]
      for (const transaction of bought) await sdk.refunds.create({ transaction, async: false })
      await db
        .update(fulfillments)
        .set({ labelVoidedAt: now(), updatedAt: now() })
        .where(eq(fulfillments.id, r.id))
    } catch (err) {
      log.warn('label could not be voided; void it in Shippo', { fulfillment_id: r.id, err: safeError(err) })
    }
  }
}

/** voidLabels after the response (after the commit that cancelled the fulfilments). */
export function voidLabelsAfterCommit(fulfilmentIds: string[]): void {
  if (!fulfilmentIds.length || !env().SHIPPO_API_KEY) return
  afterResponse(async () => voidLabels(await getDb(), fulfilmentIds))
}

const inProgress = () =>
  conflict('label_purchase_in_progress', 'A label for this shipment is being bought; try again shortly.')

/**
 * Make sure the fulfilment has a label (status label_created), buying one when it has none. Runs outside
 * any transaction; see the top of this file for why a crash never buys twice. `order` is read after the
 * fulfilment was created (its packed items give the weight).
 */
export async function ensureLabel(
  db: Db,
  order: FullOrder,
  fulfilmentId: string,
  serviceLevel: string | undefined,
): Promise<void> {
  const [f] = await db.select().from(fulfillments).where(eq(fulfillments.id, fulfilmentId))
  if (!f) throw conflict('illegal_transition', 'The shipment is gone.')
  if (f.providerShipmentId && !f.providerShipmentId.startsWith(CLAIM_PREFIX)) return // bought already
  const sdk = await shippo()
  const metadata = `fulfillment:${f.id}`

  if (f.providerShipmentId?.startsWith(CLAIM_PREFIX)) {
    // an earlier attempt claimed a rate: recover its label rather than buy another
    if (now().getTime() - f.updatedAt.getTime() < LABEL_CLAIM_MS) throw inProgress()
    const claim = f.providerShipmentId
    const rateId = claim.slice(CLAIM_PREFIX.length)
    const list = await call('list the label purchases', () => sdk.transactions.list({ rate: rateId }))
    const bought = list.results?.find((t) => t.status === 'SUCCESS' && t.objectId)
    const rate = await call('read the rate', () => sdk.rates.get(rateId))
    if (bought) return storeLabel(db, f.id, claim, labelOf(bought, rate))
    const pending = list.results?.find((t) => t.status === 'QUEUED' || t.status === 'WAITING')
    if (pending) throw inProgress()
    // take the stale claim over: re-stamp it, so a parallel recovery does not buy as well (the stamp is
    // always written from our clock, in milliseconds, so it compares equal after a round trip)
    const [retaken] = await db
      .update(fulfillments)
      .set({ updatedAt: now() })
      .where(
        and(
          eq(fulfillments.id, f.id),
          eq(fulfillments.providerShipmentId, claim),
          eq(fulfillments.updatedAt, f.updatedAt),
        ),
      )
      .returning({ id: fulfillments.id })
    if (!retaken) throw inProgress()
    return purchase(db, sdk, f.id, claim, rate, metadata)
  }

  if (!order.shippingAddress) {
    throw conflict('no_shipping_address', 'The order has no shipping address to buy a label for.')
  }
  const from = setting('SHIP_FROM_ADDRESS', FromSetting)
  const parcel = setting('DEFAULT_PARCEL', ParcelSetting)
  const packed = order.fulfillments.find((x) => x.id === f.id)?.items ?? []
  const weight = await parcelWeight(db, packed, parcel)
  const shipment = await call('price the shipment', () =>
    sdk.shipments.create({
      addressFrom: shippoAddress(from),
      addressTo: shippoAddress(order.shippingAddress as Address, order.email),
      parcels: [
        {
          length: parcel.length,
          width: parcel.width,
          height: parcel.height,
          distanceUnit: parcel.distance_unit,
          massUnit: parcel.mass_unit,
          weight,
        },
      ],
      async: false,
      metadata,
    }),
  )
  const rate = pickRate(shipment.rates, serviceLevel)
  const claim = `${CLAIM_PREFIX}${rate.objectId}`
  const [claimed] = await db
    .update(fulfillments)
    .set({ providerShipmentId: claim, updatedAt: now() })
    .where(and(eq(fulfillments.id, f.id), sql`${fulfillments.providerShipmentId} is null`))
    .returning({ id: fulfillments.id })
  if (!claimed) throw inProgress()
  return purchase(db, sdk, f.id, claim, rate, metadata)
}

async function purchase(
  db: Db,
  sdk: Shippo,
  fulfilmentId: string,
  claim: string,
  rate: Rate,
  metadata: string,
): Promise<void> {
  // an unknown outcome (timeout, lost answer) throws here and leaves the claim: the next attempt asks
  // Shippo what this rate bought before buying anything
  const t = await call('buy the label', () =>
    sdk.transactions.create({ rate: rate.objectId, async: false, labelFileType: 'PDF_4x6', metadata }),
  )
  if (t.status === 'SUCCESS' && t.objectId) return storeLabel(db, fulfilmentId, claim, labelOf(t, rate))
  if (t.status === 'ERROR') {
    // nothing was bought: give the claim back so another attempt may price the shipment afresh
    await db
      .update(fulfillments)
      .set({ providerShipmentId: null, updatedAt: now() })
      .where(and(eq(fulfillments.id, fulfilmentId), eq(fulfillments.providerShipmentId, claim)))
    const why = (t.messages ?? [])
      .map((m) => m.text)
      .filter(Boolean)
      .join(' ')
    throw new ProblemError(502, 'label_purchase_failed', `Shippo refused the label${why ? `: ${why}` : '.'}`)
  }
  throw inProgress()
}
