// Scenario "crm": the lead CRM at a million leads, each figure beside its anchor in
// the same run (see bench/README.md, section "Lead CRM at a million leads"):
//   import  a 1,000,000-row CSV through the product (upload + job) vs `psql \copy` of
//           the same file into a bare table; peak RSS of the API and the worker
//   export  1,000,000 leads as CSV through the API vs `psql \copy (SELECT ...) TO STDOUT`
//           of the same columns; peak RSS of the API
//   list    a filtered, free-text list on the 1M-lead tenant under autocannon vs the
//           same SQL through bare pg (bench/crm/list-anchor-server.mjs)
//   bulk    bulk update of 100,000 leads by filter, seconds end to end
// The seed (npm run bench:seed) lives in a database kept between runs.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, readFileSync, statSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { apiEnv, appEnv, fernetKey, signingKey } from '../lib/api-env.mjs';
import { root, withClient } from '../lib/database.mjs';
import { runLoad } from '../lib/load.mjs';
import { exportAnchorCopy } from './anchors.mjs';
import { measureRounds, PRELOAD } from '../lib/measure.mjs';
import { fmt, table } from '../lib/report.mjs';
import { freePort, startServer, stopServer } from '../lib/servers.mjs';

export const title = 'Lead CRM at a million leads: import, export, list with search, bulk update';
export const VARIANTS = ['import', 'export', 'list', 'list-name', 'bulk'];
export const DEFAULTS = { connections: 2, pool: 10 };
/** The seed takes minutes: it is kept in its own database between runs. */
export const PERSISTENT_DATABASE = process.env.BENCH_CRM_DATABASE ?? 'ibhq_bench_crm';
/** Seeding (first run), the import file, and the jobs' minutes. */
export const EXTRA_BUDGET_S = 3_600;

const IMPORT_ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 1_000_000);
const BULK_LEADS = 100_000;
/**
 * The list's two searches: a common fragment that ~8% of the 1M leads match (the
 * page is found by walking the newest leads), and a misspelled full name that ~250
 * match (gathered from the trigram index).
 */
