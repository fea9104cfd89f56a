import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import type { AppConfig } from '@ibhq/core';
import { PrismaClient } from '../generated/prisma/client.js';

/**
 * DI tokens of the process's one connection pool (as the application role) and the
 * PrismaClient that runs on it. Deliberately not exported from the library: code
 * reaches the database only through TenantDb (tenant-scoped) or PlatformDb (the few
 * platform tables).
 */
export const PG_POOL = Symbol('PG_POOL');
export const PRISMA_ROOT = Symbol('PRISMA_ROOT');

export function createPool(config: AppConfig): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.database.url,
    max: config.database.poolSize,
    statement_timeout: config.database.statementTimeoutMs,
    connectionTimeoutMillis: 5_000,
    application_name: 'ibhq',
  });
  // An idle connection that dies (server restart) is dropped by the pool; the error
  // must not crash the process. Queries on a dead server fail and say so.
  pool.on('error', () => undefined);
  return pool;
}

export function createPrismaRoot(pool: pg.Pool): PrismaClient {
  return new PrismaClient({
    adapter: new PrismaPg(pool),
    transactionOptions: { maxWait: 5_000, timeout: 15_000 },
  });
}
