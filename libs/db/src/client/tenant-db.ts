import { AsyncLocalStorage } from 'node:async_hooks';
import type { Readable } from 'node:stream';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';
import { currentTenant, type TenantContext } from '@ibhq/core';
import type { Prisma, PrismaClient } from '../generated/prisma/client.js';
import { MODEL_OPERATIONS, TENANT_MODELS, type TenantModel, type TenantTx } from './models.js';
import { withDatabaseErrors } from './database-errors.js';
import { openTransaction } from './open-transaction.js';
import {
  copyFromWithSettings,
  copyToWithSettings,
  type CopyFromHooks,
  type CopyToStreamOptions,
  queryWithSettings,
  type ScopedQuery,
  type ScopeSetting,
  transactionWithSettings,
} from './scoped-query.js';
import { PG_POOL, PRISMA_ROOT } from './prisma-root.js';

export type { ScopedQuery } from './scoped-query.js';

/**
 * copyFrom's hooks, on the COPY's connection, in its transaction: `before` after the
 * scope is set (e.g. `CREATE TEMP TABLE stage (...) ON COMMIT DROP`), `after` after
 * the COPY and before COMMIT, with the number of rows copied (e.g. `INSERT INTO
 * "LeadImportRow" SELECT ... FROM stage`, where row-level security's WITH CHECK applies).
 */
export type CopyFromOptions = CopyFromHooks;

/**
 * copyTo's `before` hook (e.g. transaction-local settings such as
 * LEAD_SEARCH_SETTINGS_SQL; like copyFrom's, `db.query` / `db.rawTransaction` inside it
 * join the COPY's transaction), and the COPY options written after `TO STDOUT`, e.g.
 * `(FORMAT csv, HEADER)`: fixed SQL text of the caller, never input; default
 * `(FORMAT csv)`.
 */
export interface CopyToOptions extends CopyToStreamOptions {
  readonly copyOptions?: string;
}

/**
 * The COPY transaction a copyFrom hook runs in: `db.query` and `db.rawTransaction`
 * called from a hook (AuditService.record, for one) join it.
 */
interface OpenCopy {
  readonly tenantId: string;
  readonly leadOwnerScope: string | undefined;
  readonly query: ScopedQuery;
  open: boolean;
}
const openCopy = new AsyncLocalStorage<OpenCopy>();

export interface TenantTransactionOptions {
  readonly isolationLevel?: Prisma.TransactionIsolationLevel;
  /** Longest the transaction may stay open, in ms (default 15 s). */
  readonly timeoutMs?: number;
}

/**
 * The tenant-scoped database client: the only way tenant code reaches tenant tables.
 *
 * Every operation runs inside a transaction whose first statement is
 * `set_config('app.tenant_id', <current tenant>, true)`, so PostgreSQL's row-level
 * security confines it to the tenant of the current context (`runWithTenant`), and
 * the setting dies with the transaction (a pooled connection never carries it to the
 * next user). Without a tenant context every call throws TenantContextMissingError
 * before touching the database.
 *
 * - `db.lead.findMany(...)` outside a transaction: one batch transaction
 *   (BEGIN; set_config; query; COMMIT) on one connection.
 * - `db.transaction(async (tx) => ...)`: one interactive transaction; inside it, both
 *   `tx.*` and further `db.*` / `db.transaction(...)` calls run in that same
 *   transaction (nesting joins, it never opens a second one).
 *
 * This is deliberately not a Prisma client extension: `$transaction` on extended
 * clients lets queries escape the transaction (prisma/prisma#20678). Here the open
 * transaction travels in AsyncLocalStorage and every call is routed to it
 * explicitly; tenant-db.spec.ts (beside this file) proves nested calls share one backend
 * transaction and roll back together.
 */