const LIST_QUERIES = {
  list: { q: process.env.BENCH_LIST_QUERY ?? 'alex', hasPhone: 'true' },
  'list-name': { q: process.env.BENCH_LIST_NAME_QUERY ?? 'oksanna khan' },
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Peak resident memory of a process so far (VmHWM), in MiB. */
function peakRssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** Runs a command to completion (bounded), answering its wall time in ms. */
async function timed(command, args, { env = {}, stdout = 'ignore', timeoutMs = 1_800_000 } = {}) {
  const t0 = performance.now();
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', stdout, 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-4_000)));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${command} ${args.join(' ')}: exit ${code}: ${stderr}`);
  return performance.now() - t0;
}

/** The seeded tenants (npm run bench:seed into this database; quick when already done). */
async function ensureSeed(ctx) {
  ctx.log(`  seed: npm run bench:seed (database ${ctx.database})`);
  const ms = await timed(process.execPath, [path.join(root, 'bench/seed/seed.mjs')], {
    env: { BENCH_DATABASE: ctx.database, DATABASE_ADMIN_URL: ctx.urls.adminServer },
    stdout: 'inherit',
  });
  ctx.log(`  seed: ready in ${fmt.int(ms / 1000)} s`);
  return JSON.parse(readFileSync(path.join(root, 'bench/results/seed.json'), 'utf8'));
}

/** The CSV the import measures: valid, distinct leads (generated once, kept). */
async function importFile(log) {
  const file = path.join(root, `bench/results/crm-import-${IMPORT_ROWS}.csv`);
  if (existsSync(file)) return file;
  log(`  import: writing ${fmt.int(IMPORT_ROWS)} rows to ${path.relative(root, file)}`);
  const out = createWriteStream(`${file}.part`);
  const first = ['Alex', 'Maria', 'Ivan', 'Olga', 'Chen', 'Fatima', 'Lukas', 'Sofia', 'Omar'];
  const last = ['Petrov', 'Smith', 'Garcia', 'Müller', 'Rossi', 'Khan', 'Novak', 'Silva'];
  const countries = ['GB', 'DE', 'AE', 'NG', 'IN'];
  const write = (line) => (out.write(line) ? null : once(out, 'drain'));
  await write('displayName,telegramUsername,phone,email,country,language,tags\n');
  for (let i = 0; i < IMPORT_ROWS; i += 1) {
    const name = `${first[i % first.length]} ${last[(i * 7) % last.length]}`;
    // +44 79xx xxxxxx: valid UK mobile numbers, distinct for i < 10^8.
    const line = `"${name}",imp_${i.toString(36)}_u,+4479${String(i).padStart(8, '0')},imp.${i}@example.com,${countries[i % 5]},en,"vip;import ${i % 10}"\n`;
    const wait = write(line);
    if (wait) await wait;
  }
  out.end();
  await once(out, 'finish');
  const { rename } = await import('node:fs/promises');
  await rename(`${file}.part`, file);
  return file;
}

async function newTenant(adminDbUrl, label) {
  return withClient(adminDbUrl, async (db) => {
    const { rows } = await db.query(
      `INSERT INTO "Tenant" (id, name, slug, "updatedAt")
       VALUES (gen_random_uuid(), $1, $2 || '-' || substr(md5(random()::text), 1, 10), now())
       RETURNING id`,
      [`CRM bench ${label}`, `crm-${label}`],
    );
    return rows[0].id;
  });
}

/** The built API and worker, started for one measurement. */
async function startProduct(ctx, { worker }) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const api = await startServer({
    name: 'crm-api',
    args: ['--enable-source-maps', '--import', `./${PRELOAD}`, ctx.apiMain],
    env: { ...apiEnv(ctx, port, { logLevel: 'warn', keys: ctx.keys }) },
    stdoutFile: '/dev/null',
    readyUrl: `${base}/health/ready`,
    timeoutMs: 60_000,
  });
  let workerServer = null;
  if (worker) {
    workerServer = await startServer({
      name: 'crm-worker',
      args: ['--enable-source-maps', ctx.workerMain],
      env: { ...appEnv(ctx, { logLevel: 'info', keys: ctx.keys }) },
      stdoutFile: path.join(ctx.workDir, 'worker.log'),
      readyLine: /worker running/,
      timeoutMs: 60_000,
    });
  }
  const request = async (method, route, tenant, body, headers = {}) => {
    const res = await fetch(`${base}${route}`, {
      method,
      headers: { 'x-tenant-id': tenant, ...headers },
      body,
      duplex: 'half',
    });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text };
  };
  const json = (method, route, tenant, body, headers = {}) =>
    request(method, route, tenant, body === undefined ? undefined : JSON.stringify(body), {
      'content-type': 'application/json',
      ...headers,
    });
  const stop = async () => {
    await Promise.all([stopServer(api), workerServer ? stopServer(workerServer) : null]);
  };
  return { base, api, worker: workerServer, request, json, stop };
}

/** Polls GET /v1/jobs/:id until the job is finished (bounded). */
async function waitForJob(product, tenant, jobId, log, timeoutMs = 1_800_000) {
  const end = Date.now() + timeoutMs;
  let lastLog = 0;
  for (;;) {
    const { status, json } = await product.json('GET', `/v1/jobs/${jobId}`, tenant);
    if (status !== 200) throw new Error(`GET /v1/jobs/${jobId}: ${status}`);
    if (json.status === 'completed' || json.status === 'failed') return json;
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      log(`    job ${json.status}: ${fmt.int(json.done)}/${fmt.int(json.total)}`);
    }
    if (Date.now() > end) throw new Error(`job ${jobId} did not finish in time`);
    await sleep(250);
  }
}

