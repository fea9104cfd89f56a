#!/usr/bin/env node
// The benchmark runner (started by `npm run bench`, i.e. scripts/bench.mjs):
//
//   node bench/run.mjs [scenario] [--rounds 3] [--warmup 10] [--duration 10]
//                      [--connections 32] [--pool 10] [--variants bare,full,...]
//                      [--log-to file|null] [--profile] [--keep-logs] [--keep-db]
//
// Makes its own database (ibhq_bench, dropped and created again), runs the scenario's
// servers one at a time as child processes on 127.0.0.1 under autocannon, prints a
// table and writes bench/results/<scenario>-<time>.json. Everything is bounded in
// time; child processes are killed on exit, error, SIGINT and SIGTERM.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { snapshotApiBuild } from './lib/build.mjs';
import {
  createDatabase,
  dropDatabase,
  migrateDatabase,
  root,
  withClient,
} from './lib/database.mjs';
import { cleanRedis } from './lib/redis.mjs';
import { machineInfo } from './lib/report.mjs';
import { killAllServers } from './lib/servers.mjs';

const SCENARIOS = {
  foundation: () => import('./foundation/scenario.mjs'),
  audit: () => import('./audit/scenario.mjs'),
  auth: () => import('./auth/scenario.mjs'),
  crm: () => import('./crm/scenario.mjs'),
};

/** Used when neither the option nor the scenario's DEFAULTS give a value. */
const FALLBACK = { connections: 32, pool: 10 };

const USAGE = `usage: npm run bench -- [scenario] [options]

scenarios: ${Object.keys(SCENARIOS).join(', ')} (default: foundation)

options:
  --rounds N         rounds (each runs every server once, in turn), 1-10 (default 3)
  --warmup S         warm-up seconds before each measured run, discarded, 0-60 (default 10)
  --duration S       measured seconds per run, 1-120 (default 10)
  --connections N    concurrent keep-alive connections of the load generator, 1-1024 (default 32;
                     audit: concurrent writers, default 16)
  --pool N           database pool size of both servers (DATABASE_POOL_SIZE), 1-100 (default 10;
                     audit: 16)
  --variants LIST    servers to run (foundation: bare,bare-prisma,full,full-warn;
                     audit: one-tenant,many-tenants,bare-one-tenant,bare-many-tenants;
                     auth: dev,cookie,api-key; default all)
  --log-to file|null where the full API's JSON logs go (default file, deleted afterwards)
  --quiet-wait S     before each run, wait up to S seconds for other work on the machine
                     to stop, 0-600 (default 120)
  --retries N        measure a run again (up to N times) when other processes used more
                     than 10% of the machine's CPU during it, 0-5 (default 2)
  --profile          after the rounds, one extra CPU-profiled run per server (not counted)
  --keep-logs        keep the API's log files (under bench/results/)
  --keep-db          do not drop the ibhq_bench database at the end

environment: DATABASE_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres),
             BENCH_REDIS_URL (default redis://127.0.0.1:6379), BENCH_DATABASE (default ibhq_bench)
`;

