import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asTenantId, runWithTenant } from '@ibhq/core';
import { Prisma, TenantDb } from '@ibhq/db';
import { PipelineService } from '@ibhq/leads';
import { startApi, type RunningApi } from '../support/apps.js';
import { createLead, crmMember, crmTenant, CRM_ENV, type CrmCaller } from '../support/crm.js';
import { sql } from '../support/db.js';

/**
 * The pipeline through HTTP: the seeded IB funnel, the stage rules (unique names,
 * ordering, archive instead of delete, the last open stage), moves recorded with who
 * and when, a lead's stays in stages and the report across stages with exact figures.
 */

interface Stage {
  id: string;
  name: string;
  kind: 'open' | 'won' | 'lost';
  position: number;
  archivedAt: string | null;
}
interface Span {
  stageId: string | null;
  stageName: string | null;
  enteredAt: string;
  leftAt: string | null;
  seconds: number;
  movedBy: { type: string; id: string | null } | null;
}
interface History {
  leadId: string;
  items: Span[];
  nextCursor: string | null;
}
interface ReportRow {
  stageId: string;
  name: string;
  leadsNow: number;
  entries: number;
  completed: number;
  averageSeconds: number | null;
  medianSeconds: number | null;
}
interface Problem {
  error: {
    code: string;
    message: string;
    fields?: { field: string; message: string }[];
    details?: { leads?: number };
  };
}

const FUNNEL = [
  ['New', 'open'],
  ['Contacted', 'open'],
  ['Interested', 'open'],
  ['Registered', 'open'],
  ['KYC verified', 'open'],
  ['Funded', 'open'],
  ['Active trader', 'won'],
  ['Lost', 'lost'],
];

const fieldsOf = (body: unknown) => ((body as Problem).error.fields ?? []).map((f) => f.field);

async function stagesOf(caller: CrmCaller, includeArchived = false): Promise<Stage[]> {
  const res = await caller.call<{ items: Stage[] }>(
    'GET',
    `/v1/stages${includeArchived ? '?includeArchived=true' : ''}`,
  );
  expect(res.status).toBe(200);
  return res.body.items;
}

async function stageNamed(caller: CrmCaller, name: string): Promise<Stage> {
  const stage = (await stagesOf(caller, true)).find((s) => s.name === name);
  if (!stage) throw new Error(`no stage ${name}`);
  return stage;
}

async function auditActions(caller: CrmCaller, prefix: string): Promise<unknown[]> {
  const res = await caller.call<{
    items: { action: string; target: { id: string | null } | null; metadata: unknown }[];
  }>('GET', `/v1/audit-events?action=${encodeURIComponent(prefix)}&limit=200`);
  expect(res.status).toBe(200);
  return res.body.items.map((e) => ({ action: e.action, id: e.target?.id, metadata: e.metadata }));
}

/** A lead created through the API, then given exact times in the database. */
async function leadAt(caller: CrmCaller, name: string, createdAt: string): Promise<string> {
  const { id } = await createLead(caller, { displayName: name });
  await sql('admin', `UPDATE "Lead" SET "createdAt" = $3 WHERE "tenantId" = $1 AND id = $2`, [
    caller.tenantId,
    id,
    createdAt,
  ]);
  return id;
}

/** Moves a lead at an exact time, as the lead update and the history would record it. */
async function moveAt(
  caller: CrmCaller,
  leadId: string,
  from: string,
  to: string,
  changedAt: string,
  actor: { type: string; id: string } = { type: 'user', id: caller.userId },
): Promise<void> {
  await sql(
    'admin',
    `INSERT INTO "LeadStageChange" ("tenantId", id, "leadId", "fromStageId", "toStageId",
       "actorType", "actorId", "changedAt")
     VALUES ($1, gen_random_uuid(), $2, $3, $4, $5::"AuditActorType", $6, $7)`,
    [caller.tenantId, leadId, from, to, actor.type, actor.id, changedAt],
  );
  await sql(
    'admin',
    `UPDATE "Lead" SET "stageId" = $3, "stageChangedAt" = $4 WHERE "tenantId" = $1 AND id = $2`,
    [caller.tenantId, leadId, to, changedAt],
  );
}

