import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { parse } from 'yaml';
import { configSchema, configVariableNames } from '@ibhq/core';

// docker-compose.yml, read as data (its YAML anchors and `<<` merge keys resolved the
// way Compose resolves them), plus `docker compose config` where the client has the
// compose plugin. No Docker engine is needed.

const root = path.resolve(import.meta.dirname, '../..');
const composeFile = path.join(root, 'docker-compose.yml');

type Env = Record<string, string | number | boolean | null>;
interface DependsOn {
  condition?: string;
}
interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Env | string[];
  depends_on?: string[] | Record<string, DependsOn>;
  ports?: (string | { target?: number; published?: string | number; host_ip?: string })[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  stop_grace_period?: string;
  init?: boolean;
}
interface ComposeFile {
  services: Record<string, Service>;
}

const compose = parse(readFileSync(composeFile, 'utf8'), { merge: true }) as ComposeFile;

function service(name: string): Service {
  const s = compose.services[name];
  if (!s) throw new Error(`docker-compose.yml has no service "${name}"`);
  return s;
}

function envOf(name: string): Record<string, string> {
  const env = service(name).environment ?? {};
  const entries: [string, string][] = Array.isArray(env)
    ? env.map((line) => {
        const i = line.indexOf('=');
        return i < 0 ? [line, ''] : [line.slice(0, i), line.slice(i + 1)];
      })
    : Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]);
  return Object.fromEntries(entries);
}

function commandOf(name: string): string[] {
  const cmd = service(name).command ?? [];
  return Array.isArray(cmd) ? cmd : cmd.split(/\s+/).filter(Boolean);
}

/** The value that follows `flag` in a command line (`--flag value`). */
function flagValue(cmd: string[], flag: string): string | undefined {
  const i = cmd.indexOf(flag);
  return i < 0 ? undefined : cmd[i + 1];
}

/** `${NAME:?message}`: a variable Compose requires, with no default to fall back on. */
const REQUIRED_VAR = /^\$\{[A-Z][A-Z0-9_]*:?\?[^}]*\}$/;
/** A secret the app can run without (the Telegram bot token): `${NAME:-}`, nothing hard-coded. */
const OPTIONAL_SECRET = /^\$\{[A-Z][A-Z0-9_]*:-\}$/;

/** Compose's interpolation, enough for this file: ${X}, ${X:-default}, ${X:?error}. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g,
    (_all, name: string, op: string | undefined, arg: string | undefined) => {
      const v = vars[name];
      const unset = op?.startsWith(':') ? v === undefined || v === '' : v === undefined;
      if (!unset) return v ?? '';
      if (op?.endsWith('?')) throw new Error(`required variable ${name} is not set: ${arg ?? ''}`);
      return arg ?? '';
    },
  );
}

/** Values for every variable the file requires: what a user would put in an env file. */
const requiredVars: Record<string, string> = {
  POSTGRES_PASSWORD: 'pg-superuser-password-for-tests',
  IBHQ_OWNER_DB_PASSWORD: 'owner-password-for-tests',
  IBHQ_APP_DB_PASSWORD: 'app-password-for-tests',
  REDIS_PASSWORD: 'redis-password-for-tests',
  FERNET_KEYS: 'cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=',
  SIGNING_KEYS: 'a-signing-key-of-at-least-32-characters!',
  METRICS_TOKEN: 'metrics-token-for-tests',
};

const SECRET_NAME = /PASSWORD|SECRET|TOKEN|_KEYS$|_AUTH$/;
const URL_WITH_CREDENTIALS = /^[a-z][a-z0-9+.-]*:\/\/([^:@/]*):([^@]*)@/i;

