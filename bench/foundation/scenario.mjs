// Scenario "foundation": a tenant-scoped read of one small row, through the full API
// stack, against the bare anchor (bare-server.mjs) doing the same SQL. See
// bench/README.md for what it measures and why the comparison is fair.
import { apiEnv } from '../lib/api-env.mjs';
import { withClient } from '../lib/database.mjs';
import { seedLeads } from '../lib/leads.mjs';
import { HTTP_COLUMNS, measureHttp, measureRounds, profileRuns } from '../lib/measure.mjs';
import { formatProfiles } from '../lib/profile-summary.mjs';
import { fmt, resultsTable, summarizeRuns, verdictText } from '../lib/report.mjs';
import { httpGet } from '../lib/servers.mjs';

export const title = 'Tenant-scoped read of one small row: full API stack vs bare Fastify + pg';

/** The full stack must keep at least this share of the bare throughput. */
export const TARGET_RATIO = 0.5;

const BARE_SERVER = 'bench/foundation/bare-server.mjs';
const BARE_PRISMA_SERVER = 'bench/foundation/bare-prisma-server.mjs';

/** The servers compared, in the order each round runs them. */
export const VARIANTS = ['bare', 'bare-prisma', 'full', 'full-warn'];

const TENANTS = 3;

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
    const { leadId, displayName, leads } = await seedLeads(db, tenants);
    return {
      tenantId: tenants[0],
      wrongTenantId: tenants[1],
      leadId,
      displayName,
      tenants: TENANTS,
      leads,
    };
  });
}

function variants(ctx, target) {
  const { options, urls } = ctx;
  const api = (logLevel) => ({
    script: ctx.apiMain,
    nodeArgs: ['--enable-source-maps'],
    readyPath: '/health/ready',
    // Fresh keys for every start.
    env: (port) => apiEnv(ctx, port, { logLevel }),
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

/** One server: start, check, warm up, measure (optionally profiled), stop. */
function measureOnce(ctx, variant, target, { round, profile = false }) {
  return measureHttp(ctx, variant, {
    server: variant,
    check: (base) => checkAnswers(base, target),
    path: `/v1/leads/${target.leadId}`,
    headers: { 'x-tenant-id': target.tenantId },
    round,
    profile,
  });
}

export async function run(ctx) {
  const { options, log } = ctx;
  log('seeding');
  const target = await seed(ctx.urls.admin);
  log(
    `  ${target.tenants} tenants, ${target.leads} leads; target lead ${target.leadId} of tenant ${target.tenantId}; wrong tenant ${target.wrongTenantId}`,
  );
  const list = variants(ctx, target);
  const runs = await measureRounds(
    ctx,
    list,
    async (variant, round) => (await measureOnce(ctx, variant, target, { round })).run,
  );
  const profiles = await profileRuns(
    ctx,
    list,
    (variant) => measureOnce(ctx, variant, target, { round: 0, profile: true }),
    { per: 'server', top: 30 },
  );
  const summary = summarizeRuns(runs, list, HTTP_COLUMNS);
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
  const out = [
    resultsTable({
      runs,
      summary,
      labelTitle: 'server',
      label: (variant) => summary[variant].label,
      columns: HTTP_COLUMNS,
    }),
    '',
    `${options.connections} connections, ${options.warmupS} s warm-up + ${options.durationS} s measured per run, pool ${options.pool}`,
  ];
  if (ratios.full !== null) {
    out.push(
      `ratio full/bare (LOG_LEVEL=info): ${fmt.pct(ratios.full)}` +
        (verdict ? `  ${verdictText(ratios.full, verdict)}` : ''),
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
  out.push(...formatProfiles(profiles, 15));
  return out.join('\n');
}
