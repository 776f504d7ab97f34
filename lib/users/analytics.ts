import { sql } from 'drizzle-orm'
import { z } from 'zod'
import type { Db } from '../platform/db.js'

// Issue 4: user analytics over a period, in one database round trip. Erased users (deleted_at) are left
// out everywhere. Buckets are UTC calendar days, or ISO weeks starting on Monday.

export const ANALYTICS_INTERVALS = ['day', 'week'] as const
export type AnalyticsInterval = (typeof ANALYTICS_INTERVALS)[number]

/** Most buckets one request may ask for (about 2.7 years of days, 19 years of weeks). */
export const MAX_BUCKETS = 1000

export const ANALYTICS_DESCRIPTION =
  'Signups per bucket over `[from, to)` (UTC days, or ISO weeks starting Monday; every bucket from the ' +
  "one holding `from` to the one holding the period's last instant is listed, zero-filled; a partial first " +
  'or last bucket counts only signups inside the period). `totals` describe the users that existed at ' +
  '`to` (created before it and not erased): `verified` and `mfa_enabled` are their current flags, ' +
  '`active` counts those with `is_active` true who signed in during the period (their `last_login_at`, ' +
  'or a login in the activity log, falls in `[from, to)`), `new_in_period` those created in the period. ' +
  'Percentages are 0..100, rounded to one decimal, of `totals.users`. `by_role` splits `totals.users`. ' +
  `Erased users are never counted. At most ${MAX_BUCKETS} buckets per request.`

export const UserAnalyticsSchema = z.object({
  period: z.object({
    from: z.string(),
    to: z.string(),
    interval: z.enum(ANALYTICS_INTERVALS),
  }),
  signups: z.array(
    z.object({
      period_start: z.string().describe('UTC date (YYYY-MM-DD) the bucket starts on'),
      count: z.number().int(),
    }),
  ),
  totals: z.object({
    users: z.number().int(),
    active: z.number().int(),
    verified: z.number().int(),
    verified_pct: z.number(),
    mfa_enabled: z.number().int(),
    mfa_adoption_pct: z.number(),
    new_in_period: z.number().int(),
  }),
  by_role: z.object({ customer: z.number().int(), staff: z.number().int(), admin: z.number().int() }),
})
export type UserAnalytics = z.infer<typeof UserAnalyticsSchema>

const DAY = 86_400_000
const WEEK = 7 * DAY
/** Start (ms, UTC) of the day or ISO week holding `ms`. 1970-01-01 was a Thursday: weeks shift by 3 days. */
const bucketStart = (ms: number, interval: AnalyticsInterval) =>
  interval === 'day' ? Math.floor(ms / DAY) * DAY : Math.floor((ms + 3 * DAY) / WEEK) * WEEK - 3 * DAY

/** How many buckets the answer for [from, to) lists. */
export function bucketCount(from: Date, to: Date, interval: AnalyticsInterval): number {
  const first = bucketStart(from.getTime(), interval)
  const last = bucketStart(to.getTime() - 1, interval)
  return Math.round((last - first) / (interval === 'day' ? DAY : WEEK)) + 1
}

/** Share of `part` in `whole` as a percentage rounded to one decimal (0 when `whole` is 0). */
export const percent = (part: number, whole: number): number =>
  whole === 0 ? 0 : Math.round((part * 1000) / whole) / 10

type Count = string | number | bigint

interface Row {
  users: Count
  active: Count
  verified: Count
  mfa_enabled: Count
  new_in_period: Count
  customers: Count
  staff: Count
  admins: Count
  signups: string | Array<{ period_start: string; count: number }> | null
}

export async function userAnalytics(
  db: Db,
  from: Date,
  to: Date,
  interval: AnalyticsInterval,
): Promise<UserAnalytics> {
  const f = sql`${from.toISOString()}::timestamptz`
  const t = sql`${to.toISOString()}::timestamptz`
  const step = interval === 'day' ? '1 day' : '1 week'
  const result = (await db.execute(sql`
    with base as (
      select id, role, is_active, is_verified, mfa_enabled, created_at, last_login_at
      from users
      where deleted_at is null and created_at < ${t}
    ),
    series as (
      select generate_series(
        date_trunc(${interval}, ${f} at time zone 'UTC'),
        date_trunc(${interval}, (${t} - interval '1 microsecond') at time zone 'UTC'),
        ${step}::interval
      ) as bucket
    ),
    counted as (
      select date_trunc(${interval}, created_at at time zone 'UTC') as bucket, count(*)::int as n
      from base where created_at >= ${f}
      group by 1
    )
    select
      (select count(*) from base) as users,
      (select count(*) from base b where b.is_active and (
        (b.last_login_at >= ${f} and b.last_login_at < ${t})
        or exists (
          select 1 from user_activities a
          where a.user_id = b.id and a.action = 'auth.login' and a.created_at >= ${f} and a.created_at < ${t}
        ))) as active,
      (select count(*) from base where is_verified) as verified,
      (select count(*) from base where mfa_enabled) as mfa_enabled,
      (select count(*) from base where created_at >= ${f}) as new_in_period,
      (select count(*) from base where role = 'customer') as customers,
      (select count(*) from base where role = 'staff') as staff,
      (select count(*) from base where role = 'admin') as admins,
      (select json_agg(json_build_object(
          'period_start', to_char(s.bucket, 'YYYY-MM-DD'),
          'count', coalesce(c.n, 0)
        ) order by s.bucket)
        from series s left join counted c on c.bucket = s.bucket) as signups
  `)) as unknown as { rows: Row[] }
  const r = result.rows[0]!
  const signups = (typeof r.signups === 'string' ? JSON.parse(r.signups) : (r.signups ?? [])) as Array<{
    period_start: string
    count: number
  }>
  const users = Number(r.users)
  const verified = Number(r.verified)
  const mfa = Number(r.mfa_enabled)
  return {
    period: { from: from.toISOString(), to: to.toISOString(), interval },
    signups: signups.map((s) => ({ period_start: s.period_start, count: Number(s.count) })),
    totals: {
      users,
      active: Number(r.active),
      verified,
      verified_pct: percent(verified, users),
      mfa_enabled: mfa,
      mfa_adoption_pct: percent(mfa, users),
      new_in_period: Number(r.new_in_period),
    },
    by_role: { customer: Number(r.customers), staff: Number(r.staff), admin: Number(r.admins) },
  }
}
