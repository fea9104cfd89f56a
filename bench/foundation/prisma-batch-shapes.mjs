#!/usr/bin/env node
// Diagnostic (not part of `npm run bench`): the CPU cost of one tenant-scoped read of a
// lead through Prisma, by the shape of the transaction, against pg sending the same
// statements. In-process, no HTTP: it isolates the ORM's share of the foundation
// scenario.
//
//   node bench/foundation/prisma-batch-shapes.mjs [--seconds 6] [--passes 3]
//
// Needs the build (dist/) and PostgreSQL; makes and drops its own database
// (ibhq_bench_prisma). Each shape runs in a fresh process (so that one shape's heap and
// JIT state do not colour the next), 32 reads in flight, shapes interleaved over the
// passes; the figures are the medians over passes of operations per second and of the
// CPU time of the process per operation.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { createDatabase, dropDatabase, root, withClient } from '../lib/database.mjs';
import { median } from '../lib/report.mjs';

const CONCURRENCY = 32;

const SHAPES = [
  'pg: BEGIN; set_config; SELECT; COMMIT (the anchor)',
  'Prisma batch [set_config, findUnique] (TenantDb today)',
  'Prisma batch [Tenant.findUnique, set_config, findUnique] (model first: plan cached)',
  'Prisma interactive tx (set_config, then findUnique)',
  'Prisma batch [set_config, $queryRaw SELECT] (raw only: no query compiler)',
  'reference: Prisma findUnique alone, no transaction (RLS hides the row)',
];

/** Child: measures one shape and prints one JSON line. */
async function measureShape(index, { url, tenantId, otherTenantId, id, seconds }) {
  const clientFile = path.join(root, 'dist/apps/api/libs/db/src/generated/prisma/client.js');
  const { PrismaClient } = await import(pathToFileURL(clientFile).href);
  // The API's options (libs/db/src/client/prisma-root.ts).
  const prisma = new PrismaClient({
    adapter: new PrismaPg({ connectionString: url, max: 10, statement_timeout: 15_000 }),
    transactionOptions: { maxWait: 5_000, timeout: 15_000 },
  });
  const pool = new pg.Pool({ connectionString: url, max: 10, statement_timeout: 15_000 });
  const setTenant = (t) => prisma.$executeRaw`SELECT set_config('app.tenant_id', ${t}, true)`;
  const findLead = (t) => prisma.lead.findUnique({ where: { tenantId_id: { tenantId: t, id } } });
  const reads = [
    async (t) => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query("SELECT set_config('app.tenant_id', $1, true)", [t]);
        const { rows } = await client.query(
          'SELECT "tenantId", "id", "displayName", "createdAt", "updatedAt" FROM "Lead" WHERE "tenantId" = $1 AND "id" = $2',
          [t, id],
        );
        await client.query('COMMIT');
        return rows[0] ?? null;
      } finally {
        client.release();
      }
    },
    async (t) => (await prisma.$transaction([setTenant(t), findLead(t)]))[1],
    async (t) =>
      (
        await prisma.$transaction([
          prisma.tenant.findUnique({ where: { id: t }, select: { id: true } }),
          setTenant(t),
          findLead(t),
        ])
      )[2],
    (t) =>
      prisma.$transaction(async (tx) => {
        await tx.$executeRaw`SELECT set_config('app.tenant_id', ${t}, true)`;
        return tx.lead.findUnique({ where: { tenantId_id: { tenantId: t, id } } });
      }),
    async (t) => {
      const [, rows] = await prisma.$transaction([
        setTenant(t),
        prisma.$queryRaw`SELECT "tenantId", "id", "displayName", "createdAt", "updatedAt" FROM "Lead" WHERE "tenantId" = ${t}::uuid AND "id" = ${id}::uuid`,
      ]);
      return rows[0] ?? null;
    },
    (t) => findLead(t),
  ];
  const read = reads[index];
  try {
    // A real shape must find the lead for its tenant and not for another.
    if (index !== reads.length - 1) {
      const own = await read(tenantId);
      const other = await read(otherTenantId);
      if (own?.id !== id || other !== null) {
        throw new Error(`${SHAPES[index]}: wrong answer ${JSON.stringify([own, other])}`);
      }
    }
    const loop = async (ms) => {
      const until = Date.now() + ms;
      let n = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (Date.now() < until) {
            await read(tenantId);
            n++;
          }
        }),
      );
      return n;
    };
    await loop(5_000); // warm-up (Prisma needs seconds to be JIT-compiled)
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const n = await loop(seconds * 1000);
    const cpu = process.cpuUsage(cpu0);
    process.stdout.write(
      `${JSON.stringify({
        opsPerSecond: (n * 1000) / (performance.now() - t0),
        cpuUsPerOp: (cpu.user + cpu.system) / n,
      })}\n`,
    );
  } finally {
    await prisma.$disconnect();
    await pool.end();
  }
}

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '6' },
    passes: { type: 'string', default: '3' },
    shape: { type: 'string' },
    context: { type: 'string' },
  },
});

