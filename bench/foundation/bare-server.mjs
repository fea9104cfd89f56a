#!/usr/bin/env node
// The anchor of the foundation scenario: the least a Node.js server can do to serve
// the same tenant-scoped read as the API. Plain Fastify 5 and a pg.Pool, no logging,
// no framework, no ORM; the same role (ibhq_app, row-level security applies), the
// same database, the same pool size, and the same transaction as the API's TenantDb:
//
//   BEGIN; SELECT set_config('app.tenant_id', $1, true); SELECT the lead; COMMIT
//
// The HTTP side (same answers as the API) is lead-server.mjs.
//
// Started by bench/run.mjs as a child process; configured by the environment:
//   BENCH_DATABASE_URL   PostgreSQL URL of the application role (required)
//   BENCH_POOL_SIZE      connections in the pool (default 10, as DATABASE_POOL_SIZE)
//   BENCH_STATEMENT_TIMEOUT_MS  statement_timeout (default 15000, as the API)
//   BENCH_HOST, BENCH_PORT      where to listen (default 127.0.0.1:3900)
import pg from 'pg';
import { serveLeads } from './lead-server.mjs';

const url = process.env.BENCH_DATABASE_URL;
if (!url) {
  process.stderr.write('bare-server: BENCH_DATABASE_URL is required\n');
  process.exit(2);
}

const pool = new pg.Pool({
  connectionString: url,
  max: Number(process.env.BENCH_POOL_SIZE ?? 10),
  statement_timeout: Number(process.env.BENCH_STATEMENT_TIMEOUT_MS ?? 15_000),
  application_name: 'ibhq-bench-bare',
});
pool.on('error', (e) => process.stderr.write(`bare-server: idle client error: ${e.message}\n`));

const SET_TENANT = "SELECT set_config('app.tenant_id', $1, true)";
const SELECT_LEAD =
  'SELECT "tenantId", "id", "displayName", "createdAt", "updatedAt" FROM "Lead" WHERE "tenantId" = $1 AND "id" = $2';

async function readLead(tenantId, id) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(SET_TENANT, [tenantId]);
    const { rows } = await client.query(SELECT_LEAD, [tenantId, id]);
    await client.query('COMMIT');
    client.release();
    return rows[0];
  } catch (e) {
    // A client in an unknown transaction state is not given back to the pool.
    client.release(e instanceof Error ? e : true);
    throw e;
  }
}

await serveLeads({ name: 'bare-server', readLead, close: () => pool.end() });
