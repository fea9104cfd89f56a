import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it, expect } from 'vitest';

// The Caddyfile, checked by the real caddy binary: `caddy validate` provisions every
// module (without binding ports or asking an ACME CA for certificates) and
// `caddy adapt` shows the JSON config Caddy would run, which the tests below route
// requests through the way Caddy's HTTP app does.

const root = path.resolve(import.meta.dirname, '../..');
const caddyfile = path.join(root, 'Caddyfile');
const DOMAIN = 'ibhq.example.com';
const INSTALL_HINT =
  "the `caddy` binary is not on PATH: install Debian's caddy package " +
  '(`sudo apt-get install -y caddy`, or `bash scripts/ensure-services.sh --with-caddy`; the CI job installs it)';

// Caddy writes its local CA and autosave files under $HOME/XDG dirs even when it
// only validates: keep them in a throwaway directory.
let scratch = '';
beforeAll(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'ibhq-caddy-'));
});
afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function caddy(args: string[], extraEnv: Record<string, string> = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.IBHQ_DOMAIN;
  delete env.IBHQ_UPSTREAM;
  Object.assign(env, {
    HOME: scratch,
    XDG_DATA_HOME: path.join(scratch, 'data'),
    XDG_CONFIG_HOME: path.join(scratch, 'config'),
    ...extraEnv,
  });
  const res = spawnSync('caddy', args, { cwd: root, env, encoding: 'utf8', timeout: 30_000 });
  if (res.error) {
    const code = (res.error as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? INSTALL_HINT : `caddy failed to run: ${res.error.message}`);
  }
  return res;
}

// --- the parts of Caddy's JSON config these tests read --------------------------------
type MatcherSet = Record<string, unknown>;
interface Handler {
  handler: string;
  routes?: Route[];
  [key: string]: unknown;
}
interface Route {
  group?: string;
  match?: MatcherSet[];
  handle?: Handler[];
  terminal?: boolean;
}
interface ConnPolicy {
  match?: { sni?: string[] };
  protocol_min?: string;
  protocol_max?: string;
}
interface Server {
  listen: string[];
  routes?: Route[];
  tls_connection_policies?: ConnPolicy[];
  logs?: { logger_names?: Record<string, string>; default_logger_name?: string };
}
interface Log {
  writer?: { output?: string };
  encoder?: { format?: string };
  include?: string[];
}
interface CaddyConfig {
  logging?: { logs?: Record<string, Log> };
  apps: { http: { servers: Record<string, Server> } };
}

function adapt(extraEnv: Record<string, string> = {}): CaddyConfig {
  const res = caddy(['adapt', '--adapter', 'caddyfile', '--config', caddyfile], {
    IBHQ_DOMAIN: DOMAIN,
    ...extraEnv,
  });
  expect(res.status, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as CaddyConfig;
}

function httpsServer(config: CaddyConfig): Server {
  const servers = Object.values(config.apps.http.servers);
  const server = servers.find((s) => s.listen.includes(':443'));
  if (!server) throw new Error(`no server listens on :443 (${JSON.stringify(servers)})`);
  return server;
}

/** Caddy's path matcher: case-insensitive; `*` is a wildcard (prefix, suffix or glob). */
function pathMatches(pattern: string, p: string): boolean {
  const re = new RegExp(
    '^' +
      pattern
        .toLowerCase()
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*') +
      '$',
  );
  return re.test(p.toLowerCase());
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern.startsWith('*.')) return host.toLowerCase().endsWith(pattern.slice(1).toLowerCase());
  return pattern.toLowerCase() === host.toLowerCase();
}

function matches(sets: MatcherSet[] | undefined, req: { host: string; path: string }): boolean {
  if (!sets || sets.length === 0) return true;
  return sets.some((set) =>
    Object.entries(set).every(([kind, arg]) => {
      if (kind === 'host') return (arg as string[]).some((h) => hostMatches(h, req.host));
      if (kind === 'path') return (arg as string[]).some((p) => pathMatches(p, req.path));
      if (kind === 'not') return !matches(arg as MatcherSet[], req);
      throw new Error(`matcher "${kind}" is not modelled by this test: extend matches()`);
    }),
  );
}

