import { AsyncLocalStorage } from 'node:async_hooks';
import { TenantContextMissingError, ValidationError } from '../errors/domain-error.js';

declare const tenantIdBrand: unique symbol;
/** A tenant's id, checked to be a UUID. Only `asTenantId` makes one. */
export type TenantId = string & { readonly [tenantIdBrand]: true };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

export function asTenantId(value: unknown, field = 'tenantId'): TenantId {
  if (!isUuid(value)) throw new ValidationError([{ field, message: 'must be a UUID' }]);
  return value.toLowerCase() as TenantId;
}

/**
 * Who is acting: a signed-in user, an integration's API key, IBHQ staff (break-glass),
 * the system itself (jobs, seeds), or nobody known yet (a failed sign-in).
 */
export interface Actor {
  readonly type: 'user' | 'api_key' | 'staff' | 'system' | 'anonymous';
  readonly id: string;
}

/** Where a request came from (for the audit trail). */
export interface ClientInfo {
  readonly ip?: string;
  readonly userAgent?: string;
}

export interface TenantContext {
  readonly tenantId: TenantId;
  readonly actor: Actor;
  readonly requestId?: string;
  readonly client?: ClientInfo;
  /**
   * Set when the actor is an agent of a tenant where agents see only their own
   * leads: that agent's user id. TenantDb hands it to row-level security
   * (app.lead_owner), which hides every other lead.
   */
  readonly leadOwnerScope?: string;
}

/**
 * The tenant id of the platform's own audit chain (events that belong to no tenant,
 * such as a sign-in attempt for an unknown e-mail). No tenant row has it.
 */
export const PLATFORM_TENANT_ID = '00000000-0000-0000-0000-000000000000' as TenantId;

const storage = new AsyncLocalStorage<TenantContext>();

/** Runs `fn` with `ctx` as the current tenant; everything it awaits sees the same tenant. */
export function runWithTenant<T>(ctx: TenantContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

/** The current tenant context; throws if there is none (a programming error). */
export function currentTenant(operation = 'This operation'): TenantContext {
  const ctx = storage.getStore();
  if (!ctx) throw new TenantContextMissingError(operation);
  return ctx;
}

export function currentTenantOrUndefined(): TenantContext | undefined {
  return storage.getStore();
}
