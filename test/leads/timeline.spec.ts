import { randomUUID } from 'node:crypto';
import type { INestApplicationContext } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWithTenant } from '@ibhq/core';
import { TenantDb } from '@ibhq/db';
import { JobQueue } from '@ibhq/jobs';
import { recordActivityJob, TimelineService } from '@ibhq/leads';
import {
  eventually,
  startApi,
  startWorker,
  type LogCapture,
  type RunningApi,
} from '../support/apps.js';
import { bearer } from '../support/accounts.js';
import {
  CRM_ENV,
  crmMember,
  crmTenant,
  createLead,
  type CrmCaller,
  type Reply,
} from '../support/crm.js';
import { asTenant, sql } from '../support/db.js';

interface Activity {
  id: string;
  leadId: string;
  kind: string;
  body: string;
  data: Record<string, unknown>;
  actor: { type: string; id: string | null } | null;
  dueAt: string | null;
  doneAt: string | null;
  editedAt: string | null;
  deletedAt: string | null;
  createdAt: string;
}
interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
interface ErrorReply {
  error: { code: string; message: string; fields?: { field: string }[] };
}

const errorOf = (res: Reply) => (res.body as ErrorReply).error;
const show = (res: Reply) => `${String(res.status)} ${res.text.slice(0, 400)}`;
const fieldsOf = (res: Reply) => (errorOf(res).fields ?? []).map((f) => f.field);
const codeOf = (res: Reply) => errorOf(res).code;

async function activities(caller: CrmCaller, leadId: string, query = 'limit=200') {
  const res = await caller.call<Page<Activity>>('GET', `/v1/leads/${leadId}/activities?${query}`);
  expect(res.status, show(res)).toBe(200);
  return res.body;
}

async function auditActions(caller: CrmCaller, action: string) {
  const res = await caller.call<{ items: { action: string; target: { id: string } }[] }>(
    'GET',
    `/v1/audit-events?action=${action}`,
  );
  expect(res.status, show(res)).toBe(200);
  return res.body.items;
}