const PASS_THROUGH = new Set(['headers', 'request_body', 'encode', 'vars']);
const RESPONDERS = new Set(['static_response', 'reverse_proxy', 'file_server', 'error']);

interface Outcome {
  /** Handlers that ran before the response, in order (headers, request_body...). */
  middleware: Handler[];
  /** The handler that answered, or undefined when no route answered. */
  responder?: Handler;
}

/**
 * Walks a request through Caddy's routes: a route runs when its matchers match,
 * only the first matching route of a group runs, handlers run in order, a subroute
 * nests, a terminal route ends the list.
 */
function route(routes: Route[], req: { host: string; path: string }, out: Outcome): boolean {
  const groupsDone = new Set<string>();
  for (const r of routes) {
    if (r.group !== undefined && groupsDone.has(r.group)) continue;
    if (!matches(r.match, req)) continue;
    if (r.group !== undefined) groupsDone.add(r.group);
    for (const h of r.handle ?? []) {
      if (h.handler === 'subroute') {
        if (route(h.routes ?? [], req, out)) return true;
      } else if (RESPONDERS.has(h.handler)) {
        out.responder = h;
        return true;
      } else if (PASS_THROUGH.has(h.handler)) {
        out.middleware.push(h);
      } else {
        throw new Error(`handler "${h.handler}" is not modelled by this test: extend route()`);
      }
    }
    if (r.terminal) return false;
  }
  return false;
}

function request(config: CaddyConfig, host: string, p: string): Outcome {
  const out: Outcome = { middleware: [] };
  route(httpsServer(config).routes ?? [], { host, path: p }, out);
  return out;
}

function responseHeaders(out: Outcome) {
  const set: Record<string, string[]> = {};
  const deleted: string[] = [];
  let deferred = false;
  for (const h of out.middleware.filter((m) => m.handler === 'headers')) {
    const resp = h.response as
      { set?: Record<string, string[]>; delete?: string[]; deferred?: boolean } | undefined;
    Object.assign(set, resp?.set ?? {});
    deleted.push(...(resp?.delete ?? []));
    deferred ||= resp?.deferred === true;
  }
  return { set, deleted, deferred };
}

