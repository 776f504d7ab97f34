import {
  BackupCodesResponse,
  BackupCodesStatusResponse,
  backupCodesStatus,
  RegenerateBackupCodesBody,
  regenerateBackupCodes,
} from '../../../../lib/auth/mfa.js'
import { methods } from '../../../../lib/http/methods.js'
import { json, route } from '../../../../lib/http/route.js'

// GET /api/v1/auth/mfa/backup-codes – how many backup codes remain unused
// POST /api/v1/auth/mfa/backup-codes – 10 new backup codes for a current TOTP code; the old ones die
export const { GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE } = methods({
  GET: route(
    {
      path: '/api/v1/auth/mfa/backup-codes',
      summary: 'Count unused backup codes',
      tags: ['auth'],
      auth: 'authenticated',
      response: BackupCodesStatusResponse,
      responses: { 409: 'MFA is not enabled (mfa_not_enabled)' },
    },
    async ({ db, principal }) => json(await backupCodesStatus(db, principal!.userId)),
  ),
  POST: route(
    {
      path: '/api/v1/auth/mfa/backup-codes',
      summary: 'Regenerate backup codes',
      description:
        'Needs a current TOTP code (wrong or replayed: 422 `invalid_code`). Returns 10 new codes once; every ' +
        'earlier code stops working. MFA not on: 409 `mfa_not_enabled`.',
      tags: ['auth'],
      auth: 'authenticated',
      body: RegenerateBackupCodesBody,
      response: BackupCodesResponse,
      responses: { 409: 'MFA is not enabled (mfa_not_enabled)' },
    },
    async ({ db, body, principal, ip, userAgent }) =>
      json(await regenerateBackupCodes(db, principal!.userId, body.code, { ip, userAgent })),
  ),
})
