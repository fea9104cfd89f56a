import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '../support/apps.js';
import { bearer, createApiKey } from '../support/accounts.js';
import {
  CRM_ENV,
  crmMember,
  crmTenant,
  createLead,
  type CrmCaller,
  type LeadJson as Lead,
  type Reply,
} from '../support/crm.js';
import { sql } from '../support/db.js';

interface Activity {
  id: string;
  kind: string;
  body: string;
  data: Record<string, unknown>;
  actor: { type: string; id: string | null } | null;
}
interface ErrorReply {
  error: {
    code: string;
    message: string;
    fields?: { field: string; message: string }[];
    details?: Record<string, unknown>;
  };
}

const errorOf = (res: Reply) => (res.body as ErrorReply).error;
const show = (res: Reply) => `${String(res.status)} ${res.text.slice(0, 400)}`;
const fieldsOf = (res: Reply) => (errorOf(res).fields ?? []).map((f) => f.field);
const detailsOf = (res: Reply) => errorOf(res).details ?? {};

/** Unique identity values per test run (the tenant is shared by the tests of a file). */
let serial = 0;
const uniq = () => `${Date.now().toString(36)}${String(++serial)}`;
/** A valid UK mobile number, different each call: +44 7400 xxxxxx. */
const phoneBase = Math.floor(Math.random() * 800_000);
const ukMobile = () => {
  const n = String(100_000 + ((phoneBase + ++serial) % 900_000));
  return { e164: `+447400${n}`, spaced: `+44 7400 ${n}`, national: `07400 ${n}` };
};
/** A Telegram user id beyond 2^53, different each call. */
const tgId = () => (9_007_199_254_740_993n + BigInt(++serial) * 1_000_003n).toString();

async function timeline(caller: CrmCaller, leadId: string): Promise<Activity[]> {
  const res = await caller.call<{ items: Activity[] }>(
    'GET',
    `/v1/leads/${leadId}/activities?limit=200`,
  );
  expect(res.status, show(res)).toBe(200);
  return res.body.items;
}

async function countLeads(tenantId: string): Promise<number> {
  const { rows } = await sql<{ n: number }>(
    'admin',
    'SELECT count(*)::int AS n FROM "Lead" WHERE "tenantId" = $1',
    [tenantId],
  );
  return rows[0]?.n ?? -1;
}