describe('Caddyfile (checked with the real caddy binary)', () => {
  it('is installed', () => {
    const res = caddy(['version']);
    expect(res.status).toBe(0);
    console.info(`caddy ${res.stdout.trim()}`);
  });

  it('passes `caddy validate` for a public domain and for the localhost default', () => {
    const envs: Record<string, string>[] = [{ IBHQ_DOMAIN: DOMAIN }, {}];
    for (const env of envs) {
      const res = caddy(['validate', '--adapter', 'caddyfile', '--config', caddyfile], env);
      expect(res.status, `${JSON.stringify(env)}\n${res.stderr}`).toBe(0);
      expect(res.stdout + res.stderr).toContain('Valid configuration');
    }
  });

  it('adapts without warnings (so `caddy fmt` would leave it alone)', () => {
    const res = caddy(['adapt', '--adapter', 'caddyfile', '--config', caddyfile], {
      IBHQ_DOMAIN: DOMAIN,
    });
    expect(res.status).toBe(0);
    expect(res.stderr).not.toMatch(/"level":"warn"/);
  });

  it('accepts TLS 1.3 only, on every TLS connection policy (SNI or not)', () => {
    const policies = httpsServer(adapt()).tls_connection_policies ?? [];
    expect(policies.length).toBeGreaterThan(0);
    expect(policies.some((p) => p.match?.sni?.includes(DOMAIN))).toBe(true);
    // A policy with no matcher catches clients that send no (or another) SNI.
    expect(policies.some((p) => !p.match)).toBe(true);
    for (const p of policies) {
      expect(p.protocol_min, JSON.stringify(p)).toBe('tls1.3');
      if (p.protocol_max !== undefined) expect(p.protocol_max).toBe('tls1.3');
    }
  });

  it('sends HSTS (a year, subdomains, preload) and nosniff, and strips Server', () => {
    const h = responseHeaders(request(adapt(), DOMAIN, '/v1/leads'));
    const hsts = h.set['Strict-Transport-Security']?.join(', ') ?? '';
    const maxAge = Number(/max-age=(\d+)/.exec(hsts)?.[1] ?? 0);
    expect(maxAge).toBeGreaterThanOrEqual(31_536_000);
    expect(hsts).toMatch(/includeSubDomains/i);
    expect(hsts).toMatch(/preload/i);
    expect(h.set['X-Content-Type-Options']).toEqual(['nosniff']);
    expect(h.deleted).toContain('Server');
    // Deferred, so the upstream's Server header is removed as well.
    expect(h.deferred).toBe(true);
  });

  it('answers 404 itself for /metrics and anything under it: never proxied', () => {
    const config = adapt();
    for (const p of ['/metrics', '/metrics/', '/Metrics', '/METRICS', '/metrics/x', '/metricsz']) {
      const out = request(config, DOMAIN, p);
      expect(out.responder?.handler, p).toBe('static_response');
      expect(Number(out.responder?.status_code), p).toBe(404);
      // The security headers apply to that answer too.
      expect(responseHeaders(out).set['Strict-Transport-Security'], p).toBeDefined();
    }
  });

  it('proxies everything else to the API, health-checked on /health/ready', () => {
    const config = adapt();
    for (const p of ['/', '/v1/leads', '/health/ready', '/openapi.json', '/docs', '/metric']) {
      const out = request(config, DOMAIN, p);
      expect(out.responder?.handler, p).toBe('reverse_proxy');
      expect(out.responder?.upstreams, p).toEqual([{ dial: 'api:3000' }]);
      const health = out.responder?.health_checks as { active?: { uri?: string } } | undefined;
      expect(health?.active?.uri).toBe('/health/ready');
    }
  });

  it('takes its upstream from IBHQ_UPSTREAM', () => {
    const out = request(adapt({ IBHQ_UPSTREAM: '127.0.0.1:3999' }), DOMAIN, '/v1/leads');
    expect(out.responder?.upstreams).toEqual([{ dial: '127.0.0.1:3999' }]);
  });

  it('limits request bodies a little above what the API accepts on each route', () => {
    const config = adapt();
    const limitOf = (p: string) => {
      const bodies = request(config, DOMAIN, p).middleware.filter(
        (m) => m.handler === 'request_body',
      );
      // Exactly one limit applies: with two, the smaller would win.
      expect(bodies, p).toHaveLength(1);
      return Number(bodies[0]?.max_size);
    };
    const MiB = 1024 * 1024;
    // Everything else: the default BODY_LIMIT_BYTES (1 MiB).
    for (const p of [
      '/v1/leads',
      '/v1/leads/imports/x/start',
      '/v1/leads/bulkx',
      '/v1/auth/login',
    ]) {
      expect(limitOf(p), p).toBeGreaterThan(MiB);
      expect(limitOf(p), p).toBeLessThanOrEqual(4 * MiB);
    }
    // The CSV upload: the default IMPORT_MAX_BYTES (200 MiB).
    expect(limitOf('/v1/leads/imports')).toBeGreaterThan(200 * MiB);
    expect(limitOf('/v1/leads/imports')).toBeLessThanOrEqual(220 * MiB);
    // Bulk work: the route's own 8 MiB.
    expect(limitOf('/v1/leads/bulk')).toBeGreaterThan(8 * MiB);
    expect(limitOf('/v1/leads/bulk')).toBeLessThanOrEqual(10 * MiB);
  });

  it('does not proxy requests for other hosts', () => {
    const out = request(adapt(), 'other.example', '/v1/leads');
    expect(out.responder?.handler).not.toBe('reverse_proxy');
  });

  it('writes the access log as JSON to stdout', () => {
    const config = adapt();
    const server = httpsServer(config);
    const loggerNames = Object.values(server.logs?.logger_names ?? {});
    if (server.logs?.default_logger_name) loggerNames.push(server.logs.default_logger_name);
    expect(loggerNames.length).toBeGreaterThan(0);
    for (const name of loggerNames) {
      const log = Object.values(config.logging?.logs ?? {}).find((l) =>
        l.include?.includes(`http.log.access.${name}`),
      );
      expect(log?.writer?.output, name).toBe('stdout');
      expect(log?.encoder?.format, name).toBe('json');
    }
  });
});
