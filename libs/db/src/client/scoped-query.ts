import pg from 'pg';
import type { Prisma } from '../generated/prisma/client.js';
import { isDatabaseUnavailable } from './database-errors.js';

/** The transaction-local settings the row-level security policies read. */
export type ScopeSetting = 'app.tenant_id' | 'app.lead_owner' | 'app.user_id' | 'app.api_key_hash';

/** A statement run inside `transactionWithSettings`. */
export type ScopedQuery = <T extends object>(statement: Prisma.Sql) => Promise<T[]>;

/**
 * One statement in a transaction of its own whose settings are set first, on
 * node-postgres directly: `BEGIN; SELECT set_config(...)...` as one simple-protocol
 * message (values quoted as literals: a simple message carries no parameters), then
 * the parameterised statement, then `COMMIT`. Three round trips; the settings die
 * with the transaction, so the pooled connection never carries them further.
 */
export function queryWithSettings<T extends object>(
  pool: pg.Pool,
  settings: readonly (readonly [ScopeSetting, string])[],
  statement: Prisma.Sql,
): Promise<T[]> {
  return transactionWithSettings(pool, settings, (query) => query<T>(statement));
}

/**
 * The same for a few statements: `BEGIN; set_config(...)` as one message, the
 * statements `fn` sends through `query`, then `COMMIT` (or `ROLLBACK` if `fn` throws),
 * on one pooled connection.
 */
export async function transactionWithSettings<R>(
  pool: pg.Pool,
  settings: readonly (readonly [ScopeSetting, string])[],
  fn: (query: ScopedQuery) => Promise<R>,
): Promise<R> {
  const client = await pool.connect();
  let failure: unknown;
  try {
    const set = settings
      .map(([name, value]) => `SELECT set_config('${name}', ${pg.escapeLiteral(value)}, true)`)
      .join('; ');
    await client.query(`BEGIN; ${set}`);
    const result = await fn(
      async <T extends object>(statement: Prisma.Sql) =>
        (await client.query<T>(statement.text, statement.values)).rows,
    );
    await client.query('COMMIT');
    return result;
  } catch (e) {
    failure = e;
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      failure = rollbackError; // the connection is broken: do not reuse it
    });
    throw e;
  } finally {
    client.release(
      failure instanceof Error && isDatabaseUnavailable(failure) ? failure : undefined,
    );
  }
}
