// Scenario "audit": audit-trail write throughput (AuditService.record) with N
// concurrent writers all in ONE tenant (serialised by the tenant's chain lock) against
// the same N writers spread over N tenants (independent chains), each beside its
// anchor: the same statements on a plain pg.Pool. See bench/README.md, section
// "Audit write throughput".
import { existsSync } from 'node:fs';
import path from 'node:path';
import { appEnv } from '../lib/api-env.mjs';
import { cpuMeter } from '../lib/cpu.mjs';
import { root, withClient } from '../lib/database.mjs';
import {
  isDisturbed,
  machineBusyShare,
  measureRounds,
  measureUntilUndisturbed,
  perUnit,
  PRELOAD,
} from '../lib/measure.mjs';
import { fmt, resultsTable, summarizeRuns } from '../lib/report.mjs';
import { freePort, startServer, stopServer } from '../lib/servers.mjs';

export const title =
  'Audit write throughput: concurrent writers in one tenant vs spread over many tenants';

/** The runs of each round, in order: how writers are spread, and what they call. */
const ALL = {
  'one-tenant': { mode: 'service', spread: 'one', label: 'AuditService, 1 tenant' },
  'many-tenants': { mode: 'service', spread: 'many', label: 'AuditService, N tenants' },
  'bare-one-tenant': { mode: 'bare', spread: 'one', label: 'anchor pg, 1 tenant' },
  'bare-many-tenants': { mode: 'bare', spread: 'many', label: 'anchor pg, N tenants' },
};
export const VARIANTS = Object.keys(ALL);

/** Options this scenario defaults differently (--connections is the number of writers). */
export const DEFAULTS = { connections: 16, pool: 16 };

const WRITER_SERVER = 'bench/audit/writer-server.mjs';

/** The figures of each run and their medians per variant, in the order of the table. */
const COLUMNS = [
  { title: 'events/s', key: 'eventsPerSecond', format: fmt.int },
  { title: 'p50 ms', key: 'p50Ms', format: fmt.ms },
  { title: 'p99 ms', key: 'p99Ms', format: fmt.ms },
  { title: 'writer CPU µs/event', key: 'writerUsPerEvent', cpu: true, format: fmt.int },
  { title: '(main thread)', key: 'writerMainThreadUsPerEvent', cpu: true, format: fmt.int },
  { title: 'PostgreSQL CPU µs/event', key: 'postgresUsPerEvent', cpu: true, format: fmt.int },
];

/** Fresh tenant rows for one run (as the superuser), so that every run starts empty chains. */
async function createTenants(adminDbUrl, count, label) {
  return withClient(adminDbUrl, async (db) => {
    const { rows } = await db.query(
      `INSERT INTO "Tenant" (id, name, slug, "updatedAt")
       SELECT gen_random_uuid(), $1 || ' ' || g, $2 || '-' || g || '-' || substr(md5(random()::text), 1, 8), now()
         FROM generate_series(1, $3::int) AS g
       RETURNING id`,
      [`Audit bench ${label}`, `audit-${label}`, count],
    );
    return rows.map((r) => r.id);
  });
}

