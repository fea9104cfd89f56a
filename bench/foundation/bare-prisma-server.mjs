#!/usr/bin/env node
// A diagnostic step between the anchor and the full stack: the anchor's plain Fastify 5
// server, but reading through Prisma (the API's generated client, @prisma/adapter-pg)
// with exactly the batch transaction of TenantDb's model calls:
//
//   prisma.$transaction([set_config('app.tenant_id', tenant, true), lead.findUnique])
//
// No Nest, no plugins, no logging, no AsyncLocalStorage. bare -> bare-prisma is what
// the ORM costs; bare-prisma -> full is what the framework around it costs.
//
// Environment: as bare-server.mjs, plus BENCH_PRISMA_CLIENT, the path of the built
// generated client (…/libs/db/src/generated/prisma/client.js) of the build measured.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PrismaPg } from '@prisma/adapter-pg';
import { serveLeads } from './lead-server.mjs';

const url = process.env.BENCH_DATABASE_URL;
const clientPath = process.env.BENCH_PRISMA_CLIENT;
if (!url || !clientPath) {
  process.stderr.write(
    'bare-prisma-server: BENCH_DATABASE_URL and BENCH_PRISMA_CLIENT are required\n',
  );
  process.exit(2);
}

const { PrismaClient } = await import(pathToFileURL(path.resolve(clientPath)).href);
// The same options as the API's createPrismaRoot (libs/db/src/client/prisma-root.ts).
const prisma = new PrismaClient({
  adapter: new PrismaPg({
    connectionString: url,
    max: Number(process.env.BENCH_POOL_SIZE ?? 10),
    statement_timeout: Number(process.env.BENCH_STATEMENT_TIMEOUT_MS ?? 15_000),
    application_name: 'ibhq-bench-bare-prisma',
  }),
  transactionOptions: { maxWait: 5_000, timeout: 15_000 },
});

async function readLead(tenantId, id) {
  const [, lead] = await prisma.$transaction([
    prisma.$executeRaw`SELECT set_config('app.tenant_id', ${tenantId}, true)`,
    prisma.lead.findUnique({ where: { tenantId_id: { tenantId, id } } }),
  ]);
  return lead;
}

await serveLeads({ name: 'bare-prisma-server', readLead, close: () => prisma.$disconnect() });