describe('pipeline: stages, moves and time in stage', () => {
  let api: RunningApi;
  let owner: Awaited<ReturnType<typeof crmTenant>>;
  let agent: CrmCaller;
  let viewer: CrmCaller;
  let other: Awaited<ReturnType<typeof crmTenant>>;

  beforeAll(async () => {
    api = await startApi(CRM_ENV);
    [owner, other] = await Promise.all([crmTenant(api, 'Pipeline IB'), crmTenant(api, 'Other IB')]);
    [agent, viewer] = await Promise.all([
      crmMember(api, owner, 'agent'),
      crmMember(api, owner, 'viewer'),
    ]);
  });
  afterAll(async () => {
    await api.close();
  });

  it('seeds the IB funnel on first use: 8 stages in order, Active trader won, Lost lost', async () => {
    const stages = await stagesOf(viewer);
    expect(stages.map((s) => [s.name, s.kind])).toEqual(FUNNEL);
    expect(stages.map((s) => s.position)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(stages.every((s) => s.archivedAt === null)).toBe(true);
    // Seeded once: a second look (and another tenant's) changes nothing here.
    expect(await stagesOf(other)).toHaveLength(8);
    expect((await stagesOf(owner)).map((s) => s.id)).toEqual(stages.map((s) => s.id));
    const one = await owner.call<Stage>('GET', `/v1/stages/${stages[2]?.id ?? ''}`);
    expect(one.body).toMatchObject({ name: 'Interested', kind: 'open', position: 3 });
  });

  it('a new lead starts in the first open stage', async () => {
    const { id } = await createLead(owner, { displayName: 'First stage lead' });
    const history = await owner.call<History>('GET', `/v1/leads/${id}/stage-history`);
    expect(history.status).toBe(200);
    expect(history.body.items).toHaveLength(1);
    expect(history.body.items[0]).toMatchObject({ stageName: 'New', leftAt: null, movedBy: null });
  });

  describe('managing stages', () => {
    it('creates a stage at a position, with unique names compared case-insensitively', async () => {
      const res = await owner.call<Stage>('POST', '/v1/stages', {
        name: 'Demo call',
        kind: 'open',
        position: 3,
      });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ name: 'Demo call', kind: 'open', position: 3 });
      const names = (await stagesOf(owner)).map((s) => s.name);
      expect(names.slice(0, 4)).toEqual(['New', 'Contacted', 'Demo call', 'Interested']);
      expect((await stagesOf(owner)).map((s) => s.position)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);

      const last = await owner.call<Stage>('POST', '/v1/stages', { name: 'VIP', kind: 'won' });
      expect(last.status).toBe(201);
      expect(last.body.position).toBe(10);

      for (const name of ['demo CALL', '  Demo call ', 'new']) {
        const dup = await owner.call<Problem>('POST', '/v1/stages', { name, kind: 'open' });
        expect(dup.status).toBe(409);
        expect(dup.body.error.code).toBe('CONFLICT');
      }
      expect(await stagesOf(owner)).toHaveLength(10);
      expect(await auditActions(owner, 'stage.created')).toContainEqual({
        action: 'stage.created',
        id: res.body.id,
        metadata: { name: 'Demo call', kind: 'open', position: 3 },
      });
    });

    it('only pipeline:manage may change stages; every member may read them', async () => {
      const stage = await stageNamed(owner, 'VIP');
      expect((await agent.call('POST', '/v1/stages', { name: 'Agent', kind: 'open' })).status).toBe(
        403,
      );
      expect((await agent.call('PATCH', `/v1/stages/${stage.id}`, { name: 'X' })).status).toBe(403);
      expect((await viewer.call('DELETE', `/v1/stages/${stage.id}`)).status).toBe(403);
      expect((await viewer.call('POST', `/v1/stages/${stage.id}/archive`)).status).toBe(403);
      expect((await agent.call('GET', '/v1/stages/report')).status).toBe(200);
      expect((await stageNamed(owner, 'VIP')).name).toBe('VIP');
    });

    it('renames and changes the kind, refusing a name in use', async () => {
      const stage = await stageNamed(owner, 'VIP');
      const renamed = await owner.call<Stage>('PATCH', `/v1/stages/${stage.id}`, {
        name: 'VIP trader',
      });
      expect(renamed.status).toBe(200);
      expect(renamed.body).toMatchObject({ id: stage.id, name: 'VIP trader', kind: 'won' });
      const rekinded = await owner.call<Stage>('PATCH', `/v1/stages/${stage.id}`, { kind: 'open' });
      expect(rekinded.body.kind).toBe('open');
      // The same name in another case is a rename of the stage itself, not a conflict.
      expect(
        (await owner.call<Stage>('PATCH', `/v1/stages/${stage.id}`, { name: 'vip TRADER' })).body
          .name,
      ).toBe('vip TRADER');
      const taken = await owner.call<Problem>('PATCH', `/v1/stages/${stage.id}`, {
        name: 'funded',
      });
      expect(taken.status).toBe(409);
      expect((await stageNamed(owner, 'vip TRADER')).kind).toBe('open');
      const empty = await owner.call<Problem>('PATCH', `/v1/stages/${stage.id}`, {});
      expect(empty.status).toBe(400);
      const audited = await auditActions(owner, 'stage.*');
      expect(audited).toContainEqual({
        action: 'stage.renamed',
        id: stage.id,
        metadata: { from: 'VIP', to: 'VIP trader' },
      });
      expect(audited).toContainEqual({
        action: 'stage.kind_changed',
        id: stage.id,
        metadata: { from: 'won', to: 'open' },
      });
    });

    it('reorders: every stage that is not archived, once, or a 400 naming body.ids', async () => {
      const before = await stagesOf(owner);
      const ids = before.map((s) => s.id);
      const reversed = [...ids].reverse();
      const bad = [
        ids.slice(1), // one missing
        [...ids, ids[0]], // one repeated
        [...ids.slice(1), randomUUID()], // an unknown one
        [...ids.slice(1), (await stagesOf(other))[0]?.id], // another tenant's
      ];
      for (const list of bad) {
        const res = await owner.call<Problem>('PUT', '/v1/stages/order', { ids: list });
        expect(res.status).toBe(400);
        expect(fieldsOf(res.body)).toEqual(['body.ids']);
      }
      expect((await stagesOf(owner)).map((s) => s.id)).toEqual(ids);

      const res = await owner.call<{ items: Stage[] }>('PUT', '/v1/stages/order', {
        ids: reversed,
      });
      expect(res.status).toBe(200);
      expect(res.body.items.map((s) => s.id)).toEqual(reversed);
      expect((await stagesOf(owner)).map((s) => s.position)).toEqual(ids.map((_, i) => i + 1));
      await owner.call('PUT', '/v1/stages/order', { ids });
      expect((await stagesOf(owner)).map((s) => s.id)).toEqual(ids);
      const audited = await auditActions(owner, 'stage.reordered');
      expect(audited).toContainEqual({
        action: 'stage.reordered',
        id: null,
        metadata: { count: ids.length, order: reversed },
      });
    });

    it('archives: the stage keeps its leads, is hidden by default, and no lead can enter it', async () => {
      const stage = await stageNamed(owner, 'Demo call');
      const lead = await createLead(owner, { displayName: 'Demo lead' });
      await moveAt(
        owner,
        lead.id,
        (await stageNamed(owner, 'New')).id,
        stage.id,
        '2026-01-01T00:00:00Z',
      );

      const archived = await owner.call<Stage>('POST', `/v1/stages/${stage.id}/archive`);
      expect(archived.status).toBe(200);
      expect(archived.body.archivedAt).not.toBeNull();
      expect((await stagesOf(owner)).map((s) => s.id)).not.toContain(stage.id);
      expect((await stagesOf(owner, true)).map((s) => s.id)).toContain(stage.id);
      const [row] = (
        await sql<{ stageId: string }>('admin', `SELECT "stageId" FROM "Lead" WHERE id = $1`, [
          lead.id,
        ])
      ).rows;
      expect(row?.stageId).toBe(stage.id);

      // Reordering now lists the active stages only.
      const active = (await stagesOf(owner)).map((s) => s.id);
      expect(
        (await owner.call('PUT', '/v1/stages/order', { ids: [...active, stage.id] })).status,
      ).toBe(400);
      expect((await owner.call('PUT', '/v1/stages/order', { ids: active })).status).toBe(200);

      // No lead goes into an archived stage (the lead routes ask PipelineService.usable).
      const other = await createLead(owner, { displayName: 'Not into archived' });
      const patch = await owner.call<Problem>('PATCH', `/v1/leads/${other.id}`, {
        stageId: stage.id,
      });
      expect(patch.status).toBe(400);
      expect(fieldsOf(patch.body)).toEqual(['body.stageId']);
      const created = await owner.call<Problem>('POST', '/v1/leads', {
        displayName: 'Born archived',
        stageId: stage.id,
      });
      expect(created.status).toBe(400);
      expect(fieldsOf(created.body)).toEqual(['body.stageId']);

      const back = await owner.call<Stage>('POST', `/v1/stages/${stage.id}/unarchive`);
      expect(back.status).toBe(200);
      expect(back.body.archivedAt).toBeNull();
      // It comes back where it was.
      expect((await stagesOf(owner)).map((s) => s.name).slice(0, 3)).toEqual([
        'New',
        'Contacted',
        'Demo call',
      ]);
      const audited = await auditActions(owner, 'stage.*');
      expect(audited).toContainEqual({
        action: 'stage.archived',
        id: stage.id,
        metadata: { name: 'Demo call', leads: 1 },
      });
      expect(audited).toContainEqual({
        action: 'stage.unarchived',
        id: stage.id,
        metadata: { name: 'Demo call', leads: 1 },
      });
    });

    it('deletes only a stage no lead is in: 409 with the count, archive instead', async () => {
      const stage = await stageNamed(owner, 'Demo call');
      const res = await owner.call<Problem>('DELETE', `/v1/stages/${stage.id}`);
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('CONFLICT');
      expect(res.body.error.details).toMatchObject({ leads: 1 });
      expect(res.body.error.message).toMatch(/archive it instead/);
      expect((await stagesOf(owner)).map((s) => s.id)).toContain(stage.id);

      const empty = await owner.call<Stage>('POST', '/v1/stages', { name: 'Temp', kind: 'lost' });
      const deleted = await owner.call('DELETE', `/v1/stages/${empty.body.id}`);
      expect(deleted.status).toBe(204);
      expect((await stagesOf(owner, true)).map((s) => s.id)).not.toContain(empty.body.id);
      expect((await owner.call('GET', `/v1/stages/${empty.body.id}`)).status).toBe(404);
      expect((await owner.call('DELETE', `/v1/stages/${empty.body.id}`)).status).toBe(404);
      expect((await stagesOf(owner, true)).map((s) => s.position)).toEqual(
        (await stagesOf(owner, true)).map((_, i) => i + 1),
      );
      expect(await auditActions(owner, 'stage.deleted')).toContainEqual({
        action: 'stage.deleted',
        id: empty.body.id,
        metadata: { name: 'Temp', kind: 'lost' },
      });
    });

    it('never archives, deletes or re-kinds the last open stage (400)', async () => {
      const t = await crmTenant(api, 'One open stage IB');
      const stages = await stagesOf(t);
      const open = stages.filter((s) => s.kind === 'open');
      // Archive all open stages but the first: allowed while another open one remains.
      for (const s of open.slice(1)) {
        expect((await t.call('POST', `/v1/stages/${s.id}/archive`)).status).toBe(200);
      }
      const lastOpen = open[0];
      if (!lastOpen) throw new Error('no open stage');
      for (const [method, path, body, field] of [
        ['POST', `/v1/stages/${lastOpen.id}/archive`, undefined, 'params.id'],
        ['DELETE', `/v1/stages/${lastOpen.id}`, undefined, 'params.id'],
        ['PATCH', `/v1/stages/${lastOpen.id}`, { kind: 'won' }, 'body.kind'],
      ] as const) {
        const res = await t.call<Problem>(method, path, body);
        expect(res.status).toBe(400);
        expect(fieldsOf(res.body)).toEqual([field]);
        expect(res.body.error.message).toMatch(/last open stage/);
      }
      expect(await stageNamed(t, lastOpen.name)).toMatchObject({ kind: 'open', archivedAt: null });
      // An archived open stage brought back makes the first one archivable again.
      await t.call('POST', `/v1/stages/${open[1]?.id ?? ''}/unarchive`);
      expect((await t.call('POST', `/v1/stages/${lastOpen.id}/archive`)).status).toBe(200);
      // New leads now start in the open stage that is left.
      const { id } = await createLead(t, { displayName: 'Starts in Contacted' });
      const history = await t.call<History>('GET', `/v1/leads/${id}/stage-history`);
      expect(history.body.items[0]?.stageName).toBe(open[1]?.name);
    });
  });

  describe('moves and time in stage', () => {
    it('moving a lead (PATCH /v1/leads/:id) records who moved it and when', async () => {
      const lead = await createLead(agent, { displayName: 'Moved by agent' });
      const interested = await stageNamed(owner, 'Interested');
      const res = await agent.call('PATCH', `/v1/leads/${lead.id}`, { stageId: interested.id });
      expect(res.status).toBe(200);
      const changes = await sql<{
        toStageId: string;
        actorType: string;
        actorId: string;
        changedAt: Date;
      }>(
        'admin',
        `SELECT "toStageId", "actorType"::text AS "actorType", "actorId", "changedAt"
           FROM "LeadStageChange" WHERE "leadId" = $1`,
        [lead.id],
      );
      expect(changes.rows).toHaveLength(1);
      expect(changes.rows[0]).toMatchObject({
        toStageId: interested.id,
        actorType: 'user',
        actorId: agent.userId,
      });
      const history = await agent.call<History>('GET', `/v1/leads/${lead.id}/stage-history`);
      expect(history.body.items.map((s) => [s.stageName, s.movedBy])).toEqual([
        ['New', null],
        ['Interested', { type: 'user', id: agent.userId }],
      ]);
      expect(history.body.items[1]?.enteredAt).toBe(changes.rows[0]?.changedAt.toISOString());
      expect(history.body.items[0]?.leftAt).toBe(history.body.items[1]?.enteredAt);
      const timeline = await agent.call<{ items: { kind: string; data: unknown }[] }>(
        'GET',
        `/v1/leads/${lead.id}/activities?kind=stage_changed`,
      );
      expect(timeline.body.items.find((a) => a.kind === 'stage_changed')?.data).toMatchObject({
        toStageId: interested.id,
        fromName: 'New',
        toName: 'Interested',
      });
    });

    it("recordMoves is set-based: thousands of moves in one call, in the caller's transaction", async () => {
      const t = await crmTenant(api, 'Bulk moves IB');
      const [neu, won] = await Promise.all([stageNamed(t, 'New'), stageNamed(t, 'Active trader')]);
      const n = 3000;
      await sql(
        'admin',
        `INSERT INTO "Lead" ("tenantId", id, "displayName", "stageId", "updatedAt")
         SELECT $1, gen_random_uuid(), 'Bulk ' || g, $2, now() FROM generate_series(1, $3::int) g`,
        [t.tenantId, neu.id, n],
      );
      const pipeline = api.app.get(PipelineService);
      const db = api.app.get(TenantDb);
      const ctx = {
        tenantId: asTenantId(t.tenantId),
        actor: { type: 'api_key' as const, id: 'bulk-key' },
      };
      const move = (rollback: boolean) =>
        runWithTenant(ctx, () =>
          db.transaction(async () => {
            const moved = await db.query<{ id: string }>(
              Prisma.sql`UPDATE "Lead" SET "stageId" = ${won.id}::uuid, "stageChangedAt" = now()
                          WHERE "tenantId" = ${t.tenantId}::uuid AND "stageId" = ${neu.id}::uuid
                          RETURNING "id"`,
            );
            await pipeline.recordMoves(
              moved.map((l) => ({ leadId: l.id, fromStageId: neu.id, toStageId: won.id })),
            );
            if (rollback) throw new Error('roll back');
          }),
        );
      const count = async (table: string, extra = '') =>
        (
          await sql<{ n: number }>(
            'admin',
            `SELECT count(*)::int AS n FROM "${table}" WHERE "tenantId" = $1 ${extra}`,
            [t.tenantId],
          )
        ).rows[0]?.n;
      // A failure after recordMoves takes its rows back with the caller's changes.
      await expect(move(true)).rejects.toThrow('roll back');
      expect(await count('LeadStageChange')).toBe(0);
      await move(false);
      expect(
        await count('LeadStageChange', `AND "actorType" = 'api_key' AND "actorId" = 'bulk-key'`),
      ).toBe(n);
      expect(await count('LeadActivity', `AND kind = 'stage_changed'`)).toBe(n);
      const report = await t.call<{ stages: ReportRow[] }>('GET', '/v1/stages/report');
      expect(report.body.stages.find((r) => r.name === 'Active trader')).toMatchObject({
        leadsNow: n,
        entries: n,
      });
      expect(report.body.stages.find((r) => r.name === 'New')).toMatchObject({
        leadsNow: 0,
        completed: n,
      });
    });

    it('the stage history is the spans from creation, with exact seconds and pages', async () => {
      const s = (name: string) => stageNamed(owner, name);
      const [neu, contacted, funded] = await Promise.all([s('New'), s('Contacted'), s('Funded')]);
      const id = await leadAt(owner, 'Exact history', '2026-02-01T00:00:00.000Z');
      await moveAt(owner, id, neu.id, contacted.id, '2026-02-01T01:00:00.000Z');
      await moveAt(owner, id, contacted.id, funded.id, '2026-02-03T01:00:00.500Z', {
        type: 'api_key',
        id: 'key-1',
      });
      const res = await owner.call<History>('GET', `/v1/leads/${id}/stage-history`);
      expect(res.status).toBe(200);
      expect(res.body.leadId).toBe(id);
      expect(res.body.items.slice(0, 2)).toEqual([
        {
          stageId: neu.id,
          stageName: 'New',
          enteredAt: '2026-02-01T00:00:00.000Z',
          leftAt: '2026-02-01T01:00:00.000Z',
          seconds: 3600,
          movedBy: null,
        },
        {
          stageId: contacted.id,
          stageName: 'Contacted',
          enteredAt: '2026-02-01T01:00:00.000Z',
          leftAt: '2026-02-03T01:00:00.500Z',
          seconds: 172_800.5,
          movedBy: { type: 'user', id: owner.userId },
        },
      ]);
      const current = res.body.items[2];
      expect(current).toMatchObject({
        stageId: funded.id,
        stageName: 'Funded',
        enteredAt: '2026-02-03T01:00:00.500Z',
        leftAt: null,
        movedBy: { type: 'api_key', id: 'key-1' },
      });
      const sinceThen = (Date.now() - Date.parse('2026-02-03T01:00:00.500Z')) / 1000;
      expect(current?.seconds).toBeGreaterThan(0);
      expect(Math.abs((current?.seconds ?? 0) - sinceThen)).toBeLessThan(3600);
      expect(res.body.nextCursor).toBeNull();

      // Keyset pages of one: the same spans, in order, then the end.
      const paged: Span[] = [];
      let cursor: string | null = null;
      do {
        const page: { body: History } = await owner.call<History>(
          'GET',
          `/v1/leads/${id}/stage-history?limit=1${cursor ? `&cursor=${cursor}` : ''}`,
        );
        paged.push(...page.body.items);
        cursor = page.body.nextCursor;
      } while (cursor);
      expect(paged.map((p) => p.enteredAt)).toEqual(res.body.items.map((p) => p.enteredAt));
    });

    it('reports per stage: leads now, entries, average and median seconds (exact)', async () => {
      const t = await crmTenant(api, 'Report IB');
      const s = async (name: string) => stageNamed(t, name);
      const [neu, contacted, interested] = await Promise.all([
        s('New'),
        s('Contacted'),
        s('Interested'),
      ]);
      // Lead A: created 00:00, New -> Contacted at 01:00, Contacted -> Interested at 03:00.
      const a = await leadAt(t, 'Report A', '2026-03-01T00:00:00Z');
      await moveAt(t, a, neu.id, contacted.id, '2026-03-01T01:00:00Z');
      await moveAt(t, a, contacted.id, interested.id, '2026-03-01T03:00:00Z');
      // Lead B: created 00:00, New -> Contacted at 03:00, stays there.
      const b = await leadAt(t, 'Report B', '2026-03-01T00:00:00Z');
      await moveAt(t, b, neu.id, contacted.id, '2026-03-01T03:00:00Z');
      // Lead C: created 00:00, New -> Contacted at 06:00 (outside the range below), stays.
      const c = await leadAt(t, 'Report C', '2026-03-01T00:00:00Z');
      await moveAt(t, c, neu.id, contacted.id, '2026-03-02T06:00:00Z');
      // Lead D: created before the range, New -> Contacted in the range after 10 hours.
      const d = await leadAt(t, 'Report D', '2026-02-28T14:00:00Z');
      await moveAt(t, d, neu.id, contacted.id, '2026-03-01T00:00:00Z');
      // Lead E: created later, still in New.
      await leadAt(t, 'Report E', '2026-03-05T00:00:00Z');

      const res = await t.call<{ from: string; to: string; stages: ReportRow[] }>(
        'GET',
        '/v1/stages/report?from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z',
      );
      expect(res.status).toBe(200);
      expect(res.body.from).toBe('2026-03-01T00:00:00.000Z');
      const by = new Map(res.body.stages.map((r) => [r.name, r]));
      // New: stays that ended in range: A 1 h, B 3 h, D 10 h -> average 4.667 h, median 3 h.
      // Entries: A, B and C were created in New in the range (D before it).
      expect(by.get('New')).toMatchObject({
        leadsNow: 1,
        entries: 3,
        completed: 3,
        averageSeconds: 16_800,
        medianSeconds: 10_800,
      });
      // Contacted: entered by A, B and D in range; A's stay (2 h) ended in range.
      expect(by.get('Contacted')).toMatchObject({
        leadsNow: 3,
        entries: 3,
        completed: 1,
        averageSeconds: 7200,
        medianSeconds: 7200,
      });
      expect(by.get('Interested')).toMatchObject({
        leadsNow: 1,
        entries: 1,
        completed: 0,
        averageSeconds: null,
        medianSeconds: null,
      });
      expect(by.get('Lost')).toMatchObject({ leadsNow: 0, entries: 0, completed: 0 });
      expect(res.body.stages.map((r) => r.name)).toEqual(FUNNEL.map(([n]) => n));

      // A range with an even number of stays: the median is the mean of the middle two.
      const later = await t.call<{ stages: ReportRow[] }>(
        'GET',
        '/v1/stages/report?from=2026-03-01T00:00:00Z&to=2026-03-03T00:00:00Z',
      );
      // New stays: 1 h, 3 h, 10 h and C's 30 h.
      expect(later.body.stages.find((r) => r.name === 'New')).toMatchObject({
        completed: 4,
        averageSeconds: 39_600,
        medianSeconds: 23_400,
      });
    });
  });

  describe('other tenants and hostile input', () => {
    it("another tenant's stages and leads answer 404, like missing ones, and change nothing", async () => {
      const theirs = (await stagesOf(other))[1];
      if (!theirs) throw new Error('no stage');
      const theirLead = await createLead(other, { displayName: 'Their lead' });
      for (const id of [theirs.id, randomUUID()]) {
        expect((await owner.call('GET', `/v1/stages/${id}`)).status).toBe(404);
        expect((await owner.call('PATCH', `/v1/stages/${id}`, { name: 'Mine' })).status).toBe(404);
        expect((await owner.call('POST', `/v1/stages/${id}/archive`)).status).toBe(404);
        expect((await owner.call('POST', `/v1/stages/${id}/unarchive`)).status).toBe(404);
        expect((await owner.call('DELETE', `/v1/stages/${id}`)).status).toBe(404);
      }
      for (const id of [theirLead.id, randomUUID()]) {
        const res = await owner.call<Problem>('GET', `/v1/leads/${id}/stage-history`);
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe('NOT_FOUND');
      }
      // Their stage cannot take my lead either.
      const mine = await createLead(owner, { displayName: 'Mine' });
      expect(
        (await owner.call('PATCH', `/v1/leads/${mine.id}`, { stageId: theirs.id })).status,
      ).toBeGreaterThanOrEqual(400);
      expect(await stageNamed(other, theirs.name)).toEqual(theirs);
      const report = await owner.call<{ stages: ReportRow[] }>('GET', '/v1/stages/report');
      expect(report.body.stages.map((r) => r.stageId)).not.toContain(theirs.id);
    });

    it('answers hostile input with a 4xx naming the problem, and changes nothing', async () => {
      const before = await stagesOf(owner, true);
      const stage = before[1];
      if (!stage) throw new Error('no stage');
      const cases: [string, string, unknown, number, string?][] = [
        ['POST', '/v1/stages', { name: 'X', kind: 'open', color: 'red' }, 400, 'body'],
        ['POST', '/v1/stages', { name: 'X', kind: 'maybe' }, 400, 'body.kind'],
        ['POST', '/v1/stages', { name: 'X' }, 400, 'body.kind'],
        ['POST', '/v1/stages', { name: 42, kind: 'open' }, 400, 'body.name'],
        ['POST', '/v1/stages', { name: '   ', kind: 'open' }, 400, 'body.name'],
        ['POST', '/v1/stages', { name: 'a\u0000b', kind: 'open' }, 400, 'body.name'],
        ['POST', '/v1/stages', { name: '\ud800', kind: 'open' }, 400, 'body.name'],
        ['POST', '/v1/stages', { name: 'x'.repeat(61), kind: 'open' }, 400, 'body.name'],
        ['POST', '/v1/stages', { name: 'X', kind: 'open', position: 0 }, 400, 'body.position'],
        ['POST', '/v1/stages', { name: 'X', kind: 'open', position: '2' }, 400, 'body.position'],
        [
          'POST',
          '/v1/stages',
          { name: 'x\'; DROP TABLE "Stage"; --', kind: "open'--" },
          400,
          'body.kind',
        ],
        ['PATCH', `/v1/stages/${stage.id}`, { name: 'Y', position: 1 }, 400, 'body'],
        ['PATCH', '/v1/stages/not-a-uuid', { name: 'Y' }, 400, 'params.id'],
        ['PATCH', "/v1/stages/1'%20OR%20'1'='1", { name: 'Y' }, 400, 'params.id'],
        ['DELETE', '/v1/stages/not-a-uuid', undefined, 400, 'params.id'],
        ['POST', '/v1/stages/not-a-uuid/archive', undefined, 400, 'params.id'],
        ['PUT', '/v1/stages/order', { ids: 'all' }, 400, 'body.ids'],
        ['PUT', '/v1/stages/order', { ids: ['not-a-uuid'] }, 400, 'body.ids.0'],
        ['PUT', '/v1/stages/order', { ids: [], extra: 1 }, 400],
        ['GET', '/v1/stages?includeArchived=maybe', undefined, 400, 'query.includeArchived'],
        ['GET', '/v1/stages?limit=5', undefined, 400, 'query'],
        ['GET', '/v1/stages/report?from=yesterday', undefined, 400, 'query.from'],
        [
          'GET',
          '/v1/stages/report?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z',
          undefined,
          400,
          'query.from',
        ],
        ['GET', '/v1/leads/not-a-uuid/stage-history', undefined, 400, 'params.id'],
        [
          'GET',
          `/v1/leads/${randomUUID()}/stage-history?cursor=${Buffer.from('["x","y"]').toString('base64url')}`,
          undefined,
          400,
          'query.cursor',
        ],
        [
          'GET',
          `/v1/leads/${randomUUID()}/stage-history?cursor=%27%20OR%201=1--`,
          undefined,
          400,
          'query.cursor',
        ],
        [
          'GET',
          `/v1/leads/${randomUUID()}/stage-history?limit=100000`,
          undefined,
          400,
          'query.limit',
        ],
      ];
      for (const [method, path, body, status, field] of cases) {
        const res = await owner.call<Problem>(method, path, body);
        expect({ method, path, status: res.status }).toEqual({ method, path, status });
        expect(res.body.error.code).toBeTruthy();
        if (field) expect(fieldsOf(res.body), `${method} ${path}`).toContain(field);
      }
      // 10 MB of name: refused before anything is parsed into a stage.
      const huge = await owner.call<Problem>('POST', '/v1/stages', {
        name: 'n'.repeat(10 * 1024 * 1024),
        kind: 'open',
      });
      expect(huge.status).toBeGreaterThanOrEqual(400);
      expect(huge.status).toBeLessThan(500);
      // A forged cursor for a real lead of this tenant.
      const lead = await createLead(owner, { displayName: 'Cursor target' });
      const forged = await owner.call<Problem>(
        'GET',
        `/v1/leads/${lead.id}/stage-history?cursor=${Buffer.from('[1,2,3]').toString('base64url')}`,
      );
      expect(forged.status).toBe(400);
      expect(await stagesOf(owner, true)).toEqual(before);
    });
  });
});
