import { Inject, Injectable } from '@nestjs/common';
import type pg from 'pg';
import type { TenantId } from '@ibhq/core';
import type { Prisma, PrismaClient } from '../generated/prisma/client.js';
import { withDatabaseErrors } from './database-errors.js';
import { MODEL_OPERATIONS, type PlatformModel, type PlatformTx } from './models.js';
import { openTransaction } from './open-transaction.js';
import { PG_POOL, PRISMA_ROOT } from './prisma-root.js';
import { queryWithSettings } from './scoped-query.js';

/**
 * Unscoped access to the platform tables (tenants, users). It exposes no tenant table
 * at all, so a tenant query through it does not compile, and it connects as the same
 * application role, so even raw SQL through it sees no tenant row unless a tenant is
 * set. Lint allows importing it only in the platform libraries (eslint.config.js);
 * everything else uses TenantDb.
 *
 * Inside an open transaction (of TenantDb or of this class) its calls join that
 * transaction, like TenantDb's.
 */
@Injectable()
export class PlatformDb {
  declare readonly tenant: PrismaClient['tenant'];
  declare readonly user: PrismaClient['user'];

  constructor(
    @Inject(PRISMA_ROOT) private readonly root: PrismaClient,
    @Inject(PG_POOL) private readonly pool: pg.Pool,
  ) {
    for (const model of ['tenant', 'user'] as const satisfies readonly PlatformModel[]) {
      Object.defineProperty(this, model, { value: this.delegate(model), enumerable: true });
    }
  }

  /**
   * One transaction over platform tables. With `tenantId`, the tenant is also set in
   * it (app.tenant_id), so that TenantDb calls made inside (run them in that tenant's
   * context) join it: a tenant and its first rows are created atomically.
   */
  transaction<T>(
    fn: (tx: PlatformTx) => Promise<T>,
    options: { tenantId?: TenantId } = {},
  ): Promise<T> {
    const outer = openTransaction.getStore();
    if (outer) {
      if (options.tenantId !== undefined && outer.tenantId !== options.tenantId) {
        throw new Error('PlatformDb: a transaction of another tenant is open');
      }
      return fn(outer.tx);
    }
    const tenantId = options.tenantId ?? null;
    return withDatabaseErrors(() =>
      this.root.$transaction(async (tx) => {
        if (tenantId !== null) {
          await tx.$executeRaw`SELECT set_config('app.tenant_id', ${tenantId}, true)`;
        }
        return openTransaction.run({ tenantId, tx }, () => fn(tx));
      }),
    );
  }

  /**
   * A read that row-level security allows only to a caller who holds a secret: the
   * memberships of a signed-in user (`app.user_id`), the API key whose hash is given
   * (`app.api_key_hash`). See the policies own_memberships and key_lookup.
   */
  lookup<T extends object>(
    setting: 'app.user_id' | 'app.api_key_hash',
    value: string,
    statement: Prisma.Sql,
  ): Promise<T[]> {
    return withDatabaseErrors(() => queryWithSettings<T>(this.pool, [[setting, value]], statement));
  }

  private delegate(model: PlatformModel): object {
    const ops: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
    for (const op of MODEL_OPERATIONS) {
      ops[op] = (...args: unknown[]) => {
        const client: Prisma.TransactionClient | PrismaClient =
          openTransaction.getStore()?.tx ?? this.root;
        const delegate = client[model] as unknown as Record<
          string,
          (...a: unknown[]) => PromiseLike<unknown>
        >;
        return withDatabaseErrors(() => delegate[op]?.(...args) ?? unknownOp(op));
      };
    }
    return Object.freeze(ops);
  }
}

function unknownOp(op: string): never {
  throw new Error(`PlatformDb: unknown operation ${op}`);
}
