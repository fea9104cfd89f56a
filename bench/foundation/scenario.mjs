// Scenario "foundation": a tenant-scoped read of one small row, through the full API
// stack, against the bare anchor (bare-server.mjs) doing the same SQL. See
// bench/README.md for what it measures and why the comparison is fair.
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuMeter, waitForQuiet } from '../lib/cpu.mjs';
import { root, withClient } from '../lib/database.mjs';
import { runLoad } from '../lib/load.mjs';
import { formatProfileSummary, summarizeProfile } from '../lib/profile-summary.mjs';
import { fmt, median, table } from '../lib/report.mjs';
import { fileSize, freePort, httpGet, startServer, stopServer } from '../lib/servers.mjs';

export const title = 'Tenant-scoped read of one small row: full API stack vs bare Fastify + pg';

/** The full stack must keep at least this share of the bare throughput. */
export const TARGET_RATIO = 0.5;

const BARE_SERVER = 'bench/foundation/bare-server.mjs';
const BARE_PRISMA_SERVER = 'bench/foundation/bare-prisma-server.mjs';

/** The servers compared, in the order each round runs them. */
export const VARIANTS = ['bare', 'bare-prisma', 'full', 'full-warn'];
const PRELOAD = 'bench/lib/child-preload.mjs';

/** Busier than this (share of all CPUs) while our servers idle: wait before measuring. */
const QUIET_THRESHOLD = 0.15;
/** Other processes used more than this share of all CPUs during a run: measure again. */
const DISTURBED_THRESHOLD = 0.1;

const TENANTS = 3;
const LEADS_PER_TENANT = 100;

/**
 * Three tenants with a hundred leads each, written as the superuser (row-level
 * security does not apply to it). The target is one lead of the first tenant; the
 * second tenant is the "wrong tenant" that must get 404 for it.
 */
async function seed(adminDbUrl) {
  return withClient(adminDbUrl, async (db) => {
    const tenants = [];
    for (let i = 0; i < TENANTS; i++) {
      const { rows } = await db.query(
        `INSERT INTO "Tenant" (id, name, slug, "updatedAt")
         VALUES (gen_random_uuid(), $1, $2, now()) RETURNING id`,
        [`Bench tenant ${i + 1}`, `bench-${i + 1}`],
      );
      tenants.push(rows[0].id);
    }
    await db.query(
      `INSERT INTO "Lead" ("tenantId", id, "displayName", "createdAt", "updatedAt")
       SELECT t.id, gen_random_uuid(), 'Lead ' || g, now() - g * interval '1 minute', now()
         FROM unnest($1::uuid[]) AS t(id), generate_series(1, $2::int) AS g`,
      [tenants, LEADS_PER_TENANT],
    );
    await db.query('ANALYZE "Tenant", "Lead"');
    const { rows } = await db.query(
      `SELECT id, "displayName" FROM "Lead" WHERE "tenantId" = $1 AND "displayName" = $2`,
      [tenants[0], `Lead ${Math.ceil(LEADS_PER_TENANT / 2)}`],
    );
    const { rows: count } = await db.query('SELECT count(*)::int AS n FROM "Lead"');
    return {
      tenantId: tenants[0],
      wrongTenantId: tenants[1],
      leadId: rows[0].id,
      displayName: rows[0].displayName,
      tenants: TENANTS,
      leads: count[0].n,
    };
  });
}

const fernetKey = () => `${randomBytes(32).toString('base64url')}=`;

function variants(ctx, target) {
  const { options, urls } = ctx;
  const api = (logLevel) => ({
    script: ctx.apiMain,
    nodeArgs: ['--enable-source-maps'],
    readyPath: '/health/ready',
    env: (port) => ({
      NODE_ENV: 'development',
      LOG_LEVEL: logLevel,
      DATABASE_URL: urls.app,
      DATABASE_POOL_SIZE: String(options.pool),
      REDIS_URL: ctx.redisUrl,
      REDIS_KEY_PREFIX: ctx.redisPrefix,
      FERNET_KEYS: fernetKey(),
      SIGNING_KEYS: randomBytes(32).toString('base64url'),
      API_HOST: '127.0.0.1',
      API_PORT: String(port),
      API_PUBLIC_URL: `http://127.0.0.1:${port}`,
      DEV_TENANT_HEADER: 'true',
    }),
    logs: true,
  });
  const bare = (script, extraEnv) => ({
    script,
    nodeArgs: [],
    readyPath: `/v1/leads/${target.leadId}`,
    readyHeaders: { 'x-tenant-id': target.tenantId },
    env: (port) => ({
      BENCH_DATABASE_URL: urls.app,
      BENCH_POOL_SIZE: String(options.pool),
      BENCH_HOST: '127.0.0.1',
      BENCH_PORT: String(port),
      ...extraEnv,
    }),
    logs: false,
  });
  const all = [
    { key: 'bare', label: 'bare: Fastify + pg', ...bare(BARE_SERVER, {}) },
    {
      key: 'bare-prisma',
      label: 'diagnostic: Fastify + Prisma',
      ...bare(BARE_PRISMA_SERVER, { BENCH_PRISMA_CLIENT: ctx.prismaClient }),
    },
    { key: 'full', label: 'full API, LOG_LEVEL=info', ...api('info') },
    { key: 'full-warn', label: 'full API, LOG_LEVEL=warn', ...api('warn') },
  ];
  return all.filter((v) => options.variants.includes(v.key));
}

