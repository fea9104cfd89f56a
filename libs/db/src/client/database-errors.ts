import { DomainError, ErrorCode } from '@ibhq/core';
import { Prisma } from '../generated/prisma/client.js';

/**
 * Prisma codes that mean "the database could not be reached or did not answer in
 * time", as opposed to a query that failed: can't reach (P1001), timed out (P1002,
 * P1008), connection closed (P1017), no pooled connection in time (P2024), a
 * transaction that could not start in time (P2028).
 */
const UNAVAILABLE = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028']);

/**
 * The same for node-postgres (TenantDb's raw path): the network failed, the server is
 * shutting down or refusing connections, or the pool found no connection in time.
 */
const PG_UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);

export function isDatabaseUnavailable(e: unknown): boolean {
  if (e instanceof Prisma.PrismaClientKnownRequestError) return UNAVAILABLE.has(e.code);
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  return (
    (typeof code === 'string' && PG_UNAVAILABLE.has(code)) ||
    /^(timeout exceeded when trying to connect|Connection terminated)/.test(e.message)
  );
}

/**
 * The database layer's errors as the product reports them: an unreachable database
 * is DEPENDENCY_UNAVAILABLE (503, retry later), not an internal error. Anything else
 * passes through unchanged.
 */
export function translateDatabaseError(e: unknown): unknown {
  if (!isDatabaseUnavailable(e)) return e;
  return new DomainError(
    ErrorCode.DependencyUnavailable,
    'The database is unavailable. Try again shortly.',
    { dependency: 'postgres' },
    { cause: e },
  );
}

/** Awaits `work`, translating database errors. */
export async function withDatabaseErrors<T>(work: () => PromiseLike<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    throw translateDatabaseError(e);
  }
}
