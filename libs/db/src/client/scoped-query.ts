import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { Prisma } from '../generated/prisma/client.js';
import { isDatabaseUnavailable, translateDatabaseError } from './database-errors.js';

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

/* ------------------------------------------------------------------------------------
 * COPY on node-postgres (pg-copy-streams), in a transaction of the tenant's scope.
 * --------------------------------------------------------------------------------- */

export interface CopyToStreamOptions {
  /** Runs on the COPY's connection, in its transaction, before the COPY. */
  readonly before?: (query: ScopedQuery) => Promise<void>;
}

export interface CopyFromHooks {
  /** Runs on the COPY's connection, in its transaction, before the COPY. */
  readonly before?: (query: ScopedQuery) => Promise<void>;
  /** Runs on the COPY's connection, in its transaction, after the COPY and before COMMIT. */
  readonly after?: (query: ScopedQuery, rowCount: number) => Promise<void>;
}

/**
 * `BEGIN` and the transaction-local settings as one simple-protocol message. Besides
 * the scope: no statement timeout (an export or an import of a million rows must not
 * be cut off by the pool's default), and a backend that checks every second whether
 * its client is still there (client_connection_check_interval), so a COPY whose
 * consumer went away stops even while it is still sorting or scanning.
 */
function beginMessage(
  begin: string,
  settings: readonly (readonly [ScopeSetting, string])[],
): string {
  const all: (readonly [string, string])[] = [
    ...settings,
    ['statement_timeout', '0'],
    ['client_connection_check_interval', '1000'],
  ];
  const set = all
    .map(([name, value]) => `SELECT set_config('${name}', ${pg.escapeLiteral(value)}, true)`)
    .join('; ');
  return `${begin}; ${set}`;
}

function scopedQueryOn(client: pg.PoolClient): ScopedQuery {
  return async <T extends object>(statement: Prisma.Sql) =>
    (await client.query<T>(statement.text, statement.values)).rows;
}

const ignore = (): void => undefined;

/**
 * `COPY ... FROM STDIN` (`copyText`, written by the caller: COPY takes no parameters)
 * fed from `source`, on one pooled connection in one transaction of the scope:
 * `BEGIN; set_config(...)`, `before`, the COPY, `after`, `COMMIT`. Any failure (a
 * source that throws, a row the server refuses, a hook that throws) sends CopyFail if
 * the COPY is still open, rolls back and releases the connection; a connection that
 * broke is dropped from the pool, never reused. Resolves to the number of rows copied.
 *
 * Row-level security: PostgreSQL refuses COPY FROM into a table with row-level
 * security for a role subject to it ("COPY FROM not supported with row-level
 * security"). Copy into a temporary table (created in `before`, e.g. `ON COMMIT
 * DROP`) and move the rows with `INSERT ... SELECT` in `after`: the policies' WITH
 * CHECK then refuses any row of another tenant.
 */
export async function copyFromWithSettings(
  pool: pg.Pool,
  settings: readonly (readonly [ScopeSetting, string])[],
  copyText: string,
  source: Readable | AsyncIterable<Buffer | string>,
  hooks: CopyFromHooks = {},
): Promise<number> {
  if (!/^\s*COPY\s[\s\S]*\bFROM\s+STDIN\b/i.test(copyText)) {
    throw new TypeError('copyFrom takes a COPY ... FROM STDIN statement');
  }
  const begin = beginMessage('BEGIN', settings);
  const client = await pool.connect();
  // A connection that breaks while checked out emits 'error' on the client: without
  // a listener that would crash the process (the pool listens only while it is idle).
  client.on('error', ignore);
  let broken: Error | undefined;
  try {
    await client.query(begin);
    const query = scopedQueryOn(client);
    if (hooks.before) await hooks.before(query);
    const sink = client.query(copyFrom(copyText));
    await pipeline(source, sink);
    const rows = sink.rowCount;
    if (hooks.after) await hooks.after(query, rows);
    await client.query('COMMIT');
    return rows;
  } catch (e) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw e;
  } finally {
    client.removeListener('error', ignore);
    client.release(broken);
  }
}

