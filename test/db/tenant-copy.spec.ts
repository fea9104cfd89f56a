import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { text as readAll } from 'node:stream/consumers';
import { parse } from 'csv-parse/sync';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreModule, runWithTenant, TenantContextMissingError, type TenantId } from '@ibhq/core';
import { DatabaseModule, Prisma, TenantDb } from '@ibhq/db';

type CopyToOptions = Parameters<TenantDb['copyTo']>[1];
import { asTenant, createTenantRow, sql, testConfig } from '../support/db.js';

/**
 * TenantDb.copyTo / copyFrom: COPY through pg-copy-streams in a transaction of the
 * tenant's scope. The request pool has ONE connection, and so has the COPY pool (half
 * of it, at least one): a setting, a transaction or a COPY that outlived its call
 * would be seen by the next call, or block it.
 */
describe('TenantDb COPY', () => {
  let app: INestApplicationContext;
  let db: TenantDb;
  let tenantA: TenantId;
  let tenantB: TenantId;
  const ownerX = randomUUID();
  const ownerY = randomUUID();
  const leadsA: string[] = [];
  let leadB: string;

  const csvOf = async (statement: Prisma.Sql, options?: CopyToOptions): Promise<string[][]> =>
    parse(await readAll(db.copyTo(statement, options)), { relax_column_count: true });

  /** A COPY through the COPY pool's one connection: hangs if a COPY leaked it. */
  const copyCount = async (): Promise<number> => {
    const [[n] = []] = await asTenant(tenantA, () =>
      csvOf(Prisma.sql`SELECT count(*) FROM "Lead"`),
    );
    return Number(n);
  };

  const appBackends = async () =>
    (
      await sql<{ state: string | null; query: string }>(
        'admin',
        `SELECT state, query FROM pg_stat_activity
          WHERE datname = current_database() AND usename = 'ibhq_app' AND pid <> pg_backend_pid()`,
      )
    ).rows;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        CoreModule.forRoot(
          testConfig({ DATABASE_POOL_SIZE: '1', DATABASE_STATEMENT_TIMEOUT_MS: '200' }),
        ),
        DatabaseModule,
      ],
    }).compile();
    app = await moduleRef.init();
    db = app.get(TenantDb);
    tenantA = await createTenantRow('Copy A');
    tenantB = await createTenantRow('Copy B');
    for (const [name, owner] of [
      ['Ann', ownerX],
      ['Bob', ownerY],
      ['Cy', ownerX],
    ] as const) {
      const lead = await asTenant(tenantA, () =>
        db.lead.create({ data: { tenantId: tenantA, displayName: name, ownerId: owner } }),
      );
      leadsA.push(lead.id);
    }
    leadB = (
      await asTenant(tenantB, () =>
        db.lead.create({ data: { tenantId: tenantB, displayName: 'Secret of B' } }),
      )
    ).id;
  });

  afterAll(async () => {
    await app.close();
  });

  describe('copyTo', () => {
    it('refuses to run without a tenant context, before any query', () => {
      expect(() => db.copyTo(Prisma.sql`SELECT 1`)).toThrow(TenantContextMissingError);
    });

    it('inlines hostile strings so that they come back unchanged and run nothing', async () => {
      const hostile = [
        "it's",
        "''",
        'back\\slash \\\\ and \\x41 \\n',
        "\\'; SELECT 1; --",
        '$$; DROP TABLE "Lead"; $$',
        '$body$\'); DELETE FROM "Lead"; --',
        '; SELECT pg_sleep(10);',
        '"double" "quotes", commas,\nnewline\r\ncrlf\ttab',
        'ünïcödé ✓ 😀 中文',
        '/* comment */ -- dash',
        "E'x'",
        '',
      ];
      for (const value of hostile) {
        const rows = await asTenant(tenantA, () =>
          csvOf(Prisma.sql`SELECT ${value}::text AS v, length(${value}) AS n`),
        );
        expect(rows).toEqual([[value, String(Array.from(value).length)]]);
      }
      // Still all there: nothing was dropped or deleted.
      const count = await asTenant(tenantA, () => db.lead.count());
      expect(count).toBe(3);
    });

    it('inlines numbers, bigints, booleans, dates, nulls, buffers, JSON and arrays', async () => {
      const when = new Date('2024-02-29T23:59:58.123Z');
      const rows = await asTenant(tenantA, () =>
        csvOf(Prisma.sql`SELECT 1 -${-5} AS minus, ${2.5}::numeric * 2 AS num,
                          ${9007199254740993n}::bigint AS big, ${true} AS t, ${false} AS f,
                          ${when}::timestamptz = '2024-02-29T23:59:58.123Z'::timestamptz AS same_time,
                          ${null}::text IS NULL AS is_null,
                          encode(${Buffer.from([0, 1, 0xfe, 0x27])}::bytea, 'hex') AS hex,
                          ${{ a: "it's", b: [1, 2] }}::jsonb ->> 'a' AS json_a,
                          array_to_json(${['x', "it's", 'q"uote', 'back\\slash', null, '{}', ',']}::text[]) AS arr,
                          cardinality(${[] as string[]}::text[]) AS empty,
                          ${[1, -2.5]}::numeric[] AS nums,
                          ${leadsA}::uuid[] @> ARRAY[${leadsA[0]}::uuid] AS has`),
      );
      expect(rows).toEqual([
        [
          '6',
          '5.0',
          '9007199254740993',
          't',
          'f',
          't',
          't',
          '0001fe27',
          "it's",
          JSON.stringify(['x', "it's", 'q"uote', 'back\\slash', null, '{}', ',']),
          '0',
          '{1,-2.5}',
          't',
        ],
      ]);
    });

    it('works with arrays against a typed column without a cast, as a parameter would', async () => {
      const rows = await asTenant(tenantA, () =>
        csvOf(Prisma.sql`SELECT "displayName" FROM "Lead"
                          WHERE "tenantId" = ${tenantA}::uuid AND id = ANY(${leadsA.slice(0, 2)})
                          ORDER BY "displayName"`),
      );
      expect(rows).toEqual([['Ann'], ['Bob']]);
    });

    it('refuses values it cannot write safely, before sending anything', () => {
      for (const bad of [
        Number.NaN,
        Number.POSITIVE_INFINITY,
        'nul\u0000byte',
        new Date('nope'),
        [['ok'], ['nul\u0000']],
        Symbol('x'),
        () => 1,
        new Map(),
      ]) {
        expect(() => asTenant(tenantA, () => db.copyTo(Prisma.sql`SELECT ${bad}`))).toThrow(
          TypeError,
        );
      }
    });

    it("confines COPY to the tenant: another tenant's rows never appear", async () => {
      const all = await asTenant(tenantB, () =>
        csvOf(Prisma.sql`SELECT id, "displayName" FROM "Lead" ORDER BY id`),
      );
      expect(all).toEqual([[leadB, 'Secret of B']]);
      const asked = await asTenant(tenantB, () =>
        csvOf(Prisma.sql`SELECT id FROM "Lead" WHERE "tenantId" = ${tenantA}::uuid`),
      );
      expect(asked).toEqual([]);
      const fromA = await asTenant(tenantA, () =>
        csvOf(Prisma.sql`SELECT id FROM "Lead" WHERE id = ${leadB}::uuid`),
      );
      expect(fromA).toEqual([]);
    });

    it("applies the own-leads scope: an agent's COPY sees only their leads", async () => {
      const rows = await runWithTenant(
        { tenantId: tenantA, actor: { type: 'user', id: ownerX }, leadOwnerScope: ownerX },
        () => csvOf(Prisma.sql`SELECT "displayName" FROM "Lead" ORDER BY "displayName"`),
      );
      expect(rows).toEqual([['Ann'], ['Cy']]);
    });

    it('writes the header and the COPY options it is given', async () => {
      const text = await asTenant(tenantA, () =>
        readAll(
          db.copyTo(Prisma.sql`SELECT 'a;b' AS x, 2 AS y`, {
            copyOptions: "(FORMAT csv, HEADER, DELIMITER ';')",
          }),
        ),
      );
      expect(text).toBe('x;y\n"a;b";2\n');
    });

    it('runs its before hook in the COPY transaction, where db.query joins it', async () => {
      const pids: number[] = [];
      const rows = await asTenant(tenantA, () =>
        csvOf(
          Prisma.sql`SELECT pg_backend_pid(), current_setting('pg_trgm.word_similarity_threshold', true)`,
          {
            before: async (query) => {
              await query(
                Prisma.sql`SELECT set_config('pg_trgm.word_similarity_threshold', '0.25', true)`,
              );
              const [r] = await db.query<{ pid: number }>(
                Prisma.sql`SELECT pg_backend_pid() AS pid`,
              );
              pids.push(r?.pid ?? -1);
            },
          },
        ),
      );
      expect(rows).toEqual([[String(pids[0]), '0.25']]);
    });

    it('leaves no setting or transaction behind on the pooled connection', async () => {
      const agent = { tenantId: tenantA, actor: { type: 'user' as const, id: ownerX } };
      const [copyRow] = await runWithTenant({ ...agent, leadOwnerScope: ownerX }, () =>
        csvOf(Prisma.sql`SELECT pg_backend_pid()`),
      );
      // The COPY pool's one connection again, in a plain transaction of another tenant
      // without an owner scope: nothing of the first COPY's settings is left.
      const [after] = await asTenant(tenantB, () =>
        csvOf(
          Prisma.sql`SELECT pg_backend_pid(), current_setting('app.lead_owner', true),
                            (SELECT count(*) FROM "Lead")`,
          {
            before: async (query) => {
              const [r] = await query<{ x: boolean }>(
                Prisma.sql`SELECT current_setting('app.tenant_id', true) = ${tenantB} AS x`,
              );
              expect(r?.x).toBe(true);
            },
          },
        ),
      );
      expect(after).toEqual([copyRow?.[0], '', '1']);
      // Outside any transaction, the connection carries no tenant and no COPY settings.
      const [idle] = await asTenant(tenantB, () =>
        db.query<{ t: string; c: string }>(
          Prisma.sql`SELECT current_setting('statement_timeout') AS t,
                            current_setting('client_connection_check_interval') AS c`,
        ),
      );
      expect(idle).toEqual({ t: '200ms', c: '0' });
      expect((await appBackends()).every((b) => b.state === 'idle')).toBe(true);
    });

    it("never takes the requests' connections: a paused COPY leaves the request pool free", async () => {
      const stream = asTenant(tenantA, () =>
        db.copyTo(Prisma.sql`SELECT g, repeat('z', 100) FROM generate_series(1, 2000000) g`),
      );
      await new Promise<void>((resolve) => {
        stream.once('readable', () => {
          resolve();
        });
      });
      // The request pool has one connection; the COPY holds one of its own.
      const [row] = await asTenant(tenantA, () =>
        db.query<{ n: number }>(Prisma.sql`SELECT count(*)::int AS n FROM "Lead"`),
      );
      expect(row?.n).toBe(3);
      stream.destroy();
      expect(await copyCount()).toBe(3);
    });

    it('is not cut off by the pool statement timeout (exports must not be capped)', async () => {
      // The pool's statement_timeout is 200 ms here; COPY runs with none.
      const rows = await asTenant(tenantA, () =>
        csvOf(Prisma.sql`SELECT 'slow' FROM (SELECT pg_sleep(0.5)) s`),
      );
      expect(rows).toEqual([['slow']]);
      // ...while ordinary queries still are.
      await expect(
        asTenant(tenantA, () => db.query(Prisma.sql`SELECT pg_sleep(0.5)`)),
      ).rejects.toThrow(/statement timeout/);
    });

    it('destroys the stream with the error of a failing statement and releases the connection', async () => {
      const stream = asTenant(tenantA, () =>
        db.copyTo(Prisma.sql`SELECT 1 / (g - 3) FROM generate_series(1, 5) g`),
      );
      await expect(readAll(stream)).rejects.toThrow(/division by zero/);
      // The COPY pool's single connection is usable again, outside any transaction.
      expect(await copyCount()).toBe(3);
    });

    it('a consumer that goes away mid-COPY leaves no open transaction or connection', async () => {
      // Far more than fits in socket buffers: the backend is blocked writing when we stop.
      const stream = asTenant(tenantA, () =>
        db.copyTo(Prisma.sql`SELECT g, repeat('x', 200) FROM generate_series(1, 20000000) g`),
      );
      let received = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (received > 1_000_000) break; // for-await's break destroys the stream
      }
      expect(stream.destroyed).toBe(true);
      // The backend rolls back and exits: wait for it (bounded), then nothing of ours
      // is active or idle in a transaction.
      let left = await appBackends();
      for (let i = 0; i < 100 && left.some((b) => b.query.includes('generate_series')); i++) {
        await new Promise((r) => setTimeout(r, 100));
        left = await appBackends();
      }
      expect(left.filter((b) => b.query.includes('generate_series'))).toEqual([]);
      expect(left.filter((b) => b.state !== 'idle')).toEqual([]);
      // The COPY pool (of one) hands out a working connection again.
      expect(await copyCount()).toBe(3);
    });

    it('a consumer that destroys the stream before it started leaves nothing behind', async () => {
      const stream = asTenant(tenantA, () => db.copyTo(Prisma.sql`SELECT 1`));
      stream.destroy();
      // The connection it was waiting for goes back to the COPY pool (of one).
      expect(await copyCount()).toBe(3);
    });

    it('refuses to run inside an open transaction()', async () => {
      await expect(
        asTenant(tenantA, () =>
          db.transaction(() => {
            db.copyTo(Prisma.sql`SELECT 1`);
            return Promise.resolve();
          }),
        ),
      ).rejects.toThrow(/cannot join an open transaction/);
    });

    it('respects backpressure: a paused consumer holds the COPY without buffering it all', async () => {
      const stream = asTenant(tenantA, () =>
        db.copyTo(Prisma.sql`SELECT g, repeat('y', 100) FROM generate_series(1, 2000000) g`),
      );
      // Read one chunk, then stop reading for a while.
      await new Promise<void>((resolve) => {
        stream.once('readable', () => {
          resolve();
        });
      });
      stream.read();
      await new Promise((r) => setTimeout(r, 300));
      // ~200 MB would have arrived by now without backpressure; the stream holds only
      // its highWaterMark.
      expect(stream.readableLength).toBeLessThan(1_000_000);
      stream.destroy();
      // And the connection is given back (replaced) afterwards.
      let left = await appBackends();
      for (let i = 0; i < 100 && left.some((b) => b.query.includes('generate_series')); i++) {
        await new Promise((r) => setTimeout(r, 100));
        left = await appBackends();
      }
      expect(left.filter((b) => b.query.includes('generate_series'))).toEqual([]);
    });
  });

  describe('copyFrom', () => {
    const stageTable = Prisma.sql`CREATE TEMP TABLE lead_stage ("tenantId" uuid, "displayName" text) ON COMMIT DROP`;
    const moveStaged = Prisma.sql`INSERT INTO "Lead" (id, "tenantId", "displayName", "updatedAt")
                                   SELECT gen_random_uuid(), "tenantId", "displayName", now() FROM lead_stage`;
    const namesOf = async (tenant: TenantId) =>
      (
        await asTenant(tenant, () =>
          db.lead.findMany({ select: { displayName: true }, orderBy: { displayName: 'asc' } }),
        )
      ).map((l) => l.displayName);

    it('refuses to run without a tenant context', async () => {
      await expect(db.copyFrom('COPY x FROM STDIN', Readable.from(['a\n']))).rejects.toBeInstanceOf(
        TenantContextMissingError,
      );
    });

    it('copies a stream through a temp table into the tenant, hooks in the same transaction', async () => {
      const tenant = await createTenantRow('Copy C');
      const pids: number[] = [];
      const rows = await asTenant(tenant, () =>
        db.copyFrom(
          'COPY lead_stage FROM STDIN (FORMAT csv)',
          Readable.from([
            `${tenant},"Quote ""Q"", comma"\n`,
            `${tenant},Back\\slash\n`,
            `${tenant},Ünï\n`,
          ]),
          {
            before: async (query) => {
              await query(stageTable);
              const [r] = await query<{ pid: number }>(Prisma.sql`SELECT pg_backend_pid() AS pid`);
              pids.push(r?.pid ?? -1);
            },
            after: async (query, count) => {
              expect(count).toBe(3);
              await query(moveStaged);
              // db.query inside a hook joins the COPY's transaction (same backend).
              const [r] = await db.query<{ pid: number }>(
                Prisma.sql`SELECT pg_backend_pid() AS pid`,
              );
              pids.push(r?.pid ?? -2);
              // ...and sees the uncommitted rows.
              const [c] = await db.query<{ n: number }>(
                Prisma.sql`SELECT count(*)::int AS n FROM "Lead"`,
              );
              expect(c?.n).toBe(3);
            },
          },
        ),
      );
      expect(rows).toBe(3);
      expect(pids[0]).toBe(pids[1]);
      expect(await namesOf(tenant)).toEqual(['Back\\slash', 'Quote "Q", comma', 'Ünï']);
    });

    it('takes an async iterable of buffers', async () => {
      const tenant = await createTenantRow('Copy D');
      async function* lines() {
        await Promise.resolve();
        for (let i = 0; i < 1000; i++)
          yield Buffer.from(`${tenant},Lead ${String(i).padStart(4, '0')}\n`);
      }
      const rows = await asTenant(tenant, () =>
        db.copyFrom('COPY lead_stage FROM STDIN (FORMAT csv)', lines(), {
          before: async (q) => {
            await q(stageTable);
          },
          after: async (q) => {
            await q(moveStaged);
          },
        }),
      );
      expect(rows).toBe(1000);
      expect((await namesOf(tenant)).length).toBe(1000);
    });

    it('COPY FROM straight into a row-level-secured table is refused, nothing written', async () => {
      const tenant = await createTenantRow('Copy E');
      await expect(
        asTenant(tenant, () =>
          db.copyFrom(
            'COPY "Lead" ("tenantId", "displayName", "updatedAt") FROM STDIN (FORMAT csv)',
            Readable.from([`${tenantA},Intruder,2024-01-01\n`]),
          ),
        ),
      ).rejects.toThrow(/row-level security/);
      expect(await namesOf(tenantA)).toEqual(['Ann', 'Bob', 'Cy']);
    });

    it('a row of another tenant is refused by row-level security, and the whole copy rolls back', async () => {
      const tenant = await createTenantRow('Copy F');
      await expect(
        asTenant(tenant, () =>
          db.copyFrom(
            'COPY lead_stage FROM STDIN (FORMAT csv)',
            Readable.from([`${tenant},Mine\n`, `${tenantA},Intruder\n`]),
            {
              before: async (q) => {
                await q(stageTable);
                await q(Prisma.sql`INSERT INTO "Lead" (id, "tenantId", "displayName", "updatedAt")
                                   VALUES (gen_random_uuid(), ${tenant}::uuid, 'Written in before', now())`);
              },
              after: async (q) => {
                await q(moveStaged);
              },
            },
          ),
        ),
      ).rejects.toThrow(/row-level security/);
      expect(await namesOf(tenant)).toEqual([]);
      expect(await namesOf(tenantA)).toEqual(['Ann', 'Bob', 'Cy']);
    });

    it('a source that fails mid-way aborts the COPY, rolls back, and the connection is reusable', async () => {
      const tenant = await createTenantRow('Copy G');
      async function* failing() {
        yield `${tenant},One\n`;
        yield `${tenant},Two\n`;
        await Promise.resolve();
        throw new Error('upload broke');
      }
      await expect(
        asTenant(tenant, () =>
          db.copyFrom('COPY lead_stage FROM STDIN (FORMAT csv)', failing(), {
            before: async (q) => {
              await q(stageTable);
            },
            after: async (q) => {
              await q(moveStaged);
            },
          }),
        ),
      ).rejects.toThrow(/upload broke/);
      expect(await namesOf(tenant)).toEqual([]);
      expect(await copyCount()).toBe(3);
    });

    it('a row the server rejects rolls everything back', async () => {
      const tenant = await createTenantRow('Copy H');
      await expect(
        asTenant(tenant, () =>
          db.copyFrom(
            'COPY lead_stage FROM STDIN (FORMAT csv)',
            Readable.from([`${tenant},Fine\n`, `not-a-uuid,Broken\n`]),
            {
              before: async (q) => {
                await q(stageTable);
              },
              after: async (q) => {
                await q(moveStaged);
              },
            },
          ),
        ),
      ).rejects.toThrow(/invalid input syntax for type uuid/);
      expect(await namesOf(tenant)).toEqual([]);
      expect(await copyCount()).toBe(3);
    });

    it('a hook that throws rolls back the copied rows', async () => {
      const tenant = await createTenantRow('Copy I');
      await expect(
        asTenant(tenant, () =>
          db.copyFrom('COPY lead_stage FROM STDIN (FORMAT csv)', Readable.from([`${tenant},X\n`]), {
            before: async (q) => {
              await q(stageTable);
            },
            after: async (q) => {
              await q(moveStaged);
              throw new Error('changed my mind');
            },
          }),
        ),
      ).rejects.toThrow(/changed my mind/);
      expect(await namesOf(tenant)).toEqual([]);
    });

    it('refuses to run inside an open transaction(), and model calls inside its hooks', async () => {
      await expect(
        asTenant(tenantA, () =>
          db.transaction(() => db.copyFrom('COPY lead_stage FROM STDIN', Readable.from([]))),
        ),
      ).rejects.toThrow(/cannot join an open transaction/);
      await expect(
        asTenant(tenantA, () =>
          db.copyFrom('COPY lead_stage FROM STDIN (FORMAT csv)', Readable.from([]), {
            before: async (q) => {
              await q(stageTable);
              await db.lead.count();
            },
          }),
        ),
      ).rejects.toThrow(/inside a copyFrom hook/);
    });

    it('takes only COPY ... FROM STDIN', async () => {
      await expect(
        asTenant(tenantA, () => db.copyFrom('DELETE FROM "Lead"', Readable.from([]))),
      ).rejects.toThrow(/COPY \.\.\. FROM STDIN/);
      expect(await namesOf(tenantA)).toEqual(['Ann', 'Bob', 'Cy']);
    });
  });
});