async function post(base, route, body, timeoutMs) {
  const response = await fetch(`${base}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const parsed = await response.json();
  if (response.status !== 200) throw new Error(`${route}: ${response.status} ${parsed.error}`);
  return parsed;
}

/** One variant: start the writers' process, check, warm up, measure, verify, stop. */
async function measureOnce(ctx, variant, round) {
  const { options, urls, log } = ctx;
  const writers = options.connections;
  const { mode, spread } = ALL[variant];
  const tenants = await createTenants(
    urls.admin,
    spread === 'one' ? 1 : writers,
    `${variant}-r${round}`,
  );
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  log(`  ${variant}: ${writers} writers over ${tenants.length} tenant(s), starting on ${base}`);
  const server = await startServer({
    name: `audit-${variant}`,
    args: ['--enable-source-maps', '--import', `./${PRELOAD}`, WRITER_SERVER],
    env: {
      ...appEnv(ctx, { logLevel: 'warn' }),
      BENCH_API_BUILD: ctx.apiBuildRoot,
      BENCH_HOST: '127.0.0.1',
      BENCH_PORT: String(port),
    },
    stdoutFile: '/dev/null',
    readyUrl: `${base}/ready`,
    timeoutMs: 60_000,
  });
  const runTimeout = (s) => (s + 60) * 1000;
  try {
    const written = Object.fromEntries(tenants.map((t) => [t, 0]));
    const add = (perTenant) => {
      for (const [t, n] of Object.entries(perTenant)) written[t] += n;
    };
    const { run } = await measureUntilUndisturbed(options, log, async ({ attempt, quiet }) => {
      if (options.warmupS > 0) {
        const warm = await post(
          base,
          '/run',
          { mode, tenants, writers, durationMs: options.warmupS * 1000 },
          runTimeout(options.warmupS),
        );
        add(warm.perTenant);
      }
      const stopCpu = cpuMeter({ serverPid: server.child.pid, database: ctx.database });
      const result = await post(
        base,
        '/run',
        { mode, tenants, writers, durationMs: options.durationS * 1000 },
        runTimeout(options.durationS),
      );
      const cpu = stopCpu();
      add(result.perTenant);
      const perEvent = perUnit(result.events);
      const r = {
        variant,
        round,
        attempt,
        writers,
        tenants: tenants.length,
        machineBusyBeforeRun: quiet.share,
        waitedForQuietMs: quiet.waitedMs,
        events: result.events,
        elapsedMs: result.elapsedMs,
        eventsPerSecond: result.events / (result.elapsedMs / 1000),
        p50Ms: result.latenciesMs.p50,
        p90Ms: result.latenciesMs.p90,
        p99Ms: result.latenciesMs.p99,
        maxMs: result.latenciesMs.max,
        cpu: {
          ...cpu,
          writerUsPerEvent: perEvent(cpu.serverMs),
          writerMainThreadUsPerEvent: perEvent(cpu.serverMainThreadMs),
          postgresUsPerEvent: perEvent(cpu.postgresMs),
          machineBusyShare: machineBusyShare(cpu),
        },
        disturbed: isDisturbed(cpu.foreignShare),
      };
      log(
        `  ${variant}: ${fmt.int(r.eventsPerSecond)} events/s, p50 ${fmt.ms(r.p50Ms)} ms, p99 ${fmt.ms(r.p99Ms)} ms` +
          (r.cpu.writerUsPerEvent === null
            ? ''
            : `; CPU per event: writer process ${r.cpu.writerUsPerEvent} µs (main thread ${r.cpu.writerMainThreadUsPerEvent} µs), PostgreSQL ${r.cpu.postgresUsPerEvent} µs; other work ${fmt.pct(cpu.foreignShare)}`),
      );
      return r;
    });
    // What was written must be a sound chain per tenant, every event of it there.
    const verified = await post(base, '/verify', { tenants }, 300_000);
    for (const v of verified) {
      if (!v.ok || v.headSeq !== written[v.tenantId] || v.events !== written[v.tenantId]) {
        throw new Error(
          `${variant}: chain of tenant ${v.tenantId} after ${written[v.tenantId]} writes: ${JSON.stringify(v)}`,
        );
      }
    }
    run.verifiedEvents = verified.reduce((n, v) => n + v.events, 0);
    return run;
  } catch (e) {
    throw new Error(
      `${variant}: ${e instanceof Error ? e.message : String(e)}\n(stderr: ${server.stderr().slice(-2_000) || 'empty'})`,
      { cause: e },
    );
  } finally {
    await stopServer(server);
  }
}

export async function run(ctx) {
  const { options, log } = ctx;
  // ctx.apiMain is <build>/apps/api/src/main.js; the libraries sit beside apps/.
  ctx.apiBuildRoot = path.resolve(root, ctx.apiMain, '../../../..');
  if (!existsSync(path.join(ctx.apiBuildRoot, 'libs/audit/src/index.js'))) {
    throw new Error('the API build has no libs/audit: run `npm run build` first');
  }
  if (options.profile) log('(--profile is not supported by this scenario: ignored)');
  // The writers answer no body: nothing to compare between variants.
  const runs = await measureRounds(ctx, options.variants, (variant, round) =>
    measureOnce(ctx, variant, round),
  );
  const summary = summarizeRuns(
    runs,
    options.variants.map((key) => ({ key })),
    COLUMNS,
  );
  const ratio = (a, b) =>
    summary[a]?.eventsPerSecond && summary[b]?.eventsPerSecond
      ? summary[a].eventsPerSecond / summary[b].eventsPerSecond
      : null;
  const ratios = {
    oneTenantOverManyTenants: ratio('one-tenant', 'many-tenants'),
    bareOneTenantOverManyTenants: ratio('bare-one-tenant', 'bare-many-tenants'),
    oneTenantOverAnchor: ratio('one-tenant', 'bare-one-tenant'),
    manyTenantsOverAnchor: ratio('many-tenants', 'bare-many-tenants'),
  };
  return {
    runs,
    summary,
    ratios,
    report: () => report({ runs, summary, ratios, options }),
  };
}

function report({ runs, summary, ratios, options }) {
  return [
    resultsTable({
      runs,
      summary,
      labelTitle: 'writers',
      label: (variant) => ALL[variant].label.replace('N', String(options.connections)),
      columns: COLUMNS,
    }),
    '',
    `${options.connections} concurrent writers (closed loop), ${options.warmupS} s warm-up + ${options.durationS} s measured per run, pool ${options.pool}`,
    'every chain verified (AuditService.verify) after each run',
    ...[
      ['AuditService: 1 tenant / N tenants', ratios.oneTenantOverManyTenants],
      ['anchor: 1 tenant / N tenants', ratios.bareOneTenantOverManyTenants],
      ['1 tenant: AuditService / anchor', ratios.oneTenantOverAnchor],
      ['N tenants: AuditService / anchor', ratios.manyTenantsOverAnchor],
    ]
      .filter(([, r]) => r !== null)
      .map(([what, r]) => `${what}: ${fmt.pct(r)} of the throughput`),
  ].join('\n');
}
