// Summary of a V8 .cpuprofile: where the samples landed, by function and by package
// (self time), and which packages were on the stack (inclusive time). Usable alone:
//   node bench/lib/profile-summary.mjs <file.cpuprofile> [top]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { root } from './database.mjs';
import { fmt } from './report.mjs';

const SPECIAL = new Set(['(garbage collector)', '(program)', '(idle)', '(root)']);

/** The "package" a frame belongs to. */
export function packageOf(callFrame) {
  const { url, functionName } = callFrame;
  if (SPECIAL.has(functionName)) return functionName;
  if (!url) return '(native / V8 builtins)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? url);
  }
  if (url.startsWith('node:')) {
    const parts = url.slice('node:'.length).split('/');
    return `node:${parts[0] === 'internal' ? `internal/${parts[1] ?? ''}` : parts[0]}`;
  }
  const file = url.startsWith('file://') ? new URL(url).pathname : url;
  const rel = path.relative(root, file);
  // The API's code: dist/apps/<app>/{apps,libs}/<name>/... or the benchmark's copy of it,
  // bench/results/<run>/api-build/{apps,libs}/<name>/...
  const built = /(?:^dist\/apps\/[^/]+|\/api-build)\/((?:apps|libs)\/[^/]+)\//.exec(rel);
  if (built) return `ibhq ${built[1]}`;
  if (rel.startsWith('bench/')) return 'bench';
  return rel.startsWith('..') ? file : rel;
}

/** Samples with no package code on the stack: Node's own event-loop work. */
const EVENT_LOOP = '(Node: event loop, I/O callbacks, microtasks, async hooks)';

/** Node's own modules and V8's builtins: charged to the package that called them. */
function isRuntime(pkg) {
  return (
    pkg.startsWith('node:') ||
    pkg === '(native / V8 builtins)' ||
    pkg === '(program)' ||
    pkg === '(root)'
  );
}

function frameName(callFrame) {
  const name = callFrame.functionName || '(anonymous)';
  if (!callFrame.url) return name;
  const file = callFrame.url.startsWith('file://')
    ? new URL(callFrame.url).pathname
    : callFrame.url;
  const rel = file.startsWith('/') ? path.relative(root, file) : file;
  const short = rel.replace(/^node_modules\//, '').replace(/^.*\/node_modules\//, '');
  return `${name} ${short}:${callFrame.lineNumber + 1}`;
}

export function summarizeProfile(profile, top = 25, requests = null) {
  const byId = new Map();
  const parent = new Map();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const selfByFunction = new Map();
  const selfByPackage = new Map();
  const inclusiveByPackage = new Map();
  const chargedByPackage = new Map();
  let totalUs = 0;
  let idleUs = 0;
  const add = (map, key, us) => map.set(key, (map.get(key) ?? 0) + us);
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute it to sample i.
    const us = Math.max(0, timeDeltas[i] ?? 0);
    const node = byId.get(samples[i]);
    if (!node) continue;
    totalUs += us;
    if (node.callFrame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    add(selfByFunction, frameName(node.callFrame), us);
    add(selfByPackage, packageOf(node.callFrame), us);
    const seen = new Set();
    let charged = null;
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const pkg = packageOf(byId.get(id).callFrame);
      if (charged === null && !isRuntime(pkg)) charged = pkg;
      if (pkg === '(root)' || seen.has(pkg)) continue;
      seen.add(pkg);
      add(inclusiveByPackage, pkg, us);
    }
    add(chargedByPackage, charged ?? EVENT_LOOP, us);
  }
  const busyUs = totalUs - idleUs;
  const rank = (map) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({
        name,
        ms: Math.round(us / 100) / 10,
        usPerRequest: requests ? Math.round(us / requests) : null,
        shareOfBusy: busyUs > 0 ? Math.round((us / busyUs) * 1000) / 1000 : 0,
      }));
  return {
    requests,
    busyUsPerRequest: requests ? Math.round(busyUs / requests) : null,
    wallMs: Math.round(totalUs / 1000),
    busyMs: Math.round(busyUs / 1000),
    idleMs: Math.round(idleUs / 1000),
    selfByPackage: rank(selfByPackage),
    chargedByPackage: rank(chargedByPackage),
    inclusiveByPackage: rank(inclusiveByPackage),
    selfByFunction: rank(selfByFunction),
  };
}

export function formatProfileSummary(summary, top = 15) {
  const lines = [
    `  profiled ${summary.wallMs} ms: busy ${summary.busyMs} ms, idle ${summary.idleMs} ms` +
      (summary.requests
        ? `; ${summary.requests} requests, ${summary.busyUsPerRequest} µs busy per request`
        : ''),
  ];
  const section = (title, rows) => {
    lines.push(`  ${title}:`);
    for (const r of rows.slice(0, top)) {
      lines.push(
        `    ${`${(r.shareOfBusy * 100).toFixed(1)}%`.padStart(6)}  ${String(r.ms).padStart(8)} ms` +
          `${r.usPerRequest === null ? '' : `  ${String(r.usPerRequest).padStart(5)} µs/req`}  ${r.name}`,
      );
    }
  };
  section('self time by package (share of busy time)', summary.selfByPackage);
  section(
    'self time by package, Node internals and V8 builtins charged to their caller',
    summary.chargedByPackage,
  );
  section('inclusive time by package (on the stack)', summary.inclusiveByPackage);
  section('self time by function', summary.selfByFunction);
  return lines.join('\n');
}

/** The report's lines for the CPU profiles of a scenario (see measure.mjs, profileRuns). */
export function formatProfiles(profiles, top) {
  return profiles.flatMap((p) => [
    '',
    `CPU profile of ${p.variant} (${p.file}; ${fmt.int(p.rps)} req/s while profiled):`,
    formatProfileSummary(p.summary, top),
  ]);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [file, top, requests] = process.argv.slice(2);
  if (!file) {
    process.stderr.write(
      'usage: node bench/lib/profile-summary.mjs <file.cpuprofile> [top] [requests served]\n',
    );
    process.exit(2);
  }
  const summary = summarizeProfile(
    JSON.parse(readFileSync(file, 'utf8')),
    Number(top ?? 25),
    requests ? Number(requests) : null,
  );
  process.stdout.write(`${formatProfileSummary(summary, Number(top ?? 25))}\n`);
}
