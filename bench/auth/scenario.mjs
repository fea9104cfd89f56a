// Scenario "auth": what authentication costs. The foundation scenario's read (GET
// /v1/leads/:id, one small row) through the built API, asked three ways of the same
// server configuration in the same run, alternated in every round:
//
//   dev      the development X-Tenant-Id header (the "unauthenticated path": the
//            guard only checks that the tenant exists and is active, from a cache)
//   cookie   the dashboard's session cookie (ibhq_session=<token>)
//   api-key  Authorization: Bearer <API key> (rate limit raised out of the way)
//
// and reports the throughput of cookie and api-key as a share of dev's. The tenant,
// its owner's session and the API key are made through the API itself (sign-up,
// POST /v1/api-keys). See bench/README.md, "Authenticated request overhead".
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { cpuMeter, waitForQuiet } from '../lib/cpu.mjs';
import { root, withClient } from '../lib/database.mjs';
import { runLoad } from '../lib/load.mjs';
import { formatProfileSummary, summarizeProfile } from '../lib/profile-summary.mjs';
import { fmt, median, table } from '../lib/report.mjs';
import { fileSize, freePort, httpGet, startServer, stopServer } from '../lib/servers.mjs';

export const title =
  'Authenticated request overhead: the foundation read with a session cookie and an API key, against the development-header path';

/** Each authenticated path must keep at least this share of the dev-header throughput. */
export const TARGET_RATIO = 0.8;

/** The ways of asking, in the order each round runs them. */
export const VARIANTS = ['dev', 'cookie', 'api-key'];
const PRELOAD = 'bench/lib/child-preload.mjs';

/** Busier than this (share of all CPUs) while our servers idle: wait before measuring. */
const QUIET_THRESHOLD = 0.15;
/** Other processes used more than this share of all CPUs during a run: measure again. */
const DISTURBED_THRESHOLD = 0.1;

const TENANTS = 3;
const LEADS_PER_TENANT = 100;
/** Far above what one key can ask in a minute here: the limiter runs, never refuses. */
const API_KEY_RATE_LIMIT = 1_000_000;
const SESSION_COOKIE = 'ibhq_session';

const fernetKey = () => `${randomBytes(32).toString('base64url')}=`;

/** The API's environment: the same for every variant and every run of one benchmark. */
function apiEnv(ctx, keys, redisPrefix) {
  const { options, urls } = ctx;
  return (port) => ({
    NODE_ENV: 'development',
    LOG_LEVEL: 'info',
    DATABASE_URL: urls.app,
    DATABASE_POOL_SIZE: String(options.pool),
    REDIS_URL: ctx.redisUrl,
    REDIS_KEY_PREFIX: redisPrefix,
    FERNET_KEYS: keys.fernet,
    SIGNING_KEYS: keys.signing,
    API_HOST: '127.0.0.1',
    API_PORT: String(port),
    API_PUBLIC_URL: `http://127.0.0.1:${port}`,
    DEV_TENANT_HEADER: 'true',
    API_KEY_RATE_LIMIT_PER_MINUTE: String(API_KEY_RATE_LIMIT),
  });
}

async function postJson(url, body, headers = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, body: parsed, text };
}

/**
 * Through a running API (started for this and stopped after): three tenants signed
 * up with their owners (their sessions are in Redis, which every later server of
 * the run shares), an API key with the scope leads:read in each; then, as the
 * superuser, a hundred leads in each tenant, as the foundation scenario seeds them.
 * The target is one lead of the first tenant; the second tenant's credentials are
 * the "wrong tenant" that must get 404 for it.
 */