async function measureImport(ctx, round) {
  const { log } = ctx;
  const file = await importFile(log);
  const bytes = statSync(file).size;
  // Anchor: psql \copy of the same file into a bare table of text columns.
  await withClient(ctx.urls.admin, (db) =>
    db.query(`DROP TABLE IF EXISTS bench_import_bare;
              CREATE TABLE bench_import_bare (display_name text, telegram_username text,
                phone text, email text, country text, language text, tags text)`),
  );
  const anchorMs = await timed('psql', [
    ctx.urls.admin,
    '-qc',
    `\\copy bench_import_bare FROM '${file}' WITH (FORMAT csv, HEADER)`,
  ]);
  // Second anchor, the floor of the table itself: the same rows, already normalised, by
  // one INSERT ... SELECT into "Lead" of an empty tenant (its 16 indexes, trigger and
  // foreign keys; no validation, no activity, no tags, no staging).
  const floorTenant = await newTenant(ctx.urls.admin, `import-floor-r${round}`);
  const floorMs = await withClient(ctx.urls.admin, async (db) => {
    const t0 = performance.now();
    await db.query(
      `INSERT INTO "Lead" ("tenantId", id, "displayName", "telegramUsername", phone,
                           "phoneNational", email, "emailLocal", country, language, source,
                           "searchText", "updatedAt")
       SELECT $1::uuid, ibhq_uuidv7(), display_name, telegram_username, phone, substr(phone, 4),
              email, split_part(email, '@', 1), country, language, 'import',
              lower(concat_ws(' ', display_name, telegram_username, phone, email)), now()
         FROM bench_import_bare`,
      [floorTenant],
    );
    const ms = performance.now() - t0;
    await db.query('DELETE FROM "Tenant" WHERE id = $1', [floorTenant]);
    await db.query('DROP TABLE bench_import_bare');
    return ms;
  });

  const tenant = await newTenant(ctx.urls.admin, `import-r${round}`);
  const product = await startProduct(ctx, { worker: true });
  try {
    const t0 = performance.now();
    const upload = await product.request(
      'POST',
      '/v1/leads/imports?fileName=bench.csv',
      tenant,
      createReadStream(file),
      { 'content-type': 'text/csv' },
    );
    if (upload.status !== 201) throw new Error(`upload: ${upload.status} ${upload.text}`);
    const uploadMs = performance.now() - t0;
    const started = await product.json(
      'POST',
      `/v1/leads/imports/${upload.json.id}/start`,
      tenant,
      { onExisting: 'skip' },
    );
    if (started.status !== 202) throw new Error(`start: ${started.status} ${started.text}`);
    const job = await waitForJob(product, tenant, started.json.jobId, log);
    const productMs = performance.now() - t0;
    if (job.status !== 'completed' || job.result?.created !== IMPORT_ROWS) {
      throw new Error(`import job: ${JSON.stringify(job).slice(0, 500)}`);
    }
    const r = {
      variant: 'import',
      round,
      rows: IMPORT_ROWS,
      bytes,
      rowsPerSecond: IMPORT_ROWS / (productMs / 1000),
      uploadSeconds: uploadMs / 1000,
      seconds: productMs / 1000,
      anchorRowsPerSecond: IMPORT_ROWS / (anchorMs / 1000),
      anchorSeconds: anchorMs / 1000,
      floorRowsPerSecond: IMPORT_ROWS / (floorMs / 1000),
      apiPeakRssMiB: peakRssMiB(product.api.child.pid),
      workerPeakRssMiB: peakRssMiB(product.worker.child.pid),
    };
    r.ratio = r.rowsPerSecond / r.anchorRowsPerSecond;
    r.floorRatio = r.floorRowsPerSecond / r.anchorRowsPerSecond;
    r.ratioOfFloor = r.rowsPerSecond / r.floorRowsPerSecond;
    log(
      `  import: ${fmt.int(r.rowsPerSecond)} rows/s (${fmt.int(r.seconds)} s, upload ${fmt.int(r.uploadSeconds)} s) vs psql \\copy ${fmt.int(r.anchorRowsPerSecond)} rows/s = ${fmt.pct(r.ratio)} (INSERT ... SELECT into "Lead": ${fmt.int(r.floorRowsPerSecond)} rows/s = ${fmt.pct(r.floorRatio)}; the import is ${fmt.pct(r.ratioOfFloor)} of that); peak RSS API ${fmt.int(r.apiPeakRssMiB)} MiB, worker ${fmt.int(r.workerPeakRssMiB)} MiB`,
    );
    return r;
  } finally {
    await product.stop();
    await withClient(ctx.urls.admin, async (db) => {
      await db.query('DELETE FROM "Tenant" WHERE id = $1', [tenant]);
      // The imported (and the floor's) million leads are dead rows now, still in every
      // index (the trigram one's posting lists most of all) until a vacuum: without
      // this, the variants after this one would measure them too.
      ctx.log('  import: VACUUM (ANALYZE) of the lead tables after deleting the imports');
      await db.query('VACUUM (ANALYZE) "Lead", "LeadActivity", "LeadTag", "LeadImportRow"');
    });
  }
}