/**
 * `COPY (<statement>) TO STDOUT <copyOptions>` as a stream, on one pooled connection in
 * one read-only transaction of the scope. The statement's values are inlined as
 * literals (`inlineSql`: COPY takes no bind parameters). The returned stream ends
 * only after COMMIT, so when a consumer sees the end the connection is back in the
 * pool. Backpressure reaches the server: while the consumer does not read, nothing
 * is read from the socket and the backend waits.
 *
 * If the consumer destroys the stream before its end (an HTTP client that went
 * away), the connection is closed rather than drained: the backend notices (on its
 * next write, or within a second through client_connection_check_interval), aborts
 * the transaction and exits; the pool opens a fresh connection when next needed.
 * A failing statement destroys the stream with the (translated) database error after
 * ROLLBACK, the connection going back to the pool.
 */
export function copyToWithSettings(
  pool: pg.Pool,
  settings: readonly (readonly [ScopeSetting, string])[],
  statement: Prisma.Sql,
  copyOptions: string,
  options: CopyToStreamOptions = {},
): Readable {
  const copyText = `COPY (${inlineSql(statement)}) TO STDOUT ${copyOptions}`;
  const begin = beginMessage('BEGIN READ ONLY', settings);
  const out = new PassThrough();
  // The consumer destroyed the stream before its end (both only ever turn one way).
  const gone = (): boolean => out.destroyed && !out.writableFinished;

  const run = async (): Promise<void> => {
    const client = await pool.connect();
    client.on('error', ignore);
    let broken: Error | undefined;
    try {
      if (gone()) return;
      await client.query(begin);
      if (options.before) await options.before(scopedQueryOn(client));
      if (gone()) throw new ConsumerGoneError();
      const copy = client.query(copyTo(copyText));
      copy.on('error', ignore); // errors after a destroy land here, not as a crash
      await new Promise<void>((resolve, reject) => {
        copy.once('error', reject);
        copy.once('end', resolve);
        out.once('close', () => {
          if (gone()) reject(new ConsumerGoneError());
        });
        copy.pipe(out, { end: false });
      });
      await client.query('COMMIT');
      out.end();
    } catch (e) {
      if (gone() || e instanceof ConsumerGoneError) {
        // The backend may be blocked writing to us, or mid-COPY: it never reads a
        // ROLLBACK now. Close the socket; the server rolls back on its own.
        broken = e instanceof Error ? e : new Error(String(e));
      } else {
        await client.query('ROLLBACK').catch((rollbackError: unknown) => {
          broken =
            rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        });
        out.destroy(asError(translateDatabaseError(e)));
      }
    } finally {
      // Release first (the pool then ends the client, so its closing emits no
      // unexpected-termination error), then cut the socket if the connection is not
      // reusable: ending alone is a half close the blocked backend would never see.
      client.release(broken);
      if (broken) client.connection.stream.destroy();
      client.removeListener('error', ignore);
    }
  };
  run().catch((e: unknown) => out.destroy(asError(translateDatabaseError(e))));
  return out;
}

