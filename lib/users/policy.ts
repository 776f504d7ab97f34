import { eq } from 'drizzle-orm'
import { users } from '../../db/schema/index.js'
import type { Permission, Principal, Role } from '../auth/permissions.js'
import { forbidden, notFound } from '../http/errors.js'
import type { Db } from '../platform/db.js'

// Who may act on whom (issue 4): only admins act on admin accounts or change roles; nobody changes their
// own role or suspends/erases themselves here; nobody grants a permission they do not hold. An erased
// (deleted_at) or unknown user is a 404.

export interface TargetUser {
  id: string
  role: Role
  email: string
  isActive: boolean
  deletedAt: Date | null
}

export async function loadTarget(db: Db, userId: string): Promise<TargetUser> {
  const [u] = await db
    .select({
      id: users.id,
      role: users.role,
      email: users.email,
      isActive: users.isActive,
      deletedAt: users.deletedAt,
    })
    .from(users)
    .where(eq(users.id, userId))
    .limit(1)
  if (!u || u.deletedAt) throw notFound('user')
  return u
}

/** Writes on another account: admin accounts only by admins. */
export function assertMayManage(actor: Principal, target: TargetUser): void {
  if (target.role === 'admin' && actor.role !== 'admin') {
    throw forbidden('Only an admin can act on an admin account.', 'admin_target')
  }
}

export function assertNotSelf(actor: Principal, target: { id: string }, what: string): void {
  if (actor.userId === target.id) throw forbidden(`You cannot ${what} your own account.`, 'self_action')
}

export function assertMaySetRole(actor: Principal, target: TargetUser, role: Role | undefined): void {
  if (role === undefined || role === target.role) return
  if (actor.role !== 'admin') throw forbidden('Only an admin can change roles.', 'role_change_forbidden')
  assertNotSelf(actor, target, 'change the role of')
}

export function assertMayGrant(actor: Principal, permissions: readonly string[]): void {
  const missing = permissions.filter((p) => !actor.permissions.has(p as Permission))
  if (missing.length) {
    throw forbidden(`You cannot grant permissions you do not hold: ${missing.join(', ')}.`, 'grant_forbidden')
  }
}
