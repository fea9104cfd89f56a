import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenantRow } from '../support/db.js';
import { eventually, startApi, type RunningApi } from '../support/apps.js';

const root = path.resolve(import.meta.dirname, '../..');
const main = (app: 'api' | 'worker' | 'cli') =>
  path.join(root, `dist/apps/${app}/apps/${app}/src/main.js`);

function requireBuild(): void {
  for (const app of ['api', 'worker', 'cli'] as const) {
    if (!existsSync(main(app)))
      throw new Error(`${main(app)} is missing: run "npm run build" first`);
  }
}

/** The environment of this test run without one variable. */
function envWithout(...names: string[]): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries({ ...process.env, LOG_LEVEL: 'warn' }).filter(([k]) => !names.includes(k)),
  );
}

describe('the built processes', () => {
  beforeAll(requireBuild);

  describe('refuse to start on a bad configuration, naming the variable', () => {
    it.each([
      ['api', 'DATABASE_URL'],
      ['api', 'REDIS_URL'],
      ['api', 'FERNET_KEYS'],
      ['worker', 'DATABASE_URL'],
      ['worker', 'SIGNING_KEYS'],
    ] as const)('%s without %s', (app, variable) => {
      const run = spawnSync(process.execPath, [main(app)], {
        env: envWithout(variable),
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(run.status).toBe(78);
      expect(run.stderr).toContain(`${variable}: is required but not set`);
    });

    it('api with an invalid value', () => {
      const run = spawnSync(process.execPath, [main('api')], {
        env: { ...envWithout(), FERNET_KEYS: 'not-a-key', API_PORT: 'eighty' },
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(run.status).toBe(78);
      expect(run.stderr).toMatch(/FERNET_KEYS: each key must be 32 bytes/);
      expect(run.stderr).toMatch(/API_PORT: /);
      expect(run.stderr).not.toContain('not-a-key');
    });
  });

  describe('worker', () => {
    let api: RunningApi;

    beforeAll(async () => {
      api = await startApi();
    });
    afterAll(() => api.close());

    it('processes jobs and stops gracefully on SIGTERM', async () => {
      const tenant = await createTenantRow('Worker process');
      const lead = (
        (await api.request('POST', '/v1/leads', { tenant, body: { displayName: 'W' } })).body as {
          id: string;
        }
      ).id;
      const child = spawn(process.execPath, [main('worker')], {
        env: { ...process.env, LOG_LEVEL: 'info' },
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
        (resolve) =>
          child.on('exit', (code, signal) => {
            resolve({ code, signal });
          }),
      );
      try {
        await eventually(
          () => Promise.resolve(out.includes('job workers started') ? true : undefined),
          20_000,
        );
        // A bulk job (tag the lead): only the worker process can finish it.
        const queued = await api.request('POST', '/v1/leads/bulk', {
          tenant,
          body: { target: { ids: [lead] }, action: { type: 'update', set: { addTags: ['e2e'] } } },
        });
        expect(queued.status).toBe(202);
        const { jobId } = queued.body as { jobId: string };
        const job = await eventually(async () => {
          const res = (await api.request('GET', `/v1/jobs/${jobId}`, { tenant })).body as {
            status: string;
            done: number;
          };
          return res.status === 'completed' ? res : undefined;
        }, 20_000);
        expect(job.done).toBe(1);
        const read = (await api.request('GET', `/v1/leads/${lead}`, { tenant })).body as {
          tags: string[];
        };
        expect(read.tags).toEqual(['e2e']);
      } finally {
        child.kill('SIGTERM');
      }
      // Nest closes everything, then re-raises the signal so the exit status says why.
      const { code, signal } = await exited;
      expect(code === 0 || signal === 'SIGTERM').toBe(true);
      expect(out).toContain('job workers stopped');
      expect(out).not.toMatch(/"level":"(error|fatal)"/);
    });
  });
});
