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
import { randomBytes } from 'node:crypto';
import { apiEnv, fernetKey, signingKey } from '../lib/api-env.mjs';
import { withClient } from '../lib/database.mjs';
import { seedLeads } from '../lib/leads.mjs';
import { HTTP_COLUMNS, measureHttp, measureRounds, PRELOAD, profileRuns } from '../lib/measure.mjs';
import { formatProfiles } from '../lib/profile-summary.mjs';
import { cleanRedis, redisCpuReader } from '../lib/redis.mjs';
import { fmt, resultsTable, summarizeRuns, verdictText } from '../lib/report.mjs';
import { freePort, httpGet, startServer, stopServer } from '../lib/servers.mjs';

export const title =
  'Authenticated request overhead: the foundation read with a session cookie and an API key, against the development-header path';

/** Each authenticated path must keep at least this share of the dev-header throughput. */
export const TARGET_RATIO = 0.8;

/** The ways of asking, in the order each round runs them. */
export const VARIANTS = ['dev', 'cookie', 'api-key'];

const TENANTS = 3;
/** Far above what one key can ask in a minute here: the limiter runs, never refuses. */
const API_KEY_RATE_LIMIT = 1_000_000;
const SESSION_COOKIE = 'ibhq_session';

/** The figures of each run and their medians per variant, in the order of the table. */
const COLUMNS = [
  ...HTTP_COLUMNS,
  { title: 'Redis CPU µs/req', key: 'redisUsPerRequest', cpu: true, format: fmt.int },
];

/** The API's environment: the same for every variant and every run of one benchmark. */
function apiEnvOf(ctx, keys, redisPrefix) {
  return (port) => ({
    ...apiEnv(ctx, port, { logLevel: 'info', redisPrefix, keys }),
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
    const { leadId, displayName, leads } = await seedLeads(
      db,
      tenants.map((t) => t.tenantId),
    );
    return { own: tenants[0], wrong: tenants[1], leadId, displayName, tenants: TENANTS, leads };
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
 * One run: start the API, check the answers, warm up, measure (optionally profiled),
 * check again, stop. As the foundation scenario does it, with this variant's headers.
 */
function measureOnce(ctx, variant, target, env, redisCpu, { round, profile = false }) {
  return measureHttp(ctx, variant, {
    server: {
      title: 'the API',
      nodeArgs: ['--enable-source-maps'],
      script: ctx.apiMain,
      env,
      readyPath: '/health/ready',
      logs: true,
    },
    check: (base) => checkAnswers(base, variant, target),
    path: `/v1/leads/${target.leadId}`,
    headers: variant.headers,
    redisCpu,
    round,
    profile,
  });
}

export async function run(ctx) {
  // The runner cleans its own Redis prefix only at its end, and another benchmark
  // running at the same time cleans it at its own end: the sessions this scenario makes
  // in its setup must live until its last run, so it keeps them (and the API-key cache,
  // the rate-limit counters) under a prefix of its own, deleted at the end.
  const redisPrefix = `${ctx.redisPrefix}-auth-${randomBytes(4).toString('hex')}`;
  const env = apiEnvOf(ctx, { fernet: fernetKey(), signing: signingKey() }, redisPrefix);
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

  const measure = (variant, at) => measureOnce(ctx, variant, target, env, redisCpu, at);
  const runs = await measureRounds(
    ctx,
    list,
    async (variant, round) => (await measure(variant, { round })).run,
  );
  const profiles = await profileRuns(
    ctx,
    list,
    (variant) => measure(variant, { round: 0, profile: true }),
    { per: 'variant', top: 40 },
  );
  const summary = summarizeRuns(runs, list, COLUMNS);
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
  const out = [
    resultsTable({
      runs,
      summary,
      labelTitle: 'request',
      label: (variant) => summary[variant].label,
      columns: COLUMNS,
    }),
    '',
    `${options.connections} connections, ${options.warmupS} s warm-up + ${options.durationS} s measured per run, pool ${options.pool}, LOG_LEVEL=info`,
  ];
  const line = (key, name) => {
    if (ratios[key] === null) return;
    out.push(
      `ratio ${name}/dev header: ${fmt.pct(ratios[key])}  ${verdictText(ratios[key], verdict[key])}` +
        `  (by round: ${perRound.map((r) => fmt.pct(r[key])).join(', ')})`,
    );
  };
  line('cookie', 'session cookie');
  line('apiKey', 'API key');
  out.push(...formatProfiles(profiles, 25));
  return out.join('\n');
}
