// Roles and permissions (docs/auth.md, "Roles and permissions"). Authority is computed from the current
// database state on every request; a token only says who and which session.

export const ROLES = ['customer', 'staff', 'admin'] as const
export type Role = (typeof ROLES)[number]

export const PERMISSIONS = [
  'products.read',
  'products.write',
  'inventory.write',
  'orders.view',
  'orders.manage',
  'orders.refund',
  'users.view',
  'users.manage',
  'analytics.view',
  'settings.manage',
] as const
export type Permission = (typeof PERMISSIONS)[number]

export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  customer: [],
  staff: [
    'products.read',
    'products.write',
    'inventory.write',
    'orders.view',
    'orders.manage',
    'users.view',
    'analytics.view',
  ],
  admin: PERMISSIONS,
}

export interface Principal {
  userId: string
  sessionId: string
  role: Role
  permissions: ReadonlySet<Permission>
}

export function isStaff(p: Principal | null | undefined): boolean {
  return p?.role === 'staff' || p?.role === 'admin'
}

export function effectivePermissions(role: Role, grants: readonly string[]): Set<Permission> {
  const set = new Set<Permission>(ROLE_PERMISSIONS[role])
  for (const g of grants) if ((PERMISSIONS as readonly string[]).includes(g)) set.add(g as Permission)
  return set
}
