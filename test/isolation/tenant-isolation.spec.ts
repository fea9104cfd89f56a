import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM_MODELS, Prisma, TENANT_MODELS } from '@ibhq/db';
import { createTenantRow, sql } from '../support/db.js';
import { startApi, type RunningApi } from '../support/apps.js';

const camel = (model: string) => model.charAt(0).toLowerCase() + model.slice(1);

describe('tenant isolation in the database', () => {
  it('every model is classified as tenant-owned or platform', () => {
    const models = Object.values(Prisma.ModelName).map(camel).sort();
    expect([...TENANT_MODELS, ...PLATFORM_MODELS].sort()).toEqual(models);
  });

  it('every tenant table leads its primary key with tenantId', async () => {
    const { rows } = await sql<{ table: string; first: string }>(
      'admin',
      `SELECT c.conrelid::regclass::text AS table, a.attname AS first
         FROM pg_constraint c
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.contype = 'p' AND c.connamespace = 'public'::regnamespace`,
    );
    const pk = new Map(rows.map((r) => [r.table.replaceAll('"', ''), r.first]));
    for (const model of Object.values(Prisma.ModelName)) {
      if ((TENANT_MODELS as readonly string[]).includes(camel(model))) {
        expect(pk.get(model), model).toBe('tenantId');
      }
    }
  });

  it('every table with a tenantId has RLS enabled, forced, and the tenant policy', async () => {
    const { rows } = await sql<{
      table: string;
      enabled: boolean;
      forced: boolean;
      policies:
        | { name: string; cmd: string; permissive: string; qual: string; check: string | null }[]
        | null;
    }>(
      'admin',
      `SELECT c.relname AS table, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced,
              (SELECT json_agg(json_build_object('name', p.policyname, 'cmd', p.cmd,
                                                 'permissive', p.permissive,
                                                 'qual', p.qual, 'check', p.with_check))
                 FROM pg_policies p
                WHERE p.schemaname = 'public' AND p.tablename = c.relname) AS policies
         FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenantId')`,
    );
    expect(rows.map((r) => r.table).sort()).toEqual(
      Object.values(Prisma.ModelName)
        .filter((m) => (TENANT_MODELS as readonly string[]).includes(camel(m)))
        .sort(),
    );
    for (const row of rows) {
      expect(row.enabled, row.table).toBe(true);
      expect(row.forced, row.table).toBe(true);
      const isolation = row.policies?.find((p) => p.name === 'tenant_isolation');
      expect(isolation?.cmd, row.table).toBe('ALL');
      for (const expr of [isolation?.qual, isolation?.check]) {
        expect(expr).toContain(
          `NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid`,
        );
        expect(expr).toContain('"tenantId"');
      }
      // Any other permissive policy only widens reads, and only by a secret the caller
      // holds; a restrictive one only narrows what tenant_isolation allows.
      for (const other of row.policies?.filter((p) => p.name !== 'tenant_isolation') ?? []) {
        expect(`${row.table}.${other.name}:${other.cmd}:${other.permissive}`).toMatch(
          /^(Membership\.own_memberships:SELECT:PERMISSIVE|ApiKey\.key_lookup:SELECT:PERMISSIVE|Lead\.own_leads_only:ALL:RESTRICTIVE)$/,
        );
      }
    }
  });

  it('every foreign key between tenant tables includes tenantId on both sides', async () => {
    const { rows } = await sql<{
      name: string;
      cols: string[];
      refcols: string[];
      reftable: string;
    }>(
      'admin',
      `SELECT c.conname AS name, c.confrelid::regclass::text AS reftable,
              (SELECT array_agg(a.attname::text) FROM pg_attribute a
                WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)) AS cols,
              (SELECT array_agg(a.attname::text) FROM pg_attribute a
                WHERE a.attrelid = c.confrelid AND a.attnum = ANY (c.confkey)) AS refcols
         FROM pg_constraint c
        WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace`,
    );
    const platform = Object.values(Prisma.ModelName)
      .filter((m) => (PLATFORM_MODELS as readonly string[]).includes(camel(m)))
      .map((m) => `"${m}"`);
    const betweenTenantTables = rows.filter((fk) => !platform.includes(fk.reftable));
    expect(betweenTenantTables.length).toBeGreaterThan(0);
    for (const fk of betweenTenantTables) {
      expect(fk.cols, fk.name).toContain('tenantId');
      expect(fk.refcols, fk.name).toContain('tenantId');
    }
    // References to platform tables: to the tenant row by tenantId, or to a user.
    for (const fk of rows.filter((r) => platform.includes(r.reftable))) {
      expect(fk.refcols, fk.name).toEqual(['id']);
      expect(fk.reftable === '"Tenant"' ? fk.cols : ['tenantId'], fk.name).toEqual(['tenantId']);
    }
  });

  it('the application role is neither superuser, BYPASSRLS nor owner of anything', async () => {
    const { rows } = await sql<{ rolsuper: boolean; rolbypassrls: boolean; owned: number }>(
      'admin',
      `SELECT r.rolsuper, r.rolbypassrls,
              (SELECT count(*)::int FROM pg_class c WHERE c.relowner = r.oid) AS owned
         FROM pg_roles r WHERE r.rolname = 'ibhq_app'`,
    );
    expect(rows[0]).toEqual({ rolsuper: false, rolbypassrls: false, owned: 0 });
    const history = await sql<{ ok: boolean }>(
      'admin',
      `SELECT has_table_privilege('ibhq_app', '"_prisma_migrations"', 'SELECT') AS ok`,
    );
    expect(history.rows[0]?.ok).toBe(false);
  });

  describe('with two tenants holding data', () => {
    let a: string;
    let b: string;
    let leadA: string;

    beforeAll(async () => {
      [a, b] = await Promise.all([createTenantRow('A'), createTenantRow('B')]);
      leadA = (
        await sql<{ id: string }>(
          'admin',
          `INSERT INTO "Lead" ("tenantId", id, "displayName", "updatedAt")
           VALUES ($1, gen_random_uuid(), 'Lead of A', now()) RETURNING id`,
          [a],
        )
      ).rows[0]!.id;
    });

    /** One transaction as the application role, with the tenant set as TenantDb sets it. */
    async function inTenantTx<T>(tenant: string, fn: (conn: pg.Client) => Promise<T>): Promise<T> {
      const conn = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await conn.connect();
      try {
        await conn.query('BEGIN');
        await conn.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenant]);
        const result = await fn(conn);
        await conn.query('ROLLBACK');
        return result;
      } finally {
        await conn.end();
      }
    }

    it('a raw query as the application role without a tenant sees no rows', async () => {
      const { rows } = await sql<{ n: number }>('app', 'SELECT count(*)::int AS n FROM "Lead"');
      expect(rows[0]?.n).toBe(0);
    });

    it('tenant A sees its own row through the same path (control)', async () => {
      const read = await inTenantTx(a, (c) =>
        c.query('SELECT id FROM "Lead" WHERE id = $1', [leadA]),
      );
      expect(read.rowCount).toBe(1);
    });

    it("tenant B cannot read, count, update or delete tenant A's rows", async () => {
      await inTenantTx(b, async (c) => {
        expect((await c.query('SELECT * FROM "Lead" WHERE id = $1', [leadA])).rowCount).toBe(0);
        const count = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM "Lead"');
        expect(count.rows[0]?.n).toBe(0);
        const updated = await c.query(`UPDATE "Lead" SET "displayName" = 'pwned' WHERE id = $1`, [
          leadA,
        ]);
        expect(updated.rowCount).toBe(0);
        const deleted = await c.query('DELETE FROM "Lead" WHERE id = $1', [leadA]);
        expect(deleted.rowCount).toBe(0);
      });
      const still = await sql<{ displayName: string }>(
        'admin',
        'SELECT "displayName" FROM "Lead" WHERE id = $1',
        [leadA],
      );
      expect(still.rows[0]?.displayName).toBe('Lead of A');
    });

    it('the database refuses a row written for another tenant', async () => {
      await inTenantTx(b, async (c) => {
        await expect(
          c.query(
            `INSERT INTO "Lead" ("tenantId", id, "displayName", "updatedAt")
             VALUES ($1, gen_random_uuid(), 'x', now())`,
            [a],
          ),
        ).rejects.toMatchObject({ code: '42501' });
      });
    });

    it('the tenant setting does not outlive its transaction on a connection', async () => {
      const conn = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await conn.connect();
      try {
        await conn.query('BEGIN');
        await conn.query(`SELECT set_config('app.tenant_id', $1, true)`, [a]);
        await conn.query('COMMIT');
        const after = await conn.query<{ n: number }>('SELECT count(*)::int AS n FROM "Lead"');
        expect(after.rows[0]?.n).toBe(0);
      } finally {
        await conn.end();
      }
    });

    it('a composite foreign key refuses a cross-tenant reference, even for the superuser', async () => {
      // The superuser bypasses RLS: only the key itself can refuse this row.
      await expect(
        sql(
          'admin',
          `INSERT INTO "LeadActivity" ("tenantId", id, "leadId", kind, body)
           VALUES ($1, gen_random_uuid(), $2, 'note', 'cross-tenant')`,
          [b, leadA],
        ),
      ).rejects.toMatchObject({ code: '23503' });
    });
  });
});

