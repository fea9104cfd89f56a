/**
 * What can be done, and who may do it. Every route of the API declares the one
 * permission it needs (or that it is public, or for any signed-in user); a test
 * fails for a route that declares nothing, and a table-driven test tries every
 * route with every role.
 */
export const PERMISSIONS = [
  'leads:read',
  'leads:write',
  /** Delete leads (one or in bulk). */
  'leads:delete',
  'leads:import',
  'leads:export',
  /** The CRM's configuration: stages, tags, custom fields, assignment rules. */
  'pipeline:manage',
  'telegram:read',
  'members:read',
  'members:manage',
  'invitations:manage',
  'api_keys:manage',
  'audit:read',
  'tenant:manage',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const MEMBER_ROLES = ['owner', 'admin', 'agent', 'viewer'] as const;
export type MemberRole = (typeof MEMBER_ROLES)[number];

/** `staff`: IBHQ staff inside a tenant through the audited break-glass call: read-only. */
export type Role = MemberRole | 'staff';

const ALL: readonly Permission[] = PERMISSIONS;

export const ROLE_PERMISSIONS: Readonly<Record<Role, readonly Permission[]>> = {
  // Owners alone change the tenant's settings (2FA requirement, rate limits) and make
  // or unmake owners.
  owner: ALL,
  admin: ALL.filter((p) => p !== 'tenant:manage'),
  agent: ['leads:read', 'leads:write', 'telegram:read', 'members:read'],
  viewer: ['leads:read', 'members:read'],
  staff: ['leads:read', 'telegram:read', 'members:read', 'audit:read'],
};

/** What an API key may be granted: integrations read and write leads, nothing else. */
export const API_KEY_SCOPES = [
  'leads:read',
  'leads:write',
  'leads:delete',
  'leads:import',
  'leads:export',
  'telegram:read',
  'audit:read',
] as const satisfies readonly Permission[];
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export function roleAllows(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].includes(permission);
}