describe('the activity timeline', () => {
  let api: RunningApi;
  let owner: Awaited<ReturnType<typeof crmTenant>>;
  let other: Awaited<ReturnType<typeof crmTenant>>;
  let agent: CrmCaller;
  let viewer: CrmCaller;

  beforeAll(async () => {
    api = await startApi(CRM_ENV);
    [owner, other] = await Promise.all([
      crmTenant(api, 'Timeline tenant'),
      crmTenant(api, 'Other timeline tenant'),
    ]);
    agent = await crmMember(api, owner, 'agent');
    viewer = await crmMember(api, owner, 'viewer');
  });
  afterAll(async () => {
    await api.close();
  });

  describe('TimelineService.record', () => {
    it('inserts set-based, skips known external keys, joins transactions', async () => {
      const lead = await createLead(owner, { displayName: 'Recorded' });
      const timeline = api.app.get(TimelineService);
      const db = api.app.get(TenantDb);
      const ctx = { tenantId: owner.tenantId, actor: { type: 'system', id: 'telegram' } } as const;
      const as = <T>(fn: () => Promise<T>) =>
        runWithTenant({ ...ctx, tenantId: ctx.tenantId as never }, fn);
      const first = await as(() =>
        timeline.record([
          { leadId: lead.id, kind: 'note', body: 'a' },
          { leadId: lead.id, kind: 'message_in', body: 'b', externalKey: 'k1', data: { x: 1 } },
          { leadId: lead.id, kind: 'message_in', body: 'b2', externalKey: 'k1' },
          { leadId: lead.id, kind: 'task', body: 't', dueAt: new Date('2030-01-01T00:00:00Z') },
        ]),
      );
      expect(first[0]).toMatch(/^[0-9a-f-]{36}$/);
      expect(first[2]).toBeNull();
      expect(first.filter(Boolean)).toHaveLength(3);
      expect(
        await as(() =>
          timeline.record([{ leadId: lead.id, kind: 'message_in', externalKey: 'k1' }]),
        ),
      ).toEqual([null]);
      expect(await as(() => timeline.record([]))).toEqual([]);
      await expect(
        as(() =>
          db.transaction(async () => {
            await timeline.record([{ leadId: lead.id, kind: 'note', body: 'rolled back' }]);
            throw new Error('boom');
          }),
        ),
      ).rejects.toThrow('boom');
      // A lead that does not exist fails the whole call.
      await expect(
        as(() =>
          timeline.record([
            { leadId: lead.id, kind: 'note', body: 'orphan sibling' },
            { leadId: randomUUID(), kind: 'note', body: 'orphan' },
          ]),
        ),
      ).rejects.toThrow();
      const page = await activities(owner, lead.id);
      expect(page.items.map((a) => a.body)).toEqual(['t', 'b', 'a', '']);
      expect(page.items[1]).toMatchObject({
        kind: 'message_in',
        data: { x: 1 },
        actor: { type: 'system', id: 'telegram' },
      });
      expect(page.items[0]?.dueAt).toBe('2030-01-01T00:00:00.000Z');
      // Another tenant's lead id is no lead for this tenant (foreign key across tenants).
      const foreign = await createLead(other, { displayName: 'Foreign' });
      await expect(
        as(() => timeline.record([{ leadId: foreign.id, kind: 'note', body: 'x' }])),
      ).rejects.toThrow();
      expect((await activities(other, foreign.id)).items.map((a) => a.kind)).toEqual(['created']);
    });
  });

  describe('notes', () => {
    it('a member adds a note (201) that shows newest first with its author', async () => {
      const lead = await createLead(owner, { displayName: 'Noted' });
      const res = await agent.call<Activity>('POST', `/v1/leads/${lead.id}/notes`, {
        body: '  Asked about copy-trading fees  ',
      });
      expect(res.status, show(res)).toBe(201);
      expect(res.body).toMatchObject({
        leadId: lead.id,
        kind: 'note',
        body: 'Asked about copy-trading fees',
        actor: { type: 'user', id: agent.userId },
        editedAt: null,
        deletedAt: null,
      });
      const page = await activities(viewer, lead.id);
      expect(page.items.map((a) => a.kind)).toEqual(['note', 'created']);
      expect(page.items[0]).toEqual(res.body);
      expect((await viewer.call('POST', `/v1/leads/${lead.id}/notes`, { body: 'x' })).status).toBe(
        403,
      );
    });

    it('its author edits it (editedAt set, audited); another member may not (403)', async () => {
      const lead = await createLead(owner, { displayName: 'Edited' });
      const note = (
        await agent.call<Activity>('POST', `/v1/leads/${lead.id}/notes`, { body: 'first draft' })
      ).body;
      const path = `/v1/leads/${lead.id}/activities/${note.id}`;
      const byOwner = await owner.call('PATCH', path, { body: 'owner rewrites it' });
      expect(byOwner.status, show(byOwner)).toBe(403);
      expect(codeOf(byOwner)).toBe('FORBIDDEN');
      const edited = await agent.call<Activity>('PATCH', path, { body: 'second draft' });
      expect(edited.status, show(edited)).toBe(200);
      expect(edited.body).toMatchObject({ id: note.id, body: 'second draft', kind: 'note' });
      expect(edited.body.editedAt).not.toBeNull();
      const done = await agent.call('PATCH', path, { done: true });
      expect(done.status).toBe(400);
      expect(fieldsOf(done)).toEqual(['body.done']);
      const page = await activities(owner, lead.id);
      expect(page.items.find((a) => a.id === note.id)?.body).toBe('second draft');
      const audit = await auditActions(owner, 'lead.note_edited');
      expect(audit.map((e) => e.target.id)).toContain(lead.id);
    });

    it('its author deletes it: it stays with deletedAt and no body (audited)', async () => {
      const lead = await createLead(owner, { displayName: 'Deleted note' });
      const note = (
        await agent.call<Activity>('POST', `/v1/leads/${lead.id}/notes`, { body: 'secret-ish' })
      ).body;
      const path = `/v1/leads/${lead.id}/activities/${note.id}`;
      const byOther = await owner.call('DELETE', path);
      expect(byOther.status).toBe(403);
      expect((await activities(owner, lead.id)).items[0]?.body).toBe('secret-ish');
      expect((await agent.call('DELETE', path)).status).toBe(204);
      const shown = (await activities(owner, lead.id)).items.find((a) => a.id === note.id);
      expect(shown).toMatchObject({ body: '', kind: 'note' });
      expect(shown?.deletedAt).not.toBeNull();
      // Again: nothing more happens; an edit of a deleted note is a 404.
      expect((await agent.call('DELETE', path)).status).toBe(204);
      expect((await agent.call('PATCH', path, { body: 'revive' })).status).toBe(404);
      const audit = await auditActions(owner, 'lead.note_deleted');
      expect(audit.filter((e) => e.target.id === lead.id)).toHaveLength(1);
    });

    it('system activities never change (409), whoever asks', async () => {
      const lead = await createLead(owner, { displayName: 'History' });
      await owner.call('PATCH', `/v1/leads/${lead.id}`, { displayName: 'History 2' });
      const history = (await activities(owner, lead.id)).items;
      expect(history.map((a) => a.kind)).toEqual(['fields_changed', 'created']);
      for (const activity of history) {
        const path = `/v1/leads/${lead.id}/activities/${activity.id}`;
        const patch = await owner.call('PATCH', path, { body: 'rewritten history' });
        expect(patch.status, show(patch)).toBe(409);
        expect(codeOf(patch)).toBe('CONFLICT');
        expect((await owner.call('DELETE', path)).status).toBe(409);
      }
      expect((await activities(owner, lead.id)).items).toEqual(history);
    });
  });

  describe('tasks', () => {
    it('any member with leads:write marks a task done and undone, and moves it', async () => {
      const lead = await createLead(owner, { displayName: 'Tasked' });
      const created = await owner.call<Activity>('POST', `/v1/leads/${lead.id}/tasks`, {
        body: 'Call back about KYC',
        dueAt: '2031-05-01T09:00:00+02:00',
      });
      expect(created.status, show(created)).toBe(201);
      expect(created.body).toMatchObject({
        kind: 'task',
        body: 'Call back about KYC',
        dueAt: '2031-05-01T07:00:00.000Z',
        doneAt: null,
      });
      const path = `/v1/leads/${lead.id}/activities/${created.body.id}`;
      const done = await agent.call<Activity>('PATCH', path, { done: true });
      expect(done.status, show(done)).toBe(200);
      expect(done.body.doneAt).not.toBeNull();
      expect(done.body.editedAt).toBeNull();
      const undone = await agent.call<Activity>('PATCH', path, { done: false });
      expect(undone.body.doneAt).toBeNull();
      const moved = await agent.call<Activity>('PATCH', path, {
        dueAt: '2031-06-01T09:00:00Z',
        body: 'Call back about KYC (moved)',
      });
      expect(moved.body).toMatchObject({
        dueAt: '2031-06-01T09:00:00.000Z',
        body: 'Call back about KYC (moved)',
      });
      expect(moved.body.editedAt).not.toBeNull();
      expect((await viewer.call('PATCH', path, { done: true })).status).toBe(403);
      const bad = [
        [{ body: 'no due time' }, 'body.dueAt'],
        [{ body: 'x', dueAt: 'tomorrow' }, 'body.dueAt'],
        [{ body: 'x', dueAt: '2031-06-01T09:00:00' }, 'body.dueAt'],
        [{ body: '', dueAt: '2031-06-01T09:00:00Z' }, 'body.body'],
      ] as const;
      for (const [body, field] of bad) {
        const res = await owner.call('POST', `/v1/leads/${lead.id}/tasks`, body);
        expect(res.status, show(res)).toBe(400);
        expect(fieldsOf(res)).toContain(field);
      }
      const empty = await owner.call('PATCH', path, {});
      expect(empty.status).toBe(400);
      const kinds = await activities(owner, lead.id, 'kind=task');
      expect(kinds.items.map((a) => a.id)).toEqual([created.body.id]);
    });
  });

  describe('keyset pages', () => {
    it('newest first, every activity once, stable while activities are added', async () => {
      const lead = await createLead(owner, { displayName: 'Chatty' });
      for (let i = 0; i < 12; i++) {
        const res = await owner.call('POST', `/v1/leads/${lead.id}/notes`, {
          body: `note ${String(i)}`,
        });
        expect(res.status).toBe(201);
      }
      const first = await activities(owner, lead.id, 'limit=5');
      expect(first.items.map((a) => a.body)).toEqual([
        'note 11',
        'note 10',
        'note 9',
        'note 8',
        'note 7',
      ]);
      await owner.call('POST', `/v1/leads/${lead.id}/notes`, { body: 'newcomer' });
      const seen = first.items.map((a) => a.body);
      let cursor = first.nextCursor;
      while (cursor) {
        const page = await activities(owner, lead.id, `limit=5&cursor=${cursor}`);
        seen.push(...page.items.map((a) => a.body));
        cursor = page.nextCursor;
      }
      expect(seen).toEqual([...Array.from({ length: 12 }, (_, i) => `note ${String(11 - i)}`), '']);
    });

    it('filters by kind (repeatable)', async () => {
      const lead = await createLead(owner, { displayName: 'Kinds' });
      await owner.call('POST', `/v1/leads/${lead.id}/notes`, { body: 'n' });
      await owner.call('POST', `/v1/leads/${lead.id}/tasks`, {
        body: 't',
        dueAt: '2031-01-01T00:00:00Z',
      });
      const both = await activities(owner, lead.id, 'kind=note&kind=created');
      expect(both.items.map((a) => a.kind)).toEqual(['note', 'created']);
      const bad = await owner.call('GET', `/v1/leads/${lead.id}/activities?kind=gossip`);
      expect(bad.status).toBe(400);
      expect(fieldsOf(bad)[0]).toMatch(/^query\.kind/);
    });

    it('a forged cursor is a 400 naming the cursor; limits are bounded', async () => {
      const lead = await createLead(owner, { displayName: 'Cursors' });
      const forged = [
        'bm90LWEtY3Vyc29y',
        Buffer.from(JSON.stringify(['2030-01-01T00:00:00Z', "x' OR 1=1"])).toString('base64url'),
        Buffer.from(JSON.stringify(['yesterday', randomUUID()])).toString('base64url'),
        '%00%00',
        'A'.repeat(600),
      ];
      for (const cursor of forged) {
        const res = await owner.call('GET', `/v1/leads/${lead.id}/activities?cursor=${cursor}`);
        expect(res.status, show(res)).toBe(400);
        expect(fieldsOf(res)).toEqual(['query.cursor']);
      }
      for (const limit of ['0', '201', 'abc', '-1']) {
        const res = await owner.call('GET', `/v1/leads/${lead.id}/activities?limit=${limit}`);
        expect(res.status).toBe(400);
        expect(fieldsOf(res)).toEqual(['query.limit']);
      }
    });
  });

  it('a merged lead’s timeline redirects (308) to its survivor’s; writes are 410', async () => {
    const merged = await createLead(owner, { displayName: 'Gone' });
    const survivor = await createLead(owner, { displayName: 'Kept' });
    await sql('admin', `UPDATE "Lead" SET "mergedIntoId" = $2 WHERE id = $1`, [
      merged.id,
      survivor.id,
    ]);
    const res = await fetch(`${api.url}/v1/leads/${merged.id}/activities?limit=5`, {
      headers: bearer(owner.token),
      redirect: 'manual',
    });
    expect(res.status).toBe(308);
    expect(res.headers.get('location')).toBe(`/v1/leads/${survivor.id}/activities?limit=5`);
    const note = await owner.call('POST', `/v1/leads/${merged.id}/notes`, { body: 'late' });
    expect(note.status).toBe(410);
  });

  describe('another tenant’s lead or activity: 404 on every route, nothing changed', () => {
    it.each([
      ['GET', 'activities', undefined],
      ['POST', 'notes', { body: 'not yours' }],
      ['POST', 'tasks', { body: 'not yours', dueAt: '2031-01-01T00:00:00Z' }],
      ['PATCH', 'activities/NOTE', { body: 'not yours' }],
      ['DELETE', 'activities/NOTE', undefined],
    ] as const)('%s /v1/leads/:id/%s', async (method, suffix, body) => {
      const lead = await createLead(owner, { displayName: 'Private timeline' });
      const note = (
        await owner.call<Activity>('POST', `/v1/leads/${lead.id}/notes`, { body: 'mine' })
      ).body;
      const before = (await activities(owner, lead.id)).items;
      const path = `/v1/leads/${lead.id}/${suffix.replace('NOTE', note.id)}`;
      const res = await other.call(method, path, body);
      expect(res.status, show(res)).toBe(404);
      expect(codeOf(res)).toBe('NOT_FOUND');
      const missing = await owner.call(
        method,
        `/v1/leads/${randomUUID()}/${suffix.replace('NOTE', note.id)}`,
        body,
      );
      expect(missing.status).toBe(404);
      // The other tenant's own lead with this tenant's activity id: 404 too.
      if (suffix.includes('NOTE')) {
        const theirs = await createLead(other, { displayName: 'Theirs' });
        const cross = await other.call(
          method,
          `/v1/leads/${theirs.id}/activities/${note.id}`,
          body,
        );
        expect(cross.status).toBe(404);
      }
      expect((await activities(owner, lead.id)).items).toEqual(before);
    });
  });

  describe('hostile input', () => {
    it('answers 4xx naming the problem, never 500, and writes nothing', async () => {
      const lead = await createLead(owner, { displayName: 'Hostile' });
      const note = (
        await owner.call<Activity>('POST', `/v1/leads/${lead.id}/notes`, { body: 'original' })
      ).body;
      const cases: [string, string, unknown, string][] = [
        ['POST', 'notes', { body: 'x', extra: 1 }, 'body'],
        ['POST', 'notes', { body: 42 }, 'body.body'],
        ['POST', 'notes', { body: 'n'.repeat(10_001) }, 'body.body'],
        ['POST', 'notes', { body: 'nul\u0000' }, 'body.body'],
        ['POST', 'notes', [], 'body'],
        ['POST', 'tasks', { body: 'x', dueAt: 12 }, 'body.dueAt'],
        ['PATCH', `activities/${note.id}`, { body: 'x', kind: 'system' }, 'body'],
        ['PATCH', `activities/${note.id}`, { body: null }, 'body.body'],
      ];
      for (const [method, suffix, body, field] of cases) {
        const res = await owner.call(method, `/v1/leads/${lead.id}/${suffix}`, body);
        expect(res.status, `${method} ${suffix}: ${show(res)}`).toBe(400);
        expect(
          fieldsOf(res).some((f) => f.startsWith(field)),
          show(res),
        ).toBe(true);
      }
      const huge = await owner.call('POST', `/v1/leads/${lead.id}/notes`, {
        body: 'n'.repeat(10 * 1024 * 1024),
      });
      expect(huge.status).toBe(413);
      for (const id of ['not-a-uuid', "1'%20OR%20'1'='1"]) {
        const res = await owner.call('PATCH', `/v1/leads/${lead.id}/activities/${id}`, {
          body: 'x',
        });
        expect(res.status).toBe(400);
        expect(fieldsOf(res)).toEqual(['params.activityId']);
      }
      const sqlNote = `'); DELETE FROM "LeadActivity";-- <img src=x onerror=alert(1)>`;
      const stored = await owner.call<Activity>('POST', `/v1/leads/${lead.id}/notes`, {
        body: sqlNote,
      });
      expect(stored.body.body).toBe(sqlNote);
      const page = await activities(owner, lead.id);
      expect(page.items.map((a) => a.body)).toEqual([sqlNote, 'original', '']);
    });
  });

  describe('the queued path (recordActivityJob, for Telegram)', () => {
    let worker: INestApplicationContext;
    let workerLogs: LogCapture;
    beforeAll(async () => {
      ({ app: worker, logs: workerLogs } = await startWorker());
    });
    afterAll(async () => {
      await worker.close();
    });

    it('the worker writes a queued activity once, however often it is delivered', async () => {
      const lead = await createLead(owner, { displayName: 'Queued' });
      const queue = api.app.get(JobQueue);
      const activityId = randomUUID();
      const payload = {
        tenantId: owner.tenantId,
        activityId,
        leadId: lead.id,
        kind: 'note' as const,
        body: 'from the queue',
      };
      await asTenant(owner.tenantId as never, () =>
        queue.enqueue(recordActivityJob, payload, { jobId: activityId }),
      );
      await asTenant(owner.tenantId as never, () =>
        queue.enqueue(recordActivityJob, payload, { jobId: `${activityId}-again` }),
      );
      const found = await eventually(async () => {
        const page = await activities(owner, lead.id);
        return page.items.find((a) => a.id === activityId);
      });
      expect(found).toMatchObject({ kind: 'note', body: 'from the queue' });
      // Both deliveries ran; the second inserted nothing.
      await eventually(() =>
        Promise.resolve(
          workerLogs.text.includes(`"jobId":"${activityId}-again"`) &&
            /job completed/.test(workerLogs.text)
            ? true
            : undefined,
        ),
      );
      const completed = workerLogs
        .records()
        .filter((r) => r.msg === 'job completed' && String(r.jobId).startsWith(activityId));
      expect(completed).toHaveLength(2);
      const { rows } = await sql<{ n: number }>(
        'admin',
        'SELECT count(*)::int AS n FROM "LeadActivity" WHERE "leadId" = $1 AND kind = $2',
        [lead.id, 'note'],
      );
      expect(rows[0]?.n).toBe(1);
    });
  });
});