class ConsumerGoneError extends Error {
  constructor() {
    super('the consumer of the COPY stream went away');
  }
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/* ------------------------------------------------------------------------------------
 * Inlining a Prisma.Sql's values as literals (for COPY, which takes no parameters).
 * --------------------------------------------------------------------------------- */

/**
 * The statement's text with each value written as a SQL literal in place of its
 * parameter, for statements that cannot take bind parameters (COPY). Every literal is
 * untyped where a parameter would be (`'...'`), so casts and type inference behave
 * as with `$n`:
 * - null/undefined: NULL; booleans: TRUE/FALSE;
 * - strings: `pg.escapeLiteral` (quotes doubled, backslashes in an E'' string); a NUL
 *   character is refused (it would cut the statement short on the wire);
 * - numbers: finite only, in parentheses (so `- ${n}` never becomes a `--` comment);
 *   bigints and Prisma Decimals likewise;
 * - Dates: valid only, as an ISO 8601 UTC string;
 * - arrays (of the above, nested for more dimensions): an array literal string
 *   `'{"a","b",NULL}'`, untyped like an array parameter (cast it: `${ids}::uuid[]`);
 * - Buffers: bytea hex `'\x…'`; plain objects: their JSON text.
 * Anything else throws a TypeError, before any SQL is sent.
 */
export function inlineSql(statement: Prisma.Sql): string {
  const { strings, values } = statement;
  let text = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) {
    text += sqlLiteral(values[i]) + (strings[i + 1] ?? '');
  }
  return text;
}

/** One value as a SQL literal (see `inlineSql`). */
export function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'string') return pg.escapeLiteral(checkedText(value));
  if (typeof value === 'number') return `(${finiteNumber(value)})`;
  if (typeof value === 'bigint') return `(${value.toString()})`;
  if (value instanceof Date) return `'${isoDate(value)}'`;
  if (Array.isArray(value)) return pg.escapeLiteral(arrayLiteral(value));
  if (value instanceof Uint8Array) {
    return pg.escapeLiteral(`\\x${Buffer.from(value).toString('hex')}`);
  }
  if (isDecimal(value)) return `(${decimalText(value)})`;
  if (isPlainObject(value)) return pg.escapeLiteral(checkedText(JSON.stringify(value)));
  throw new TypeError(`inlineSql: cannot write a ${describe(value)} as a SQL literal`);
}

function checkedText(s: string): string {
  if (s.includes('\u0000')) {
    throw new TypeError('inlineSql: a string value contains a NUL character');
  }
  return s;
}

function finiteNumber(n: number): string {
  if (!Number.isFinite(n)) throw new TypeError(`inlineSql: ${String(n)} is not a finite number`);
  return String(n);
}

function isoDate(d: Date): string {
  if (Number.isNaN(d.getTime())) throw new TypeError('inlineSql: invalid Date');
  return d.toISOString();
}

/** An array as PostgreSQL's array input syntax: `{"a","b\"c",NULL,{1,2}}`. */
function arrayLiteral(items: readonly unknown[]): string {
  const parts = items.map((item): string => {
    if (item === null || item === undefined) return 'NULL';
    if (Array.isArray(item)) return arrayLiteral(item);
    let text: string;
    if (typeof item === 'string') text = checkedText(item);
    else if (typeof item === 'boolean') text = item ? 't' : 'f';
    else if (typeof item === 'number') text = finiteNumber(item);
    else if (typeof item === 'bigint') text = item.toString();
    else if (item instanceof Date) text = isoDate(item);
    else if (isDecimal(item)) text = decimalText(item);
    else throw new TypeError(`inlineSql: cannot write a ${describe(item)} in an array literal`);
    return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  });
  return `{${parts.join(',')}}`;
}

interface DecimalLike {
  toFixed(): string;
}

function isDecimal(v: unknown): v is DecimalLike {
  return (
    typeof v === 'object' &&
    v !== null &&
    (v.constructor as { name?: string } | undefined)?.name === 'Decimal' &&
    typeof (v as { toFixed?: unknown }).toFixed === 'function'
  );
}

function decimalText(d: DecimalLike): string {
  const text = d.toFixed();
  if (!/^-?\d+(\.\d+)?$/.test(text))
    throw new TypeError(`inlineSql: ${text} is not a finite decimal`);
  return text;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function describe(v: unknown): string {
  if (typeof v === 'object' && v !== null) {
    return (v.constructor as { name?: string } | undefined)?.name ?? 'object';
  }
  return typeof v;
}
