import {
  type Actor,
  asTenantId,
  type ClientInfo,
  PLATFORM_TENANT_ID,
  runWithTenant,
} from '@ibhq/core';

/**
 * Runs `fn` as `actor` in the tenant `tenantId`, or in the platform's own audit chain
 * when there is none (a sign-in before a tenant is chosen, a failed sign-in). What
 * `fn` records in the audit trail lands in that chain, with the client's address.
 */
export function actingIn<T>(
  tenantId: string | null,
  actor: Actor,
  client: ClientInfo | undefined,
  fn: () => T,
): T {
  return runWithTenant(
    {
      tenantId: tenantId === null ? PLATFORM_TENANT_ID : asTenantId(tenantId),
      actor,
      ...(client ? { client } : {}),
    },
    fn,
  );
}
