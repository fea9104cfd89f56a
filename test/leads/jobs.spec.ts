import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError, ErrorCode, NotFoundError, ValidationError, type TenantId } from '@ibhq/core';
import { TenantDb } from '@ibhq/db';
import { JobTracker, type JobErrorInput } from '@ibhq/jobs';
import { startApi, type RunningApi } from '../support/apps.js';
import { asTenant, createTenantRow, sql } from '../support/db.js';
import { CRM_ENV, crmMember, crmTenant, type CrmCaller } from '../support/crm.js';
import type { SignedUp } from '../support/accounts.js';

type JobBody = {
  id: string;
  kind: string;
  status: string;
  total: number;
  done: number;
  failed: number;
  errors: JobErrorInput[];
  result: Record<string, unknown> | null;
  error: string | null;
};
type ErrorPage = { items: JobErrorInput[]; nextCursor: string | null };

describe('JobTracker (BackgroundJob progress in PostgreSQL)', () => {
  let api: RunningApi;
  let tracker: JobTracker;
  let db: TenantDb;
  let tenant: TenantId;
  let other: TenantId;

  beforeAll(async () => {
    api = await startApi(CRM_ENV);
    tracker = api.app.get(JobTracker, { strict: false });
    db = api.app.get(TenantDb, { strict: false });
    [tenant, other] = await Promise.all([createTenantRow('Jobs A'), createTenantRow('Jobs B')]);
  });
  afterAll(async () => {
    await api.close();
  });

  it('creates a queued job with its params, total and the actor of the context', async () => {
    const { job, created } = await asTenant(tenant, () =>
      tracker.create('test.kind', { filter: { stageId: 'x' }, n: 3 }, { total: 42 }),
    );
    expect(created).toBe(true);
    expect(job).toMatchObject({
      kind: 'test.kind',
      status: 'queued',
      total: 42,
      done: 0,
      failed: 0,
      errors: [],
      result: null,
      error: null,
      startedAt: null,
      finishedAt: null,
    });
    const { rows } = await sql<{ params: unknown; actorType: string; actorId: string }>(
      'admin',
      `SELECT params, "actorType"::text AS "actorType", "actorId" FROM "BackgroundJob" WHERE id = $1`,
      [job.id],
    );
    expect(rows[0]).toEqual({
      params: { filter: { stageId: 'x' }, n: 3 },
      actorType: 'system',
      actorId: 'test',
    });
  });

  it('the same (kind, idempotency key) answers the existing job; other kinds and tenants do not share it', async () => {
    const first = await asTenant(tenant, () =>
      tracker.create('test.kind', { a: 1 }, { idempotencyKey: 'key-1', total: 5 }),
    );
    const again = await asTenant(tenant, () =>
      tracker.create('test.kind', { a: 2 }, { idempotencyKey: 'key-1', total: 9 }),
    );
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.job.id).toBe(first.job.id);
    expect(again.job.total).toBe(5);
    const otherKind = await asTenant(tenant, () =>
      tracker.create('test.other', {}, { idempotencyKey: 'key-1' }),
    );
    expect(otherKind.created).toBe(true);
    expect(otherKind.job.id).not.toBe(first.job.id);
    const otherTenant = await asTenant(other, () =>
      tracker.create('test.kind', {}, { idempotencyKey: 'key-1' }),
    );
    expect(otherTenant.created).toBe(true);
    expect(otherTenant.job.id).not.toBe(first.job.id);
    // Without a key every call is a new job.
    const [x, y] = await asTenant(tenant, () =>
      Promise.all([tracker.create('test.kind', {}), tracker.create('test.kind', {})]),
    );
    expect(x.job.id).not.toBe(y.job.id);
  });

  it('concurrent creates with one key make one job', async () => {
    const results = await asTenant(tenant, () =>
      Promise.all(
        Array.from({ length: 8 }, () =>
          tracker.create('test.race', {}, { idempotencyKey: 'race-key' }),
        ),
      ),
    );
    expect(new Set(results.map((r) => r.job.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
  });

  it('start marks it running and hands back params and checkpoint; progress adds up and keeps errors in order', async () => {
    const { job } = await asTenant(tenant, () =>
      tracker.create('test.kind', { what: 'run' }, { total: 10 }),
    );
    const started = await asTenant(tenant, () => tracker.start(job.id));
    expect(started).toEqual({
      kind: 'test.kind',
      params: { what: 'run' },
      checkpoint: null,
      status: 'running',
    });
    await asTenant(tenant, () =>
      tracker.progress(job.id, { done: 4, failed: 1, checkpoint: 'cp-1' }, [
        { leadId: '01a20000-0000-7000-8000-000000000001', reason: 'lead not found' },
      ]),
    );
    await asTenant(tenant, () =>
      tracker.progress(job.id, { done: 3, failed: 2, checkpoint: 'cp-2', total: 12 }, [
        { rowNumber: 7, field: 'phone', reason: 'is not a valid phone number' },
        { rowNumber: 9, reason: 'duplicate row' },
      ]),
    );
    const resumed = await asTenant(tenant, () => tracker.start(job.id));
    expect(resumed).toMatchObject({ checkpoint: 'cp-2', status: 'running' });
    const view = await asTenant(tenant, () => tracker.get(job.id));
    expect(view).toMatchObject({ status: 'running', total: 12, done: 7, failed: 3 });
    expect(view.startedAt).toBeInstanceOf(Date);
    expect(view.errors).toEqual([
      { leadId: '01a20000-0000-7000-8000-000000000001', reason: 'lead not found' },
      { rowNumber: 7, field: 'phone', reason: 'is not a valid phone number' },
      { rowNumber: 9, reason: 'duplicate row' },
    ]);
  });

  it('concurrent progress calls lose no count', async () => {
    const { job } = await asTenant(tenant, () => tracker.create('test.kind', {}));
    await asTenant(tenant, () =>
      Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          tracker.progress(job.id, { done: 1, failed: i % 2 }, [{ reason: `e${String(i)}` }]),
        ),
      ),
    );
    const view = await asTenant(tenant, () => tracker.get(job.id));
    expect(view.done).toBe(20);
    expect(view.failed).toBe(10);
    expect(view.errors).toHaveLength(20);
  });

  it('clips long reasons and fields, drops NUL and lone surrogates, keeps a valid lead id only', async () => {
    const { job } = await asTenant(tenant, () => tracker.create('test.kind', {}));
    await asTenant(tenant, () =>
      tracker.progress(job.id, { failed: 3 }, [
        { field: 'f'.repeat(300), reason: 'r'.repeat(10_000) },
        { reason: 'a\u0000b\uD800c' },
        { leadId: 'x\'; DROP TABLE "Lead"; --', reason: '😀'.repeat(600) },
      ]),
    );
    const view = await asTenant(tenant, () => tracker.get(job.id));
    expect(view.errors[0]).toEqual({ field: 'f'.repeat(100), reason: 'r'.repeat(500) });
    expect(view.errors[1]).toEqual({ reason: 'ab\uFFFDc' });
    expect(view.errors[2]).toEqual({ reason: '😀'.repeat(500) });
  });

  it('get shows the first 100 errors; errors() pages through all of them by keyset', async () => {
    const { job } = await asTenant(tenant, () => tracker.create('test.kind', {}));
    const all = Array.from({ length: 250 }, (_, i) => ({
      rowNumber: i + 2,
      reason: `bad row ${String(i + 2)}`,
    }));
    await asTenant(tenant, () => tracker.progress(job.id, { failed: 250 }, all));
    const view = await asTenant(tenant, () => tracker.get(job.id));
    expect(view.errors).toHaveLength(100);
    expect(view.errors[99]).toEqual(all[99]);
    const seen: JobErrorInput[] = [];
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await asTenant(tenant, () =>
        tracker.errors(job.id, { limit: 100, ...(cursor ? { cursor } : {}) }),
      );
      pages += 1;
      seen.push(...page.items);
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(all);
    const batches: number[] = [];
    await asTenant(tenant, async () => {
      for await (const batch of tracker.allErrors(job.id, 120)) batches.push(batch.length);
    });
    expect(batches).toEqual([120, 120, 10]);
  });

  it('a forged cursor is a ValidationError naming query.cursor', async () => {
    const { job } = await asTenant(tenant, () => tracker.create('test.kind', {}));
    for (const cursor of [
      'not base64!',
      Buffer.from('["1 OR 1=1"]').toString('base64url'),
      Buffer.from('[-5]').toString('base64url'),
      Buffer.from('{"id":1}').toString('base64url'),
    ]) {
      const failure = await asTenant(tenant, () =>
        tracker.errors(job.id, { limit: 10, cursor }).then(
          () => null,
          (e: unknown) => e,
        ),
      );
      expect(failure).toBeInstanceOf(ValidationError);
      expect((failure as ValidationError).fields[0]?.field).toBe('query.cursor');
    }
  });

  it('complete stores the result; a later start does not reopen it', async () => {
    const { job } = await asTenant(tenant, () => tracker.create('test.kind', {}));
    await asTenant(tenant, () => tracker.start(job.id));
    await asTenant(tenant, () => tracker.complete(job.id, { updated: 3, failed: 0 }));
    const view = await asTenant(tenant, () => tracker.get(job.id));
    expect(view).toMatchObject({ status: 'completed', result: { updated: 3, failed: 0 } });
    expect(view.finishedAt).toBeInstanceOf(Date);
    const again = await asTenant(tenant, () => tracker.start(job.id));
    expect(again.status).toBe('completed');
    expect((await asTenant(tenant, () => tracker.get(job.id))).status).toBe('completed');
  });

  it('progress with an expected checkpoint refuses (Conflict) when another run moved it on', async () => {
    const { job } = await asTenant(tenant, () => tracker.create('test.kind', {}));
    await asTenant(tenant, () =>
      tracker.progress(job.id, { done: 2, checkpoint: 'a', expectedCheckpoint: null }),
    );
    await asTenant(tenant, () =>
      tracker.progress(job.id, { done: 3, checkpoint: 'b', expectedCheckpoint: 'a' }),
    );
    const stale = await asTenant(tenant, () =>
      tracker
        .progress(job.id, { done: 3, checkpoint: 'b', expectedCheckpoint: 'a' }, [{ reason: 'x' }])
        .then(
          () => null,
          (e: unknown) => e,
        ),
    );
    expect(stale).toBeInstanceOf(DomainError);
    expect((stale as DomainError).code).toBe(ErrorCode.Conflict);
    expect((stale as DomainError).details).toMatchObject({ checkpointMoved: true });
    const view = await asTenant(tenant, () => tracker.get(job.id));
    expect(view).toMatchObject({ done: 5, errors: [] });
    expect((await asTenant(tenant, () => tracker.start(job.id))).checkpoint).toBe('b');
  });

  it('completes once: a second complete changes nothing, and a late fail does not undo it', async () => {
    const { job } = await asTenant(tenant, () => tracker.create('test.kind', {}));
    expect(await asTenant(tenant, () => tracker.complete(job.id, { n: 1 }))).toBe(true);
    expect(await asTenant(tenant, () => tracker.complete(job.id, { n: 2 }))).toBe(false);
    await asTenant(tenant, () => tracker.fail(job.id, 'late'));
    expect(await asTenant(tenant, () => tracker.get(job.id))).toMatchObject({
      status: 'completed',
      result: { n: 1 },
      error: null,
    });
  });

  it('fail stores the message for the caller', async () => {
    const { job } = await asTenant(tenant, () => tracker.create('test.kind', {}));
    await asTenant(tenant, () => tracker.fail(job.id, 'the file could not be read'));
    const view = await asTenant(tenant, () => tracker.get(job.id));
    expect(view).toMatchObject({ status: 'failed', error: 'the file could not be read' });
  });

  it('another tenant’s job or a missing one is NotFoundError everywhere', async () => {
    const { job } = await asTenant(tenant, () => tracker.create('test.kind', {}));
    const attempts: (() => Promise<unknown>)[] = [
      () => tracker.get(job.id),
      () => tracker.start(job.id),
      () => tracker.progress(job.id, { done: 1 }, [{ reason: 'x' }]),
      () => tracker.complete(job.id, {}),
      () => tracker.fail(job.id, 'x'),
      () => tracker.errors(job.id, { limit: 10 }),
      () => tracker.get('01a20000-0000-7000-8000-00000000dead'),
      () => tracker.get('not-a-uuid'),
    ];
    for (const attempt of attempts) {
      const failure = await asTenant(other, () =>
        attempt().then(
          () => null,
          (e: unknown) => e,
        ),
      );
      expect(failure).toBeInstanceOf(NotFoundError);
    }
    const view = await asTenant(tenant, () => tracker.get(job.id));
    expect(view).toMatchObject({ status: 'queued', done: 0, errors: [] });
  });

  it('joins an open TenantDb transaction: a rollback discards the progress and its errors', async () => {
    const { job } = await asTenant(tenant, () => tracker.create('test.kind', {}));
    const failure = await asTenant(tenant, () =>
      db
        .transaction(async () => {
          await tracker.progress(job.id, { done: 5, checkpoint: 'c' }, [{ reason: 'x' }]);
          throw new Error('chunk failed');
        })
        .then(
          () => null,
          (e: unknown) => e,
        ),
    );
    expect((failure as Error).message).toBe('chunk failed');
    const view = await asTenant(tenant, () => tracker.get(job.id));
    expect(view).toMatchObject({ done: 0, errors: [] });
    expect((await asTenant(tenant, () => tracker.start(job.id))).checkpoint).toBeNull();
  });
});

