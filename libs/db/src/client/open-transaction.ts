import { AsyncLocalStorage } from 'node:async_hooks';
import type { TenantId } from '@ibhq/core';
import type { Prisma } from '../generated/prisma/client.js';

export interface OpenTransaction {
  /** The tenant set in the transaction (app.tenant_id), or null if none. */
  readonly tenantId: TenantId | null;
  /** The owner whose leads alone are visible (app.lead_owner), if set. */
  readonly leadOwnerScope?: string;
  readonly tx: Prisma.TransactionClient;
}

/**
 * The transaction the current async context is inside, if any: TenantDb and
 * PlatformDb route nested calls to it instead of opening a second one.
 */
export const openTransaction = new AsyncLocalStorage<OpenTransaction>();