async function prepare(ctx, env) {
  const { log } = ctx;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = await startServer({
    name: 'setup',
    args: ['--enable-source-maps', '--import', `./${PRELOAD}`, ctx.apiMain],
    env: { ...env(port), LOG_LEVEL: 'warn' },
    stdoutFile: '/dev/null',
    readyUrl: `${base}/health/ready`,
    timeoutMs: 60_000,
  });
  const tenants = [];
  try {
    for (let i = 1; i <= TENANTS; i++) {
      const signup = await postJson(`${base}/v1/auth/signup`, {
        tenantName: `Bench tenant ${i}`,
        displayName: `Bench owner ${i}`,
        email: `bench-owner-${i}-${randomBytes(4).toString('hex')}@example.com`,
        password: `Bench-${randomBytes(12).toString('base64url')}`,
      });
      if (signup.status !== 201) throw new Error(`sign-up: ${signup.status} ${signup.text}`);
      const token = signup.body.token;
      const key = await postJson(
        `${base}/v1/api-keys`,
        { name: 'bench', scopes: ['leads:read'] },
        { authorization: `Bearer ${token}` },
      );
      if (key.status !== 201) throw new Error(`POST /v1/api-keys: ${key.status} ${key.text}`);
      tenants.push({
        tenantId: signup.body.session.tenantId,
        session: token,
        apiKey: key.body.key,
      });
    }
  } catch (e) {
    throw new Error(`setting up through the API: ${e.message}\n(stderr: ${server.stderr()})`, {
      cause: e,
    });
  } finally {
    await stopServer(server);
  }
  log(`  ${TENANTS} tenants signed up through the API, each with an owner session and an API key`);

  return withClient(ctx.urls.admin, async (db) => {
    await db.query(
      `INSERT INTO "Lead" ("tenantId", id, "displayName", "createdAt", "updatedAt")
       SELECT t.id, gen_random_uuid(), 'Lead ' || g, now() - g * interval '1 minute', now()
         FROM unnest($1::uuid[]) AS t(id), generate_series(1, $2::int) AS g`,
      [tenants.map((t) => t.tenantId), LEADS_PER_TENANT],
    );
    await db.query('ANALYZE "Tenant", "Lead"');
    const { rows } = await db.query(
      `SELECT id, "displayName" FROM "Lead" WHERE "tenantId" = $1 AND "displayName" = $2`,
      [tenants[0].tenantId, `Lead ${Math.ceil(LEADS_PER_TENANT / 2)}`],
    );
    const { rows: count } = await db.query('SELECT count(*)::int AS n FROM "Lead"');
    return {
      own: tenants[0],
      wrong: tenants[1],
      leadId: rows[0].id,
      displayName: rows[0].displayName,
      tenants: TENANTS,
      leads: count[0].n,
    };
  });
}

/** How each variant asks, as a tenant's caller. */
const CREDENTIALS = {
  dev: (t) => ({ 'x-tenant-id': t.tenantId }),
  cookie: (t) => ({ cookie: `${SESSION_COOKIE}=${t.session}` }),
  'api-key': (t) => ({ authorization: `Bearer ${t.apiKey}` }),
};
const LABELS = {
  dev: 'dev header (unauthenticated path)',
  cookie: 'session cookie',
  'api-key': 'API key (Bearer)',
};

/**
 * The comparison is only meaningful if each way of asking is really checked: 200 with
 * the target lead for its own tenant's credentials, 404 for the other tenant's, 401
 * without any.
 */
async function checkAnswers(base, variant, target) {
  const url = `${base}/v1/leads/${target.leadId}`;
  const own = await httpGet(url, variant.headers);
  if (own.status !== 200 || own.body?.id !== target.leadId) {
    throw new Error(
      `GET /v1/leads/:id (${variant.label}): expected 200 with id ${target.leadId}, got ${own.status} ${JSON.stringify(own.body)}`,
    );
  }
  if (own.body.displayName !== target.displayName) {
    throw new Error(`wrong displayName ${JSON.stringify(own.body.displayName)}`);
  }
  const other = await httpGet(url, variant.wrongHeaders);
  if (other.status !== 404) {
    throw new Error(
      `GET /v1/leads/:id with another tenant's ${variant.label}: expected 404, got ${other.status} ${JSON.stringify(other.body)}`,
    );
  }
  const anonymous = await httpGet(url, {});
  if (anonymous.status !== 401) {
    throw new Error(`GET /v1/leads/:id without credentials: expected 401, got ${anonymous.status}`);
  }
  return { body: own.body, text: own.text };
}

