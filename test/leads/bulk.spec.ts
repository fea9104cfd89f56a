import { randomUUID } from 'node:crypto';
import type { INestApplicationContext } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TenantId } from '@ibhq/core';
import { BulkService } from '@ibhq/leads';
import { eventually, startApi, startWorker, type RunningApi } from '../support/apps.js';
import { asTenant, sql } from '../support/db.js';
import { CRM_ENV, createLead, crmMember, crmTenant, type CrmCaller } from '../support/crm.js';
import type { SignedUp } from '../support/accounts.js';

type Owner = CrmCaller & { readonly owner: SignedUp };
type Stage = { id: string; name: string };
type LeadBody = {
  id: string;
  stageId: string;
  ownerId: string | null;
  tags: string[];
  customFields: Record<string, unknown>;
  version: number;
};
type Job = {
  id: string;
  kind: string;
  status: string;
  total: number;
  done: number;
  failed: number;
  errors: { leadId?: string; reason: string }[];
  result: Record<string, unknown> | null;
};
type Accepted = { jobId: string; total: number; status: string };
type Activity = {
  kind: string;
  data: Record<string, unknown>;
  actor: { type: string; id: string };
};

async function stagesOf(caller: CrmCaller): Promise<Map<string, Stage>> {
  const res = await caller.call<Stage[] | { items: Stage[] }>('GET', '/v1/stages');
  if (res.status !== 200) throw new Error(`stages: ${res.text}`);
  const list = Array.isArray(res.body) ? res.body : res.body.items;
  return new Map(list.map((s) => [s.name, s]));
}

async function finished(caller: CrmCaller, jobId: string, timeoutMs = 60_000): Promise<Job> {
  return eventually(async () => {
    const res = await caller.call<Job>('GET', `/v1/jobs/${jobId}`);
    if (res.status !== 200) throw new Error(`job: ${res.text}`);
    return res.body.status === 'completed' || res.body.status === 'failed' ? res.body : undefined;
  }, timeoutMs);
}

async function lead(caller: CrmCaller, id: string): Promise<LeadBody> {
  const res = await caller.call<LeadBody>('GET', `/v1/leads/${id}`);
  if (res.status !== 200) throw new Error(`lead ${id}: ${String(res.status)} ${res.text}`);
  return res.body;
}

async function activities(caller: CrmCaller, id: string): Promise<Activity[]> {
  const res = await caller.call<{ items: Activity[] }>(
    'GET',
    `/v1/leads/${id}/activities?limit=200`,
  );
  if (res.status !== 200) throw new Error(`activities: ${res.text}`);
  return res.body.items;
}

/** Leads inserted in SQL (fast, for volume), in the tenant's first stage, with a tag. */
async function seedLeads(tenantId: string, count: number, tag: string, prefix: string) {
  const { rows } = await sql<{ id: string }>(
    'admin',
    `WITH s AS (SELECT ibhq_default_stage($1::uuid) AS id),
          l AS (
            INSERT INTO "Lead" ("tenantId", "id", "displayName", "stageId", "searchText", "updatedAt")
            SELECT $1::uuid, ibhq_uuidv7(), $3 || ' ' || g, s.id, lower($3 || ' ' || g), now()
              FROM generate_series(1, $2::int) AS g, s
            RETURNING "id"),
          t AS (
            INSERT INTO "Tag" ("tenantId", "id", "name") VALUES ($1::uuid, ibhq_uuidv7(), $4)
            ON CONFLICT ("tenantId", "name") DO UPDATE SET "name" = EXCLUDED."name"
            RETURNING "id"),
          lt AS (
            INSERT INTO "LeadTag" ("tenantId", "leadId", "tagId")
            SELECT $1::uuid, l."id", t."id" FROM l, t RETURNING 1)
     SELECT "id"::text AS "id" FROM l`,
    [tenantId, count, prefix, tag],
  );
  // What autovacuum would do after such a load (a test cannot wait for it): without
  // statistics the planner takes the tenant for a handful of rows.
  await sql('admin', 'ANALYZE "Lead"; ANALYZE "LeadTag"');
  return rows.map((r) => r.id);
}