async function countLines(file) {
  if (!existsSync(file)) return 0;
  let lines = 0;
  for await (const chunk of createReadStream(file)) {
    for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) lines++;
  }
  return lines;
}

/**
 * The comparison is only meaningful if both servers answer the same thing: 200 with
 * the target lead for its tenant, 404 for another tenant asking for it.
 */
async function checkAnswers(base, target) {
  const path_ = `/v1/leads/${target.leadId}`;
  const own = await httpGet(`${base}${path_}`, { 'x-tenant-id': target.tenantId });
  if (own.status !== 200 || own.body?.id !== target.leadId) {
    throw new Error(
      `GET ${path_} as its tenant: expected 200 with id ${target.leadId}, got ${own.status} ${JSON.stringify(own.body)}`,
    );
  }
  if (own.body.displayName !== target.displayName) {
    throw new Error(`GET ${path_}: wrong displayName ${JSON.stringify(own.body.displayName)}`);
  }
  const other = await httpGet(`${base}${path_}`, { 'x-tenant-id': target.wrongTenantId });
  if (other.status !== 404) {
    throw new Error(
      `GET ${path_} as another tenant: expected 404, got ${other.status} ${JSON.stringify(other.body)}`,
    );
  }
  return { body: own.body, text: own.text };
}

async function waitForFile(file, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`no CPU profile written to ${file}`);
    await sleep(100);
  }
}