/**
 * CPU milliseconds used so far by the Redis server of `redisUrl` when it runs on this
 * machine (found by its command line), or null. Sessions and API-key checks make
 * Redis work per request: counted apart, not as "other work on the machine".
 */
function redisCpuReader(redisUrl) {
  const port = new URL(redisUrl).port || '6379';
  let pid = null;
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
        if (cmd.startsWith('redis-server') && cmd.includes(`:${port}`)) {
          pid = d;
          break;
        }
      } catch {
        // gone meanwhile
      }
    }
  } catch {
    return () => null;
  }
  if (pid === null) return () => null;
  let ticksPerSecond = 100;
  try {
    ticksPerSecond =
      Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    // keep the usual 100
  }
  return () => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // utime and stime, after the command name (which may contain spaces).
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
    } catch {
      return null;
    }
  };
}

async function countLines(file) {
  if (!existsSync(file)) return 0;
  let lines = 0;
  for await (const chunk of createReadStream(file)) {
    for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) lines++;
  }
  return lines;
}

async function waitForFile(file, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`no CPU profile written to ${file}`);
    await sleep(100);
  }
}

/**
 * One run: start the API, check the answers, warm up, measure (optionally profiled),
 * check again, stop. As the foundation scenario does it, with this variant's headers.
 */
async function measureOnce(ctx, variant, target, env, redisCpu, { round, profile = false }) {
  const { options, log } = ctx;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const tag = `${variant.key}-${profile ? 'profile' : `r${round}`}`;
  const logFile = options.logTo === 'file' ? path.join(ctx.workDir, `${tag}.log`) : '/dev/null';
  const cpuProfile = profile ? path.join(ctx.profileDir, `${tag}.cpuprofile`) : null;
  log(`  ${variant.label}: starting the API on ${base}${profile ? ' (CPU profile)' : ''}`);
  const server = await startServer({
    name: variant.key,
    args: ['--enable-source-maps', '--import', `./${PRELOAD}`, ctx.apiMain],
    env: { ...env(port), ...(cpuProfile ? { BENCH_CPU_PROFILE: cpuProfile } : {}) },
    stdoutFile: logFile,
    readyUrl: `${base}/health/ready`,
    timeoutMs: 60_000,
  });
  let ok = false;
  try {
    const { body, text } = await checkAnswers(base, variant, target);
    const load = {
      url: `${base}/v1/leads/${target.leadId}`,
      headers: variant.headers,
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
      const redis0 = redisCpu();
      const stopCpu = cpuMeter({ serverPid: server.child.pid, database: ctx.database });
      const result = await runLoad({ ...load, durationS: options.durationS });
      const cpu = stopCpu();
      const redis1 = redisCpu();
      if (cpuProfile) {
        server.child.stdin.write('profile:stop\n');
        await waitForFile(`${cpuProfile}.done`, 30_000);
      }
      await checkAnswers(base, variant, target);
      if (result.non2xx > 0 || result.errors > 0 || result.mismatches > 0) {
        throw new Error(
          `${variant.label}: under load, ${result.non2xx} non-2xx answers, ${result.mismatches} wrong bodies and ${result.errors} errors (${JSON.stringify(result.autocannon.statusCodeStats)})`,
        );
      }
      const redisMs = redis0 === null || redis1 === null ? null : redis1 - redis0;
      // Redis serves the requests measured: not "other work" (cpuMeter counts it there).
      const foreignMs = cpu.foreignMs === null ? null : Math.max(0, cpu.foreignMs - (redisMs ?? 0));
      const foreignShare =
        foreignMs === null || !cpu.machineTotalMs ? null : foreignMs / cpu.machineTotalMs;
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
          redisMs,
          foreignMs,
          foreignShare,
          serverUsPerRequest: perRequest(cpu.serverMs),
          serverMainThreadUsPerRequest: perRequest(cpu.serverMainThreadMs),
          postgresUsPerRequest: perRequest(cpu.postgresMs),
          redisUsPerRequest: perRequest(redisMs),
          loadGeneratorUsPerRequest: perRequest(cpu.loadGeneratorMs),
          machineBusyShare:
            cpu.machineBusyMs && cpu.machineTotalMs ? cpu.machineBusyMs / cpu.machineTotalMs : null,
        },
        disturbed: foreignShare !== null && foreignShare > DISTURBED_THRESHOLD,
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
            : `; CPU per request: server ${run.cpu.serverUsPerRequest} µs (main thread ${run.cpu.serverMainThreadUsPerRequest} µs), PostgreSQL ${run.cpu.postgresUsPerRequest} µs, Redis ${run.cpu.redisUsPerRequest ?? '-'} µs; other work on the machine ${fmt.pct(foreignShare)}`),
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
      ctx.logStats.push({ tag, lines: await countLines(logFile), bytes: fileSize(logFile) });
      if (ok && !options.keepLogs) rmSync(logFile, { force: true });
    }
  }
}