describe('GET /v1/jobs/:id, /errors and /errors.csv', () => {
  let api: RunningApi;
  let tracker: JobTracker;
  let owner: CrmCaller & { owner: SignedUp };
  let viewer: CrmCaller;
  let stranger: CrmCaller;
  let jobId: string;

  beforeAll(async () => {
    api = await startApi(CRM_ENV);
    tracker = api.app.get(JobTracker, { strict: false });
    owner = await crmTenant(api, 'Jobs HTTP');
    [viewer, stranger] = await Promise.all([
      crmMember(api, owner, 'viewer'),
      crmTenant(api, 'Jobs stranger'),
    ]);
    const tenantId = owner.tenantId as TenantId;
    const { job } = await asTenant(tenantId, () => tracker.create('import', {}, { total: 300 }));
    jobId = job.id;
    const errors: JobErrorInput[] = [
      { rowNumber: 2, field: 'phone', reason: 'is not a valid phone number' },
      { rowNumber: 3, field: 'displayName', reason: '=HYPERLINK("http://evil", "x")' },
      { rowNumber: 4, field: 'email', reason: 'has a comma, and "quotes"' },
      { leadId: '01a20000-0000-7000-8000-000000000001', reason: '+1 something' },
      ...Array.from({ length: 150 }, (_, i) => ({ rowNumber: 10 + i, reason: `bad ${String(i)}` })),
    ];
    await asTenant(tenantId, () => tracker.progress(jobId, { done: 300, failed: 154 }, errors));
  });
  afterAll(async () => {
    await api.close();
  });

  it('GET /v1/jobs/:id answers the view with the first 100 errors (viewers may read)', async () => {
    const res = await viewer.call<JobBody>('GET', `/v1/jobs/${jobId}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: jobId,
      kind: 'import',
      total: 300,
      done: 300,
      failed: 154,
    });
    expect(res.body.errors).toHaveLength(100);
    expect(res.body.errors[0]).toEqual({
      rowNumber: 2,
      field: 'phone',
      reason: 'is not a valid phone number',
    });
  });

  it('GET /v1/jobs/:id/errors pages through every error', async () => {
    const seen: JobErrorInput[] = [];
    let path = `/v1/jobs/${jobId}/errors?limit=60`;
    for (;;) {
      const res = await owner.call<ErrorPage>('GET', path);
      expect(res.status).toBe(200);
      seen.push(...res.body.items);
      if (!res.body.nextCursor) break;
      path = `/v1/jobs/${jobId}/errors?limit=60&cursor=${encodeURIComponent(res.body.nextCursor)}`;
    }
    expect(seen).toHaveLength(154);
    expect(seen.at(-1)).toEqual({ rowNumber: 159, reason: 'bad 149' });
  });

  it('GET /v1/jobs/:id/errors.csv streams the whole report with formulas escaped', async () => {
    const res = await owner.call('GET', `/v1/jobs/${jobId}/errors.csv`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(res.headers.get('content-disposition')).toContain('attachment');
    const lines = res.text.trimEnd().split(/\r?\n/);
    expect(lines[0]).toBe('rowNumber,field,reason,leadId');
    expect(lines[1]).toBe('2,phone,is not a valid phone number,');
    expect(lines[2]).toBe(`3,displayName,"'=HYPERLINK(""http://evil"", ""x"")",`);
    expect(lines[3]).toBe('4,email,"has a comma, and ""quotes""",');
    expect(lines[4]).toBe(`,,'+1 something,01a20000-0000-7000-8000-000000000001`);
    expect(lines).toHaveLength(155);
  });

  it('another tenant’s job, a missing one and a malformed id answer 404/400 and nothing else', async () => {
    for (const path of [
      `/v1/jobs/${jobId}`,
      `/v1/jobs/${jobId}/errors`,
      `/v1/jobs/${jobId}/errors.csv`,
    ]) {
      const res = await stranger.call('GET', path);
      expect(res.status).toBe(404);
      expect(res.text).not.toContain('phone number');
    }
    expect((await owner.call('GET', '/v1/jobs/01a20000-0000-7000-8000-00000000dead')).status).toBe(
      404,
    );
    const bad = await owner.call<{ error: { message: string } }>('GET', "/v1/jobs/1' OR '1'='1");
    expect(bad.status).toBe(400);
  });

  it('hostile query parameters are 400s naming the field', async () => {
    const cases: [string, string][] = [
      [`/v1/jobs/${jobId}/errors?cursor=${'A'.repeat(600)}`, 'cursor'],
      [
        `/v1/jobs/${jobId}/errors?cursor=${Buffer.from('["1;DROP"]').toString('base64url')}`,
        'cursor',
      ],
      [`/v1/jobs/${jobId}/errors?limit=0`, 'limit'],
      [`/v1/jobs/${jobId}/errors?limit=abc`, 'limit'],
      [`/v1/jobs/${jobId}/errors?limit=100000`, 'limit'],
      [`/v1/jobs/${jobId}/errors?unknown=1`, 'unknown'],
    ];
    for (const [path, field] of cases) {
      const res = await owner.call('GET', path);
      expect(res.status, path).toBe(400);
      expect(res.text, path).toContain(field);
    }
  });

  it('a caller without a role in the tenant cannot read jobs (401 without a token)', async () => {
    const res = await api.request('GET', `/v1/jobs/${jobId}`);
    expect(res.status).toBe(401);
  });
});
