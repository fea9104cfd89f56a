// What the scenarios do around a measured run: wait for the machine to be quiet,
// measure again when other work disturbed the run, CPU per request; and for an HTTP
// server, the whole run (start, check, warm up, measure, optionally CPU-profiled,
// stop), the rounds over a list of variants and the profiled runs after them.
import { createReadStream, existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuMeter, waitForQuiet } from './cpu.mjs';
import { root } from './database.mjs';
import { runLoad } from './load.mjs';
import { summarizeProfile } from './profile-summary.mjs';
import { fmt } from './report.mjs';
import { fileSize, freePort, startServer, stopServer } from './servers.mjs';

export const PRELOAD = 'bench/lib/child-preload.mjs';

/** Busier than this (share of all CPUs) while our servers idle: wait before measuring. */
const QUIET_THRESHOLD = 0.15;
/** Other processes used more than this share of all CPUs during a run: measure again. */
const DISTURBED_THRESHOLD = 0.1;

/**
 * The figures of a run of measureHttp (and their medians) in the results table, in
 * its order (see report.mjs, resultsTable and summarizeRuns).
 */
export const HTTP_COLUMNS = [
  { title: 'req/s', key: 'rps', format: fmt.int },
  { title: 'p50 ms', key: 'p50Ms', format: fmt.ms },
  { title: 'p99 ms', key: 'p99Ms', format: fmt.ms },
  { title: 'server CPU µs/req', key: 'serverUsPerRequest', cpu: true, format: fmt.int },
  { title: '(main thread)', key: 'serverMainThreadUsPerRequest', cpu: true, format: fmt.int },
  { title: 'PostgreSQL CPU µs/req', key: 'postgresUsPerRequest', cpu: true, format: fmt.int },
];

/** Whether other work on the machine took too much of it during a run. */
export const isDisturbed = (foreignShare) =>
  foreignShare !== null && foreignShare > DISTURBED_THRESHOLD;

/** The share of the machine's CPU time that was busy during a run, or null. */
export const machineBusyShare = (cpu) =>
  cpu.machineBusyMs && cpu.machineTotalMs ? cpu.machineBusyMs / cpu.machineTotalMs : null;

/** Microseconds per unit of work (request, event) of a CPU time in ms, or null. */
export const perUnit = (count) => (ms) =>
  ms === null || count === 0 ? null : Math.round((ms * 1000) / count);

/**
 * `measure({ attempt, quiet })` once the machine is quiet (or the wait is over), again
 * while its run is disturbed, up to --retries times: the last run, and the discarded
 * ones (without their body).
 */
export async function measureUntilUndisturbed(options, log, measure) {
  const discarded = [];
  for (let attempt = 1; ; attempt++) {
    const quiet = await waitForQuiet({
      threshold: QUIET_THRESHOLD,
      maxWaitMs: options.quietWaitS * 1000,
      onWait: (share) =>
        log(
          `  machine busy with other work (${fmt.pct(share)} of CPU while idle): waiting up to ${options.quietWaitS} s`,
        ),
    });
    const run = await measure({ attempt, quiet });
    if (!run.disturbed || attempt > options.retries) return { run, discarded };
    discarded.push({ ...run, body: undefined });
    log('  disturbed by other work on the machine: measuring again');
  }
}

/**
 * Every round runs each variant of `list` once, in turn (`measure(variant, round)`
 * resolves to its run); runs that answer a body must all answer the same one.
 */
export async function measureRounds({ options, log }, list, measure) {
  const runs = [];
  for (let round = 1; round <= options.rounds; round++) {
    log(`round ${round}/${options.rounds}`);
    for (const variant of list) {
      const r = await measure(variant, round);
      // Every variant must answer the same thing, field for field.
      if (runs.length > 0 && JSON.stringify(r.body) !== JSON.stringify(runs[0].body)) {
        throw new Error(
          `${variant.label} answered ${JSON.stringify(r.body)}, ${runs[0].variant} ${JSON.stringify(runs[0].body)}`,
        );
      }
      runs.push(r);
    }
  }
  return runs;
}

/**
 * With --profile, one extra run of each variant of `list` (`measure(variant)` resolves
 * to { run, cpuProfile }, see measureHttp), not counted in the figures: the summary of
 * each profile (its `top` entries).
 */
