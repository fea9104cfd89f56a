import { it } from 'vitest';
import pg from 'pg';
import { Prisma } from '@ibhq/db';
import { runWithTenant, asTenantId } from '@ibhq/core';
import { DuplicatesService } from '@ibhq/leads';

const T = '11111111-1111-4111-8111-111111111111';
it('plans', async () => {
  const url = new URL(process.env.DATABASE_ADMIN_URL!);
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  const exists = await admin.query(`SELECT 1 FROM pg_database WHERE datname = 'h6_scratch'`);
  if (exists.rowCount === 0) await admin.query('CREATE DATABASE h6_scratch');
  await admin.end();
  url.pathname = '/h6_scratch';
  const c = new pg.Client({ connectionString: url.toString() });
  await c.connect();
  const N = Number(process.env.H6N ?? 1000000);
  const have = await c.query(`SELECT to_regclass('"Lead"') AS t`);
  if (!have.rows[0].t || process.env.H6RESEED) {
    await c.query(`DROP TABLE IF EXISTS "Lead", "DuplicateDismissal"; CREATE EXTENSION IF NOT EXISTS citext; CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE TABLE "Lead" ("tenantId" uuid NOT NULL, id uuid NOT NULL, "displayName" varchar(200) NOT NULL, "telegramUserId" bigint, "telegramUsername" citext, phone varchar(16), email varchar(254), country char(2), "phoneNational" varchar(17), "emailLocal" citext, "mergedIntoId" uuid, PRIMARY KEY ("tenantId", id));
    CREATE TABLE "DuplicateDismissal" ("tenantId" uuid, "leadId" uuid, "otherLeadId" uuid, PRIMARY KEY ("tenantId","leadId","otherLeadId"));`);
    let s = Date.now();
    await c.query(`INSERT INTO "Lead" ("tenantId", id, "displayName", phone, "phoneNational", email, "emailLocal", "telegramUsername", country)
    SELECT $1::uuid, gen_random_uuid(),
      CASE WHEN i % 50 IN (0, 1) THEN 'Dup Name ' || (i / 50) ELSE 'Person ' || i END,
      '+44' || (7000000000 + i)::text, CASE WHEN i % 100 IN (10, 11) THEN 'p' || (i / 100) ELSE 'n' || i END,
      CASE WHEN i % 2 = 0 THEN 'user' || i || '@mail.com' END, CASE WHEN i % 2 = 0 THEN 'user' || i END,
      CASE WHEN i % 300 = 3 THEN 'user' || (i + 3) WHEN i % 3 = 0 THEN 'tg' || i END,
      (ARRAY['GB','DE','FR','ES'])[1 + (i / 50) % 4]
    FROM generate_series(1, $2::int) i`, [T, N]);
    await c.query(`CREATE UNIQUE INDEX ON "Lead"("tenantId", "telegramUsername"); CREATE INDEX ON "Lead"("tenantId","phoneNational"); CREATE INDEX ON "Lead"("tenantId","emailLocal"); CREATE INDEX ON "Lead"("tenantId","mergedIntoId"); CREATE INDEX ON "Lead"("tenantId","displayName", id);`);
    await c.query('VACUUM ANALYZE "Lead"');
    console.log('seeded', N, Date.now() - s, 'ms');
  }
  if (process.env.H6IDX) {
    await c.query(process.env.H6IDX);
    await c.query('ANALYZE "Lead"');
  }
  const statements: Prisma.Sql[] = [];
  const fakeDb = { transaction: (fn: () => unknown) => fn(), query: async (st: Prisma.Sql) => { statements.push(st); return st.text.includes('WITH') ? [] : [{ mergedIntoId: null }]; } };
  const svc = new DuplicatesService(fakeDb as never, {} as never);
  const ctx = { tenantId: asTenantId(T), actor: { type: 'system' as const, id: 't' } };
  await runWithTenant(ctx, () => svc.list({ limit: 20 }));
  const { rows: [one] } = await c.query(`SELECT id FROM "Lead" WHERE "tenantId" = $1 AND "displayName" = 'Dup Name 1000' LIMIT 1`, [T]);
  const { rows: [two] } = await c.query(`SELECT id FROM "Lead" WHERE "tenantId" = $1 AND "telegramUsername" IS NOT NULL OFFSET 1000 LIMIT 1`, [T]);
  await runWithTenant(ctx, () => svc.forLead(one.id, { limit: 20 }));
  await runWithTenant(ctx, () => svc.forLead(two.id, { limit: 20 }));
  await c.query('SET jit = off');
  for (const st of statements.filter((x) => x.text.includes('WITH'))) {
    const s = Date.now();
    const plan = await c.query(`EXPLAIN (ANALYZE, BUFFERS) ${st.text}`, st.values);
    console.log(plan.rows.map((p) => p['QUERY PLAN']).join('\n'));
    console.log('took', Date.now() - s, 'ms');
  }
  await c.end();
}, 900_000);