describe('docker-compose.yml', () => {
  it('has the services of the deployment', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['api', 'caddy', 'migrate', 'postgres', 'redis', 'worker'].sort(),
    );
  });

  it('runs PostgreSQL 16 with a volume and a pg_isready health check', () => {
    const pg = service('postgres');
    expect(pg.image).toMatch(/^postgres:16([.-]|$)/);
    expect(
      pg.volumes?.some((v) =>
        String(typeof v === 'string' ? v : v.target).includes('/var/lib/postgresql/data'),
      ),
    ).toBe(true);
    expect(JSON.stringify(pg.healthcheck?.test)).toContain('pg_isready');
  });

  it('runs Redis 7 configured for BullMQ (AOF, noeviction) with a volume and a health check', () => {
    const redis = service('redis');
    expect(redis.image).toMatch(/^redis:7([.-]|$)/);
    const cmd = commandOf('redis');
    expect(cmd[0]).toBe('redis-server');
    expect(flagValue(cmd, '--appendonly')).toBe('yes');
    expect(flagValue(cmd, '--appendfsync')).toBe('everysec');
    expect(flagValue(cmd, '--maxmemory-policy')).toBe('noeviction');
    expect(redis.volumes?.length).toBeGreaterThan(0);
    expect(JSON.stringify(redis.healthcheck?.test)).toContain('redis-cli');
  });

  it('migrates once (db:setup) when PostgreSQL is healthy, before the API and worker start', () => {
    const migrate = service('migrate');
    expect(commandOf('migrate')).toContain('db:setup');
    expect(migrate.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' } });
    for (const name of ['api', 'worker']) {
      expect(service(name).depends_on, name).toMatchObject({
        migrate: { condition: 'service_completed_successfully' },
        redis: { condition: 'service_healthy' },
      });
    }
  });

  it('runs api, worker and migrate from the one image, each with its own command', () => {
    const images = ['api', 'worker', 'migrate'].map((n) => service(n).image);
    expect(new Set(images).size).toBe(1);
    expect(commandOf('api').join(' ')).toContain('dist/apps/api/apps/api/src/main.js');
    expect(commandOf('worker').join(' ')).toContain('dist/apps/worker/apps/worker/src/main.js');
    expect(commandOf('migrate').join(' ')).toContain('dist/apps/cli/apps/cli/src/main.js');
  });

  it('gives the worker time to shut down gracefully (SHUTDOWN_TIMEOUT_MS 25 s < 30 s)', () => {
    expect(service('worker').stop_grace_period).toBe('30s');
    expect(service('worker').healthcheck?.disable).toBe(true);
  });

  it('publishes only Caddy; the API at most on the loopback', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      if (name === 'caddy') continue;
      for (const p of s.ports ?? []) {
        const hostIp = typeof p === 'string' ? p.split(':')[0] : p.host_ip;
        expect(
          name === 'api' && hostIp === '127.0.0.1',
          `${name} publishes ${JSON.stringify(p)}`,
        ).toBe(true);
      }
    }
    const caddyPorts = (service('caddy').ports ?? []).map(String);
    expect(caddyPorts).toEqual(expect.arrayContaining(['80:80', '443:443']));
  });

  it('mounts the Caddyfile into Caddy, with volumes for its certificates and config', () => {
    const caddy = service('caddy');
    expect(caddy.image).toMatch(/^caddy:2([.-]|$)/);
    const volumes = (caddy.volumes ?? []).map((v) =>
      typeof v === 'string' ? v : `${v.source ?? ''}:${v.target ?? ''}`,
    );
    expect(volumes.some((v) => /^\.\/Caddyfile:\/etc\/caddy\/Caddyfile(:ro)?$/.test(v))).toBe(true);
    expect(volumes.some((v) => v.split(':')[1] === '/data')).toBe(true);
    expect(volumes.some((v) => v.split(':')[1] === '/config')).toBe(true);
  });

  it('hard-codes no secret: every key, password and token is a required ${...} variable', () => {
    const checked: string[] = [];
    for (const name of Object.keys(compose.services)) {
      for (const [key, value] of Object.entries(envOf(name))) {
        if (SECRET_NAME.test(key)) {
          const optional =
            key in configSchema.shape &&
            configSchema.shape[key as keyof typeof configSchema.shape].safeParse(undefined).success;
          const allowed = optional ? [REQUIRED_VAR, OPTIONAL_SECRET] : [REQUIRED_VAR];
          expect(
            allowed.some((re) => re.test(value)),
            `${name}.${key} = ${value}: a required \${...} (or, if the app can do without, \${NAME:-})`,
          ).toBe(true);
          checked.push(`${name}.${key}`);
        }
        const creds = URL_WITH_CREDENTIALS.exec(value);
        if (creds) {
          expect(creds[2], `password in ${name}.${key}`).toMatch(REQUIRED_VAR);
          checked.push(`${name}.${key}`);
        }
      }
      const cmd = commandOf(name);
      for (const flag of ['--requirepass', '--masterauth']) {
        const v = flagValue(cmd, flag);
        if (v !== undefined) expect(v, `${name} ${flag}`).toMatch(REQUIRED_VAR);
      }
    }
    // The check above must have had something to look at.
    expect(checked).toEqual(
      expect.arrayContaining([
        'api.FERNET_KEYS',
        'api.SIGNING_KEYS',
        'api.DATABASE_URL',
        'worker.FERNET_KEYS',
        'migrate.DATABASE_ADMIN_URL',
        'migrate.DATABASE_OWNER_URL',
        'postgres.POSTGRES_PASSWORD',
      ]),
    );
    // And nothing that looks like a literal Fernet key sits anywhere in the file.
    expect(readFileSync(composeFile, 'utf8')).not.toMatch(/[A-Za-z0-9_-]{43}=/);
  });

  /** A service's environment once Compose interpolated it, as AppConfig.load reads it (empty = unset). */
  const resolvedEnv = (name: string) =>
    Object.fromEntries(
      Object.entries(envOf(name))
        .map(([k, v]) => [k, interpolate(v, requiredVars)] as const)
        .filter(([, v]) => v !== ''),
    );

  it("gives the API and worker an environment the app's own config schema accepts", () => {
    for (const name of ['api', 'worker', 'migrate']) {
      const env = envOf(name);
      for (const key of Object.keys(env)) {
        expect(configVariableNames, `${name}.${key} is not a variable the app reads`).toContain(
          key,
        );
      }
      const resolved = resolvedEnv(name);
      const parsed = configSchema.safeParse(resolved);
      expect(parsed.error?.issues ?? [], name).toEqual([]);
      expect(parsed.data?.NODE_ENV).toBe('production');
      expect(parsed.data?.DEV_TENANT_HEADER).toBe(false);
      expect(new URL(resolved.DATABASE_URL ?? '').username).toBe('ibhq_app');
    }
    const api = configSchema.parse(resolvedEnv('api'));
    expect(api.API_HOST).toBe('0.0.0.0');
    expect(api.API_PORT).toBe(3000);
    expect(api.TRUST_PROXY).toBe(true);
    // Least privilege: only the one-shot migration holds the owner and superuser URLs.
    for (const name of ['api', 'worker']) {
      expect(envOf(name)).not.toHaveProperty('DATABASE_OWNER_URL');
      expect(envOf(name)).not.toHaveProperty('DATABASE_ADMIN_URL');
    }
    expect(
      new URL(interpolate(envOf('migrate').DATABASE_OWNER_URL ?? '', requiredVars)).username,
    ).toBe('ibhq_owner');
  });

  it('passes `docker compose config` where the compose plugin exists (and refuses missing secrets)', () => {
    const version = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
    if (version.error || version.status !== 0) {
      console.warn(
        'docker compose is not available on this machine: skipped `docker compose config -q`',
      );
      return;
    }
    const base: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
    const run = (env: NodeJS.ProcessEnv) =>
      spawnSync('docker', ['compose', '-f', composeFile, 'config', '-q'], {
        cwd: root,
        env,
        encoding: 'utf8',
        timeout: 30_000,
      });
    const ok = run({ ...base, ...requiredVars });
    expect(ok.status, ok.stderr).toBe(0);
    const { FERNET_KEYS: _omitted, ...withoutFernet } = requiredVars;
    const missing = run({ ...base, ...withoutFernet });
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('FERNET_KEYS');
  });
});
