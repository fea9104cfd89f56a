import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppConfig,
  asTenantId,
  runWithTenant,
  TenantContextMissingError,
  type TenantId,
} from '@ibhq/core';
import { Prisma, type PrismaClient } from '../generated/prisma/client.js';
import { createPool, createPrismaRoot } from './prisma-root.js';
import type { TenantTx } from './models.js';
import { TenantDb } from './tenant-db.js';

const as = <T>(tenantId: TenantId, fn: () => T): T =>
  runWithTenant({ tenantId, actor: { type: 'system', id: 'test' } }, fn);

describe('TenantDb', () => {
  let pool: pg.Pool;
  let root: PrismaClient;
  let db: TenantDb;
  let tenantA: TenantId;
  let tenantB: TenantId;

  beforeAll(async () => {
    // A pool of one connection: every call below reuses the same backend, so a
    // tenant setting that outlived its transaction would be seen by the next call.
    pool = createPool(AppConfig.load({ ...process.env, DATABASE_POOL_SIZE: '1' }));
    root = createPrismaRoot(pool);
    db = new TenantDb(root, pool);
    const [a, b] = await Promise.all(
      ['A', 'B'].map((n) =>
        root.tenant.create({ data: { name: `Tenant ${n}`, slug: `tdb-${n}-${randomUUID()}` } }),
      ),
    );
    tenantA = asTenantId(a!.id);
    tenantB = asTenantId(b!.id);
  });

  afterAll(async () => {
    await root.$disconnect();
    await pool.end();
  });

  it('refuses to run without a tenant context, before any query', async () => {
    await expect(db.lead.findMany()).rejects.toBeInstanceOf(TenantContextMissingError);
    await expect(db.transaction(() => Promise.resolve(1))).rejects.toBeInstanceOf(
      TenantContextMissingError,
    );
  });

  it('confines each operation to the current tenant', async () => {
    const lead = await as(tenantA, () =>
      db.lead.create({ data: { tenantId: tenantA, displayName: 'Alice' } }),
    );
    expect(lead.tenantId).toBe(tenantA);
    const seenByB = await as(tenantB, () =>
      db.lead.findUnique({ where: { tenantId_id: { tenantId: tenantA, id: lead.id } } }),
    );
    expect(seenByB).toBeNull();
    const seenByA = await as(tenantA, () =>
      db.lead.findUnique({ where: { tenantId_id: { tenantId: tenantA, id: lead.id } } }),
    );
    expect(seenByA?.displayName).toBe('Alice');
  });

  it("never lets tenant B read, count, update or delete tenant A's rows", async () => {
    const lead = await as(tenantA, () =>
      db.lead.create({ data: { tenantId: tenantA, displayName: 'Untouchable' } }),
    );
    const countA = await as(tenantA, () => db.lead.count());
    await as(tenantB, async () => {
      const all = await db.lead.findMany();
      expect(all.every((l) => l.tenantId === tenantB)).toBe(true);
      expect(await db.lead.count({ where: { tenantId: tenantA } })).toBe(0);
      expect(
        (await db.lead.updateMany({ where: { id: lead.id }, data: { displayName: 'x' } })).count,
      ).toBe(0);
      expect((await db.lead.deleteMany({ where: { tenantId: tenantA } })).count).toBe(0);
      await expect(
        db.lead.update({
          where: { tenantId_id: { tenantId: tenantA, id: lead.id } },
          data: { displayName: 'x' },
        }),
      ).rejects.toMatchObject({ code: 'P2025' });
      await expect(
        db.lead.create({ data: { tenantId: tenantA, displayName: 'planted' } }),
      ).rejects.toThrow(/row-level security/);
    });
    expect(await as(tenantA, () => db.lead.count())).toBe(countA);
    const after = await as(tenantA, () =>
      db.lead.findUnique({ where: { tenantId_id: { tenantId: tenantA, id: lead.id } } }),
    );
    expect(after?.displayName).toBe('Untouchable');
  });

  it('leaves no tenant setting on the pooled connection after a call', async () => {
    await as(tenantA, () => db.lead.count());
    const [row] = await root.$queryRaw<{ setting: string | null; pid: number }[]>`
      SELECT current_setting('app.tenant_id', true) AS setting, pg_backend_pid() AS pid`;
    // After a commit a transaction-local setting reads '' (never the old tenant).
    expect(row?.setting ?? '').toBe('');
    const visible = await root.lead.count();
    expect(visible).toBe(0);
  });

  it('runs nested calls in the one open transaction (not hit by prisma#20678)', async () => {
    const txids = await as(tenantA, () =>
      db.transaction(async (tx) => {
        const ids: string[] = [];
        const txid = async (q: Pick<TenantTx, '$queryRaw'>) =>
          (await q.$queryRaw<{ id: string }[]>`SELECT txid_current()::text AS id`)[0]!.id;
        ids.push(await txid(tx));
        // A model call on the client (not on tx) joins the open transaction...
        await db.lead.create({ data: { tenantId: tenantA, displayName: 'Nested' } });
        // ...and so does a nested transaction().
        ids.push(await db.transaction((inner) => txid(inner)));
        const [xact] = await tx.$queryRaw<{ n: bigint }[]>`
          SELECT count(*) AS n FROM "Lead" WHERE "displayName" = 'Nested' AND xmin = pg_current_xact_id()::xid`;
        expect(Number(xact?.n)).toBe(1);
        return ids;
      }),
    );
    expect(new Set(txids).size).toBe(1);
  });

  it('rolls back everything done inside a failed transaction, nested calls included', async () => {
    const name = `Rollback ${randomUUID()}`;
    await expect(
      as(tenantA, () =>
        db.transaction(async (tx) => {
          await tx.lead.create({ data: { tenantId: tenantA, displayName: name } });
          await db.lead.create({ data: { tenantId: tenantA, displayName: name } });
          await db.transaction((inner) =>
            inner.lead.create({ data: { tenantId: tenantA, displayName: name } }),
          );
          throw new Error('boom');
        }),
      ),
    ).rejects.toThrow('boom');
    const left = await as(tenantA, () => db.lead.count({ where: { displayName: name } }));
    expect(left).toBe(0);
  });

  it('refuses to switch tenant inside an open transaction', async () => {
    await expect(
      as(tenantA, () => db.transaction(() => as(tenantB, () => db.lead.count()))),
    ).rejects.toThrow(/cannot use it/);
  });

  describe('raw SQL (query)', () => {
    const byName = (name: string) =>
      Prisma.sql`SELECT id, "tenantId", "displayName" FROM "Lead" WHERE "displayName" = ${name}`;

    it('is confined to the current tenant like the model calls', async () => {
      const name = `Raw ${randomUUID()}`;
      await as(tenantA, () => db.lead.create({ data: { tenantId: tenantA, displayName: name } }));
      const seenByA = await as(tenantA, () => db.query<{ tenantId: string }>(byName(name)));
      expect(seenByA.map((r) => r.tenantId)).toEqual([tenantA]);
      expect(await as(tenantB, () => db.query(byName(name)))).toEqual([]);
      await expect(db.query(byName(name))).rejects.toBeInstanceOf(TenantContextMissingError);
    });

    it('passes values as parameters, never as SQL', async () => {
      const hostile = "x' OR '1'='1";
      expect(await as(tenantA, () => db.query(byName(hostile)))).toEqual([]);
    });

    it('leaves no tenant setting on the connection, after success or failure', async () => {
      await as(tenantA, () => db.query(Prisma.sql`SELECT 1 AS one`));
      await expect(
        as(tenantA, () => db.query(Prisma.sql`SELECT 1 / 0 AS boom`)),
      ).rejects.toMatchObject({ code: '22012' });
      const client = await pool.connect();
      try {
        const { rows } = await client.query<{ setting: string | null; n: number }>(
          `SELECT current_setting('app.tenant_id', true) AS setting,
                  (SELECT count(*)::int FROM "Lead") AS n`,
        );
        expect(rows[0]?.setting ?? '').toBe('');
        expect(rows[0]?.n).toBe(0);
      } finally {
        client.release();
      }
    });

    it('joins an open transaction and rolls back with it', async () => {
      const name = `RawTx ${randomUUID()}`;
      await expect(
        as(tenantA, () =>
          db.transaction(async (tx) => {
            const [outer] = await tx.$queryRaw<{ id: string }[]>`SELECT txid_current()::text AS id`;
            const [inner] = await db.query<{ id: string }>(
              Prisma.sql`SELECT txid_current()::text AS id`,
            );
            expect(inner?.id).toBe(outer?.id);
            await db.query(
              Prisma.sql`INSERT INTO "Lead" ("tenantId", id, "displayName", "updatedAt")
                         VALUES (${tenantA}::uuid, gen_random_uuid(), ${name}, now())`,
            );
            throw new Error('undo');
          }),
        ),
      ).rejects.toThrow('undo');
      expect(await as(tenantA, () => db.query(byName(name)))).toEqual([]);
    });
  });

  it('a raw pg session as the application role sees no tenant row without the setting', async () => {
    await as(tenantB, () => db.lead.create({ data: { tenantId: tenantB, displayName: 'Bob' } }));
    const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM "Lead"');
      expect(rows[0]?.n).toBe(0);
    } finally {
      await client.end();
    }
  });
});