/** One server: start, check, warm up, measure (optionally profiled), stop. */
async function measureOnce(ctx, variant, target, { round, profile = false }) {
  const { options, log } = ctx;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const tag = `${variant.key}-${profile ? 'profile' : `r${round}`}`;
  const logFile =
    variant.logs && options.logTo === 'file' ? path.join(ctx.workDir, `${tag}.log`) : '/dev/null';
  const cpuProfile = profile ? path.join(ctx.profileDir, `${tag}.cpuprofile`) : null;
  const nodeArgs = [...variant.nodeArgs, '--import', `./${PRELOAD}`];
  log(`  ${variant.label}: starting on ${base}${profile ? ' (CPU profile)' : ''}`);
  const server = await startServer({
    name: variant.key,
    args: [...nodeArgs, variant.script],
    env: { ...variant.env(port), ...(cpuProfile ? { BENCH_CPU_PROFILE: cpuProfile } : {}) },
    stdoutFile: logFile,
    readyUrl: `${base}${variant.readyPath}`,
    readyHeaders: variant.readyHeaders ?? {},
    timeoutMs: 60_000,
  });
  let ok = false;
  try {
    const { body, text } = await checkAnswers(base, target);
    const load = {
      url: `${base}/v1/leads/${target.leadId}`,
      headers: { 'x-tenant-id': target.tenantId },
      connections: options.connections,
      expectBody: text,
    };
    const attempts = [];
    let run;
    for (let attempt = 1; ; attempt++) {
      const quiet = await waitForQuiet({
        threshold: QUIET_THRESHOLD,
        maxWaitMs: options.quietWaitS * 1000,
        onWait: (share) =>
          log(
            `  machine busy with other work (${fmt.pct(share)} of CPU while idle): waiting up to ${options.quietWaitS} s`,
          ),
      });
      if (options.warmupS > 0) await runLoad({ ...load, durationS: options.warmupS });
      const logBytesBefore = fileSize(logFile);
      if (cpuProfile) {
        rmSync(`${cpuProfile}.done`, { force: true });
        server.child.stdin.write('profile:start\n');
        await sleep(200);
      }
      const stopCpu = cpuMeter({ serverPid: server.child.pid, database: ctx.database });
      const result = await runLoad({ ...load, durationS: options.durationS });
      const cpu = stopCpu();
      if (cpuProfile) {
        server.child.stdin.write('profile:stop\n');
        await waitForFile(`${cpuProfile}.done`, 30_000);
      }
      // The server must still be right after the load (and still alive).
      await checkAnswers(base, target);
      if (result.non2xx > 0 || result.errors > 0 || result.mismatches > 0) {
        throw new Error(
          `${variant.label}: under load, ${result.non2xx} non-2xx answers, ${result.mismatches} wrong bodies and ${result.errors} errors (${JSON.stringify(result.autocannon.statusCodeStats)})`,
        );
      }
      const perRequest = (ms) =>
        ms === null || result.ok === 0 ? null : Math.round((ms * 1000) / result.ok);
      run = {
        variant: variant.key,
        round,
        profiled: profile,
        attempt,
        machineBusyBeforeRun: quiet.share,
        waitedForQuietMs: quiet.waitedMs,
        ...result,
        cpu: {
          ...cpu,
          serverUsPerRequest: perRequest(cpu.serverMs),
          serverMainThreadUsPerRequest: perRequest(cpu.serverMainThreadMs),
          postgresUsPerRequest: perRequest(cpu.postgresMs),
          loadGeneratorUsPerRequest: perRequest(cpu.loadGeneratorMs),
          machineBusyShare:
            cpu.machineBusyMs && cpu.machineTotalMs ? cpu.machineBusyMs / cpu.machineTotalMs : null,
        },
        disturbed: cpu.foreignShare !== null && cpu.foreignShare > DISTURBED_THRESHOLD,
        log: {
          destination: logFile === '/dev/null' ? '/dev/null' : 'file',
          bytesDuringMeasurement:
            logFile === '/dev/null' ? null : fileSize(logFile) - logBytesBefore,
        },
        body,
      };
      log(
        `  ${variant.label}: ${fmt.int(result.rps)} req/s, p50 ${fmt.ms(result.p50Ms)} ms, p99 ${fmt.ms(result.p99Ms)} ms` +
          (run.cpu.serverUsPerRequest === null
            ? ''
            : `; CPU per request: server ${run.cpu.serverUsPerRequest} µs (main thread ${run.cpu.serverMainThreadUsPerRequest} µs), PostgreSQL ${run.cpu.postgresUsPerRequest} µs; other work on the machine ${fmt.pct(cpu.foreignShare)}`),
      );
      if (!run.disturbed || attempt > options.retries) break;
      attempts.push({ ...run, body: undefined });
      log(`  disturbed by other work on the machine: measuring again`);
    }
    run.discardedAttempts = attempts;
    ok = true;
    return { run, cpuProfile };
  } catch (e) {
    const state = server.exited
      ? `the server had exited (${JSON.stringify(server.exited)})`
      : 'the server was still running';
    const kept =
      logFile === '/dev/null' ? '' : `; its log is kept in ${path.relative(root, logFile)}`;
    throw new Error(
      `${variant.label}: ${e instanceof Error ? e.message : String(e)}\n(${state}${kept}; stderr: ${server.stderr().slice(-2_000) || 'empty'})`,
      { cause: e },
    );
  } finally {
    await stopServer(server);
    if (logFile !== '/dev/null') {
      // Lines of the whole life of the process: startup, checks, warm-up, measurement.
      ctx.logStats.push({ tag, lines: await countLines(logFile), bytes: fileSize(logFile) });
      if (ok && !options.keepLogs) rmSync(logFile, { force: true });
    }
  }
}