function fail(message) {
  process.stderr.write(`bench: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function parseOptions(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        rounds: { type: 'string', default: '3' },
        warmup: { type: 'string', default: '10' },
        duration: { type: 'string', default: '10' },
        connections: { type: 'string' },
        pool: { type: 'string' },
        variants: { type: 'string' },
        'log-to': { type: 'string', default: 'file' },
        'quiet-wait': { type: 'string', default: '120' },
        retries: { type: 'string', default: '2' },
        profile: { type: 'boolean', default: false },
        'keep-logs': { type: 'boolean', default: false },
        'keep-db': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    fail(e.message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const int = (name, min, max) => {
    if (values[name] === undefined) return undefined; // the scenario's default, in main()
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min || n > max)
      fail(`--${name} must be an integer ${min}-${max}`);
    return n;
  };
  const scenario = positionals[0] ?? 'foundation';
  if (positionals.length > 1 || !(scenario in SCENARIOS))
    fail(`unknown scenario ${positionals.join(' ')}`);
  const variants = values.variants?.split(',').map((v) => v.trim());
  if (!['file', 'null'].includes(values['log-to'])) fail('--log-to is file or null');
  return {
    scenario,
    rounds: int('rounds', 1, 10),
    warmupS: int('warmup', 0, 60),
    durationS: int('duration', 1, 120),
    connections: int('connections', 1, 1024),
    pool: int('pool', 1, 100),
    variants,
    quietWaitS: int('quiet-wait', 0, 600),
    retries: int('retries', 0, 5),
    logTo: values['log-to'],
    profile: values.profile,
    keepLogs: values['keep-logs'],
    keepDb: values['keep-db'],
  };
}

/** The commit and how many files differ from it (read-only git commands). */
function gitState() {
  const git = (...args) =>
    spawnSync('git', args, { cwd: root, encoding: 'utf8', timeout: 10_000 }).stdout?.trim() ?? '';
  return {
    commit: git('rev-parse', 'HEAD') || null,
    changedFiles: git('status', '--porcelain').split('\n').filter(Boolean).length,
  };
}

const log = (message) => process.stdout.write(`${message}\n`);

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const adminUrl = process.env.DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const scenario = await SCENARIOS[options.scenario]();
  // A scenario with a large seed (crm) keeps its own database between runs.
  const persistent = scenario.PERSISTENT_DATABASE;
  const database = persistent ?? process.env.BENCH_DATABASE ?? 'ibhq_bench';
  const redisPrefix = 'ibhq-bench';
  for (const name of ['connections', 'pool']) {
    options[name] ??= scenario.DEFAULTS?.[name] ?? FALLBACK[name];
  }
  options.variants ??= scenario.VARIANTS;
  const unknown = options.variants.filter((v) => !scenario.VARIANTS.includes(v));
  if (unknown.length > 0) {
    fail(
      `unknown variant ${unknown.join(', ')}: ${options.scenario} has ${scenario.VARIANTS.join(', ')}`,
    );
  }
  const started = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const resultsDir = path.join(root, 'bench', 'results');
  const workDir = path.join(resultsDir, `${options.scenario}-${stamp}`);
  mkdirSync(workDir, { recursive: true });

  // Bounded: every run is warm-up + measurement + at most a minute of start and stop.
  const perRun =
    (options.retries + 1) * (options.quietWaitS + options.warmupS + options.durationS) + 60;
  const runs = options.variants.length * (options.rounds + (options.profile ? 1 : 0));
  const budgetMs = (runs * perRun + 180 + (scenario.EXTRA_BUDGET_S ?? 0)) * 1000;
  const deadline = setTimeout(() => {
    process.stderr.write(`bench: gave up after ${Math.round(budgetMs / 1000)} s\n`);
    killAllServers();
    process.exit(1);
  }, budgetMs);
  deadline.unref();

  const machine = machineInfo();
  log(`bench ${options.scenario}: ${scenario.title}`);
  log(
    `machine: ${machine.cpuCount} x ${machine.cpuModel}, node ${machine.node}, ${machine.platform}`,
  );
  log(
    `database ${database} (${persistent ? 'kept between runs, migrated' : 'created afresh'}), Redis prefix ${redisPrefix}`,
  );

  const build = await snapshotApiBuild(path.join(workDir, 'api-build'), { log });
  log(`measuring the API build copied from dist/apps/api (fingerprint ${build.fingerprint})`);
  const urls = persistent
    ? await migrateDatabase(adminUrl, database)
    : await createDatabase(adminUrl, database);
  const postgres = await withClient(urls.admin, async (db) => {
    const { rows } = await db.query(
      `SELECT current_setting('server_version') AS version,
              current_setting('max_connections') AS max_connections,
              current_setting('shared_buffers') AS shared_buffers`,
    );
    return rows[0];
  });
  let result;
  const ctx = {
    options,
    urls,
    database,
    apiMain: path.relative(root, build.main),
    prismaClient: path.relative(root, build.prismaClient),
    redisUrl,
    redisPrefix,
    workDir,
    profileDir: workDir,
    logStats: [],
    log,
  };
  try {
    result = await scenario.run(ctx);
  } catch (e) {
    // Keep what was written (logs, profiles) for the post-mortem.
    process.stderr.write(`bench: files of this run are in ${path.relative(root, workDir)}\n`);
    throw e;
  } finally {
    if (!options.keepDb && !persistent) await dropDatabase(adminUrl, database).catch(() => {});
    await cleanRedis(redisUrl, redisPrefix).catch(() => {});
  }

  const { report, ...data } = result;
  const file = path.join(resultsDir, `${options.scenario}-${stamp}.json`);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        scenario: options.scenario,
        title: scenario.title,
        startedAt: started.toISOString(),
        finishedAt: new Date().toISOString(),
        machine,
        postgres,
        build: { source: 'dist/apps/api', fingerprint: build.fingerprint, git: gitState() },
        parameters: {
          rounds: options.rounds,
          warmupSeconds: options.warmupS,
          durationSeconds: options.durationS,
          connections: options.connections,
          pipelining: 1,
          poolSize: options.pool,
          apiLogs: options.logTo === 'file' ? 'file (deleted afterwards)' : '/dev/null',
          variants: options.variants,
          quietWaitSeconds: options.quietWaitS,
          retries: options.retries,
          database,
          redisPrefix,
        },
        apiLogFiles: ctx.logStats,
        ...data,
      },
      null,
      2,
    )}\n`,
  );
  // Keep the folder only if it holds something asked for (logs, profiles).
  rmSync(path.join(workDir, 'api-build'), { recursive: true, force: true });
  if (!options.keepLogs && !options.profile) rmSync(workDir, { recursive: true, force: true });
  log('');
  log(report());
  log('');
  log(`results: ${path.relative(root, file)}`);
  clearTimeout(deadline);
}

process.on('exit', killAllServers);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    process.stderr.write(`bench: ${signal}, stopping\n`);
    killAllServers();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    if (e?.cause) process.stderr.write(`cause: ${e.cause.stack ?? e.cause}\n`);
    killAllServers();
    process.exit(1);
  },
);