@Injectable()
export class TenantDb implements OnApplicationShutdown {
  declare readonly lead: TenantTx['lead'];
  declare readonly leadActivity: TenantTx['leadActivity'];
  declare readonly membership: TenantTx['membership'];
  declare readonly invitation: TenantTx['invitation'];
  declare readonly outboxEmail: TenantTx['outboxEmail'];
  declare readonly apiKey: TenantTx['apiKey'];
  declare readonly auditEvent: TenantTx['auditEvent'];
  declare readonly auditHead: TenantTx['auditHead'];
  declare readonly stage: TenantTx['stage'];
  declare readonly leadStageChange: TenantTx['leadStageChange'];
  declare readonly tag: TenantTx['tag'];
  declare readonly leadTag: TenantTx['leadTag'];
  declare readonly customField: TenantTx['customField'];
  declare readonly assignmentRule: TenantTx['assignmentRule'];
  declare readonly savedView: TenantTx['savedView'];
  declare readonly duplicateDismissal: TenantTx['duplicateDismissal'];
  declare readonly backgroundJob: TenantTx['backgroundJob'];
  declare readonly jobError: TenantTx['jobError'];
  declare readonly leadImport: TenantTx['leadImport'];
  declare readonly leadImportRow: TenantTx['leadImportRow'];

  /** COPY streams' own connections (see streamPool), made on first use. */
  private copyPool: pg.Pool | undefined;

  constructor(
    @Inject(PRISMA_ROOT) private readonly root: PrismaClient,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
  ) {
    for (const model of TENANT_MODELS) {
      Object.defineProperty(this, model, { value: this.delegate(model), enumerable: true });
    }
  }

  /**
   * Raw SQL in the current tenant's scope, for hot paths and for what Prisma cannot
   * express (trigram and full-text search, COPY-like bulk work). Row-level security
   * confines it exactly like the model calls. Values are always parameters:
   * `db.query<Row>(Prisma.sql\`SELECT ... WHERE id = ${id}::uuid\`)`.
   *
   * Outside a transaction it runs on node-postgres directly (the same pool as
   * Prisma) in three round trips: `BEGIN; SELECT set_config(...)` as one message,
   * the statement, `COMMIT`. Prisma's engine costs more CPU per query than the
   * query itself on small reads (bench/README.md). Inside `transaction()` it runs on
   * that transaction's connection.
   */
  async query<T extends object>(statement: Prisma.Sql): Promise<T[]> {
    const ctx = currentTenant('TenantDb.query');
    const copy = this.copyJoinable(ctx);
    if (copy) return copy<T>(statement);
    const outer = this.joinable(ctx);
    if (outer) return outer.$queryRawUnsafe<T[]>(statement.text, ...statement.values);
    return withDatabaseErrors(() => queryWithSettings<T>(this.pool, scopeOf(ctx), statement));
  }

  /**
   * A few raw statements in one transaction of the current tenant, on node-postgres
   * directly (no Prisma engine: the audit trail's hot path). `fn` must send its
   * statements through the `query` it is given. Inside an open `transaction()` it
   * joins that one instead.
   */
  async rawTransaction<T>(fn: (query: ScopedQuery) => Promise<T>): Promise<T> {
    const ctx = currentTenant('TenantDb.rawTransaction');
    const copy = this.copyJoinable(ctx);
    if (copy) return fn(copy);
    const outer = this.joinable(ctx);
    if (outer) {
      return fn(<R extends object>(s: Prisma.Sql) =>
        outer.$queryRawUnsafe<R[]>(s.text, ...s.values),
      );
    }
    return withDatabaseErrors(() => transactionWithSettings(this.pool, scopeOf(ctx), fn));
  }

  /** Runs `fn` in one transaction of the current tenant (joining an open one). */
  async transaction<T>(
    fn: (tx: TenantTx) => Promise<T>,
    options: TenantTransactionOptions = {},
  ): Promise<T> {
    const ctx = currentTenant('TenantDb.transaction');
    const outer = this.joinable(ctx);
    if (outer) return fn(outer);
    const { tenantId } = ctx;
    return withDatabaseErrors(() =>
      this.root.$transaction(
        async (tx) => {
          await setScope(tx, ctx);
          return openTransaction.run({ tenantId, leadOwnerScope: ctx.leadOwnerScope, tx }, () =>
            fn(tx),
          );
        },
        {
          ...(options.isolationLevel ? { isolationLevel: options.isolationLevel } : {}),
          ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
        },
      ),
    );
  }

