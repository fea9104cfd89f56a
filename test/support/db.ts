import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { AppConfig, asTenantId, runWithTenant, type TenantId } from '@ibhq/core';

/** The configuration of this test run (the global setup filled the environment). */
export function testConfig(overrides: Record<string, string> = {}): AppConfig {
  return AppConfig.load({ ...process.env, ...overrides });
}

function urlFor(user: 'admin' | 'owner' | 'app'): string {
  const env = process.env;
  if (user === 'app') return env.DATABASE_URL!;
  if (user === 'owner') return env.DATABASE_OWNER_URL!;
  const admin = new URL(env.DATABASE_ADMIN_URL!);
  admin.pathname = `/${env.IBHQ_TEST_DATABASE!}`;
  return admin.toString();
}

/** Runs SQL on the test database as `user` on a connection of its own. */
export async function sql<R extends pg.QueryResultRow = Record<string, unknown>>(
  user: 'admin' | 'owner' | 'app',
  text: string,
  params: unknown[] = [],
): Promise<pg.QueryResult<R>> {
  const client = new pg.Client({ connectionString: urlFor(user) });
  await client.connect();
  try {
    return await client.query<R>(text, params);
  } finally {
    await client.end();
  }
}

/** Creates a tenant row directly (as the superuser) and returns its id. */
export async function createTenantRow(name = 'Tenant'): Promise<TenantId> {
  const id = randomUUID();
  await sql(
    'admin',
    `INSERT INTO "Tenant" (id, name, slug, "updatedAt") VALUES ($1, $2, $3, now())`,
    [id, name, `t-${id.slice(0, 8)}-${Math.random().toString(36).slice(2, 8)}`],
  );
  return asTenantId(id);
}

/** Runs `fn` as the given tenant (system actor). */
export function asTenant<T>(tenantId: TenantId, fn: () => T): T {
  return runWithTenant({ tenantId, actor: { type: 'system', id: 'test' } }, fn);
}