async function jobRows(tenantId: string): Promise<number> {
  const { rows } = await sql<{ n: number }>(
    'admin',
    `SELECT count(*)::int AS n FROM "BackgroundJob" WHERE "tenantId" = $1`,
    [tenantId],
  );
  return rows[0]?.n ?? 0;
}

describe('bulk update and delete (API + worker)', () => {
  let api: RunningApi;
  let worker: INestApplicationContext;
  let owner: Owner;
  let agent: CrmCaller;
  let viewer: CrmCaller;
  let stranger: Owner;
  let stages: Map<string, Stage>;

  const stage = (name: string): string => {
    const s = stages.get(name);
    if (!s) throw new Error(`no stage ${name}`);
    return s.id;
  };
  const bulk = (caller: CrmCaller, body: unknown, headers: Record<string, string> = {}) =>
    caller.call<Accepted>('POST', '/v1/leads/bulk', body, headers);

  beforeAll(async () => {
    [api, { app: worker }] = await Promise.all([startApi(CRM_ENV), startWorker()]);
    owner = await crmTenant(api, 'Bulk IB');
    [agent, viewer, stranger] = await Promise.all([
      crmMember(api, owner, 'agent'),
      crmMember(api, owner, 'viewer'),
      crmTenant(api, 'Bulk stranger'),
    ]);
    stages = await stagesOf(owner);
    for (const field of [
      { key: 'budget', label: 'Budget', type: 'number' },
      { key: 'tier', label: 'Tier', type: 'single_select', options: ['Gold', 'Silver'] },
      { key: 'account_no', label: 'Account', type: 'text', required: true },
    ]) {
      const res = await owner.call('POST', '/v1/custom-fields', field);
      if (res.status !== 201) throw new Error(`custom field: ${res.text}`);
    }
  }, 120_000);
  afterAll(async () => {
    await Promise.all([api.close(), worker.close()]);
  });

  it('updates every lead a filter matches, in chunks, with progress, history, timeline and one audit event', async () => {
    // 4,500 leads (three chunks) seeded in SQL, and a few through the API with tags
    // and values of their own; other leads stay untouched.
    const seeded = await seedLeads(owner.tenantId, 4_500, 'campaign-x', 'Seeded');
    const viaApi: LeadBody[] = [];
    for (let i = 0; i < 3; i++) {
      viaApi.push(
        await createLead<LeadBody>(owner, {
          displayName: `Api lead ${String(i)}`,
          tags: ['campaign-x', 'cold'],
          customFields: { account_no: `A-${String(i)}`, budget: 10 },
        }),
      );
    }
    const untouched = await createLead<LeadBody>(owner, {
      displayName: 'Not in the campaign',
      tags: ['cold'],
      customFields: { account_no: 'Z-1' },
    });

    const res = await bulk(owner, {
      target: { filter: { tags: ['campaign-x'] } },
      action: {
        type: 'update',
        set: {
          stageId: stage('Interested'),
          ownerId: agent.userId,
          addTags: ['vip'],
          removeTags: ['cold'],
          customFields: { budget: 500, tier: 'gold' },
        },
      },
    });
    expect(res.status, res.text).toBe(202);
    expect(res.body).toMatchObject({ total: 4_503, status: 'queued' });
    const job = await finished(owner, res.body.jobId);
    expect(job).toMatchObject({
      kind: 'leads.bulk',
      status: 'completed',
      total: 4_503,
      done: 4_503,
      failed: 0,
      errors: [],
      result: { updated: 4_503, unchanged: 0, failed: 0 },
    });

    for (const id of [seeded[0] ?? '', seeded[2_345] ?? '', seeded[4_499] ?? '']) {
      const l = await lead(owner, id);
      expect(l).toMatchObject({
        stageId: stage('Interested'),
        ownerId: agent.userId,
        customFields: { budget: 500, tier: 'Gold' },
        version: 2,
      });
      expect([...l.tags].sort()).toEqual(['campaign-x', 'vip']);
    }
    const first = viaApi[0];
    if (!first) throw new Error('no lead');
    const l = await lead(owner, first.id);
    expect(l).toMatchObject({
      stageId: stage('Interested'),
      ownerId: agent.userId,
      customFields: { account_no: 'A-0', budget: 500, tier: 'Gold' },
      version: first.version + 1,
    });
    expect([...l.tags].sort()).toEqual(['campaign-x', 'vip']);
    const other = await lead(owner, untouched.id);
    expect(other).toMatchObject({ version: untouched.version, stageId: untouched.stageId });
    expect(other.tags).toEqual(['cold']);

    // Timeline: a stage move, an owner change and the field changes, by the caller.
    const acts = await activities(owner, first.id);
    const byKind = new Map(acts.map((a) => [a.kind, a]));
    expect(byKind.get('stage_changed')?.data).toMatchObject({
      fromStageId: stage('New'),
      toStageId: stage('Interested'),
      toName: 'Interested',
    });
    expect(byKind.get('owner_changed')?.data).toMatchObject({
      from: owner.userId,
      to: agent.userId,
    });
    expect(byKind.get('fields_changed')?.data).toEqual({
      changes: {
        'customFields.budget': { from: 10, to: 500 },
        'customFields.tier': { from: null, to: 'Gold' },
        tags: { added: ['vip'], removed: ['cold'] },
      },
    });
    expect(byKind.get('stage_changed')?.actor).toEqual({ type: 'user', id: owner.userId });

    // Stage history: one row per moved lead, by the caller.
    const { rows: history } = await sql<{ n: number; actors: string[] }>(
      'admin',
      `SELECT count(*)::int AS n, array_agg(DISTINCT "actorId") AS actors FROM "LeadStageChange"
        WHERE "tenantId" = $1 AND "toStageId" = $2`,
      [owner.tenantId, stage('Interested')],
    );
    expect(history[0]).toEqual({ n: 4_503, actors: [owner.userId] });
    const { rows: owners } = await sql<{ n: number }>(
      'admin',
      `SELECT count(*)::int AS n FROM "LeadActivity" WHERE "tenantId" = $1 AND kind = 'owner_changed'`,
      [owner.tenantId],
    );
    expect(owners[0]?.n).toBe(4_503);

    // One audit event with the count, the filter, the action and the job.
    const { rows: events } = await sql<{ metadata: Record<string, unknown>; actorId: string }>(
      'admin',
      `SELECT metadata, "actorId" FROM "AuditEvent" WHERE "tenantId" = $1 AND action = 'lead.bulk_updated'`,
      [owner.tenantId],
    );
    expect(events).toHaveLength(1);
    expect(events[0]?.actorId).toBe(owner.userId);
    expect(events[0]?.metadata).toMatchObject({
      jobId: res.body.jobId,
      count: 4_503,
      filter: { tags: ['campaign-x'] },
      action: { type: 'update', stageId: stage('Interested'), fields: ['budget', 'tier'] },
    });
  });

  it('by ids: a missing id and another tenant’s id fail with a reason; the others are updated', async () => {
    const mine = await Promise.all(
      [1, 2, 3].map((i) =>
        createLead<LeadBody>(owner, {
          displayName: `Listed ${String(i)}`,
          customFields: { account_no: `L-${String(i)}` },
        }),
      ),
    );
    const theirs = await createLead<LeadBody>(stranger, { displayName: 'Not yours' });
    const missing = '01a20000-0000-7000-8000-00000000beef';
    const ids = [...mine.map((m) => m.id), missing, theirs.id];
    const res = await bulk(owner, {
      target: { ids },
      action: { type: 'update', set: { stageId: stage('Contacted'), addTags: ['listed'] } },
    });
    expect(res.status, res.text).toBe(202);
    expect(res.body.total).toBe(5);
    const job = await finished(owner, res.body.jobId);
    expect(job).toMatchObject({
      status: 'completed',
      total: 5,
      done: 3,
      failed: 2,
      result: { updated: 3, failed: 2 },
    });
    expect(job.errors).toEqual(
      expect.arrayContaining([
        { leadId: missing, reason: 'lead not found' },
        { leadId: theirs.id, reason: 'lead not found' },
      ]),
    );
    expect(job.errors).toHaveLength(2);
    for (const m of mine) {
      expect(await lead(owner, m.id)).toMatchObject({
        stageId: stage('Contacted'),
        tags: ['listed'],
        version: m.version + 1,
      });
    }
    const still = await lead(stranger, theirs.id);
    expect(still).toMatchObject({ version: theirs.version, tags: [] });
    const errorPage = await owner.call<{ items: unknown[] }>(
      'GET',
      `/v1/jobs/${res.body.jobId}/errors`,
    );
    expect(errorPage.body.items).toHaveLength(2);
    const csv = await owner.call('GET', `/v1/jobs/${res.body.jobId}/errors.csv`);
    expect(csv.text).toContain(`,,lead not found,${missing}`);
  });

  it('a lead whose change a rule refuses fails alone, with its reason; the chunks around it are done', async () => {
    const ids = await seedLeads(owner.tenantId, 4_100, 'rule-test', 'Ruled');
    const refused = [ids[2_500] ?? '', ids[2_501] ?? ''].sort();
    // A rule of the database that refuses these two leads' updates (a stand-in for any
    // constraint a lead may break), installed for this test only.
    await sql('admin', `UPDATE "Lead" SET "displayName" = 'Refuse me' WHERE id = ANY($1::uuid[])`, [
      refused,
    ]);
    await sql(
      'admin',
      `CREATE FUNCTION h5_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW."displayName" = 'Refuse me' THEN
           RAISE EXCEPTION 'refused by a rule' USING ERRCODE = 'check_violation';
         END IF;
         RETURN NEW;
       END $$;
       CREATE TRIGGER h5_refuse BEFORE UPDATE ON "Lead" FOR EACH ROW EXECUTE FUNCTION h5_refuse();`,
    );
    try {
      const res = await bulk(owner, {
        target: { filter: { tags: ['rule-test'] } },
        action: { type: 'update', set: { stageId: stage('Funded'), addTags: ['ruled'] } },
      });
      expect(res.status, res.text).toBe(202);
      const job = await finished(owner, res.body.jobId);
      expect(job).toMatchObject({
        status: 'completed',
        total: 4_100,
        done: 4_098,
        failed: 2,
        result: { updated: 4_098, failed: 2 },
      });
      expect(job.errors).toEqual(
        refused.map((leadId) => ({
          leadId,
          reason: 'the change could not be applied to this lead',
        })),
      );
      const { rows } = await sql<{ stage: string; n: number }>(
        'admin',
        `SELECT "stageId"::text AS stage, count(*)::int AS n FROM "Lead"
          WHERE id = ANY($1::uuid[]) GROUP BY 1 ORDER BY 2`,
        [ids],
      );
      expect(rows).toEqual([
        { stage: stage('New'), n: 2 },
        { stage: stage('Funded'), n: 4_098 },
      ]);
      for (const id of refused) expect((await lead(owner, id)).tags).toEqual(['rule-test']);
    } finally {
      await sql('admin', 'DROP TRIGGER h5_refuse ON "Lead"; DROP FUNCTION h5_refuse()');
    }
  }, 180_000);

  it('is idempotent: the same Idempotency-Key answers the same job, and running the job again changes nothing twice', async () => {
    const ids = await seedLeads(owner.tenantId, 30, 'retry-me', 'Retry');
    const body = {
      target: { filter: { tags: ['retry-me'] } },
      action: {
        type: 'update',
        set: { stageId: stage('Registered'), addTags: ['again'], customFields: { budget: 7 } },
      },
    };
    const key = `bulk-${randomUUID()}`;
    const first = await bulk(owner, body, { 'idempotency-key': key });
    expect(first.status).toBe(202);
    const second = await bulk(owner, body, { 'idempotency-key': key });
    expect(second.status).toBe(200);
    expect(second.body.jobId).toBe(first.body.jobId);
    const other = await bulk(
      owner,
      { ...body, action: { type: 'update', set: { stageId: stage('Funded') } } },
      { 'idempotency-key': key },
    );
    expect(other.status).toBe(409);
    const job = await finished(owner, first.body.jobId);
    expect(job.result).toEqual({ updated: 30, unchanged: 0, failed: 0 });
    const afterJob = await sql(
      'admin',
      `SELECT count(*)::int AS n FROM "BackgroundJob" WHERE "idempotencyKey" = $1`,
      [key],
    );
    expect(afterJob.rows[0]).toEqual({ n: 1 });

    const snapshot = async () => {
      const { rows } = await sql<{
        versions: number;
        activities: number;
        moves: number;
        tags: number;
      }>(
        'admin',
        `SELECT (SELECT sum(version)::int FROM "Lead" WHERE id = ANY($1::uuid[])) AS versions,
                (SELECT count(*)::int FROM "LeadActivity" WHERE "leadId" = ANY($1::uuid[])) AS activities,
                (SELECT count(*)::int FROM "LeadStageChange" WHERE "leadId" = ANY($1::uuid[])) AS moves,
                (SELECT count(*)::int FROM "LeadTag" WHERE "leadId" = ANY($1::uuid[])) AS tags`,
        [ids],
      );
      return rows[0];
    };
    const before = await snapshot();
    expect(before).toEqual({ versions: 60, activities: 60, moves: 30, tags: 60 });

    // The worker's work again on the finished job (a duplicate delivery): nothing changes.
    const service = worker.get(BulkService, { strict: false });
    const payload = { tenantId: owner.tenantId, jobId: first.body.jobId };
    const again = await asTenant(owner.tenantId as TenantId, () => service.run(payload));
    expect(again).toEqual({ updated: 30, unchanged: 0, failed: 0 });
    expect(await snapshot()).toEqual(before);

    // Even redone from the start (as if the progress had been lost): nothing twice.
    await sql(
      'admin',
      `UPDATE "BackgroundJob" SET status = 'running', checkpoint = NULL, done = 0, failed = 0
        WHERE id = $1`,
      [first.body.jobId],
    );
    const redone = await asTenant(owner.tenantId as TenantId, () => service.run(payload));
    expect(redone).toMatchObject({ updated: 0, unchanged: 30 });
    expect(await snapshot()).toEqual(before);
  });

  it('duplicate runs of one job at the same time do every lead once and audit once', async () => {
    const ids = await seedLeads(owner.tenantId, 4_500, 'twice', 'Twice');
    const res = await bulk(owner, {
      target: { filter: { tags: ['twice'] } },
      action: { type: 'update', set: { stageId: stage('KYC verified') } },
    });
    expect(res.status, res.text).toBe(202);
    // The worker runs it; two more deliveries of the same job run beside it.
    const service = worker.get(BulkService, { strict: false });
    const payload = { tenantId: owner.tenantId, jobId: res.body.jobId };
    const extra = await Promise.allSettled([
      asTenant(owner.tenantId as TenantId, () => service.run(payload)),
      asTenant(owner.tenantId as TenantId, () => service.run(payload)),
    ]);
    for (const r of extra) {
      if (r.status === 'rejected') expect((r.reason as Error).message).toContain('moved on');
    }
    const job = await finished(owner, res.body.jobId);
    expect(job).toMatchObject({
      status: 'completed',
      total: 4_500,
      done: 4_500,
      failed: 0,
      result: { updated: 4_500, unchanged: 0, failed: 0 },
    });
    const { rows } = await sql<{ versions: number; moves: number; audits: number }>(
      'admin',
      `SELECT (SELECT sum(version)::int FROM "Lead" WHERE id = ANY($1::uuid[])) AS versions,
              (SELECT count(*)::int FROM "LeadStageChange" WHERE "leadId" = ANY($1::uuid[])) AS moves,
              (SELECT count(*)::int FROM "AuditEvent" WHERE "targetId" = $2) AS audits`,
      [ids, res.body.jobId],
    );
    expect(rows[0]).toEqual({ versions: 9_000, moves: 4_500, audits: 1 });
  }, 120_000);

  it('deletes by filter (leads:delete), with one audit event; agents and viewers are refused', async () => {
    const ids = await seedLeads(owner.tenantId, 40, 'to-delete', 'Doomed');
    const body = { target: { filter: { tags: ['to-delete'] } }, action: { type: 'delete' } };
    const jobsBefore = await jobRows(owner.tenantId);
    const byAgent = await bulk(agent, body);
    expect(byAgent.status).toBe(403);
    expect(byAgent.text).toContain('leads:delete');
    const byViewer = await bulk(viewer, {
      target: { ids },
      action: { type: 'update', set: { ownerId: null } },
    });
    expect(byViewer.status).toBe(403);
    expect(await jobRows(owner.tenantId)).toBe(jobsBefore);

    const res = await bulk(owner, body);
    expect(res.status, res.text).toBe(202);
    const job = await finished(owner, res.body.jobId);
    expect(job).toMatchObject({
      status: 'completed',
      total: 40,
      done: 40,
      result: { deleted: 40, failed: 0 },
    });
    const { rows } = await sql<{ n: number }>(
      'admin',
      `SELECT count(*)::int AS n FROM "Lead" WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    expect(rows[0]?.n).toBe(0);
    expect((await owner.call('GET', `/v1/leads/${ids[0] ?? ''}`)).status).toBe(404);
    const { rows: events } = await sql<{ metadata: Record<string, unknown> }>(
      'admin',
      `SELECT metadata FROM "AuditEvent" WHERE "tenantId" = $1 AND action = 'lead.bulk_deleted'`,
      [owner.tenantId],
    );
    expect(events.map((e) => e.metadata)).toEqual([
      expect.objectContaining({
        count: 40,
        filter: { tags: ['to-delete'] },
        jobId: res.body.jobId,
      }),
    ]);
  });

  it('an agent who sees only their own leads stays confined in the worker', async () => {
    const tenant = await crmTenant(api, 'Own leads only');
    const own = await crmMember(api, tenant, 'agent');
    const settings = await tenant.call('PATCH', '/v1/tenant/settings', {
      agentsSeeOwnLeadsOnly: true,
    });
    expect(settings.status, settings.text).toBe(200);
    const theirs = await Promise.all(
      [1, 2].map((i) =>
        createLead<LeadBody>(own, { displayName: `Agent lead ${String(i)}`, ownerId: own.userId }),
      ),
    );
    const others = await Promise.all(
      [1, 2].map((i) =>
        createLead<LeadBody>(tenant, {
          displayName: `Owner lead ${String(i)}`,
          ownerId: tenant.userId,
        }),
      ),
    );
    const byFilter = await bulk(own, {
      target: { filter: {} },
      action: { type: 'update', set: { addTags: ['mine'] } },
    });
    expect(byFilter.status, byFilter.text).toBe(202);
    expect(byFilter.body.total).toBe(2);
    expect(await finished(own, byFilter.body.jobId)).toMatchObject({ done: 2, failed: 0 });
    const byIds = await bulk(own, {
      target: { ids: [...theirs, ...others].map((l) => l.id) },
      action: { type: 'update', set: { addTags: ['listed'] } },
    });
    const job = await finished(own, byIds.body.jobId);
    expect(job).toMatchObject({ done: 2, failed: 2 });
    for (const l of theirs) expect((await lead(tenant, l.id)).tags).toEqual(['listed', 'mine']);
    for (const l of others) expect((await lead(tenant, l.id)).tags).toEqual([]);
    // Handing leads over is allowed (they leave the agent's sight).
    const handOver = await bulk(own, {
      target: { ids: theirs.map((l) => l.id) },
      action: {
        type: 'update',
        set: { ownerId: tenant.userId, stageId: (await stagesOf(tenant)).get('Contacted')?.id },
      },
    });
    expect(handOver.status, handOver.text).toBe(202);
    expect(await finished(own, handOver.body.jobId)).toMatchObject({
      done: 2,
      failed: 0,
      result: { updated: 2, failed: 0 },
    });
    for (const l of theirs) {
      expect(await lead(tenant, l.id)).toMatchObject({ ownerId: tenant.userId });
      expect((await own.call('GET', `/v1/leads/${l.id}`)).status).toBe(404);
    }
  });

  it('refuses more than 100,000 leads with a 400 saying how many matched, and starts nothing', async () => {
    const big = await crmTenant(api, 'Big tenant');
    await seedLeads(big.tenantId, 100_001, 'all', 'Many');
    const res = await bulk(big, {
      target: { filter: {} },
      action: { type: 'update', set: { addTags: ['x'] } },
    });
    expect(res.status).toBe(400);
    expect(res.text).toContain('body.target.filter');
    expect(res.text).toContain('100001');
    expect(await jobRows(big.tenantId)).toBe(0);
  }, 120_000);

  it('another tenant’s job is a 404', async () => {
    const res = await bulk(owner, {
      target: { ids: [randomUUID()] },
      action: { type: 'update', set: { addTags: ['x'] } },
    });
    expect(res.status).toBe(202);
    for (const path of [
      `/v1/jobs/${res.body.jobId}`,
      `/v1/jobs/${res.body.jobId}/errors`,
      `/v1/jobs/${res.body.jobId}/errors.csv`,
    ]) {
      expect((await stranger.call('GET', path)).status).toBe(404);
    }
    await finished(owner, res.body.jobId);
  });

  it('hostile or invalid input is a 4xx naming the problem, and starts nothing', async () => {
    const jobsBefore = await jobRows(owner.tenantId);
    const target = { ids: [randomUUID()] };
    const cases: [unknown, string, Record<string, string>?][] = [
      [{}, 'body.target'],
      [{ target, action: { type: 'update', set: {} } }, 'body.action.set'],
      [{ target, action: { type: 'update', set: { stageId: stage('New') } }, extra: 1 }, 'extra'],
      [{ target: { ...target, filter: {} }, action: { type: 'delete' } }, 'body.target'],
      [{ target: {}, action: { type: 'delete' } }, 'body.target'],
      [{ target: { ids: [] }, action: { type: 'delete' } }, 'body.target.ids'],
      [{ target: { ids: ["1' OR '1'='1"] }, action: { type: 'delete' } }, 'body.target.ids.0'],
      [{ target: { ids: 'all' }, action: { type: 'delete' } }, 'body.target.ids'],
      [
        { target: { filter: { stageIds: ['x; DROP TABLE "Lead"'] } }, action: { type: 'delete' } },
        'body.target.filter.stageIds.0',
      ],
      [{ target: { filter: { nope: true } }, action: { type: 'delete' } }, 'nope'],
      [{ target, action: { type: 'truncate' } }, 'body.action.type'],
      [{ target, action: { type: 'delete', set: {} } }, 'set'],
      [
        { target, action: { type: 'update', set: { stageId: randomUUID() } } },
        'body.action.set.stageId',
      ],
      [{ target, action: { type: 'update', set: { stageId: 'New' } } }, 'body.action.set.stageId'],
      [
        { target, action: { type: 'update', set: { ownerId: randomUUID() } } },
        'body.action.set.ownerId',
      ],
      [
        { target, action: { type: 'update', set: { ownerId: stranger.userId } } },
        'body.action.set.ownerId',
      ],
      [{ target, action: { type: 'update', set: { addTags: [''] } } }, 'body.action.set.addTags.0'],
      [
        { target, action: { type: 'update', set: { addTags: ['a'], removeTags: ['A'] } } },
        'body.action.set.removeTags',
      ],
      [
        { target, action: { type: 'update', set: { customFields: { nope: 1 } } } },
        'body.action.set.customFields.nope',
      ],
      [
        { target, action: { type: 'update', set: { customFields: { budget: 'lots' } } } },
        'body.action.set.customFields.budget',
      ],
      [
        { target, action: { type: 'update', set: { customFields: { tier: 'Bronze' } } } },
        'body.action.set.customFields.tier',
      ],
      [
        { target, action: { type: 'update', set: { customFields: { account_no: null } } } },
        'body.action.set.customFields.account_no',
      ],
      [
        { target, action: { type: 'update', set: { addTags: ['x'.repeat(1_000)] } } },
        'body.action.set.addTags.0',
      ],
      [
        { target, action: { type: 'update', set: { addTags: ['ok'] } } },
        'headers.idempotency-key',
        { 'idempotency-key': 'k'.repeat(201) },
      ],
    ];
    for (const [body, field, headers] of cases) {
      const res = await bulk(owner, body, headers);
      expect(res.status, `${JSON.stringify(body).slice(0, 200)} → ${res.text}`).toBe(400);
      expect(res.text, JSON.stringify(body).slice(0, 200)).toContain(field);
    }
    const huge = await bulk(owner, {
      target,
      action: { type: 'update', set: { addTags: ['x'.repeat(10 * 1024 * 1024)] } },
    });
    expect(huge.status).toBe(413);
    // 100,001 ids (3.9 MB: over BODY_LIMIT_BYTES, within the route's own limit) are
    // read, and refused for their count.
    const many = await bulk(owner, {
      target: { ids: Array.from({ length: 100_001 }, () => randomUUID()) },
      action: { type: 'delete' },
    });
    expect(many.status, many.text.slice(0, 300)).toBe(400);
    expect(many.text).toContain('body.target.ids');
    const notJson = await owner.call('POST', '/v1/leads/bulk', 'target=1', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(notJson.status).toBe(415);
    const forged = await owner.call(
      'GET',
      `/v1/jobs/${randomUUID()}/errors?cursor=${Buffer.from('["1 OR 1=1"]').toString('base64url')}`,
    );
    expect(forged.status).toBe(400);
    expect(forged.text).toContain('query.cursor');
    expect(await jobRows(owner.tenantId)).toBe(jobsBefore);
  });

  it('a filter with free text works (and SQL fragments in it are only text)', async () => {
    const target = await createLead<LeadBody>(owner, {
      displayName: 'Aleksandr Fuzzy',
      customFields: { account_no: 'F-1' },
    });
    const res = await bulk(owner, {
      target: { filter: { q: 'Alexander Fuzzy' } },
      action: { type: 'update', set: { addTags: ['fuzzy'] } },
    });
    expect(res.status, res.text).toBe(202);
    await finished(owner, res.body.jobId);
    expect((await lead(owner, target.id)).tags).toContain('fuzzy');
    const sqlText = await bulk(owner, {
      target: { filter: { q: `'); DELETE FROM "Lead"; --` } },
      action: { type: 'update', set: { addTags: ['never'] } },
    });
    expect(sqlText.status).toBe(202);
    expect(sqlText.body.total).toBe(0);
    expect(await finished(owner, sqlText.body.jobId)).toMatchObject({
      status: 'completed',
      done: 0,
    });
  });
});