/** Streams a response body to nowhere, counting bytes and lines. */
async function drain(response) {
  let bytes = 0;
  let lines = 0;
  for await (const chunk of response.body) {
    bytes += chunk.length;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines += 1;
  }
  return { bytes, lines };
}

async function measureExport(ctx, round) {
  const { log, seed } = ctx;
  const tenant = seed.big.tenantId;
  const anchorMs = await timed('psql', [
    ctx.urls.admin,
    '-qc',
    await exportAnchorCopy(ctx, tenant),
  ]);
  const product = await startProduct(ctx, { worker: false });
  try {
    const t0 = performance.now();
    const res = await fetch(`${product.base}/v1/leads/export?format=csv`, {
      headers: { 'x-tenant-id': tenant },
    });
    if (res.status !== 200) throw new Error(`export: ${res.status} ${await res.text()}`);
    const { bytes, lines } = await drain(res);
    const ms = performance.now() - t0;
    const rows = lines - 1;
    if (rows !== seed.big.leads)
      throw new Error(`export: ${rows} rows, expected ${seed.big.leads}`);
    const r = {
      variant: 'export',
      round,
      rows,
      bytes,
      rowsPerSecond: rows / (ms / 1000),
      seconds: ms / 1000,
      anchorRowsPerSecond: rows / (anchorMs / 1000),
      anchorSeconds: anchorMs / 1000,
      apiPeakRssMiB: peakRssMiB(product.api.child.pid),
    };
    r.ratio = r.rowsPerSecond / r.anchorRowsPerSecond;
    log(
      `  export: ${fmt.int(r.rowsPerSecond)} rows/s (${fmt.int(r.seconds)} s, ${fmt.int(bytes / 1048576)} MiB) vs psql \\copy ${fmt.int(r.anchorRowsPerSecond)} rows/s = ${fmt.pct(r.ratio)}; peak RSS API ${fmt.int(r.apiPeakRssMiB)} MiB`,
    );
    return r;
  } finally {
    await product.stop();
  }
}

