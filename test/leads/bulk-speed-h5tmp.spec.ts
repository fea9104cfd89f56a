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

describe('bulk speed (temporary)', () => {
  it('100k stage change by filter', async () => {
    const [api, { app: worker }] = await Promise.all([startApi(CRM_ENV), startWorker()]);
    const owner = await crmTenant(api, 'Speed');
    const stages = await stagesOf(owner);
    const ts = Date.now();
    await seedLeads(owner.tenantId, 100_000, 'speed', 'Fast');
    console.log('SEED', Date.now() - ts);
    const t0 = Date.now();
    const res = await owner.call<Accepted>('POST', '/v1/leads/bulk', {
      target: { filter: { stageIds: [stages.get('New')?.id] } },
      action: { type: 'update', set: { stageId: stages.get('Contacted')?.id } },
    });
    const t1 = Date.now();
    const job = await finished(owner, res.body.jobId, 900_000);
    const t2 = Date.now();
    const { rows } = await sql<{ s: number }>(
      'admin',
      `SELECT extract(epoch FROM "finishedAt" - "startedAt")::float AS s FROM "BackgroundJob" WHERE id = $1`,
      [res.body.jobId],
    );
    console.log(
      'SPEED',
      JSON.stringify({
        accept: t1 - t0,
        endToEnd: t2 - t0,
        worker: rows[0]?.s,
        done: job.done,
        result: job.result,
      }),
    );
    await Promise.all([api.close(), worker.close()]);
  }, 1_000_000);
});
