import { sql } from 'drizzle-orm'
import { z } from 'zod'
import { deliverAfterResponse, enqueueEmailToStaff } from '../email/outbox.js'
import type { LowStockLine } from '../email/templates.js'
import { now } from '../platform/clock.js'
import type { Db } from '../platform/db.js'

// Low-stock alerts, run hourly by cron. Stock is counted where it is sold: a product without variants
// on its own row, a product with variants on each active variant (against the product's threshold).
// Only active products whose stock is tracked take part; untracked items never run low. Items that
// keep selling when out of stock (policy `continue`) do: they still need restocking, and the business
// metrics count them as low stock too.
//
// An item alerts once per crossing: the open row in stock_alerts (at most one per item, enforced by a
// unique index) stands for "staff know". It is cleared when the item is above its threshold again, now
// or at any moment since the alert (the inventory ledger records every level), so a restock that sold
// down again between two runs still counts as a new crossing.

/** Advisory lock key of the job (any constant unique among the app's advisory locks). */
const LOCK_KEY = 7_402_001

/** Lines listed in the email; the rest are counted ("...and 12 more"). */
const LINES_PER_EMAIL = 50

export const LowStockReportSchema = z.object({
  alerted: z.number().int().describe('Items that crossed their threshold since the last run.'),
  cleared: z.number().int().describe('Open alerts closed because the item was restocked above it.'),
  emails: z.number().int().describe('Emails queued to staff.'),
})
export type LowStockReport = z.infer<typeof LowStockReportSchema>

interface AlertedRow extends Record<string, unknown> {
  sku: string
  name: string
  quantity: number
  threshold: number
}

/** Clear what was restocked, open alerts for new crossings, email staff: one transaction of 4 statements. */
export async function runLowStockAlerts(db: Db): Promise<LowStockReport> {
  const t = sql`${now().toISOString()}::timestamptz`
  const { report, emailIds } = await db.transaction(async (tx) => {
    // Runs that overlap (a slow one and the next hour's) take turns: the later one sees the alerts
    // the earlier one opened, and the two never deadlock over the same alert rows.
    await tx.execute(sql`select pg_advisory_xact_lock(${LOCK_KEY})`)
    const cleared = (await tx.execute(sql`
      update stock_alerts a set cleared_at = ${t}, updated_at = ${t}
      from products p
      where a.cleared_at is null and p.id = a.product_id and (
        case when a.variant_id is null then
          p.has_variants or p.inventory_quantity > p.low_stock_threshold
        else
          exists (select 1 from product_variants v where v.id = a.variant_id
                    and v.inventory_quantity > p.low_stock_threshold)
        end
        or exists (select 1 from inventory_ledger l
                    where l.product_id = a.product_id
                      and l.variant_id is not distinct from a.variant_id
                      and l.created_at > a.alerted_at
                      and l.quantity_after > p.low_stock_threshold)
      )
      returning a.id
    `)) as unknown as { rows: unknown[] }

    const alerted = (await tx.execute(sql`
      with low as (
        select p.id as product_id, null::uuid as variant_id, p.sku, p.name,
               p.inventory_quantity as quantity, p.low_stock_threshold as threshold
        from products p
        where p.status = 'active' and not p.has_variants and p.track_inventory
          and p.inventory_quantity <= p.low_stock_threshold
        union all
        select p.id, v.id, v.sku, p.name || ' – ' || v.title,
               v.inventory_quantity, p.low_stock_threshold
        from product_variants v join products p on p.id = v.product_id
        where p.status = 'active' and p.has_variants and v.is_active and v.track_inventory
          and v.inventory_quantity <= p.low_stock_threshold
      ),
      opened as (
        -- An item with an open alert conflicts on the unique index and is skipped: staff already know.
        insert into stock_alerts (product_id, variant_id, quantity, alerted_at)
        select product_id, variant_id, quantity, ${t} from low
        on conflict do nothing
        returning product_id, variant_id
      )
      select low.sku, low.name, low.quantity, low.threshold
      from low join opened on opened.product_id = low.product_id
        and opened.variant_id is not distinct from low.variant_id
      order by low.quantity, low.sku
    `)) as unknown as { rows: AlertedRow[] }

    const lines: LowStockLine[] = alerted.rows.map((r) => ({
      sku: r.sku,
      name: r.name,
      quantity: Number(r.quantity),
      threshold: Number(r.threshold),
    }))
    const emailIds = lines.length
      ? await enqueueEmailToStaff(tx, 'low_stock', {
          items: lines.slice(0, LINES_PER_EMAIL),
          more: Math.max(0, lines.length - LINES_PER_EMAIL),
        })
      : []
    return {
      report: { alerted: lines.length, cleared: cleared.rows.length, emails: emailIds.length },
      emailIds,
    }
  })
  deliverAfterResponse(emailIds)
  return report
}