describe('lead records through HTTP', () => {
  let api: RunningApi;
  let owner: Awaited<ReturnType<typeof crmTenant>>;
  let other: Awaited<ReturnType<typeof crmTenant>>;
  let agent: CrmCaller;
  let viewer: CrmCaller;

  beforeAll(async () => {
    api = await startApi(CRM_ENV);
    [owner, other] = await Promise.all([
      crmTenant(api, 'Leads tenant'),
      crmTenant(api, 'Other tenant'),
    ]);
    agent = await crmMember(api, owner, 'agent');
    viewer = await crmMember(api, owner, 'viewer');
  });
  afterAll(async () => {
    await api.close();
  });

  describe('create', () => {
    it('normalises every field, answers 201 with the ETag, and starts the timeline', async () => {
      const phone = ukMobile();
      const username = `Ivan_${uniq()}`;
      const id = tgId();
      const res = await owner.call<Lead>('POST', '/v1/leads', {
        displayName: '  Ivan Petrov  ',
        telegramUserId: id,
        telegramUsername: `@${username}`,
        phone: phone.spaced,
        email: `  Ivan.${username}@Example.COM `,
        language: 'pt-br',
        country: 'gb',
        sourceDetails: {
          chatId: -1001234567890,
          chatTitle: 'Signals',
          messageId: 42,
          messageLink: 'https://t.me/signals/42',
        },
      });
      expect(res.status, show(res)).toBe(201);
      expect(res.headers.get('etag')).toBe('"1"');
      const lead = res.body;
      expect(lead).toMatchObject({
        displayName: 'Ivan Petrov',
        telegramUserId: id,
        telegramUsername: username,
        phone: phone.e164,
        email: `ivan.${username.toLowerCase()}@example.com`,
        language: 'pt-BR',
        country: 'GB',
        source: 'manual',
        sourceDetails: {
          chatId: '-1001234567890',
          chatTitle: 'Signals',
          messageId: 42,
          messageLink: 'https://t.me/signals/42',
        },
        ownerId: owner.userId,
        stageName: 'New',
        tags: [],
        customFields: {},
        version: 1,
      });
      const items = await timeline(owner, lead.id);
      expect(items.map((a) => a.kind)).toEqual(['created']);
      expect(items[0]).toMatchObject({
        data: { source: 'manual' },
        actor: { type: 'user', id: owner.userId },
      });
      const { rows } = await sql<{ searchText: string; phoneNational: string; emailLocal: string }>(
        'admin',
        'SELECT "searchText", "phoneNational", "emailLocal"::text AS "emailLocal" FROM "Lead" WHERE id = $1',
        [lead.id],
      );
      expect(rows[0]).toEqual({
        searchText: `ivan petrov ${username.toLowerCase()} ${phone.e164} ivan.${username.toLowerCase()}@example.com`,
        phoneNational: phone.e164.slice(3),
        emailLocal: `ivan.${username.toLowerCase()}`,
      });
    });

    it('reads a national phone number with the lead’s country', async () => {
      const phone = ukMobile();
      const lead = await createLead<Lead>(owner, {
        displayName: 'National',
        phone: phone.national,
        country: 'GB',
      });
      expect(lead.phone).toBe(phone.e164);
    });

    it('an invalid phone is a 400 naming body.phone, and nothing is created', async () => {
      const before = await countLeads(owner.tenantId);
      for (const phone of ['12345', '+44 12', 'not a phone', '07911 123456']) {
        const res = await owner.call('POST', '/v1/leads', { displayName: 'Bad phone', phone });
        expect(res.status, show(res)).toBe(400);
        expect(fieldsOf(res)).toEqual(['body.phone']);
      }
      expect(await countLeads(owner.tenantId)).toBe(before);
    });

    it('an API key creates leads with source api; a user’s default is manual', async () => {
      const key = await createApiKey(api, owner.owner, ['leads:write', 'leads:read']);
      const res = await api.request('POST', '/v1/leads', {
        headers: bearer(key.key),
        body: { displayName: 'From an integration' },
      });
      expect(res.status, show(res)).toBe(201);
      expect(res.body).toMatchObject({ source: 'api', ownerId: null });
      const explicit = await createLead<Lead>(owner, { displayName: 'DM', source: 'telegram_dm' });
      expect(explicit.source).toBe('telegram_dm');
    });

    it('takes an owner who is a member, and refuses one who is not (400 body.ownerId)', async () => {
      const lead = await createLead<Lead>(owner, {
        displayName: 'For agent',
        ownerId: agent.userId,
      });
      expect(lead.ownerId).toBe(agent.userId);
      for (const ownerId of [other.userId, randomUUID()]) {
        const res = await owner.call('POST', '/v1/leads', { displayName: 'Bad owner', ownerId });
        expect(res.status, show(res)).toBe(400);
        expect(fieldsOf(res)).toEqual(['body.ownerId']);
      }
    });

    it('puts the lead in a given stage; an unknown or foreign stage is a 400 body.stageId', async () => {
      const stages = await sql<{ id: string; name: string }>(
        'admin',
        `SELECT id, name::text AS name FROM "Stage" WHERE "tenantId" = $1 ORDER BY position`,
        [owner.tenantId],
      );
      const interested = stages.rows.find((s) => s.name === 'Interested');
      expect(interested).toBeDefined();
      const lead = await createLead<Lead>(owner, {
        displayName: 'Staged',
        stageId: interested?.id,
      });
      expect(lead).toMatchObject({ stageId: interested?.id, stageName: 'Interested' });
      const foreign = await sql<{ id: string }>(
        'admin',
        `SELECT ibhq_default_stage($1::uuid) AS id`,
        [other.tenantId],
      );
      for (const stageId of [randomUUID(), foreign.rows[0]?.id]) {
        const res = await owner.call('POST', '/v1/leads', { displayName: 'Bad stage', stageId });
        expect(res.status, show(res)).toBe(400);
        expect(fieldsOf(res)).toEqual(['body.stageId']);
      }
    });

    it('sets tags (sorted in the view)', async () => {
      const lead = await createLead<Lead>(owner, {
        displayName: 'Tagged',
        tags: ['vip', 'Crypto', 'vip'],
      });
      expect(lead.tags.map((t) => t.toLowerCase()).sort()).toEqual(['crypto', 'vip']);
    });
  });

  describe('identity uniqueness', () => {
    const cases: [string, () => [Record<string, unknown>, Record<string, unknown>]][] = [
      [
        'telegramUserId (number and string)',
        () => {
          const n = 700_000_000 + (++serial % 100_000_000);
          return [{ telegramUserId: n }, { telegramUserId: ` ${String(n)}` }];
        },
      ],
      [
        'telegramUsername',
        () => {
          const u = `Trader_${uniq()}`;
          return [{ telegramUsername: u }, { telegramUsername: `https://t.me/${u.toUpperCase()}` }];
        },
      ],
      [
        'phone',
        () => {
          const p = ukMobile();
          return [{ phone: p.spaced }, { phone: p.national.replace(' ', '-'), country: 'GB' }];
        },
      ],
      [
        'email',
        () => {
          const e = `Someone.${uniq()}@Example.com`;
          return [{ email: e }, { email: `  ${e.toUpperCase()}  ` }];
        },
      ],
    ];

    it.each(cases)('%s: a second lead is a 409 with the existing id', async (_name, values) => {
      const [first, second] = values();
      const identity = Object.keys(first)[0];
      const lead = await createLead<Lead>(owner, { displayName: 'First', ...first });
      const before = await countLeads(owner.tenantId);
      const res = await owner.call('POST', '/v1/leads', { displayName: 'Second', ...second });
      expect(res.status, show(res)).toBe(409);
      expect(errorOf(res).code).toBe('CONFLICT');
      expect(detailsOf(res)).toMatchObject({ existingLeadId: lead.id, identity });
      expect(await countLeads(owner.tenantId)).toBe(before);
      // Another tenant is another namespace.
      const elsewhere = await other.call('POST', '/v1/leads', {
        displayName: 'Elsewhere',
        ...second,
      });
      expect(elsewhere.status, show(elsewhere)).toBe(201);
    });

    it('?onConflict=merge updates the existing lead instead (200)', async () => {
      const phone = ukMobile();
      const lead = await createLead<Lead>(owner, { displayName: 'Old name', phone: phone.spaced });
      const res = await owner.call<Lead>('POST', '/v1/leads?onConflict=merge', {
        displayName: 'New name',
        phone: phone.e164,
        language: 'en',
      });
      expect(res.status, show(res)).toBe(200);
      expect(res.headers.get('etag')).toBe('"2"');
      expect(res.body).toMatchObject({
        id: lead.id,
        displayName: 'New name',
        language: 'en',
        version: 2,
      });
      const fresh = await owner.call<Lead>('POST', '/v1/leads?onConflict=merge', {
        displayName: 'Brand new',
        phone: ukMobile().e164,
      });
      expect(fresh.status, show(fresh)).toBe(201);
      const bad = await owner.call('POST', '/v1/leads?onConflict=overwrite', { displayName: 'x' });
      expect(bad.status).toBe(400);
      expect(fieldsOf(bad)).toEqual(['query.onConflict']);
    });

    it('identities of two different leads: 409 listing both, nothing changed', async () => {
      const a = await createLead<Lead>(owner, { displayName: 'A', email: `a.${uniq()}@x.com` });
      const b = await createLead<Lead>(owner, { displayName: 'B', phone: ukMobile().e164 });
      for (const path of ['/v1/leads?onConflict=merge', '/v1/leads']) {
        const res = await owner.call('POST', path, {
          displayName: 'Both',
          email: a.email,
          phone: b.phone,
        });
        expect(res.status, show(res)).toBe(409);
        expect(new Set(detailsOf(res).existingLeadIds as string[])).toEqual(new Set([a.id, b.id]));
      }
      const put = await owner.call('PUT', '/v1/leads/by-identity', {
        displayName: 'Both',
        email: a.email,
        phone: b.phone,
      });
      expect(put.status, show(put)).toBe(409);
      for (const lead of [a, b]) {
        const now = await owner.call<Lead>('GET', `/v1/leads/${lead.id}`);
        expect(now.body).toMatchObject({ displayName: lead.displayName, version: 1 });
      }
    });

    it('a PATCH to an identity another lead holds is a 409 with its id', async () => {
      const holder = await createLead<Lead>(owner, {
        displayName: 'Holder',
        email: `h.${uniq()}@x.com`,
      });
      const mover = await createLead<Lead>(owner, { displayName: 'Mover' });
      const res = await owner.call('PATCH', `/v1/leads/${mover.id}`, {
        email: holder.email?.toUpperCase(),
      });
      expect(res.status, show(res)).toBe(409);
      expect(detailsOf(res)).toMatchObject({ existingLeadId: holder.id, identity: 'email' });
      const after = await owner.call<Lead>('GET', `/v1/leads/${mover.id}`);
      expect(after.body).toMatchObject({ email: null, version: 1 });
    });

    it('concurrent creations of one identity: one 201, the others 409 with its id', async () => {
      const phone = ukMobile();
      const replies = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          owner.call<Lead>('POST', '/v1/leads', {
            displayName: `Racer ${String(i)}`,
            phone: phone.e164,
          }),
        ),
      );
      const created = replies.filter((r) => r.status === 201);
      expect(created, replies.map(show).join('\n')).toHaveLength(1);
      const winner = created[0]?.body.id;
      for (const r of replies.filter((x) => x.status !== 201)) {
        expect(r.status, show(r)).toBe(409);
        expect(detailsOf(r)).toMatchObject({ existingLeadId: winner, identity: 'phone' });
      }
    });

    it('concurrent upserts of one identity: one lead, one 201, the others 200', async () => {
      const username = `racer_${uniq()}`;
      const replies = await Promise.all(
        Array.from({ length: 6 }, () =>
          owner.call<Lead>('PUT', '/v1/leads/by-identity', {
            displayName: 'Upsert racer',
            telegramUsername: username,
          }),
        ),
      );
      expect(replies.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
      expect(new Set(replies.map((r) => r.body.id)).size).toBe(1);
    });
  });

  describe('PUT /v1/leads/by-identity', () => {
    it('creates (201), then finds by any identity and updates (200); idempotent', async () => {
      const id = tgId();
      const body = { displayName: 'Integration lead', telegramUserId: id, country: 'DE' };
      const first = await owner.call<Lead>('PUT', '/v1/leads/by-identity', body);
      expect(first.status, show(first)).toBe(201);
      const again = await owner.call<Lead>('PUT', '/v1/leads/by-identity', body);
      expect(again.status, show(again)).toBe(200);
      expect(again.body).toMatchObject({ id: first.body.id, version: 1 });
      const email = `int.${uniq()}@example.com`;
      const changed = await owner.call<Lead>('PUT', '/v1/leads/by-identity', {
        ...body,
        email,
        tags: ['broker-x'],
      });
      expect(changed.status, show(changed)).toBe(200);
      expect(changed.body).toMatchObject({ id: first.body.id, email, version: 2 });
      // Found by the e-mail alone now.
      const byEmail = await owner.call<Lead>('PUT', '/v1/leads/by-identity', {
        displayName: 'Integration lead',
        email: email.toUpperCase(),
      });
      expect(byEmail.status).toBe(200);
      expect(byEmail.body.id).toBe(first.body.id);
      const items = await timeline(owner, first.body.id);
      expect(items.filter((a) => a.kind === 'created')).toHaveLength(1);
      expect(items.filter((a) => a.kind === 'fields_changed')).toHaveLength(1);
    });

    it('needs at least one identity (400)', async () => {
      const res = await owner.call('PUT', '/v1/leads/by-identity', { displayName: 'Nobody' });
      expect(res.status, show(res)).toBe(400);
      expect(errorOf(res).message).toMatch(/identity/);
    });
  });

  describe('read', () => {
    it('GET answers the view with its ETag; missing and foreign ids are the same 404', async () => {
      const lead = await createLead<Lead>(owner, { displayName: 'Readable' });
      const res = await owner.call<Lead>('GET', `/v1/leads/${lead.id}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('etag')).toBe('"1"');
      expect(res.body).toEqual(lead);
      const foreign = await other.call('GET', `/v1/leads/${lead.id}`);
      const missing = await other.call('GET', `/v1/leads/${randomUUID()}`);
      expect(foreign.status).toBe(404);
      expect(missing.status).toBe(404);
      expect(foreign.body).toMatchObject({
        error: { code: 'NOT_FOUND', message: 'lead not found' },
      });
      expect(errorOf(missing).message).toBe(errorOf(foreign).message);
    });

    it('a merged lead’s id answers 308 to its survivor, following chains', async () => {
      const [a, b, c] = [
        await createLead<Lead>(owner, { displayName: 'Merged first' }),
        await createLead<Lead>(owner, { displayName: 'Merged second' }),
        await createLead<Lead>(owner, { displayName: 'Survivor' }),
      ];
      await sql('admin', `UPDATE "Lead" SET "mergedIntoId" = $2 WHERE id = $1`, [a.id, b.id]);
      await sql('admin', `UPDATE "Lead" SET "mergedIntoId" = $2 WHERE id = $1`, [b.id, c.id]);
      for (const id of [a.id, b.id]) {
        const res = await fetch(`${api.url}/v1/leads/${id}`, {
          headers: bearer(owner.token),
          redirect: 'manual',
        });
        expect(res.status).toBe(308);
        expect(res.headers.get('location')).toBe(`/v1/leads/${c.id}`);
        expect(await res.json()).toEqual({ code: 'MERGED', survivorId: c.id });
      }
      // fetch follows the redirect to the survivor.
      const followed = await fetch(`${api.url}/v1/leads/${a.id}`, { headers: bearer(owner.token) });
      expect(((await followed.json()) as Lead).id).toBe(c.id);
      // Writes to the old id are refused, naming the survivor.
      const patch = await owner.call('PATCH', `/v1/leads/${a.id}`, { displayName: 'x' });
      expect(patch.status).toBe(410);
      expect(detailsOf(patch)).toMatchObject({ survivorId: c.id });
      const del = await owner.call('DELETE', `/v1/leads/${b.id}`);
      expect(del.status).toBe(410);
      expect((await other.call('GET', `/v1/leads/${a.id}`)).status).toBe(404);
    });
  });

  describe('update', () => {
    it('changes only the given fields; null clears; records what changed', async () => {
      const phone = ukMobile();
      const lead = await createLead<Lead>(owner, {
        displayName: 'Before',
        phone: phone.e164,
        language: 'en',
        tags: ['one', 'two'],
      });
      const res = await owner.call<Lead>('PATCH', `/v1/leads/${lead.id}`, {
        displayName: 'After',
        language: null,
        country: 'GB',
        tags: ['two', 'three'],
      });
      expect(res.status, show(res)).toBe(200);
      expect(res.headers.get('etag')).toBe('"2"');
      expect(res.body).toMatchObject({
        displayName: 'After',
        phone: phone.e164,
        language: null,
        country: 'GB',
        version: 2,
      });
      expect([...res.body.tags].sort()).toEqual(['three', 'two']);
      const changes = (await timeline(owner, lead.id)).find((a) => a.kind === 'fields_changed');
      expect(changes?.data).toEqual({
        changes: {
          displayName: { from: 'Before', to: 'After' },
          language: { from: 'en', to: null },
          country: { from: null, to: 'GB' },
          tags: { added: ['three'], removed: ['one'] },
        },
      });
      const { rows } = await sql<{ searchText: string }>(
        'admin',
        'SELECT "searchText" FROM "Lead" WHERE id = $1',
        [lead.id],
      );
      expect(rows[0]?.searchText).toBe(`after ${phone.e164}`);
    });

    it('the same values again change nothing: no version bump, no activity', async () => {
      const lead = await createLead<Lead>(owner, { displayName: 'Same', language: 'de' });
      const res = await owner.call<Lead>('PATCH', `/v1/leads/${lead.id}`, {
        displayName: 'Same',
        language: 'de',
        tags: [],
      });
      expect(res.status, show(res)).toBe(200);
      expect(res.body.version).toBe(1);
      expect((await timeline(owner, lead.id)).map((a) => a.kind)).toEqual(['created']);
    });

    it('owner and stage changes are their own activities; the stage move is recorded', async () => {
      const lead = await createLead<Lead>(owner, { displayName: 'Mover' });
      const stages = await sql<{ id: string }>(
        'admin',
        `SELECT id FROM "Stage" WHERE "tenantId" = $1 AND name = 'Contacted'`,
        [owner.tenantId],
      );
      const contacted = stages.rows[0]?.id;
      const res = await owner.call<Lead>('PATCH', `/v1/leads/${lead.id}`, {
        ownerId: agent.userId,
        stageId: contacted,
      });
      expect(res.status, show(res)).toBe(200);
      expect(res.body).toMatchObject({ ownerId: agent.userId, stageName: 'Contacted', version: 2 });
      const kinds = (await timeline(owner, lead.id)).map((a) => a.kind);
      expect(kinds).toContain('owner_changed');
      expect(kinds).toContain('stage_changed');
      expect(kinds).not.toContain('fields_changed');
      const owned = (await timeline(owner, lead.id)).find((a) => a.kind === 'owner_changed');
      expect(owned?.data).toEqual({ from: owner.userId, to: agent.userId });
      const history = await sql<{ n: number }>(
        'admin',
        'SELECT count(*)::int AS n FROM "LeadStageChange" WHERE "leadId" = $1',
        [lead.id],
      );
      expect(history.rows[0]?.n).toBe(1);
      const unassigned = await owner.call<Lead>('PATCH', `/v1/leads/${lead.id}`, { ownerId: null });
      expect(unassigned.body.ownerId).toBeNull();
      const notMember = await owner.call('PATCH', `/v1/leads/${lead.id}`, {
        ownerId: other.userId,
      });
      expect(notMember.status).toBe(400);
      expect(fieldsOf(notMember)).toEqual(['body.ownerId']);
    });

    it('If-Match: a stale version is a 409 with the current one, and changes nothing', async () => {
      const lead = await createLead<Lead>(owner, { displayName: 'Versioned' });
      const ok = await owner.call<Lead>(
        'PATCH',
        `/v1/leads/${lead.id}`,
        { displayName: 'V2' },
        { 'if-match': '"1"' },
      );
      expect(ok.status, show(ok)).toBe(200);
      expect(ok.headers.get('etag')).toBe('"2"');
      for (const [headers, body] of [
        [{ 'if-match': '"1"' }, { displayName: 'Stale' }],
        [{ 'if-match': 'W/"1"' }, { displayName: 'Stale weak' }],
        [{}, { displayName: 'Stale body', version: 1 }],
        [{ 'if-match': '"2"' }, { displayName: 'Disagreeing', version: 1 }],
      ] as const) {
        const stale = await owner.call('PATCH', `/v1/leads/${lead.id}`, body, headers);
        expect(stale.status, show(stale)).toBe(409);
        expect(detailsOf(stale)).toEqual({ currentVersion: 2 });
      }
      const weak = await owner.call<Lead>(
        'PATCH',
        `/v1/leads/${lead.id}`,
        { displayName: 'V3' },
        { 'if-match': 'W/"2"' },
      );
      expect(weak.status).toBe(200);
      const bodyVersion = await owner.call<Lead>('PATCH', `/v1/leads/${lead.id}`, {
        displayName: 'V4',
        version: 3,
      });
      expect(bodyVersion.body.version).toBe(4);
      const malformed = await owner.call(
        'PATCH',
        `/v1/leads/${lead.id}`,
        { displayName: 'x' },
        {
          'if-match': 'three',
        },
      );
      expect(malformed.status).toBe(400);
      expect(fieldsOf(malformed)).toEqual(['headers.if-match']);
      const now = await owner.call<Lead>('GET', `/v1/leads/${lead.id}`);
      expect(now.body).toMatchObject({ displayName: 'V4', version: 4 });
      const changes = (await timeline(owner, lead.id)).filter((a) => a.kind === 'fields_changed');
      expect(changes).toHaveLength(3);
    });

    it('concurrent PATCHes of different fields all land', async () => {
      const lead = await createLead<Lead>(owner, { displayName: 'Busy' });
      const patches: Record<string, unknown>[] = [
        { displayName: 'Busy renamed' },
        { language: 'fr' },
        { country: 'FR' },
        { email: `busy.${uniq()}@example.com` },
        { telegramUsername: `busy_${uniq()}` },
        { sourceDetails: { chatTitle: 'Busy chat' } },
        { tags: ['busy'] },
        { ownerId: agent.userId },
      ];
      const replies = await Promise.all(
        patches.map((p) => owner.call('PATCH', `/v1/leads/${lead.id}`, p)),
      );
      expect(replies.map((r) => r.status)).toEqual(patches.map(() => 200));
      const final = (await owner.call<Lead>('GET', `/v1/leads/${lead.id}`)).body;
      expect(final).toMatchObject({ ...Object.assign({}, ...patches.filter((p) => !p.tags)) });
      expect(final.tags).toEqual(['busy']);
      expect(final.version).toBe(1 + patches.length);
    });

    it('validates like create: 400 naming the field, nothing changed', async () => {
      const lead = await createLead<Lead>(owner, { displayName: 'Strict' });
      const bad: [Record<string, unknown>, string][] = [
        [{ phone: '123' }, 'body.phone'],
        [{ email: 'not-an-email' }, 'body.email'],
        [{ telegramUsername: 'ab' }, 'body.telegramUsername'],
        [{ telegramUserId: -5 }, 'body.telegramUserId'],
        [{ telegramUserId: 2 ** 60 }, 'body.telegramUserId'],
        [{ country: 'XX' }, 'body.country'],
        [{ language: '!!' }, 'body.language'],
        [{ displayName: null }, 'body.displayName'],
        [{ displayName: '   ' }, 'body.displayName'],
        [{ stageId: null }, 'body.stageId'],
        [{ source: 'carrier_pigeon' }, 'body.source'],
        [{ sourceDetails: { chatTitle: 'x', extra: 1 } }, 'body.sourceDetails'],
        [
          { sourceDetails: { messageLink: 'javascript:alert(1)' } },
          'body.sourceDetails.messageLink',
        ],
        [{ version: 'one' }, 'body.version'],
        [{ tags: 'vip' }, 'body.tags'],
        [{ id: randomUUID() }, 'body'],
      ];
      for (const [body, field] of bad) {
        const res = await owner.call('PATCH', `/v1/leads/${lead.id}`, body);
        expect(res.status, `${JSON.stringify(body)}: ${show(res)}`).toBe(400);
        expect(
          fieldsOf(res).some((f) => f.startsWith(field)),
          show(res),
        ).toBe(true);
      }
      const now = await owner.call<Lead>('GET', `/v1/leads/${lead.id}`);
      expect(now.body).toEqual(lead);
    });
  });

  describe('custom fields on leads', () => {
    it('validates values against the definitions (400 naming body.customFields.<key>)', async () => {
      const tenant = await crmTenant(api, 'Custom fields tenant');
      const defs = [
        { key: 'deposit', label: 'Deposit', type: 'number', required: false },
        {
          key: 'broker',
          label: 'Broker',
          type: 'single_select',
          required: true,
          options: ['Alpha', 'Beta'],
        },
      ];
      for (const def of defs) {
        const res = await tenant.call('POST', '/v1/custom-fields', def);
        expect(res.status, show(res)).toBe(201);
      }
      const missing = await tenant.call('POST', '/v1/leads', { displayName: 'No broker' });
      expect(missing.status, show(missing)).toBe(400);
      expect(fieldsOf(missing)).toEqual(['body.customFields.broker']);
      const wrong = await tenant.call('POST', '/v1/leads', {
        displayName: 'Wrong',
        customFields: { broker: 'Gamma', deposit: 'lots', nope: 1 },
      });
      expect(wrong.status, show(wrong)).toBe(400);
      expect([...new Set(fieldsOf(wrong))].sort(), show(wrong)).toEqual([
        'body.customFields.broker',
        'body.customFields.deposit',
        'body.customFields.nope',
      ]);
      const lead = await createLead<Lead>(tenant, {
        displayName: 'Good',
        customFields: { broker: 'alpha', deposit: 250 },
      });
      expect(lead.customFields).toEqual({ broker: 'Alpha', deposit: 250 });
      const patched = await tenant.call<Lead>('PATCH', `/v1/leads/${lead.id}`, {
        customFields: { deposit: null, broker: 'Beta' },
      });
      expect(patched.status, show(patched)).toBe(200);
      expect(patched.body.customFields).toEqual({ broker: 'Beta' });
      const cleared = await tenant.call('PATCH', `/v1/leads/${lead.id}`, {
        customFields: { broker: null },
      });
      expect(cleared.status).toBe(400);
      expect(fieldsOf(cleared)).toEqual(['body.customFields.broker']);
      // An empty text removes a value just as null does: refused alike, nothing changed.
      const emptied = await tenant.call('PATCH', `/v1/leads/${lead.id}`, {
        customFields: { broker: '' },
      });
      expect(emptied.status).toBe(400);
      expect(fieldsOf(emptied)).toEqual(['body.customFields.broker']);
      const still = await tenant.call<Lead>('GET', `/v1/leads/${lead.id}`);
      expect(still.body.customFields).toEqual({ broker: 'Beta' });
      const change = (await timeline(tenant, lead.id)).find((a) => a.kind === 'fields_changed');
      expect(change?.data).toEqual({
        changes: {
          'customFields.deposit': { from: 250, to: null },
          'customFields.broker': { from: 'Alpha', to: 'Beta' },
        },
      });
    });
  });

  describe('delete', () => {
    it('204, then 404; audited; viewers and agents may not', async () => {
      const lead = await createLead<Lead>(owner, { displayName: 'Doomed' });
      for (const caller of [viewer, agent]) {
        const refused = await caller.call('DELETE', `/v1/leads/${lead.id}`);
        expect(refused.status).toBe(403);
      }
      expect((await other.call('DELETE', `/v1/leads/${lead.id}`)).status).toBe(404);
      const res = await owner.call('DELETE', `/v1/leads/${lead.id}`);
      expect(res.status, show(res)).toBe(204);
      expect((await owner.call('GET', `/v1/leads/${lead.id}`)).status).toBe(404);
      expect((await owner.call('DELETE', `/v1/leads/${lead.id}`)).status).toBe(404);
      const audit = await owner.call<{ items: { action: string; target: { id: string } }[] }>(
        'GET',
        '/v1/audit-events?action=lead.deleted',
      );
      expect(audit.body.items.map((e) => e.target.id)).toContain(lead.id);
      const { rows } = await sql<{ n: number }>(
        'admin',
        'SELECT count(*)::int AS n FROM "LeadActivity" WHERE "leadId" = $1',
        [lead.id],
      );
      expect(rows[0]?.n).toBe(0);
    });
  });

  describe('agents who see only their own leads', () => {
    it('may create a lead for another member and hand their own over (then hidden)', async () => {
      const tenant = await crmTenant(api, 'Own leads tenant');
      const scoped = await crmMember(api, tenant, 'agent');
      const setting = await tenant.call('PATCH', '/v1/tenant/settings', {
        agentsSeeOwnLeadsOnly: true,
      });
      expect(setting.status, show(setting)).toBe(200);
      const forOwner = await scoped.call<Lead>('POST', '/v1/leads', {
        displayName: 'For the owner',
        ownerId: tenant.userId,
        tags: ['handover'],
      });
      expect(forOwner.status, show(forOwner)).toBe(201);
      expect(forOwner.body).toMatchObject({
        displayName: 'For the owner',
        ownerId: tenant.userId,
        stageName: 'New',
        tags: ['handover'],
        version: 1,
      });
      expect((await scoped.call('GET', `/v1/leads/${forOwner.body.id}`)).status).toBe(404);
      expect((await tenant.call<Lead>('GET', `/v1/leads/${forOwner.body.id}`)).body).toEqual(
        forOwner.body,
      );
      // Handing their own lead over (with other changes in the same call): then hidden.
      const mine = await createLead<Lead>(scoped, { displayName: 'Mine for now' });
      expect(mine.ownerId).toBe(scoped.userId);
      const handed = await scoped.call<Lead>('PATCH', `/v1/leads/${mine.id}`, {
        ownerId: tenant.userId,
        displayName: 'Handed over',
        tags: ['passed-on'],
      });
      expect(handed.status, show(handed)).toBe(200);
      expect(handed.body).toMatchObject({
        id: mine.id,
        ownerId: tenant.userId,
        displayName: 'Handed over',
        tags: ['passed-on'],
        version: 2,
      });
      expect((await scoped.call('GET', `/v1/leads/${mine.id}`)).status).toBe(404);
      expect((await tenant.call<Lead>('GET', `/v1/leads/${mine.id}`)).body).toEqual(handed.body);
      const kinds = (await timeline(tenant, mine.id)).map((a) => a.kind);
      expect(kinds.sort()).toEqual(['created', 'fields_changed', 'owner_changed']);
      // It is out of their reach now.
      const again = await scoped.call('PATCH', `/v1/leads/${mine.id}`, { ownerId: scoped.userId });
      expect(again.status).toBe(404);
      // An identity held by a lead the agent cannot see: the same 409, without its id.
      const email = `hidden.${uniq()}@example.com`;
      await createLead(tenant, { displayName: 'Hidden holder', email });
      const clash = await scoped.call('POST', '/v1/leads', { displayName: 'Clash', email });
      expect(clash.status, show(clash)).toBe(409);
      expect(detailsOf(clash)).toEqual({ identity: 'email' });
    });
  });

  describe('another tenant’s lead on every route: 404, nothing changed', () => {
    it.each([
      ['GET', ''],
      ['PATCH', ''],
      ['DELETE', ''],
    ])('%s /v1/leads/:id%s', async (method, suffix) => {
      const lead = await createLead<Lead>(owner, { displayName: 'Not yours' });
      const res = await other.call(
        method,
        `/v1/leads/${lead.id}${suffix}`,
        method === 'PATCH' ? { displayName: 'pwned' } : undefined,
      );
      expect(res.status, show(res)).toBe(404);
      expect(errorOf(res).code).toBe('NOT_FOUND');
      const still = await owner.call<Lead>('GET', `/v1/leads/${lead.id}`);
      expect(still.body).toEqual(lead);
    });

    it('PUT by-identity never finds another tenant’s lead', async () => {
      const email = `iso.${uniq()}@example.com`;
      const mine = await createLead<Lead>(owner, { displayName: 'Mine', email });
      const theirs = await other.call<Lead>('PUT', '/v1/leads/by-identity', {
        displayName: 'Theirs',
        email,
      });
      expect(theirs.status).toBe(201);
      expect(theirs.body.id).not.toBe(mine.id);
      expect((await owner.call<Lead>('GET', `/v1/leads/${mine.id}`)).body.displayName).toBe('Mine');
    });
  });

  describe('hostile input', () => {
    it('answers 4xx naming the problem, never 500, and creates nothing', async () => {
      const before = await countLeads(owner.tenantId);
      const cases: [unknown, string | null][] = [
        [{ displayName: 'x', isAdmin: true }, 'body'],
        [{ displayName: 42 }, 'body.displayName'],
        [{ displayName: 'a'.repeat(201) }, 'body.displayName'],
        [{ displayName: 'nul\u0000byte' }, 'body.displayName'],
        [{ displayName: 'lone \ud800 surrogate' }, 'body.displayName'],
        [
          { displayName: 'x', sourceDetails: { messageLink: 'https://t.me/\ud800' } },
          'body.sourceDetails.messageLink',
        ],
        [{ displayName: 'x', sourceDetails: { chatTitle: '\udfff' } }, 'body.sourceDetails'],
        [{ displayName: 'x', customFields: { ['k'.repeat(300)]: 1 } }, 'body.customFields'],
        [
          { displayName: 'x', tags: Array.from({ length: 101 }, (_, i) => `t${String(i)}`) },
          'body.tags',
        ],
        [{ displayName: 'x', tags: ['a\u0000'] }, 'body.tags.0'],
        [{ displayName: 'x', email: `${'a'.repeat(400)}@example.com` }, 'body.email'],
        [{ displayName: 'x', phone: '1'.repeat(100) }, 'body.phone'],
        [{ displayName: 'x', telegramUserId: '99999999999999999999' }, 'body.telegramUserId'],
        [{ displayName: 'x', ownerId: "1' OR '1'='1" }, 'body.ownerId'],
        [[{ displayName: 'array' }], 'body'],
        [null, 'body'],
      ];
      for (const [body, field] of cases) {
        const res = await owner.call('POST', '/v1/leads', body);
        expect(res.status, `${JSON.stringify(body).slice(0, 80)}: ${show(res)}`).toBe(400);
        if (field)
          expect(
            fieldsOf(res).some((f) => f.startsWith(field)),
            show(res),
          ).toBe(true);
      }
      const huge = await owner.call('POST', '/v1/leads', {
        displayName: 'n'.repeat(10 * 1024 * 1024),
      });
      expect(huge.status).toBe(413);
      const broken = await api.request('POST', '/v1/leads', {
        headers: { ...bearer(owner.token), 'content-type': 'application/json' },
        body: '{"displayName": ',
      });
      expect(broken.status).toBe(400);
      expect(await countLeads(owner.tenantId)).toBe(before);
    });

    it('stores SQL and script fragments as plain text', async () => {
      const name = `Robert'); DROP TABLE "Lead";-- <script>alert(1)</script>`;
      const lead = await createLead<Lead>(owner, { displayName: name });
      expect((await owner.call<Lead>('GET', `/v1/leads/${lead.id}`)).body.displayName).toBe(name);
    });

    it('invalid ids are a 400 naming the parameter on every route', async () => {
      for (const [method, body] of [
        ['GET', undefined],
        ['PATCH', { displayName: 'x' }],
        ['DELETE', undefined],
      ] as const) {
        for (const id of ['not-a-uuid', "1'%20OR%20'1'='1", '%00', 'x'.repeat(90)]) {
          const res = await owner.call(method, `/v1/leads/${id}`, body);
          expect(res.status, show(res)).toBe(400);
          expect(fieldsOf(res)).toEqual(['params.id']);
        }
        // Longer than the router takes: refused before any handler.
        const long = await owner.call(method, `/v1/leads/${'x'.repeat(300)}`, body);
        expect(long.status).toBe(414);
      }
    });
  });
});