  /**
   * `COPY ... FROM STDIN` (`copySql`, fixed text of the caller: COPY takes no
   * parameters) fed from `source`, in one transaction of the current tenant on one
   * node-postgres connection of the COPY pool (streamPool): BEGIN and the scope (app.tenant_id,
   * app.lead_owner, exactly as the other methods), `before`, the COPY, `after`,
   * COMMIT; on any failure (the source throws, a row is refused, a hook throws) the
   * COPY is aborted, the transaction rolled back, the connection released (dropped
   * if broken) and the error rethrown. Resolves to the number of rows copied.
   *
   * Joining: Prisma's interactive transactions do not expose their connection, so
   * copyFrom cannot join an open `transaction()` and refuses to run inside one (a
   * second, independent transaction would silently break the caller's atomicity).
   * What must commit together with the copied rows goes in the hooks: they run on the
   * COPY's connection and transaction, and `db.query` / `db.rawTransaction` (so
   * AuditService.record) called inside them join it; model calls (`db.lead...`) and
   * `db.transaction()` inside a hook throw.
   *
   * Row-level security: PostgreSQL refuses COPY FROM into a table with row-level
   * security ("COPY FROM not supported with row-level security"). Copy into a
   * temporary table created in `before` (`ON COMMIT DROP`) and move the rows in
   * `after` with `INSERT ... SELECT`: the tenant policies' WITH CHECK refuses any row
   * of another tenant there.
   */
  async copyFrom(
    copySql: string,
    source: Readable | AsyncIterable<Buffer | string>,
    options: CopyFromOptions = {},
  ): Promise<number> {
    const ctx = currentTenant('TenantDb.copyFrom');
    this.refuseOpenTransaction('copyFrom');
    const inCopy = copyHook(ctx);
    return withDatabaseErrors(() =>
      copyFromWithSettings(this.streamPool(), scopeOf(ctx), copySql, source, {
        ...(options.before ? { before: inCopy(options.before) } : {}),
        ...(options.after ? { after: inCopy(options.after) } : {}),
      }),
    );
  }

  /**
   * `COPY (<statement>) TO STDOUT <copyOptions>` as a byte stream, in one read-only
   * transaction of the current tenant on one connection of the COPY pool (streamPool:
   * never one of the requests' connections), scope set exactly as
   * the other methods, so row-level security confines what COPY sees. The
   * statement's values are inlined as literals (COPY takes no bind parameters: see
   * `inlineSql` in scoped-query.ts: strings escaped with pg.escapeLiteral, numbers
   * checked finite, booleans, Dates as ISO strings, arrays as array literals; any
   * other value throws here, before any SQL is sent).
   *
   * The stream ends after COMMIT; backpressure reaches the server; no statement
   * timeout applies. If the consumer destroys the stream early (an HTTP
   * client that disconnected) the connection is closed, the server rolls back and the
   * pool replaces it: no open transaction, no leaked connection or setting. A failing
   * statement destroys the stream with its error after ROLLBACK.
   *
   * Like copyFrom, it cannot run inside an open `transaction()` (its own connection
   * would not see that transaction's writes) and throws there.
   */
  copyTo(statement: Prisma.Sql, options: CopyToOptions = {}): Readable {
    const ctx = currentTenant('TenantDb.copyTo');
    this.refuseOpenTransaction('copyTo');
    return copyToWithSettings(
      this.streamPool(),
      scopeOf(ctx),
      statement,
      options.copyOptions ?? '(FORMAT csv)',
      options.before ? { before: copyHook(ctx)(options.before) } : {},
    );
  }

  /**
   * The connections of COPY streams (copyTo, copyFrom): a pool of their own, made on
   * first use with the request pool's settings and half its size (at least one). A
   * COPY holds its connection as long as its client reads or writes, which a slow or
   * hostile client can make very long: in a separate pool such streams never starve
   * the requests of connections. A stream beyond the limit waits for one to finish
   * (no connection timeout here): exports and imports are queued, never refused.
   */
  private streamPool(): pg.Pool {
    if (!this.copyPool) {
      const options = this.pool.options;
      this.copyPool = new pg.Pool({
        ...options,
        // Not enumerable on pg's options (kept out of logs): copied on purpose.
        ...(options.password === undefined ? {} : { password: options.password }),
        max: Math.max(1, Math.ceil(options.max / 2)),
        connectionTimeoutMillis: 0,
        idleTimeoutMillis: 10_000,
        allowExitOnIdle: true,
        application_name: 'ibhq-copy',
      });
      // An idle connection that dies must not crash the process (as the request pool).
      this.copyPool.on('error', () => undefined);
    }
    return this.copyPool;
  }

  async onApplicationShutdown(): Promise<void> {
    const copyPool = this.copyPool;
    this.copyPool = undefined;
    await copyPool?.end();
  }