if (values.shape !== undefined) {
  await measureShape(Number(values.shape), JSON.parse(values.context ?? '{}'));
} else {
  const seconds = Math.min(60, Math.max(1, Number(values.seconds) || 6));
  const passes = Math.min(10, Math.max(1, Number(values.passes) || 3));
  const adminUrl = process.env.DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const database = 'ibhq_bench_prisma';
  const urls = await createDatabase(adminUrl, database);
  try {
    const seeded = await withClient(urls.admin, async (db) => {
      const { rows: tenants } = await db.query(
        `INSERT INTO "Tenant" (id, name, slug, "updatedAt")
         VALUES (gen_random_uuid(), 'a', 'a', now()), (gen_random_uuid(), 'b', 'b', now())
         RETURNING id`,
      );
      const { rows } = await db.query(
        `INSERT INTO "Lead" ("tenantId", id, "displayName", "updatedAt")
         SELECT $1, gen_random_uuid(), 'Lead ' || g, now() FROM generate_series(1, 100) g
         RETURNING id`,
        [tenants[0].id],
      );
      await db.query('ANALYZE');
      return { tenantId: tenants[0].id, otherTenantId: tenants[1].id, id: rows[50].id };
    });
    const context = JSON.stringify({ url: urls.app, seconds, ...seeded });
    const results = SHAPES.map(() => []);
    for (let pass = 1; pass <= passes; pass++) {
      process.stderr.write(`pass ${pass}/${passes}\n`);
      for (let i = 0; i < SHAPES.length; i++) {
        const out = execFileSync(
          process.execPath,
          [import.meta.filename, '--shape', String(i), '--context', context],
          {
            encoding: 'utf8',
            timeout: (seconds + 60) * 1000,
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        results[i].push(JSON.parse(out.trim().split('\n').at(-1)));
      }
    }
    const width = Math.max(...SHAPES.map((s) => s.length));
    process.stdout.write(
      `${CONCURRENCY} reads in flight, ${seconds} s per shape and pass, medians of ${passes} passes (node ${process.version})\n\n`,
    );
    process.stdout.write(`${'shape'.padEnd(width)}    ops/s  CPU µs/op  (per pass)\n`);
    SHAPES.forEach((name, i) => {
      const ops = median(results[i].map((r) => r.opsPerSecond));
      const cpu = median(results[i].map((r) => r.cpuUsPerOp));
      const each = results[i].map((r) => Math.round(r.cpuUsPerOp)).join(', ');
      process.stdout.write(
        `${name.padEnd(width)}  ${Math.round(ops).toString().padStart(7)}  ${Math.round(cpu).toString().padStart(9)}  (${each})\n`,
      );
    });
  } finally {
    await dropDatabase(adminUrl, database);
  }
}
