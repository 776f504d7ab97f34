import { z } from 'zod'

// Response shapes of the monitoring endpoints, for the OpenAPI document and the tests.

export const DependencySchema = z.object({
  status: z.enum(['healthy', 'unhealthy', 'not_configured', 'reachable', 'unreachable']),
  latency_ms: z.number().nullable(),
  error: z.string().optional().describe('Staff only'),
  breaker: z
    .enum(['closed', 'open', 'half_open'])
    .optional()
    .describe("Staff only; Redis only: the answering instance's circuit breaker (open: Redis is skipped)"),
})

export const MigrationStateSchema = z.object({
  applied: z.number().int(),
  expected: z.number().int(),
  pending: z.number().int(),
  latest_applied: z.string().nullable(),
  up_to_date: z.boolean(),
})

export const DatabaseHealthSchema = DependencySchema.extend({ migrations: MigrationStateSchema.optional() })

export const ExternalHealthSchema = z.object({
  stripe: DependencySchema,
  shippo: DependencySchema,
  resend: DependencySchema,
  checked_at: z.string(),
})

export const LivenessSchema = z.object({
  status: z.literal('healthy'),
  timestamp: z.string(),
  version: z.string(),
})

export const DetailedHealthSchema = z.object({
  status: z.enum(['healthy', 'degraded', 'unhealthy']),
  timestamp: z.string(),
  version: z.string(),
  checks: z.object({
    database: DatabaseHealthSchema,
    redis: DependencySchema,
    external: ExternalHealthSchema,
  }),
})