  private refuseOpenTransaction(what: string): void {
    if (openTransaction.getStore() || openCopy.getStore()?.open) {
      throw new Error(
        `TenantDb.${what} cannot join an open transaction (Prisma does not expose its connection): ` +
          'call it outside transaction(), and put what must commit with the COPY in its hooks',
      );
    }
  }

  /** Inside a copyFrom hook: the COPY transaction's query function. */
  private copyJoinable({ tenantId, leadOwnerScope }: TenantContext): ScopedQuery | undefined {
    const open = openCopy.getStore();
    if (!open?.open) return undefined;
    if (open.tenantId !== tenantId || open.leadOwnerScope !== leadOwnerScope) {
      throw new Error(
        `TenantDb: a COPY transaction of tenant ${open.tenantId} is open; tenant ${tenantId} cannot use it`,
      );
    }
    return open.query;
  }

  private joinable({
    tenantId,
    leadOwnerScope,
  }: TenantContext): Prisma.TransactionClient | undefined {
    if (openCopy.getStore()?.open) {
      throw new Error(
        'TenantDb: inside a copyFrom hook only db.query and db.rawTransaction run (in the COPY transaction)',
      );
    }
    const outer = openTransaction.getStore();
    if (!outer) return undefined;
    if (outer.tenantId !== tenantId || outer.leadOwnerScope !== leadOwnerScope) {
      // Switching tenants inside a transaction would silently run under the outer
      // tenant's setting (or open a second, independent transaction): refuse both.
      throw new Error(
        `TenantDb: a transaction of tenant ${outer.tenantId} is open; tenant ${tenantId} cannot use it`,
      );
    }
    return outer.tx;
  }

  private delegate(model: TenantModel): object {
    const ops: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
    for (const op of MODEL_OPERATIONS) {
      ops[op] = async (...args: unknown[]) => {
        const ctx = currentTenant(`TenantDb.${model}.${op}`);
        const outer = this.joinable(ctx);
        if (outer) return call(outer, model, op, args);
        const [, result] = await withDatabaseErrors(() =>
          this.root.$transaction([
            setScope(this.root, ctx),
            call(this.root, model, op, args) as Prisma.PrismaPromise<unknown>,
          ]),
        );
        return result;
      };
    }
    return Object.freeze(ops);
  }
}

/**
 * A COPY hook run so that `db.query` / `db.rawTransaction` called inside it join the
 * COPY's transaction (openCopy), and that stops working once the hook has returned.
 */
function copyHook(ctx: TenantContext) {
  return <A extends unknown[]>(hook: (query: ScopedQuery, ...rest: A) => Promise<void>) =>
    async (query: ScopedQuery, ...rest: A): Promise<void> => {
      const open: OpenCopy = {
        tenantId: ctx.tenantId,
        leadOwnerScope: ctx.leadOwnerScope,
        query: <T extends object>(s: Prisma.Sql) => {
          if (!open.open) {
            return Promise.reject(new Error('TenantDb: the COPY transaction is over'));
          }
          return query<T>(s);
        },
        open: true,
      };
      try {
        await openCopy.run(open, () => hook(open.query, ...rest));
      } finally {
        open.open = false;
      }
    };
}

/** The row-level security settings of a tenant context. */
function scopeOf(ctx: TenantContext): [ScopeSetting, string][] {
  const settings: [ScopeSetting, string][] = [['app.tenant_id', ctx.tenantId]];
  if (ctx.leadOwnerScope) settings.push(['app.lead_owner', ctx.leadOwnerScope]);
  return settings;
}

/** The same settings as a Prisma statement (the first of a Prisma transaction). */
function setScope(
  client: Prisma.TransactionClient | PrismaClient,
  ctx: TenantContext,
): Prisma.PrismaPromise<number> {
  return client.$executeRaw`SELECT set_config('app.tenant_id', ${ctx.tenantId}, true),
                                   set_config('app.lead_owner', ${ctx.leadOwnerScope ?? ''}, true)`;
}

function call(
  client: Prisma.TransactionClient | PrismaClient,
  model: TenantModel,
  op: string,
  args: unknown[],
): unknown {
  const delegate = client[model] as unknown as Record<string, (...a: unknown[]) => unknown>;
  const fn = delegate[op];
  if (!fn) throw new Error(`unknown operation ${model}.${op}`);
  return fn.apply(delegate, args);
}
