// The process under test of scenario "audit": the built AuditModule (from the API build
// the runner copied) in a Nest application context, driven over a small HTTP control
// interface so that the runner can start, check, measure and stop it like the
// foundation's servers (bench/lib/servers.mjs) and count its CPU apart from its own.
// The control requests are not measured: each starts one closed-loop run of N writers
// and answers with what they did. The writers call AuditService.record() in-process
// (mode "service"), or, for the anchor (mode "bare"), send the same statements on a
// plain pg.Pool: BEGIN + set_config, SELECT ... FOR UPDATE of the head, the INSERT of
// the event with the UPDATE of the head, COMMIT, hashing with the same chainHash.
//
//   GET  /ready                  200 once the application context is up
//   POST /run    {mode, tenants: [uuid...], writers, durationMs}
//                writer i writes to tenants[i % tenants.length] until the time is up;
//                answers {events, elapsedMs, latenciesMs: {p50, p90, p99, max}, perTenant}
//   POST /verify {tenants: [uuid...]}  -> [{tenantId, ok, events, headSeq, brokenAt?}]
//
// Environment: BENCH_API_BUILD (the copied build's root), BENCH_HOST, BENCH_PORT, and
// the API's own configuration (DATABASE_URL, DATABASE_POOL_SIZE, ... see AppConfig).
// Exits on SIGTERM/SIGINT and when its standard input closes (lib/child-preload.mjs).
import 'reflect-metadata';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { NestFactory } from '@nestjs/core';
import pg from 'pg';

const build = process.env.BENCH_API_BUILD;
if (!build) throw new Error('BENCH_API_BUILD is not set');
const load = (lib) => import(pathToFileURL(path.join(build, 'libs', lib, 'src', 'index.js')).href);
const core = await load('core');
const audit = await load('audit');

const config = core.AppConfig.load(process.env);
const app = await NestFactory.createApplicationContext(
  // AuditModule itself as the root, extended with the configuration it needs.
  {
    module: audit.AuditModule,
    imports: [core.CoreModule.forRoot(config, { service: 'bench-audit' })],
  },
  { logger: ['error', 'warn'] },
);
const service = app.get(audit.AuditService);

const IP = '203.0.113.7';
const USER_AGENT = 'ibhq-bench/1';

// The anchor's pool: same role, size and statement timeout as the API's.
let pool;
const LOCK_HEAD = `SELECT "seq", "hash", host($2::inet) AS "ip" FROM "AuditHead"
                    WHERE "tenantId" = $1::uuid FOR UPDATE`;
const WRITE = `WITH "event" AS (
    INSERT INTO "AuditEvent" ("tenantId", "seq", "occurredAt", "actorType", "actorId", "action",
      "targetType", "targetId", "metadata", "ip", "userAgent", "prevHash", "hash")
    VALUES ($1::uuid, $2::bigint, $3::timestamptz, $4::"AuditActorType", $5, $6, $7, $8,
      $9::jsonb, $10::inet, $11, $12, $13))
  UPDATE "AuditHead" SET "seq" = $2::bigint, "hash" = $13 WHERE "tenantId" = $1::uuid
  RETURNING "seq"`;

async function bareRecord(tenantId, actorId, entry) {
  pool ??= new pg.Pool({
    connectionString: config.database.url,
    max: config.database.poolSize,
    statement_timeout: config.database.statementTimeoutMs,
  });
  const client = await pool.connect();
  try {
    // The tenant id is a UUID made by PostgreSQL: safe as a literal.
    await client.query(`BEGIN; SELECT set_config('app.tenant_id', '${tenantId}', true)`);
    let { rows } = await client.query(LOCK_HEAD, [tenantId, IP]);
    if (!rows[0]) {
      await client.query(
        `INSERT INTO "AuditHead" ("tenantId", "seq", "hash") VALUES ($1::uuid, 0, $2)
         ON CONFLICT ("tenantId") DO NOTHING`,
        [tenantId, audit.GENESIS_HASH],
      );
      ({ rows } = await client.query(LOCK_HEAD, [tenantId, IP]));
    }
    const head = rows[0];
    const fields = {
      tenantId,
      seq: Number(head.seq) + 1,
      occurredAt: new Date(),
      actorType: 'system',
      actorId,
      action: entry.action,
      targetType: entry.targetType,
      targetId: entry.targetId,
      metadata: entry.metadata,
      ip: head.ip,
      userAgent: USER_AGENT,
    };
    const hash = audit.chainHash(head.hash, fields);
    await client.query(WRITE, [
      tenantId,
      String(fields.seq),
      fields.occurredAt.toISOString(),
      fields.actorType,
      actorId,
      fields.action,
      fields.targetType,
      fields.targetId,
      JSON.stringify(fields.metadata),
      fields.ip,
      USER_AGENT,
      head.hash,
      hash,
    ]);
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function runWriters({ mode, tenants, writers, durationMs }) {
  if (mode !== 'service' && mode !== 'bare') throw new Error(`unknown mode ${mode}`);
  const latencies = [];
  const perTenant = Object.fromEntries(tenants.map((t) => [t, 0]));
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: writers }, (_, w) => {
      const tenantId = tenants[w % tenants.length];
      const actorId = `bench-writer-${w}`;
      const ctx = {
        tenantId,
        actor: { type: 'system', id: actorId },
        client: { ip: IP, userAgent: USER_AGENT },
      };
      return core.runWithTenant(ctx, async () => {
        for (let n = 0; performance.now() < deadline; n++) {
          const entry = {
            action: 'bench.event_written',
            targetType: 'bench',
            targetId: `w${w}-${n}`,
            metadata: { writer: w, n, note: 'a typical small event' },
          };
          const t = performance.now();
          await (mode === 'service' ? service.record(entry) : bareRecord(tenantId, actorId, entry));
          latencies.push(performance.now() - t);
          perTenant[tenantId]++;
        }
      });
    }),
  );
  const elapsedMs = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return {
    events: latencies.length,
    elapsedMs,
    latenciesMs: {
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      max: latencies.at(-1) ?? null,
    },
    perTenant,
  };
}

async function verify({ tenants }) {
  const out = [];
  for (const tenantId of tenants) {
    const result = await core.runWithTenant(
      { tenantId, actor: { type: 'system', id: 'bench-verify' } },
      () => service.verify(),
    );
    out.push({ tenantId, ...result });
  }
  return out;
}

const routes = { 'POST /run': runWriters, 'POST /verify': verify };

const server = http.createServer((req, res) => {
  const send = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.method === 'GET' && req.url === '/ready') return send(200, { ready: true });
  const route = routes[`${req.method} ${req.url}`];
  if (!route) return send(404, { error: 'not found' });
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    Promise.resolve()
      .then(() => route(JSON.parse(body)))
      .then(
        (result) => send(200, result),
        (e) => send(500, { error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
      );
  });
});

let closing = false;
const stop = async () => {
  if (closing) return;
  closing = true;
  server.close();
  await pool?.end();
  await app.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());

const host = process.env.BENCH_HOST ?? '127.0.0.1';
const port = Number(process.env.BENCH_PORT ?? 3901);
server.listen(port, host, () => {
  process.stdout.write(`audit writers listening on http://${host}:${port}\n`);
});