async function measureList(ctx, round, variant) {
  const { log, seed, options } = ctx;
  const tenant = seed.big.tenantId;
  // A free-text query (and a filter), as a member would type them.
  const query = new URLSearchParams({ ...LIST_QUERIES[variant], limit: '50' }).toString();
  const product = await startProduct(ctx, { worker: false });
  const anchorPort = await freePort();
  const anchor = await startServer({
    name: 'crm-list-anchor',
    args: ['--import', `./${PRELOAD}`, 'bench/crm/list-anchor-server.mjs'],
    env: {
      ...appEnv(ctx, { logLevel: 'warn', keys: ctx.keys }),
      BENCH_API_BUILD: ctx.apiBuildRoot,
      BENCH_PORT: String(anchorPort),
    },
    stdoutFile: '/dev/null',
    readyUrl: `http://127.0.0.1:${anchorPort}/ready`,
    timeoutMs: 60_000,
  });
  try {
    const path_ = `/v1/leads?${query}`;
    const probe = await product.json('GET', path_, tenant);
    if (probe.status !== 200 || probe.json.items.length === 0) {
      throw new Error(`list: ${probe.status} ${probe.text.slice(0, 300)}`);
    }
    const anchorProbe = await fetch(`http://127.0.0.1:${anchorPort}/leads?${query}`, {
      headers: { 'x-tenant-id': tenant },
    });
    const anchorBody = await anchorProbe.json();
    if (JSON.stringify(anchorBody.ids) !== JSON.stringify(probe.json.items.map((l) => l.id))) {
      throw new Error('list: the anchor and the API do not answer the same leads');
    }
    const load = async (url) => {
      if (options.warmupS > 0) {
        await runLoad({
          url,
          headers: { 'x-tenant-id': tenant },
          connections: options.connections,
          durationS: options.warmupS,
        });
      }
      return runLoad({
        url,
        headers: { 'x-tenant-id': tenant },
        connections: options.connections,
        durationS: options.durationS,
      });
    };
    const api = await load(`${product.base}${path_}`);
    const bare = await load(`http://127.0.0.1:${anchorPort}/leads?${query}`);
    for (const [name, res] of [
      ['API', api],
      ['anchor', bare],
    ]) {
      if (res.non2xx > 0 || res.errors > 0)
        throw new Error(`list ${name}: ${res.non2xx} non-2xx, ${res.errors} errors`);
    }
    const r = {
      variant,
      round,
      query,
      total: probe.json.total.value,
      totalExact: probe.json.total.exact,
      rps: api.rps,
      p50Ms: api.p50Ms,
      p99Ms: api.p99Ms,
      anchorRps: bare.rps,
      anchorP50Ms: bare.p50Ms,
      anchorP99Ms: bare.p99Ms,
    };
    r.ratio = r.rps / r.anchorRps;
    log(
      `  ${variant} (${query}, ${r.totalExact ? '' : '~'}${fmt.int(r.total)} matches): p50 ${fmt.ms(r.p50Ms)} ms, p99 ${fmt.ms(r.p99Ms)} ms, ${fmt.int(r.rps)} req/s vs bare pg p50 ${fmt.ms(r.anchorP50Ms)} ms, p99 ${fmt.ms(r.anchorP99Ms)} ms, ${fmt.int(r.anchorRps)} req/s (${fmt.pct(r.ratio)})`,
    );
    return r;
  } finally {
    await Promise.all([product.stop(), stopServer(anchor)]);
  }
}

async function measureBulk(ctx, round) {
  const { log, seed } = ctx;
  const small = seed.small[round % seed.small.length];
  const product = await startProduct(ctx, { worker: true });
  try {
    const stages = await product.json('GET', '/v1/stages', small.tenantId);
    if (stages.status !== 200) throw new Error(`stages: ${stages.status} ${stages.text}`);
    // Every lead of the tenant (the filter of all its sources) to the stage that holds
    // the fewest of them (an earlier run may have moved them all into one: a second
    // move there would change nothing and measure nothing).
    const list = stages.json.items ?? stages.json;
    const held = await withClient(ctx.urls.admin, async (db) => {
      const { rows } = await db.query(
        `SELECT "stageId"::text AS id, count(*)::int AS n FROM "Lead" WHERE "tenantId" = $1 GROUP BY 1`,
        [small.tenantId],
      );
      return new Map(rows.map((r) => [r.id, r.n]));
    });
    const target = list.reduce((a, b) => ((held.get(b.id) ?? 0) < (held.get(a.id) ?? 0) ? b : a));
    const moving = small.leads - (held.get(target.id) ?? 0);
    const t0 = performance.now();
    const res = await product.json('POST', '/v1/leads/bulk', small.tenantId, {
      target: {
        filter: {
          sources: ['telegram_dm', 'telegram_group', 'telegram_channel', 'api', 'import', 'manual'],
        },
      },
      action: { type: 'update', set: { stageId: target.id } },
    });
    if (res.status !== 202) throw new Error(`bulk: ${res.status} ${res.text}`);
    const job = await waitForJob(product, small.tenantId, res.json.jobId, log);
    const seconds = (performance.now() - t0) / 1000;
    if (job.status !== 'completed' || job.total !== BULK_LEADS) {
      throw new Error(`bulk job: ${JSON.stringify(job).slice(0, 500)}`);
    }
    const r = {
      variant: 'bulk',
      round,
      leads: job.total,
      moved: moving,
      seconds,
      leadsPerSecond: job.total / seconds,
    };
    log(
      `  bulk: ${fmt.int(r.leads)} leads (${fmt.int(moving)} moved to "${target.name}") in ${fmt.ms(seconds)} s (${fmt.int(r.leadsPerSecond)} leads/s)`,
    );
    return r;
  } finally {
    await product.stop();
  }
}

