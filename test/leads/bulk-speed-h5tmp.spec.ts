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

async function finished(caller: CrmCaller, jobId: string): Promise<Job> {
  return eventually(async () => {
    const res = await caller.call<Job>('GET', `/v1/jobs/${jobId}`);
    if (res.status !== 200) throw new Error(`job: ${res.text}`);
    return res.body.status === 'completed' || res.body.status === 'failed' ? res.body : undefined;
  }, 60_000);
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


describe('bulk speed (temporary)', () => {
  it('100k stage change by filter', async () => {
    const [api, { app: worker }] = await Promise.all([startApi(CRM_ENV), startWorker()]);
    const owner = await crmTenant(api, 'Speed');
    const stages = await stagesOf(owner);
    const ts = Date.now(); await seedLeads(owner.tenantId, 4_000, 'speed', 'Fast'); console.log('SEED', Date.now() - ts);
    const t0 = Date.now();
    const res = await owner.call<Accepted>('POST', '/v1/leads/bulk', {
      target: { filter: { stageIds: [stages.get('New')?.id] } },
      action: { type: 'update', set: { stageId: stages.get('Contacted')?.id } },
    });
    const t1 = Date.now();
    const job = await finished(owner, res.body.jobId);
    const t2 = Date.now();
    const { rows } = await sql<{ s: number }>('admin', `SELECT extract(epoch FROM "finishedAt" - "startedAt")::float AS s FROM "BackgroundJob" WHERE id = $1`, [res.body.jobId]);
    console.log('SPEED', JSON.stringify({ accept: t1 - t0, endToEnd: t2 - t0, worker: rows[0]?.s, job }));
    const pg = (await import('pg')).default;
    const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await c.connect();
    await c.query('BEGIN');
    await c.query(`SELECT set_config('app.tenant_id', $1, true)`, [owner.tenantId]);
    const ids = (await c.query(`SELECT id FROM "Lead" WHERE "tenantId" = $1 ORDER BY id LIMIT 2000`, [owner.tenantId])).rows.map((r) => r.id);
    const to = stages.get('Interested')?.id;
    const plans = [
      [`EXPLAIN (ANALYZE, BUFFERS) SELECT "id"::text AS "id", "mergedIntoId"::text AS "mergedIntoId" FROM "Lead" WHERE "tenantId" = $1::uuid AND "id" = ANY($2::uuid[]) ORDER BY "id" FOR UPDATE`, [owner.tenantId, ids]],
      [`EXPLAIN (ANALYZE, BUFFERS) UPDATE "Lead" l SET "stageId" = $3::uuid, "stageChangedAt" = CASE WHEN l."stageId" <> $3::uuid THEN now() ELSE l."stageChangedAt" END, "version" = l."version" + 1, "updatedAt" = now() FROM "Lead" o WHERE l."tenantId" = $1::uuid AND l."id" = ANY($2::uuid[]) AND o."tenantId" = l."tenantId" AND o."id" = l."id" AND (l."stageId" <> $3::uuid) RETURNING l."id"::text, o."stageId"::text`, [owner.tenantId, ids, to]],
      [`EXPLAIN (ANALYZE, BUFFERS) INSERT INTO "LeadActivity" ("tenantId", "id", "leadId", "kind", "body", "data", "createdAt") SELECT $1::uuid, ibhq_uuidv7(), x, 'stage_changed', '', '{"a":1}', now() FROM unnest($2::uuid[]) x`, [owner.tenantId, ids]],
      [`EXPLAIN (ANALYZE, BUFFERS) INSERT INTO "LeadStageChange" ("tenantId", "id", "leadId", "fromStageId", "toStageId", "changedAt") SELECT $1::uuid, ibhq_uuidv7(), x, $3::uuid, $3::uuid, now() FROM unnest($2::uuid[]) x`, [owner.tenantId, ids, to]],
    ];
    for (const [q, p] of plans) {
      const t = Date.now();
      const r = await c.query(q as string, p as unknown[]);
      console.log('PLAN', Date.now() - t, r.rows.map((x) => x['QUERY PLAN']).join('\n'));
    }
    await c.query('ROLLBACK');
    await c.end();
    await Promise.all([api.close(), worker.close()]);
  }, 600_000);
});