export async function profileRuns({ options, log }, list, measure, { per, top }) {
  const profiles = [];
  if (!options.profile) return profiles;
  log(`profiling (one extra run per ${per}, not counted in the figures)`);
  for (const variant of list) {
    const { run, cpuProfile } = await measure(variant);
    const summary = summarizeProfile(JSON.parse(readFileSync(cpuProfile, 'utf8')), top, run.ok);
    profiles.push({
      variant: variant.key,
      file: path.relative(root, cpuProfile),
      rps: run.rps,
      serverUsPerRequest: run.cpu.serverUsPerRequest,
      summary,
    });
    rmSync(`${cpuProfile}.done`, { force: true });
  }
  return profiles;
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
 * The CPU of a run divided by the requests it served. With `redis` ({ redisMs,
 * foreignMs, foreignShare }), Redis's own share and other work without it.
 */
function cpuPerRequest(cpu, requests, redis) {
  const per = perUnit(requests);
  return {
    ...cpu,
    ...redis,
    serverUsPerRequest: per(cpu.serverMs),
    serverMainThreadUsPerRequest: per(cpu.serverMainThreadMs),
    postgresUsPerRequest: per(cpu.postgresMs),
    ...(redis ? { redisUsPerRequest: per(redis.redisMs) } : {}),
    loadGeneratorUsPerRequest: per(cpu.loadGeneratorMs),
    machineBusyShare: machineBusyShare(cpu),
  };
}

/** Redis serves the requests measured: not "other work" (cpuMeter counts it there). */
function withoutRedis(cpu, redis0, redis1) {
  const redisMs = redis0 === null || redis1 === null ? null : redis1 - redis0;
  const foreignMs = cpu.foreignMs === null ? null : Math.max(0, cpu.foreignMs - (redisMs ?? 0));
  const foreignShare =
    foreignMs === null || !cpu.machineTotalMs ? null : foreignMs / cpu.machineTotalMs;
  return { redisMs, foreignMs, foreignShare };
}

/**
 * One run of an HTTP server: start it, check its answers, warm up, measure (optionally
 * CPU-profiled), check again, stop. `variant` is { key, label }; `spec`:
 *   server      { title?, nodeArgs, script, env(port), readyPath, readyHeaders?, logs }
 *   check(base) throws unless the server answers right; resolves to { body, text } of
 *               the measured request (`path` with `headers`)
 *   redisCpu    optional, see redis.mjs redisCpuReader: Redis's CPU counted apart
 * Resolves to { run, cpuProfile }.
 */
export async function measureHttp(ctx, variant, spec) {
  const { options, log } = ctx;
  const { server: how, check, redisCpu, round, profile = false } = spec;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const tag = `${variant.key}-${profile ? 'profile' : `r${round}`}`;
  const logFile =
    how.logs && options.logTo === 'file' ? path.join(ctx.workDir, `${tag}.log`) : '/dev/null';
  const cpuProfile = profile ? path.join(ctx.profileDir, `${tag}.cpuprofile`) : null;
  log(
    `  ${variant.label}: starting ${how.title ? `${how.title} ` : ''}on ${base}${profile ? ' (CPU profile)' : ''}`,
  );
  const server = await startServer({
    name: variant.key,
    args: [...how.nodeArgs, '--import', `./${PRELOAD}`, how.script],
    env: { ...how.env(port), ...(cpuProfile ? { BENCH_CPU_PROFILE: cpuProfile } : {}) },
    stdoutFile: logFile,
    readyUrl: `${base}${how.readyPath}`,
    readyHeaders: how.readyHeaders ?? {},
    timeoutMs: 60_000,
  });
  let ok = false;
  try {
    const { body, text } = await check(base);
    const load = {
      url: `${base}${spec.path}`,
      headers: spec.headers,
      connections: options.connections,
      expectBody: text,
    };
    const { run, discarded } = await measureUntilUndisturbed(
      options,
      log,
      async ({ attempt, quiet }) => {
        if (options.warmupS > 0) await runLoad({ ...load, durationS: options.warmupS });
        const logBytesBefore = fileSize(logFile);
        if (cpuProfile) {
          rmSync(`${cpuProfile}.done`, { force: true });
          server.child.stdin.write('profile:start\n');
          await sleep(200);
        }
        const redis0 = redisCpu?.();
        const stopCpu = cpuMeter({ serverPid: server.child.pid, database: ctx.database });
        const result = await runLoad({ ...load, durationS: options.durationS });
        const cpu = stopCpu();
        const redis1 = redisCpu?.();
        if (cpuProfile) {
          server.child.stdin.write('profile:stop\n');
          await waitForFile(`${cpuProfile}.done`, 30_000);
        }
        // The server must still be right after the load (and still alive).
        await check(base);
        if (result.non2xx > 0 || result.errors > 0 || result.mismatches > 0) {
          throw new Error(
            `${variant.label}: under load, ${result.non2xx} non-2xx answers, ${result.mismatches} wrong bodies and ${result.errors} errors (${JSON.stringify(result.autocannon.statusCodeStats)})`,
          );
        }
        const perRequest = cpuPerRequest(
          cpu,
          result.ok,
          redisCpu ? withoutRedis(cpu, redis0, redis1) : undefined,
        );
        const r = {
          variant: variant.key,
          round,
          profiled: profile,
          attempt,
          machineBusyBeforeRun: quiet.share,
          waitedForQuietMs: quiet.waitedMs,
          ...result,
          cpu: perRequest,
          disturbed: isDisturbed(perRequest.foreignShare),
          log: {
            destination: logFile === '/dev/null' ? '/dev/null' : 'file',
            bytesDuringMeasurement:
              logFile === '/dev/null' ? null : fileSize(logFile) - logBytesBefore,
          },
          body,
        };
        log(
          `  ${variant.label}: ${fmt.int(result.rps)} req/s, p50 ${fmt.ms(result.p50Ms)} ms, p99 ${fmt.ms(result.p99Ms)} ms` +
            (perRequest.serverUsPerRequest === null
              ? ''
              : `; CPU per request: server ${perRequest.serverUsPerRequest} µs (main thread ${perRequest.serverMainThreadUsPerRequest} µs), PostgreSQL ${perRequest.postgresUsPerRequest} µs` +
                (redisCpu ? `, Redis ${perRequest.redisUsPerRequest ?? '-'} µs` : '') +
                `; other work on the machine ${fmt.pct(perRequest.foreignShare)}`),
        );
        return r;
      },
    );
    run.discardedAttempts = discarded;
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
