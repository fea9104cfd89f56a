import { randomUUID } from 'node:crypto';
import type { INestApplicationContext } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWithTenant, type TenantId } from '@ibhq/core';
import { JobQueue } from '@ibhq/jobs';
import { recordActivityJob } from '@ibhq/leads';
import { createTenantRow } from '../support/db.js';
import { eventually, startApi, startWorker, type RunningApi } from '../support/apps.js';

type Lead = { id: string; displayName: string };
type Page<T> = { items: T[]; nextCursor: string | null };
type Activity = { id: string; kind: string; body: string };

describe('leads through the API and the worker', () => {
  let api: RunningApi;
  let worker: INestApplicationContext;
  let tenant: TenantId;

  beforeAll(async () => {
    [api, { app: worker }] = await Promise.all([startApi(), startWorker()]);
    tenant = await createTenantRow('Leads e2e');
  });
  afterAll(async () => {
    await Promise.all([api.close(), worker.close()]);
  });

  it('creates a lead, reads it back, and starts its timeline', async () => {
    const created = await api.request('POST', '/v1/leads', {
      tenant,
      body: { displayName: '  Ivan Petrov  ' },
    });
    expect(created.status).toBe(201);
    const lead = created.body as Lead;
    expect(lead.displayName).toBe('Ivan Petrov');
    const read = await api.request('GET', `/v1/leads/${lead.id}`, { tenant });
    expect(read.body).toMatchObject({ id: lead.id, displayName: 'Ivan Petrov' });
    const timeline = (await api.request('GET', `/v1/leads/${lead.id}/activities`, { tenant }))
      .body as Page<Activity>;
    expect(timeline.items.map((a) => a.kind)).toEqual(['created']);
  });

  it('adds a note (201) that is on the timeline at once', async () => {
    const lead = (await api.request('POST', '/v1/leads', { tenant, body: { displayName: 'Note' } }))
      .body as Lead;
    const added = await api.request('POST', `/v1/leads/${lead.id}/notes`, {
      tenant,
      body: { body: 'Asked about copy-trading fees' },
    });
    expect(added.status).toBe(201);
    const { id } = added.body as Activity;
    const page = (await api.request('GET', `/v1/leads/${lead.id}/activities`, { tenant }))
      .body as Page<Activity>;
    expect(page.items.find((a) => a.id === id)).toMatchObject({
      kind: 'note',
      body: 'Asked about copy-trading fees',
    });
  });

  it('the worker writes an activity queued for it (the Telegram path)', async () => {
    const lead = (
      await api.request('POST', '/v1/leads', { tenant, body: { displayName: 'Queued' } })
    ).body as Lead;
    const activityId = randomUUID();
    await runWithTenant({ tenantId: tenant, actor: { type: 'system', id: 'e2e' } }, () =>
      api.app
        .get(JobQueue)
        .enqueue(
          recordActivityJob,
          { tenantId: tenant, activityId, leadId: lead.id, kind: 'note', body: 'From Telegram' },
          { jobId: activityId },
        ),
    );
    const note = await eventually(async () => {
      const page = (await api.request('GET', `/v1/leads/${lead.id}/activities`, { tenant }))
        .body as Page<Activity>;
      return page.items.find((a) => a.id === activityId);
    });
    expect(note).toMatchObject({ kind: 'note', body: 'From Telegram' });
  });

  it('a note for a missing lead is a 404 at once, and nothing is queued', async () => {
    const res = await api.request('POST', '/v1/leads/01a20000-0000-7000-8000-000000000000/notes', {
      tenant,
      body: { body: 'hello' },
    });
    expect(res.status).toBe(404);
  });

  it('pages with a keyset cursor, stable while rows are added', async () => {
    const own = await createTenantRow('Paging');
    const names = Array.from({ length: 7 }, (_, i) => `Lead ${i}`);
    for (const displayName of names) {
      await api.request('POST', '/v1/leads', { tenant: own, body: { displayName } });
    }
    const first = (await api.request('GET', '/v1/leads?limit=3', { tenant: own }))
      .body as Page<Lead>;
    expect(first.items.map((l) => l.displayName)).toEqual(['Lead 6', 'Lead 5', 'Lead 4']);
    // A lead created between pages lands before the cursor: it does not shift later pages.
    await api.request('POST', '/v1/leads', { tenant: own, body: { displayName: 'Newcomer' } });
    const seen: string[] = first.items.map((l) => l.displayName);
    let cursor = first.nextCursor;
    while (cursor) {
      const page = (
        await api.request('GET', `/v1/leads?limit=3&cursor=${encodeURIComponent(cursor)}`, {
          tenant: own,
        })
      ).body as Page<Lead>;
      seen.push(...page.items.map((l) => l.displayName));
      cursor = page.nextCursor;
    }
    expect(seen).toEqual([...names].reverse());
  });

  it('a forged cursor is a 400 naming the cursor', async () => {
    const res = await api.request('GET', '/v1/leads?cursor=bm90LWEtY3Vyc29y', { tenant });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { fields: [{ field: 'query.cursor' }] } });
  });
});
