// SCRATCH (H8): 100,000-lead export measurement. Not part of the suite; deleted after.
import { spawn } from 'node:child_process';
import { expect, it } from 'vitest';
import { startApi } from '../support/apps.js';
import { CRM_ENV, crmTenant } from '../support/crm.js';
import { sql } from '../support/db.js';
import { exportCsvSql, EXPORT_COPY_OPTIONS } from '../../libs/leads/src/export-format.js';
import { inlineSql } from '../../libs/db/src/client/scoped-query.js';
import pg from 'pg';

const N = Number(process.env.H8_N ?? 100_000);

it('measures', async () => {
  const api = await startApi({ ...CRM_ENV, LOG_LEVEL: 'silent' });
  const t = await crmTenant(api, 'Bench');
  for (const f of [
    { key: 'plan', label: 'Plan', type: 'single_select', options: ['Gold', 'Silver'] },
    { key: 'score', label: 'Score', type: 'number' },
    { key: 'note', label: 'Note', type: 'text' },
  ]) {
    expect((await t.call('POST', '/v1/custom-fields', f)).status).toBe(201);
  }
  const tags: string[] = [];
  for (const name of ['vip', 'warm', 'cold', 'ru', 'en']) {
    const r = await t.call<{ id: string }>('POST', '/v1/tags', { name });
    expect(r.status).toBe(201);
    tags.push(r.body.id);
  }
  let s = Date.now();
  await sql(
    'admin',
    `INSERT INTO "Lead" (id, "tenantId", "displayName", phone, email, "telegramUsername", country, language, "customFields", "updatedAt", "createdAt")
     SELECT ibhq_uuidv7(), $1::uuid, 'Lead ' || g || CASE WHEN g % 10 = 0 THEN ' "quoted", =x' ELSE '' END,
            '+4479' || lpad(g::text, 8, '0'), 'lead' || g || '@example.com', 'user_' || g, 'GB', 'en',
            jsonb_build_object('plan', CASE WHEN g % 2 = 0 THEN 'Gold' ELSE 'Silver' END, 'score', g, 'note', 'note ' || g),
            now(), now() - (g || ' seconds')::interval
       FROM generate_series(1, $2::int) g`,
    [t.tenantId, N],
  );
  await sql(
    'admin',
    `INSERT INTO "LeadTag" ("tenantId", "leadId", "tagId")
     SELECT l."tenantId", l.id, t.id FROM "Lead" l JOIN "Tag" t ON t."tenantId" = l."tenantId"
      WHERE l."tenantId" = $1::uuid AND (abs(hashtext(l.id::text || t.id::text)) % 3) = 0`,
    [t.tenantId],
  );
  await sql('admin', 'VACUUM ANALYZE "Lead"');
  await sql('admin', 'VACUUM ANALYZE "LeadTag"');
  console.log(`seeded ${N} in ${Date.now() - s} ms`);

  const fields = [{ key: 'plan' }, { key: 'score' }, { key: 'note' }];
  const copyText = `BEGIN READ ONLY; SELECT set_config('app.tenant_id', '${t.tenantId}', true); COPY (${inlineSql(
    exportCsvSql({}, t.tenantId, fields, false),
  )}) TO STDOUT ${EXPORT_COPY_OPTIONS.csv}; COMMIT;`;

  const copyOf = (select: string) =>
    new Promise<number>((resolve, reject) => {
      const start = process.hrtime.bigint();
      const child = spawn(
        'psql',
        [
          process.env.DATABASE_URL ?? '',
          '-X',
          '-q',
          '-c',
          `BEGIN READ ONLY; SELECT set_config('app.tenant_id', '${t.tenantId}', true); COPY (${select}) TO STDOUT (FORMAT csv, HEADER); COMMIT;`,
        ],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      child.on('error', reject);
      child.on('close', () => resolve(Number(process.hrtime.bigint() - start) / 1e6));
    });
  if (process.env.H8_VARIANTS) {
    const T = `'${t.tenantId}'::uuid`;
    const variants: Record<string, string> = {
      current: inlineSql(exportCsvSql({}, t.tenantId, fields, false)),
      bare: `SELECT l.id, l."displayName", l.phone, l.email FROM "Lead" l WHERE l."tenantId" = ${T} AND l."mergedIntoId" IS NULL ORDER BY l."createdAt", l.id`,
      bareAllCols: `SELECT l.id, l."displayName", l."telegramUserId", l."telegramUsername", l.phone, l.email, l.language, l.country, l.source, l."ownerId", l."customFields", l."createdAt", l."updatedAt" FROM "Lead" l WHERE l."tenantId" = ${T} AND l."mergedIntoId" IS NULL ORDER BY l."createdAt", l.id`,
      tagsCorrelated: `SELECT l.id, (SELECT string_agg(t."name"::text, ';' ORDER BY t."name") FROM "LeadTag" lt JOIN "Tag" t ON t."tenantId" = lt."tenantId" AND t."id" = lt."tagId" WHERE lt."tenantId" = l."tenantId" AND lt."leadId" = l."id") FROM "Lead" l WHERE l."tenantId" = ${T} ORDER BY l."createdAt", l.id`,
      tagsGrouped: `SELECT l.id, tg.names FROM "Lead" l LEFT JOIN (SELECT lt."leadId", string_agg(t."name"::text, ';' ORDER BY t."name") AS names FROM "LeadTag" lt JOIN "Tag" t ON t."tenantId" = lt."tenantId" AND t."id" = lt."tagId" WHERE lt."tenantId" = ${T} GROUP BY lt."leadId") tg ON tg."leadId" = l.id WHERE l."tenantId" = ${T} ORDER BY l."createdAt", l.id`,
      tagsArrayIds: `WITH tn AS MATERIALIZED (SELECT array_agg(t.name::text ORDER BY t.id) AS names, array_agg(t.id ORDER BY t.id) AS ids FROM "Tag" t WHERE t."tenantId" = ${T}) SELECT l.id, (SELECT string_agg(x, ';' ORDER BY x) FROM unnest(ARRAY(SELECT lt."tagId" FROM "LeadTag" lt WHERE lt."tenantId" = l."tenantId" AND lt."leadId" = l.id)) u(id), LATERAL (SELECT tn.names[array_position(tn.ids, u.id)]) z(x)) FROM "Lead" l, tn WHERE l."tenantId" = ${T} ORDER BY l."createdAt", l.id`,
      isoOnly: `SELECT l.id, to_char(l."createdAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), to_char(l."updatedAt" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') FROM "Lead" l WHERE l."tenantId" = ${T} ORDER BY l."createdAt", l.id`,
      cfOnly: `SELECT l.id, ${['plan', 'score', 'note'].map((k) => `(CASE jsonb_typeof(l."customFields" -> '${k}') WHEN 'string' THEN (CASE WHEN left(ltrim(l."customFields" ->> '${k}', ''''), 1) IN ('=', '+') THEN '''' || (l."customFields" ->> '${k}') ELSE l."customFields" ->> '${k}' END) ELSE l."customFields" ->> '${k}' END)`).join(', ')} FROM "Lead" l WHERE l."tenantId" = ${T} ORDER BY l."createdAt", l.id`,
      cfSimple: `SELECT l.id, l."customFields" ->> 'plan', l."customFields" ->> 'score', l."customFields" ->> 'note' FROM "Lead" l WHERE l."tenantId" = ${T} ORDER BY l."createdAt", l.id`,
    };
    for (const [name, select] of Object.entries(variants)) {
      const times: number[] = [];
      for (let i = 0; i < 2; i++) times.push(await copyOf(select));
      console.log(`VARIANT ${name}: ${times.map((x) => x.toFixed(0)).join(', ')} ms`);
    }
  }
  const psqlRun = () =>
    new Promise<{ ms: number; bytes: number }>((resolve, reject) => {
      const start = process.hrtime.bigint();
      const child = spawn('psql', [process.env.DATABASE_URL ?? '', '-X', '-q', '-c', copyText], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let bytes = 0;
      child.stdout.on('data', (c: Buffer) => (bytes += c.length));
      child.on('error', reject);
      child.on('close', () =>
        resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, bytes }),
      );
    });

  let peak = 0;
  const apiRun = async () => {
    const start = process.hrtime.bigint();
    const res = await fetch(`${api.url}/v1/leads/export`, {
      headers: { authorization: `Bearer ${t.token}` },
    });
    let bytes = 0;
    for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) bytes += c.length;
    return { ms: Number(process.hrtime.bigint() - start) / 1e6, bytes, status: res.status };
  };
  if (process.env.H8_VARIANTS) {
    await api.close();
    return;
  }
  await apiRun(); // warm
  await psqlRun();
  global.gc?.();
  const base = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  const results: string[] = [];
  for (let i = 0; i < 3; i++) {
    const a = await apiRun();
    const p = await psqlRun();
    results.push(
      `api ${a.ms.toFixed(0)} ms (${((N / a.ms) * 1000).toFixed(0)} rows/s, ${a.bytes} B, ${a.status}) | psql ${p.ms.toFixed(0)} ms (${((N / p.ms) * 1000).toFixed(0)} rows/s, ${p.bytes} B) | ratio ${(p.ms / a.ms).toFixed(2)}`,
    );
  }
  clearInterval(timer);
  console.log(results.join('\n'));
  console.log(
    `rss before ${(base / 1e6).toFixed(0)} MB, peak during exports ${(peak / 1e6).toFixed(0)} MB (test process: vitest + API + client)`,
  );
    await api.close();
}, 600_000);