/**
 * Deletes the keys under `prefix` (sessions, API-key cache, rate-limit counters). The
 * runner cleans its own prefix only at its end, and another benchmark running at the
 * same time cleans it at its own end: the sessions this scenario made in its setup
 * must live until its last run, so it keeps them under a prefix of its own.
 */
async function cleanRedis(url, prefix) {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
  });
  await redis.connect();
  try {
    for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 500 })) {
      if (keys.length > 0) await redis.unlink(...keys);
    }
  } finally {
    redis.disconnect();
  }
}

export async function run(ctx) {
  const redisPrefix = `${ctx.redisPrefix}-auth-${randomBytes(4).toString('hex')}`;
  const env = apiEnv(
    ctx,
    { fernet: fernetKey(), signing: randomBytes(32).toString('base64url') },
    redisPrefix,
  );
  try {
    return { ...(await measureAll(ctx, env)), redisPrefix };
  } finally {
    await cleanRedis(ctx.redisUrl, redisPrefix).catch(() => {});
  }
}

async function measureAll(ctx, env) {
  const { options, log } = ctx;
  log('setting up');
  const target = await prepare(ctx, env);
  log(
    `  ${target.tenants} tenants, ${target.leads} leads; target lead ${target.leadId} of tenant ${target.own.tenantId}; wrong tenant ${target.wrong.tenantId}`,
  );
  const list = VARIANTS.filter((v) => options.variants.includes(v)).map((key) => ({
    key,
    label: LABELS[key],
    headers: CREDENTIALS[key](target.own),
    wrongHeaders: CREDENTIALS[key](target.wrong),
  }));
  const redisCpu = redisCpuReader(ctx.redisUrl);

  const runs = [];
  for (let round = 1; round <= options.rounds; round++) {
    log(`round ${round}/${options.rounds}`);
    for (const variant of list) {
      const { run: r } = await measureOnce(ctx, variant, target, env, redisCpu, { round });
      // Every way of asking must get the same lead, field for field.
      if (runs.length > 0 && JSON.stringify(r.body) !== JSON.stringify(runs[0].body)) {
        throw new Error(
          `${variant.label} answered ${JSON.stringify(r.body)}, ${runs[0].variant} ${JSON.stringify(runs[0].body)}`,
        );
      }
      runs.push(r);
    }
  }

  const profiles = [];
  if (options.profile) {
    log('profiling (one extra run per variant, not counted in the figures)');
    for (const variant of list) {
      const { run: r, cpuProfile } = await measureOnce(ctx, variant, target, env, redisCpu, {
        round: 0,
        profile: true,
      });
      const summary = summarizeProfile(JSON.parse(readFileSync(cpuProfile, 'utf8')), 40, r.ok);
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
      redisUsPerRequest: median(mine.map((r) => r.cpu.redisUsPerRequest)),
      disturbedRuns: mine.filter((r) => r.disturbed).length,
    };
  }
  const ratio = (key) =>
    summary[key] && summary.dev?.rps ? summary[key].rps / summary.dev.rps : null;
  const ratios = { cookie: ratio('cookie'), apiKey: ratio('api-key') };
  // The same ratios round by round (each round's runs are neighbours in time).
  const perRound = [];
  for (let round = 1; round <= options.rounds; round++) {
    const rps = (key) => runs.find((r) => r.round === round && r.variant === key)?.rps ?? null;
    const dev = rps('dev');
    const of = (key) => (dev && rps(key) !== null ? rps(key) / dev : null);
    perRound.push({ round, cookie: of('cookie'), apiKey: of('api-key') });
  }
  const verdict = Object.fromEntries(
    Object.entries(ratios)
      .filter(([, r]) => r !== null)
      .map(([key, r]) => [
        key,
        {
          target: TARGET_RATIO,
          met: r >= TARGET_RATIO,
          shortfallRps: Math.max(
            0,
            TARGET_RATIO * summary.dev.rps - summary[key === 'apiKey' ? 'api-key' : key].rps,
          ),
        },
      ]),
  );

  return {
    target: {
      path: '/v1/leads/:id',
      leadId: target.leadId,
      tenantId: target.own.tenantId,
      wrongTenantId: target.wrong.tenantId,
      tenants: target.tenants,
      leads: target.leads,
      apiKeyRateLimitPerMinute: API_KEY_RATE_LIMIT,
    },
    runs: runs.map(({ body: _body, ...r }) => r),
    summary,
    ratios,
    ratiosByRound: perRound,
    verdict,
    profiles,
    report: () => report({ runs, summary, ratios, perRound, verdict, profiles, options }),
  };
}