describe('tenant isolation through the API', () => {
  let api: RunningApi;
  let a: string;
  let b: string;
  let leadA: string;

  beforeAll(async () => {
    api = await startApi();
    [a, b] = await Promise.all([createTenantRow('A'), createTenantRow('B')]);
    leadA = (
      (await api.request('POST', '/v1/leads', { tenant: a, body: { displayName: 'Mine' } }))
        .body as { id: string }
    ).id;
  });
  afterAll(() => api.close());

  const routes = (id: string) =>
    [
      ['GET', `/v1/leads/${id}`, undefined],
      ['PATCH', `/v1/leads/${id}`, { displayName: 'pwned' }],
      ['DELETE', `/v1/leads/${id}`, undefined],
      ['GET', `/v1/leads/${id}/activities`, undefined],
      ['POST', `/v1/leads/${id}/notes`, { body: 'not yours' }],
      ['POST', `/v1/leads/${id}/tasks`, { body: 'not yours', dueAt: '2031-01-01T00:00:00Z' }],
    ] as const;

  it.each(routes('LEAD'))(
    "%s %s with another tenant's id answers 404, like a missing one",
    async (method, path, body) => {
      const other = await api.request(method, path.replace('LEAD', leadA), { tenant: b, body });
      const missing = await api.request(
        method,
        path.replace('LEAD', '01a20000-0000-7000-8000-00000000abcd'),
        {
          tenant: b,
          body,
        },
      );
      expect(other.status).toBe(404);
      expect(missing.status).toBe(404);
      expect((other.body as { error: { message: string } }).error.message).toBe(
        (missing.body as { error: { message: string } }).error.message,
      );
    },
  );

  it("the other tenant's attempts changed nothing", async () => {
    const lead = await api.request('GET', `/v1/leads/${leadA}`, { tenant: a });
    expect(lead.body).toMatchObject({ displayName: 'Mine', version: 1 });
    const timeline = (await api.request('GET', `/v1/leads/${leadA}/activities`, { tenant: a }))
      .body as { items: { kind: string }[] };
    expect(timeline.items.map((i) => i.kind)).toEqual(['created']);
  });

  it("lists never include another tenant's leads", async () => {
    const page = (await api.request('GET', '/v1/leads?limit=200', { tenant: b })).body as {
      items: { id: string }[];
    };
    expect(page.items.map((l) => l.id)).not.toContain(leadA);
    const own = (await api.request('GET', '/v1/leads?limit=200', { tenant: a })).body as {
      items: { id: string }[];
    };
    expect(own.items.map((l) => l.id)).toContain(leadA);
  });

  it('the tenant endpoint answers for the caller only', async () => {
    const me = await api.request('GET', '/v1/tenant', { tenant: b });
    expect(me.body).toMatchObject({ id: b });
  });
});
