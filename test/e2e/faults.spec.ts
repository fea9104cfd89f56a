import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenantRow } from '../support/db.js';
import { startApi, type RunningApi } from '../support/apps.js';

type ErrorBody = { error: { code: string; message: string; errorId?: string; requestId: string } };

describe('faults', () => {
  describe('Redis unreachable', () => {
    let api: RunningApi;
    let healthy: RunningApi;
    let tenant: string;
    let lead: string;

    beforeAll(async () => {
      tenant = await createTenantRow('Redis down');
      healthy = await startApi();
      lead = (
        (await healthy.request('POST', '/v1/leads', { tenant, body: { displayName: 'L' } }))
          .body as { id: string }
      ).id;
      api = await startApi({ REDIS_URL: 'redis://127.0.0.1:1' });
    });
    afterAll(async () => {
      await Promise.all([api.close(), healthy.close()]);
    });

    it('a write that needs the queue answers 503 with a clear message, not a hang', async () => {
      // Bulk work is queued (notes are written synchronously).
      const res = await api.request('POST', '/v1/leads/bulk', {
        tenant,
        body: { target: { ids: [lead] }, action: { type: 'delete' } },
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      const body = res.body as ErrorBody;
      expect(body.error.code).toBe('DEPENDENCY_UNAVAILABLE');
      expect(body.error.message).toMatch(/nothing was done/);
      expect((await healthy.request('GET', `/v1/leads/${lead}`, { tenant })).status).toBe(200);
    });

    it('readiness says Redis is down; reads that need only PostgreSQL still work', async () => {
      const ready = await api.request('GET', '/health/ready');
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ status: 'error', error: { redis: { status: 'down' } } });
      expect((await api.request('GET', `/v1/leads/${lead}`, { tenant })).status).toBe(200);
    });
  });

  it('PostgreSQL unreachable: readiness says so without internals, requests answer 503', async () => {
    const api = await startApi({ DATABASE_URL: 'postgres://ibhq_app@127.0.0.1:1/ibhq' });
    try {
      const ready = await api.request('GET', '/health/ready');
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({
        error: { postgres: { status: 'down', message: 'unreachable' } },
      });
      expect(ready.text).not.toContain('127.0.0.1');
      const res = await api.request('GET', '/v1/leads', {
        tenant: '01a20000-0000-7000-8000-000000000002',
      });
      expect(res.status).toBe(503);
      expect((res.body as ErrorBody).error.code).toBe('DEPENDENCY_UNAVAILABLE');
      expect(res.text).not.toContain('127.0.0.1');
    } finally {
      await api.close();
    }
  });

  describe('an unexpected error', () => {
    const empty = `${process.env.IBHQ_TEST_DATABASE!}_empty`;
    let api: RunningApi;

    beforeAll(async () => {
      // A database without IBHQ's tables: every query fails in a way no code expects.
      const admin = new pg.Client({ connectionString: process.env.DATABASE_ADMIN_URL });
      await admin.connect();
      await admin.query(`CREATE DATABASE "${empty}"`);
      await admin.end();
      const url = new URL(process.env.DATABASE_URL!);
      url.pathname = `/${empty}`;
      api = await startApi({ DATABASE_URL: url.toString() });
    });
    afterAll(async () => {
      await api.close();
      const admin = new pg.Client({ connectionString: process.env.DATABASE_ADMIN_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${empty}" WITH (FORCE)`);
      await admin.end();
    });

    it('is a 500 carrying only an error id, which the log explains', async () => {
      const res = await api.request('GET', '/v1/leads', {
        tenant: '01a20000-0000-7000-8000-000000000001',
      });
      expect(res.status).toBe(500);
      const body = res.body as ErrorBody;
      expect(body.error.code).toBe('INTERNAL');
      expect(body.error.errorId).toMatch(/^[0-9a-f-]{36}$/);
      expect(body.error.message).toBe(`Internal error (id ${body.error.errorId!})`);
      expect(res.text).not.toMatch(/Tenant|relation|prisma|stack/i);
      const logged = api.logs.records().find((r) => r.errorId === body.error.errorId);
      expect(logged).toBeDefined();
      expect(logged?.level).toBe('error');
      expect(JSON.stringify(logged?.err)).toMatch(/Tenant/);
    });
  });
});