function report({ runs, summary, ratios, perRound, verdict, profiles, options }) {
  const cols = [
    { title: 'round', align: 'left' },
    { title: 'request', align: 'left' },
    { title: 'req/s', align: 'right' },
    { title: 'p50 ms', align: 'right' },
    { title: 'p99 ms', align: 'right' },
    { title: 'server CPU µs/req', align: 'right' },
    { title: '(main thread)', align: 'right' },
    { title: 'PostgreSQL CPU µs/req', align: 'right' },
    { title: 'Redis CPU µs/req', align: 'right' },
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
    fmt.int(r.cpu.redisUsPerRequest),
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
      fmt.int(s.redisUsPerRequest),
      s.disturbedRuns > 0 ? `${s.disturbedRuns} disturbed` : '',
    ]);
  }
  const out = [
    table(cols, rows),
    '',
    `${options.connections} connections, ${options.warmupS} s warm-up + ${options.durationS} s measured per run, pool ${options.pool}, LOG_LEVEL=info`,
  ];
  const line = (key, name) => {
    if (ratios[key] === null) return;
    const v = verdict[key];
    out.push(
      `ratio ${name}/dev header: ${fmt.pct(ratios[key])}  -> target ${fmt.pct(v.target)} ${v.met ? 'MET' : `MISSED by ${fmt.pct(v.target - ratios[key])} points (${fmt.int(v.shortfallRps)} req/s short)`}` +
        `  (by round: ${perRound.map((r) => fmt.pct(r[key])).join(', ')})`,
    );
  };
  line('cookie', 'session cookie');
  line('apiKey', 'API key');
  for (const p of profiles) {
    out.push(
      '',
      `CPU profile of ${p.variant} (${p.file}; ${fmt.int(p.rps)} req/s while profiled):`,
      formatProfileSummary(p.summary, 25),
    );
  }
  return out.join('\n');
}