const MEASURE = {
  import: measureImport,
  export: measureExport,
  list: measureList,
  'list-name': measureList,
  bulk: measureBulk,
};

export async function run(ctx) {
  const { options } = ctx;
  ctx.apiBuildRoot = path.resolve(root, ctx.apiMain, '../../../..');
  ctx.workerMain = 'dist/apps/worker/apps/worker/src/main.js';
  if (!existsSync(path.join(root, ctx.workerMain)))
    throw new Error('no worker build: npm run build');
  ctx.keys = { fernet: fernetKey(), signing: signingKey() };
  ctx.seed = await ensureSeed(ctx);
  const runs = await measureRounds(ctx, options.variants, (variant, round) =>
    MEASURE[variant](ctx, round, variant),
  );
  const pick = (variant) => runs.filter((r) => r.variant === variant);
  const median = (list, key) => {
    const v = list.map((r) => r[key]).sort((a, b) => a - b);
    return v.length === 0 ? null : v[Math.floor((v.length - 1) / 2)];
  };
  const summary = {};
  for (const variant of options.variants) {
    const list = pick(variant);
    summary[variant] = Object.fromEntries(
      Object.keys(list[0] ?? {})
        .filter((k) => typeof list[0][k] === 'number' && k !== 'round')
        .map((k) => [k, median(list, k)]),
    );
  }
  const report = () => {
    const rows = [];
    const s = summary;
    if (s.import)
      rows.push([
        'import 1M-row CSV',
        `${fmt.int(s.import.rowsPerSecond)} rows/s`,
        `${fmt.int(s.import.anchorRowsPerSecond)} rows/s (psql \\copy)`,
        fmt.pct(s.import.ratio),
        '≥ 25%',
        `API ${fmt.int(s.import.apiPeakRssMiB)} / worker ${fmt.int(s.import.workerPeakRssMiB)} MiB (< 300); INSERT ... SELECT into "Lead" ${fmt.int(s.import.floorRowsPerSecond)} rows/s = ${fmt.pct(s.import.floorRatio)}`,
      ]);
    if (s.export)
      rows.push([
        'export 1M leads CSV',
        `${fmt.int(s.export.rowsPerSecond)} rows/s`,
        `${fmt.int(s.export.anchorRowsPerSecond)} rows/s (psql \\copy)`,
        fmt.pct(s.export.ratio),
        '≥ 50%',
        `API ${fmt.int(s.export.apiPeakRssMiB)} MiB (< 200)`,
      ]);
    for (const [variant, label] of [
      ['list', `list "${LIST_QUERIES.list.q}" + has phone, 1M leads`],
      ['list-name', `list "${LIST_QUERIES['list-name'].q}", 1M leads`],
    ]) {
      const l = s[variant];
      if (l)
        rows.push([
          label,
          `p50 ${fmt.ms(l.p50Ms)} / p99 ${fmt.ms(l.p99Ms)} ms, ${fmt.int(l.rps)} req/s`,
          `p50 ${fmt.ms(l.anchorP50Ms)} / p99 ${fmt.ms(l.anchorP99Ms)} ms, ${fmt.int(l.anchorRps)} req/s (bare pg)`,
          fmt.pct(l.ratio),
          'p99 < 50 ms',
          '',
        ]);
    }
    if (s.bulk)
      rows.push([
        'bulk update 100k by filter',
        `${fmt.ms(s.bulk.seconds)} s`,
        '',
        '',
        '',
        `${fmt.int(s.bulk.leadsPerSecond)} leads/s`,
      ]);
    return (
      table(
        ['measure', 'product', 'anchor', 'ratio', 'target', 'notes'].map((title, i) => ({
          title,
          align: i === 0 || i === 5 ? 'left' : 'right',
        })),
        rows,
      ) + `\n(medians of ${options.rounds} round(s))`
    );
  };
  return { runs, summary, report };
}