export async function run(ctx) {
  const { options, log } = ctx;
  log('seeding');
  const target = await seed(ctx.urls.admin);
  log(
    `  ${target.tenants} tenants, ${target.leads} leads; target lead ${target.leadId} of tenant ${target.tenantId}; wrong tenant ${target.wrongTenantId}`,
  );
  const list = variants(ctx, target);
  const runs = [];
  for (let round = 1; round <= options.rounds; round++) {
    log(`round ${round}/${options.rounds}`);
    for (const variant of list) {
      const { run: r } = await measureOnce(ctx, variant, target, { round });
      // Every server must answer the same lead, field for field.
      if (runs.length > 0 && JSON.stringify(r.body) !== JSON.stringify(runs[0].body)) {
        throw new Error(
          `${variant.label} answered ${JSON.stringify(r.body)}, ${runs[0].variant} ${JSON.stringify(runs[0].body)}`,
        );
      }
      runs.push(r);
    }
  }

  // Both servers must have answered the same lead, field for field.
  const profiles = [];
  if (options.profile) {
    log('profiling (one extra run per server, not counted in the figures)');
    for (const variant of list) {
      const { run: r, cpuProfile } = await measureOnce(ctx, variant, target, {
        round: 0,
        profile: true,
      });
      const summary = summarizeProfile(JSON.parse(readFileSync(cpuProfile, 'utf8')), 30, r.ok);
      profiles.push({
        variant: variant.key,
        file: path.relative(root, cpuProfile),
        rps: r.rps,
        serverUsPerRequest: r.cpu.serverUsPerRequest,
        summary,
      });
      rmSync(`${cpuProfile}.done`, { force: true });
    }
  }

  const summary = {};
  for (const variant of list) {
    const mine = runs.filter((r) => r.variant === variant.key);
    summary[variant.key] = {
      label: variant.label,
      rps: median(mine.map((r) => r.rps)),
      p50Ms: median(mine.map((r) => r.p50Ms)),
      p99Ms: median(mine.map((r) => r.p99Ms)),
      serverUsPerRequest: median(mine.map((r) => r.cpu.serverUsPerRequest)),
      serverMainThreadUsPerRequest: median(mine.map((r) => r.cpu.serverMainThreadUsPerRequest)),
      postgresUsPerRequest: median(mine.map((r) => r.cpu.postgresUsPerRequest)),
      disturbedRuns: mine.filter((r) => r.disturbed).length,
    };
  }
  const ratio = (key) =>
    summary[key] && summary.bare?.rps ? summary[key].rps / summary.bare.rps : null;
  const ratios = {
    full: ratio('full'),
    fullWarn: ratio('full-warn'),
    barePrisma: ratio('bare-prisma'),
  };
  const verdict =
    ratios.full === null
      ? null
      : {
          target: TARGET_RATIO,
          met: ratios.full >= TARGET_RATIO,
          // How far the median full-stack throughput is from the target, in req/s.
          shortfallRps: Math.max(0, TARGET_RATIO * summary.bare.rps - summary.full.rps),
        };

  return {
    target: {
      path: '/v1/leads/:id',
      leadId: target.leadId,
      tenantId: target.tenantId,
      wrongTenantId: target.wrongTenantId,
      tenants: target.tenants,
      leads: target.leads,
    },
    runs: runs.map(({ body: _body, ...r }) => r),
    summary,
    ratios,
    verdict,
    profiles,
    report: () => report({ runs, summary, ratios, verdict, profiles, options }),
  };
}

function report({ runs, summary, ratios, verdict, profiles, options }) {
  const cols = [
    { title: 'round', align: 'left' },
    { title: 'server', align: 'left' },
    { title: 'req/s', align: 'right' },
    { title: 'p50 ms', align: 'right' },
    { title: 'p99 ms', align: 'right' },
    { title: 'server CPU µs/req', align: 'right' },
    { title: '(main thread)', align: 'right' },
    { title: 'PostgreSQL CPU µs/req', align: 'right' },
    { title: 'other work', align: 'right' },
  ];
  const rows = runs.map((r) => [
    String(r.round),
    summary[r.variant].label,
    fmt.int(r.rps),
    fmt.ms(r.p50Ms),
    fmt.ms(r.p99Ms),
    fmt.int(r.cpu.serverUsPerRequest),
    fmt.int(r.cpu.serverMainThreadUsPerRequest),
    fmt.int(r.cpu.postgresUsPerRequest),
    `${fmt.pct(r.cpu.foreignShare)}${r.disturbed ? ' (!)' : ''}`,
  ]);
  for (const [, s] of Object.entries(summary)) {
    rows.push([
      'median',
      s.label,
      fmt.int(s.rps),
      fmt.ms(s.p50Ms),
      fmt.ms(s.p99Ms),
      fmt.int(s.serverUsPerRequest),
      fmt.int(s.serverMainThreadUsPerRequest),
      fmt.int(s.postgresUsPerRequest),
      s.disturbedRuns > 0 ? `${s.disturbedRuns} disturbed` : '',
    ]);
  }
  const out = [
    table(cols, rows),
    '',
    `${options.connections} connections, ${options.warmupS} s warm-up + ${options.durationS} s measured per run, pool ${options.pool}`,
  ];
  if (ratios.full !== null) {
    out.push(
      `ratio full/bare (LOG_LEVEL=info): ${fmt.pct(ratios.full)}` +
        (verdict
          ? `  -> target ${fmt.pct(verdict.target)} ${verdict.met ? 'MET' : `MISSED by ${fmt.pct(verdict.target - ratios.full)} points (${fmt.int(verdict.shortfallRps)} req/s short)`}`
          : ''),
    );
  }
  if (ratios.fullWarn !== null) {
    out.push(`ratio full/bare (LOG_LEVEL=warn, secondary): ${fmt.pct(ratios.fullWarn)}`);
  }
  if (ratios.barePrisma !== null) {
    out.push(
      `ratio Fastify+Prisma/bare (diagnostic: the ORM alone): ${fmt.pct(ratios.barePrisma)}`,
    );
  }
  for (const p of profiles) {
    out.push(
      '',
      `CPU profile of ${p.variant} (${p.file}; ${fmt.int(p.rps)} req/s while profiled):`,
      formatProfileSummary(p.summary, 15),
    );
  }
  return out.join('\n');
}
