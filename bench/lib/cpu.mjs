// CPU accounting over a measured run (Linux /proc; null elsewhere): how much CPU the
// server process, this process (the load generator), the PostgreSQL backends of the
// benchmark database and the whole machine used. Divided by the requests served it
// gives the CPU cost of one request, which on a 2-core machine shared by client,
// server and PostgreSQL explains throughput better than throughput alone. What is
// left ("foreign") is other work on the machine: a run with much of it was disturbed.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

let ticksPerSecond = 100;
try {
  ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // keep the usual 100
}

/** CPU milliseconds (user + system) used so far by process `pid` (or one of its threads), or null. */
export function processCpuMs(pid, thread = null) {
  try {
    const stat = readFileSync(
      thread === null ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`,
      'utf8',
    );
    // Fields after the command name (which may contain spaces) start at ") ".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
  } catch {
    return null;
  }
}

/** pid -> CPU ms of the PostgreSQL backends connected to `database` (by process title). */
function postgresBackends(database) {
  const out = new Map();
  let pids;
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  const needle = ` ${database} `;
  for (const pid of pids) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.startsWith('postgres: ') || !cmd.includes(needle)) continue;
      const ms = processCpuMs(pid);
      if (ms !== null) out.set(pid, ms);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function machineCpuMs() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return {
      busy: ((total - idle) * 1000) / ticksPerSecond,
      total: (total * 1000) / ticksPerSecond,
    };
  } catch {
    return null;
  }
}

/** Share of the machine's CPU capacity busy over the next `ms` milliseconds (0-1). */
export async function machineBusyShare(ms = 1_000) {
  const a = machineCpuMs();
  await sleep(ms);
  const b = machineCpuMs();
  if (!a || !b || b.total === a.total) return null;
  return (b.busy - a.busy) / (b.total - a.total);
}

/**
 * Waits (up to `maxWaitMs`) until the machine is quiet: less than `threshold` of its
 * CPU busy over one second while the servers under test are idle. Returns the last
 * share measured and how long it waited.
 */
export async function waitForQuiet({ threshold = 0.15, maxWaitMs = 120_000, onWait } = {}) {
  const started = Date.now();
  let share = await machineBusyShare();
  let warned = false;
  while (share !== null && share > threshold && Date.now() - started < maxWaitMs) {
    if (!warned) onWait?.(share);
    warned = true;
    share = await machineBusyShare(2_000);
  }
  return { share, waitedMs: Date.now() - started };
}

/** Starts counting; the returned function stops and reports CPU milliseconds used. */
export function cpuMeter({ serverPid, database }) {
  const server0 = processCpuMs(serverPid);
  // The main thread runs the event loop (JavaScript); the others are V8's garbage
  // collector and compiler threads and libuv's pool.
  const main0 = processCpuMs(serverPid, serverPid);
  const pg0 = postgresBackends(database);
  const self0 = process.cpuUsage();
  const machine0 = machineCpuMs();
  return () => {
    const server1 = processCpuMs(serverPid);
    const main1 = processCpuMs(serverPid, serverPid);
    const pg1 = postgresBackends(database);
    const self1 = process.cpuUsage(self0);
    const machine1 = machineCpuMs();
    const serverMs = server0 === null || server1 === null ? null : server1 - server0;
    let postgresMs = 0;
    for (const [pid, ms] of pg1) postgresMs += ms - (pg0.get(pid) ?? 0);
    const loadGeneratorMs = (self1.user + self1.system) / 1000;
    const machineBusyMs = machine0 && machine1 ? machine1.busy - machine0.busy : null;
    const machineTotalMs = machine0 && machine1 ? machine1.total - machine0.total : null;
    const foreignMs =
      machineBusyMs === null || serverMs === null
        ? null
        : Math.max(0, machineBusyMs - serverMs - loadGeneratorMs - postgresMs);
    return {
      serverMs,
      serverMainThreadMs: main0 === null || main1 === null ? null : main1 - main0,
      postgresMs,
      loadGeneratorMs,
      machineBusyMs,
      machineTotalMs,
      // Everything else that ran meanwhile (other processes, the kernel's own work).
      foreignMs,
      foreignShare: foreignMs === null || !machineTotalMs ? null : foreignMs / machineTotalMs,
    };
  };
}
