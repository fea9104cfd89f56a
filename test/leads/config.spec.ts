import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '../support/apps.js';
import { sql } from '../support/db.js';
import {
  createLead,
  crmMember,
  crmTenant,
  CRM_ENV,
  type CrmCaller,
  type Reply,
} from '../support/crm.js';

// Tags, custom field definitions (and the validation of values on lead writes), and
// round-robin assignment rules, through HTTP against the real PostgreSQL and Redis.

type Tag = { id: string; name: string; color: string | null; leadCount: number };
type Page<T> = { items: T[]; nextCursor: string | null };
type Field = {
  id: string;
  key: string;
  label: string;
  type: string;
  required: boolean;
  options: string[];
  position: number;
};
type Rule = { source: string; memberIds: string[]; nextIndex: number };
type Lead = {
  id: string;
  version: number;
  ownerId: string | null;
  tags: string[];
  customFields: Record<string, unknown>;
};
type ErrorBody = {
  error: {
    code: string;
    message: string;
    fields?: { field: string; message: string }[];
    details?: Record<string, unknown>;
  };
};
type Audit = { action: string; target: { id: string } | null; metadata: Record<string, unknown> };

const MISSING = '01900000-0000-7000-8000-000000000000';

/** The fields a 400 names. */
const fieldsOf = (res: Reply) => ((res.body as ErrorBody).error.fields ?? []).map((f) => f.field);

async function audit(caller: CrmCaller, action: string): Promise<Audit[]> {
  const res = await caller.call<Page<Audit>>('GET', `/v1/audit-events?action=${action}&limit=200`);
  expect(res.status).toBe(200);
  return res.body.items;
}

async function getLead(caller: CrmCaller, id: string): Promise<Lead> {
  const res = await caller.call<Lead>('GET', `/v1/leads/${id}`);
  expect(res.status).toBe(200);
  return res.body;
}

describe('CRM configuration: tags, custom fields, assignment', () => {
  let api: RunningApi;
  let owner: Awaited<ReturnType<typeof crmTenant>>;
  let other: Awaited<ReturnType<typeof crmTenant>>;
  let admin: CrmCaller;
  let agent: CrmCaller;
  let viewer: CrmCaller;

  beforeAll(async () => {
    api = await startApi(CRM_ENV);
    [owner, other] = await Promise.all([crmTenant(api, 'Config IB'), crmTenant(api, 'Other IB')]);
    [admin, agent, viewer] = await Promise.all([
      crmMember(api, owner, 'admin'),
      crmMember(api, owner, 'agent'),
      crmMember(api, owner, 'viewer'),
    ]);
  });
  afterAll(() => api.close());

  describe('tags', () => {
    it('creates, lists with lead counts, renames, recolours and deletes, all audited', async () => {
      const created = await admin.call<Tag>('POST', '/v1/tags', {
        name: ' VIP ',
        color: '#FF0000',
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ name: 'VIP', color: '#ff0000', leadCount: 0 });
      const vip = created.body;

      // Leads tagged on creation (one by another spelling of the same tag).
      const a = await createLead<Lead>(agent, { displayName: 'Tag A', tags: ['vip', 'Warm'] });
      const b = await createLead<Lead>(agent, { displayName: 'Tag B', tags: ['VIP'] });
      expect(a.tags).toEqual(['VIP', 'Warm']);
      expect(b.tags).toEqual(['VIP']);

      const list = await viewer.call<Page<Tag>>('GET', '/v1/tags');
      expect(list.status).toBe(200);
      const counts = Object.fromEntries(list.body.items.map((t) => [t.name, t.leadCount]));
      expect(counts).toMatchObject({ VIP: 2, Warm: 1 });

      const renamed = await admin.call<Tag>('PATCH', `/v1/tags/${vip.id}`, { name: 'Premium' });
      expect(renamed.status).toBe(200);
      expect(renamed.body).toMatchObject({ id: vip.id, name: 'Premium', color: '#ff0000' });
      expect((await getLead(agent, a.id)).tags).toEqual(['Premium', 'Warm']);

      const recoloured = await admin.call<Tag>('PATCH', `/v1/tags/${vip.id}`, { color: null });
      expect(recoloured.body).toMatchObject({ name: 'Premium', color: null });

      const removed = await admin.call('DELETE', `/v1/tags/${vip.id}`);
      expect(removed.status).toBe(204);
      expect((await getLead(agent, a.id)).tags).toEqual(['Warm']);
      expect((await getLead(agent, b.id)).tags).toEqual([]);
      expect((await admin.call('GET', `/v1/tags/${vip.id}`)).status).toBe(404);

      const events = await audit(owner, 'tag.*');
      const mine = events.filter((e) => e.target?.id === vip.id).map((e) => e.action);
      expect(mine.sort()).toEqual(['tag.created', 'tag.deleted', 'tag.renamed', 'tag.updated']);
      expect(
        events.find((e) => e.action === 'tag.deleted' && e.target?.id === vip.id)?.metadata,
      ).toMatchObject({ count: 2 });
    });

    it('a duplicate name (any case) is a 409 with the existing id; a rename clash too', async () => {
      const first = await admin.call<Tag>('POST', '/v1/tags', { name: 'Hot lead' });
      expect(first.status).toBe(201);
      const dup = await admin.call<ErrorBody>('POST', '/v1/tags', { name: 'HOT LEAD' });
      expect(dup.status).toBe(409);
      expect(dup.body.error.details).toMatchObject({ existingId: first.body.id });

      const second = await admin.call<Tag>('POST', '/v1/tags', { name: 'Cold lead' });
      const clash = await admin.call('PATCH', `/v1/tags/${second.body.id}`, { name: 'hot LEAD' });
      expect(clash.status).toBe(409);
      // A change of case of its own name is no clash.
      const recase = await admin.call<Tag>('PATCH', `/v1/tags/${second.body.id}`, {
        name: 'COLD lead',
      });
      expect(recase.status).toBe(200);
      expect(recase.body.name).toBe('COLD lead');
    });

    it('concurrent creations of one name: one 201, the rest 409, never a 500', async () => {
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          admin.call('POST', '/v1/tags', { name: i % 2 ? 'Racy' : 'RACY' }),
        ),
      );
      expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    });

    it('concurrent leads naming one new tag (in any case) share a single tag', async () => {
      const leads = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          createLead<Lead>(agent, {
            displayName: `Concurrent tag ${i}`,
            tags: [i % 2 ? 'Brand new' : 'BRAND NEW', 'brand new'],
          }),
        ),
      );
      for (const lead of leads) expect(lead.tags).toHaveLength(1);
      const tags = (await admin.call<Page<Tag>>('GET', '/v1/tags?limit=500')).body.items;
      const brandNew = tags.filter((t) => t.name.toLowerCase() === 'brand new');
      expect(brandNew).toHaveLength(1);
      expect(brandNew[0]?.leadCount).toBe(8);
    });

    it('pages by name with an opaque cursor', async () => {
      const t = await crmTenant(api, 'Tag pages');
      for (const name of ['delta', 'Alpha', 'charlie', 'Bravo', 'echo']) {
        expect((await t.call('POST', '/v1/tags', { name })).status).toBe(201);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
        const page: Reply<Page<Tag>> = await t.call<Page<Tag>>('GET', `/v1/tags?limit=2${q}`);
        expect(page.status).toBe(200);
        expect(page.body.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.body.items.map((x) => x.name));
        cursor = page.body.nextCursor;
      } while (cursor);
      expect(seen).toEqual(['Alpha', 'Bravo', 'charlie', 'delta', 'echo']);
    });

    it('agents and viewers may not manage tags', async () => {
      expect((await agent.call('POST', '/v1/tags', { name: 'Nope' })).status).toBe(403);
      expect((await viewer.call('POST', '/v1/tags', { name: 'Nope' })).status).toBe(403);
    });

    it('rejects hostile input with a 4xx naming the problem, changing nothing', async () => {
      const before = (await admin.call<Page<Tag>>('GET', '/v1/tags?limit=500')).body.items.length;
      const cases: [unknown, string][] = [
        [{ name: 'x', extra: 1 }, 'body'],
        [{ name: 42 }, 'body.name'],
        [{ name: '' }, 'body.name'],
        [{ name: '   ' }, 'body.name'],
        [{ name: 'x'.repeat(51) }, 'body.name'],
        [{ name: 'a\u0000b' }, 'body.name'],
        [{ name: 'ok', color: 'red' }, 'body.color'],
        [{ name: 'ok', color: '#12345g' }, 'body.color'],
      ];
      for (const [body, field] of cases) {
        const res = await admin.call('POST', '/v1/tags', body);
        expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
        expect(fieldsOf(res).some((f) => f.startsWith(field))).toBe(true);
      }
      const huge = await admin.call('POST', '/v1/tags', { name: 'n'.repeat(10 * 1024 * 1024) });
      expect([400, 413]).toContain(huge.status);
      // SQL is just text.
      const sql = await admin.call<Tag>('POST', '/v1/tags', { name: `x'); DROP TABLE "Tag";--` });
      expect(sql.status).toBe(201);
      expect(sql.body.name).toBe(`x'); DROP TABLE "Tag";--`);
      expect((await admin.call('PATCH', `/v1/tags/${sql.body.id}`, {})).status).toBe(400);
      expect((await admin.call('PATCH', '/v1/tags/not-a-uuid', { name: 'x' })).status).toBe(400);
      expect((await admin.call('GET', '/v1/tags?cursor=AAAA')).status).toBe(400);
      expect((await admin.call('GET', '/v1/tags?cursor=%00')).status).toBe(400);
      expect((await admin.call('GET', '/v1/tags?limit=0')).status).toBe(400);
      expect((await admin.call('GET', '/v1/tags?nope=1')).status).toBe(400);
      expect((await admin.call('DELETE', `/v1/tags/${MISSING}`)).status).toBe(404);
      const after = (await admin.call<Page<Tag>>('GET', '/v1/tags?limit=500')).body.items.length;
      expect(after).toBe(before + 1);
    });

    it("another tenant's tag answers 404 on every route, and is untouched", async () => {
      const tag = (await admin.call<Tag>('POST', '/v1/tags', { name: 'Mine only' })).body;
      expect((await other.call('GET', `/v1/tags/${tag.id}`)).status).toBe(404);
      expect((await other.call('PATCH', `/v1/tags/${tag.id}`, { name: 'Stolen' })).status).toBe(
        404,
      );
      expect((await other.call('DELETE', `/v1/tags/${tag.id}`)).status).toBe(404);
      const theirs = await other.call<Page<Tag>>('GET', '/v1/tags?limit=500');
      expect(theirs.body.items.map((t) => t.id)).not.toContain(tag.id);
      expect((await admin.call<Tag>('GET', `/v1/tags/${tag.id}`)).body.name).toBe('Mine only');
    });
  });

  describe('custom fields', () => {
    let fields: Record<string, Field>;

    beforeAll(async () => {
      const defs = [
        { key: 'note', label: 'Note', type: 'text' },
        { key: 'deposit', label: 'First deposit', type: 'number' },
        { key: 'kyc_date', label: 'KYC date', type: 'date' },
        { key: 'is_vip', label: 'VIP', type: 'boolean' },
        {
          key: 'tier',
          label: 'Tier',
          type: 'single_select',
          options: ['Bronze', 'Silver', 'Gold'],
        },
        {
          key: 'markets',
          label: 'Markets',
          type: 'multi_select',
          options: ['forex', 'crypto', 'indices'],
        },
      ];
      fields = {};
      for (const def of defs) {
        const res = await admin.call<Field>('POST', '/v1/custom-fields', def);
        expect(res.status, res.text).toBe(201);
        fields[def.key] = res.body;
      }
    });

    it('lists the definitions in position order', async () => {
      const res = await viewer.call<{ items: Field[] }>('GET', '/v1/custom-fields');
      expect(res.status).toBe(200);
      expect(res.body.items.map((f) => f.key)).toEqual([
        'note',
        'deposit',
        'kyc_date',
        'is_vip',
        'tier',
        'markets',
      ]);
      expect(res.body.items[4]).toMatchObject({ type: 'single_select', required: false });
    });

    it('stores valid values of every type on create and update', async () => {
      const lead = await createLead<Lead>(agent, {
        displayName: 'Typed',
        customFields: {
          note: 'likes gold',
          deposit: 500.25,
          kyc_date: '2024-02-29',
          is_vip: true,
          tier: 'gold',
          markets: ['indices', 'forex'],
        },
      });
      expect(lead.customFields).toEqual({
        note: 'likes gold',
        deposit: 500.25,
        kyc_date: '2024-02-29',
        is_vip: true,
        tier: 'Gold',
        markets: ['forex', 'indices'],
      });
      const updated = await agent.call<Lead>('PATCH', `/v1/leads/${lead.id}`, {
        version: lead.version,
        customFields: { deposit: null, tier: 'Silver' },
      });
      expect(updated.status, updated.text).toBe(200);
      expect(updated.body.customFields).toEqual({
        note: 'likes gold',
        kyc_date: '2024-02-29',
        is_vip: true,
        tier: 'Silver',
        markets: ['forex', 'indices'],
      });
    });

    it.each([
      ['note', 7],
      ['note', 'x'.repeat(2001)],
      ['deposit', '100'],
      ['kyc_date', '2023-02-29'],
      ['kyc_date', '29/02/2024'],
      ['is_vip', 'yes'],
      ['tier', 'Platinum'],
      ['tier', ['Gold']],
      ['markets', 'forex'],
      ['markets', ['forex', 'bonds']],
      ['markets', ['forex', 'forex']],
      ['unknown_key', 1],
    ])('%s = %j is a 400 naming the field on create and update', async (key, value) => {
      const create = await agent.call('POST', '/v1/leads', {
        displayName: `Bad ${key}`,
        customFields: { [key]: value },
      });
      expect(create.status).toBe(400);
      expect(fieldsOf(create)).toEqual([`body.customFields.${key}`]);

      const lead = await createLead<Lead>(agent, { displayName: `Good ${key}` });
      const update = await agent.call('PATCH', `/v1/leads/${lead.id}`, {
        version: lead.version,
        customFields: { [key]: value },
      });
      expect(update.status).toBe(400);
      expect(fieldsOf(update)).toEqual([`body.customFields.${key}`]);
      expect((await getLead(agent, lead.id)).version).toBe(lead.version);
    });

    it('a required field must have a value when a lead is created', async () => {
      const t = await crmTenant(api, 'Required fields');
      const res = await t.call<Field>('POST', '/v1/custom-fields', {
        key: 'broker',
        label: 'Broker',
        type: 'text',
        required: true,
      });
      expect(res.status).toBe(201);
      const missing = await t.call('POST', '/v1/leads', { displayName: 'No broker' });
      expect(missing.status).toBe(400);
      expect(fieldsOf(missing)).toEqual(['body.customFields.broker']);
      const lead = await createLead<Lead>(t, {
        displayName: 'With broker',
        customFields: { broker: 'Exness' },
      });
      // Removing the required value is refused too.
      const removal = await t.call('PATCH', `/v1/leads/${lead.id}`, {
        version: lead.version,
        customFields: { broker: null },
      });
      expect(removal.status).toBe(400);
      expect(fieldsOf(removal)).toEqual(['body.customFields.broker']);
    });

    it('validates definitions: key, type, options', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ key: 'Bad-Key', label: 'x', type: 'text' }, 'body.key'],
        [{ key: '1abc', label: 'x', type: 'text' }, 'body.key'],
        [{ key: 'k'.repeat(65), label: 'x', type: 'text' }, 'body.key'],
        [{ key: 'okay', label: '', type: 'text' }, 'body.label'],
        [{ key: 'okay', label: 'x', type: 'color' }, 'body.type'],
        [{ key: 'okay', label: 'x', type: 'text', options: ['a'] }, 'body.options'],
        [{ key: 'okay', label: 'x', type: 'single_select' }, 'body.options'],
        [{ key: 'okay', label: 'x', type: 'single_select', options: ['A', 'a'] }, 'body.options.1'],
        [{ key: 'okay', label: 'x', type: 'multi_select', options: ['a;b'] }, 'body.options.0'],
        [
          {
            key: 'okay',
            label: 'x',
            type: 'single_select',
            options: Array.from({ length: 201 }, (_, i) => `o${i}`),
          },
          'body.options',
        ],
        [{ key: 'okay', label: 'x', type: 'text', extra: true }, 'body'],
      ];
      for (const [body, field] of cases) {
        const res = await admin.call('POST', '/v1/custom-fields', body);
        expect(res.status, JSON.stringify(body).slice(0, 100)).toBe(400);
        expect(fieldsOf(res)).toContain(field);
      }
      const dup = await admin.call('POST', '/v1/custom-fields', {
        key: 'note',
        label: 'Again',
        type: 'text',
      });
      expect(dup.status).toBe(409);
      // Key and type are immutable.
      const immutable = await admin.call('PATCH', `/v1/custom-fields/${fields.note?.id}`, {
        type: 'number',
      });
      expect(immutable.status).toBe(400);
      const noOptions = await admin.call('PATCH', `/v1/custom-fields/${fields.note?.id}`, {
        options: ['a'],
      });
      expect(noOptions.status).toBe(400);
      expect(fieldsOf(noOptions)).toEqual(['body.options']);
    });

    it('changes label, required, position and options; removing a used option is a 409', async () => {
      const tier = fields.tier as Field;
      const lead = await createLead<Lead>(agent, {
        displayName: 'Bronze holder',
        customFields: { tier: 'Bronze' },
      });
      const refused = await admin.call<ErrorBody>('PATCH', `/v1/custom-fields/${tier.id}`, {
        options: ['Silver', 'Gold'],
      });
      expect(refused.status).toBe(409);
      expect(refused.body.error.details).toMatchObject({ count: 1, options: ['Bronze'] });

      const added = await admin.call<Field>('PATCH', `/v1/custom-fields/${tier.id}`, {
        label: 'Client tier',
        options: ['Bronze', 'Silver', 'Gold', 'Platinum'],
        position: 99,
      });
      expect(added.status).toBe(200);
      expect(added.body).toMatchObject({
        key: 'tier',
        label: 'Client tier',
        type: 'single_select',
        options: ['Bronze', 'Silver', 'Gold', 'Platinum'],
        position: 99,
      });
      // The lead moves off Bronze; then Bronze can go.
      const moved = await agent.call('PATCH', `/v1/leads/${lead.id}`, {
        version: lead.version,
        customFields: { tier: 'platinum' },
      });
      expect(moved.status).toBe(200);
      const dropped = await admin.call<Field>('PATCH', `/v1/custom-fields/${tier.id}`, {
        options: ['Silver', 'Gold', 'Platinum'],
      });
      expect(dropped.status).toBe(200);
      expect((await getLead(agent, lead.id)).customFields).toEqual({ tier: 'Platinum' });
      expect(
        (
          await agent.call('POST', '/v1/leads', {
            displayName: 'x',
            customFields: { tier: 'Bronze' },
          })
        ).status,
      ).toBe(400);
    });

    it('deleting a definition removes its values from every lead, audited with the count', async () => {
      const res = await admin.call<Field>('POST', '/v1/custom-fields', {
        key: 'campaign',
        label: 'Campaign',
        type: 'text',
      });
      const leads = await Promise.all(
        [1, 2, 3].map((i) =>
          createLead<Lead>(agent, {
            displayName: `Campaign ${i}`,
            customFields: i < 3 ? { campaign: `c${i}`, note: 'kept' } : { note: 'kept' },
          }),
        ),
      );
      expect((await admin.call('DELETE', `/v1/custom-fields/${res.body.id}`)).status).toBe(204);
      for (const lead of leads) {
        const read = await getLead(agent, lead.id);
        expect(read.customFields).toEqual({ note: 'kept' });
      }
      // The version moved for the leads that held a value (a stale write conflicts).
      expect((await getLead(agent, leads[0]?.id ?? '')).version).toBe((leads[0]?.version ?? 0) + 1);
      expect((await getLead(agent, leads[2]?.id ?? '')).version).toBe(leads[2]?.version);
      expect((await admin.call('GET', `/v1/custom-fields/${res.body.id}`)).status).toBe(404);
      // The key is free again, and the old values did not come back.
      const again = await admin.call('POST', '/v1/custom-fields', {
        key: 'campaign',
        label: 'Campaign',
        type: 'number',
      });
      expect(again.status).toBe(201);
      expect((await getLead(agent, leads[0]?.id ?? '')).customFields).toEqual({ note: 'kept' });
      const events = await audit(owner, 'custom_field.deleted');
      expect(events.find((e) => e.target?.id === res.body.id)?.metadata).toMatchObject({
        key: 'campaign',
        count: 2,
      });
    });

    it('a tenant has at most 100 definitions', async () => {
      const t = await crmTenant(api, 'Many fields');
      for (let i = 0; i < 100; i += 1) {
        const res = await t.call('POST', '/v1/custom-fields', {
          key: `f${i}`,
          label: `F${i}`,
          type: 'boolean',
        });
        expect(res.status).toBe(201);
      }
      const over = await t.call<ErrorBody>('POST', '/v1/custom-fields', {
        key: 'f100',
        label: 'F100',
        type: 'boolean',
      });
      expect(over.status).toBe(409);
      expect(over.body.error.details).toMatchObject({ limit: 100 });
    });

    it("another tenant's definition answers 404 and its values are unknown keys there", async () => {
      const id = fields.note?.id ?? '';
      expect((await other.call('GET', `/v1/custom-fields/${id}`)).status).toBe(404);
      expect((await other.call('PATCH', `/v1/custom-fields/${id}`, { label: 'x' })).status).toBe(
        404,
      );
      expect((await other.call('DELETE', `/v1/custom-fields/${id}`)).status).toBe(404);
      const theirs = await other.call<{ items: Field[] }>('GET', '/v1/custom-fields');
      expect(theirs.body.items).toEqual([]);
      const lead = await other.call('POST', '/v1/leads', {
        displayName: 'x',
        customFields: { note: 'hi' },
      });
      expect(lead.status).toBe(400);
      expect(fieldsOf(lead)).toEqual(['body.customFields.note']);
      expect((await admin.call<Field>('GET', `/v1/custom-fields/${id}`)).body.label).toBe('Note');
    });

    it('rejects hostile input without a 500', async () => {
      const id = fields.note?.id ?? '';
      const bodies: unknown[] = [
        { key: 'x', label: 'x'.repeat(10 * 1024 * 1024), type: 'text' },
        { key: 'x\'; DROP TABLE "CustomField";--', label: 'x', type: 'text' },
        { key: 'ok2', label: 'x', type: 'text', required: 'yes' },
        { key: 'ok2', label: 'x', type: 'single_select', options: 'a,b' },
        { key: 'ok2', label: 'x', type: 'single_select', options: [1, 2] },
        '{"__proto__": {"polluted": true}, "key": "ok2", "label": "x", "type": "text"}',
        [],
      ];
      for (const body of bodies) {
        const res = await admin.call('POST', '/v1/custom-fields', body);
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
      }
      expect((await admin.call('PATCH', `/v1/custom-fields/${id}`, {})).status).toBe(400);
      expect((await admin.call('PATCH', `/v1/custom-fields/${id}`, { position: -1 })).status).toBe(
        400,
      );
      expect((await admin.call('GET', '/v1/custom-fields/1%27%20OR%201=1')).status).toBe(400);
      expect((await admin.call('DELETE', `/v1/custom-fields/${MISSING}`)).status).toBe(404);
      expect(
        (await agent.call('POST', '/v1/custom-fields', { key: 'a', label: 'a', type: 'text' }))
          .status,
      ).toBe(403);
      const list = await admin.call<{ items: Field[] }>('GET', '/v1/custom-fields');
      expect(list.body.items.map((f) => f.key)).not.toContain('ok2');
    });
  });

  describe('round-robin assignment', () => {
    it('gives new leads of a source to the rule members in turn, audited', async () => {
      const t = await crmTenant(api, 'Round robin');
      const [a1, a2] = await Promise.all([crmMember(api, t, 'agent'), crmMember(api, t, 'agent')]);
      const put = await t.call<Rule>('PUT', '/v1/assignment-rules/telegram_dm', {
        memberIds: [a1.userId, a2.userId, t.userId],
      });
      expect(put.status).toBe(200);
      expect(put.body).toMatchObject({
        source: 'telegram_dm',
        memberIds: [a1.userId, a2.userId, t.userId],
      });
      const owners: (string | null)[] = [];
      for (let i = 0; i < 7; i += 1) {
        const lead = await createLead<Lead>(t, { displayName: `RR ${i}`, source: 'telegram_dm' });
        owners.push(lead.ownerId);
      }
      expect(owners).toEqual([
        a1.userId,
        a2.userId,
        t.userId,
        a1.userId,
        a2.userId,
        t.userId,
        a1.userId,
      ]);
      // Other sources have no rule: the rule does not apply to them.
      const manual = await createLead<Lead>(a2, { displayName: 'Manual', source: 'manual' });
      expect(manual.ownerId).not.toBe(a1.userId);
      // An explicit owner wins over the rule and does not use a turn.
      const explicit = await createLead<Lead>(t, {
        displayName: 'Explicit',
        source: 'telegram_dm',
        ownerId: t.userId,
      });
      expect(explicit.ownerId).toBe(t.userId);
      const next = await createLead<Lead>(t, { displayName: 'Next', source: 'telegram_dm' });
      expect(next.ownerId).toBe(a2.userId);

      const rules = await a1.call<{ items: Rule[] }>('GET', '/v1/assignment-rules');
      expect(rules.status).toBe(200);
      expect(rules.body.items.map((r) => r.source)).toEqual(['telegram_dm']);
      const events = await audit(t, 'assignment_rule.set');
      expect(events[0]?.metadata).toMatchObject({ source: 'telegram_dm', count: 3 });
    });

    it('concurrent new leads never get the same turn', async () => {
      const t = await crmTenant(api, 'Concurrent turns');
      const members = await Promise.all([
        crmMember(api, t, 'agent'),
        crmMember(api, t, 'agent'),
        crmMember(api, t, 'agent'),
      ]);
      const ids = members.map((m) => m.userId);
      expect((await t.call('PUT', '/v1/assignment-rules/api', { memberIds: ids })).status).toBe(
        200,
      );
      const leads = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          createLead<Lead>(t, { displayName: `Burst ${i}`, source: 'api' }),
        ),
      );
      const perOwner = new Map<string | null, number>();
      for (const lead of leads) perOwner.set(lead.ownerId, (perOwner.get(lead.ownerId) ?? 0) + 1);
      expect([...perOwner.keys()].sort()).toEqual([...ids].sort());
      expect([...perOwner.values()]).toEqual([4, 4, 4]);
    });

    it('a removed member loses their leads (unassigned) and leaves every rule', async () => {
      const t = await crmTenant(api, 'Member removal');
      const [a1, a2] = await Promise.all([crmMember(api, t, 'agent'), crmMember(api, t, 'agent')]);
      await t.call('PUT', '/v1/assignment-rules/telegram_group', {
        memberIds: [a1.userId, a2.userId],
      });
      await t.call('PUT', '/v1/assignment-rules/import', { memberIds: [a1.userId] });
      const l1 = await createLead<Lead>(t, { displayName: 'G1', source: 'telegram_group' });
      const l2 = await createLead<Lead>(t, { displayName: 'G2', source: 'telegram_group' });
      expect([l1.ownerId, l2.ownerId]).toEqual([a1.userId, a2.userId]);

      const members = await t.call<{ items: { id: string; userId: string }[] }>(
        'GET',
        '/v1/members',
      );
      const membership = members.body.items.find((m) => m.userId === a1.userId);
      expect((await t.call('DELETE', `/v1/members/${membership?.id}`)).status).toBe(204);

      const after1 = await getLead(t, l1.id);
      expect(after1.ownerId).toBeNull();
      expect(after1.version).toBe(l1.version + 1);
      expect((await getLead(t, l2.id)).ownerId).toBe(a2.userId);
      const rules = (await t.call<{ items: Rule[] }>('GET', '/v1/assignment-rules')).body.items;
      expect(rules.find((r) => r.source === 'telegram_group')?.memberIds).toEqual([a2.userId]);
      expect(rules.find((r) => r.source === 'import')?.memberIds).toEqual([]);
      const l3 = await createLead<Lead>(t, { displayName: 'G3', source: 'telegram_group' });
      expect(l3.ownerId).toBe(a2.userId);
      // A rule left with no one assigns nobody (the creator may own it instead).
      const l4 = await createLead<Lead>(a2, { displayName: 'I1', source: 'import' });
      expect(l4.ownerId).not.toBe(a1.userId);
      // A rule that still names only a former member (written behind the API's back)
      // assigns nobody, and its turn goes back to the start.
      await sql(
        'admin',
        `UPDATE "AssignmentRule" SET "memberIds" = ARRAY[$2::uuid], "nextIndex" = 1
          WHERE "tenantId" = $1 AND "source" = 'telegram_group'`,
        [t.tenantId, a1.userId],
      );
      const l5 = await createLead<Lead>(t, { displayName: 'G5', source: 'telegram_group' });
      expect(l5.ownerId).toBe(t.userId);
      const stale = (await t.call<{ items: Rule[] }>('GET', '/v1/assignment-rules')).body.items;
      expect(stale.find((r) => r.source === 'telegram_group')?.nextIndex).toBe(0);
    });

    it('refuses non-members, repeats and bad sources, naming the field', async () => {
      const notMember = other.userId;
      const res = await owner.call('PUT', '/v1/assignment-rules/api', {
        memberIds: [agent.userId, notMember],
      });
      expect(res.status).toBe(400);
      expect(fieldsOf(res)).toEqual(['body.memberIds.1']);
      const repeat = await owner.call('PUT', '/v1/assignment-rules/api', {
        memberIds: [agent.userId, agent.userId],
      });
      expect(repeat.status).toBe(400);
      expect(fieldsOf(repeat)).toEqual(['body.memberIds.1']);
      expect(
        fieldsOf(await owner.call('PUT', '/v1/assignment-rules/api', { memberIds: [] })),
      ).toEqual(['body.memberIds']);
      expect(
        fieldsOf(await owner.call('PUT', '/v1/assignment-rules/api', { memberIds: ['nope'] })),
      ).toEqual(['body.memberIds.0']);
      expect(
        (
          await owner.call('PUT', '/v1/assignment-rules/api', {
            memberIds: Array.from({ length: 101 }, () => agent.userId),
          })
        ).status,
      ).toBe(400);
      expect(
        (await owner.call('PUT', '/v1/assignment-rules/fax', { memberIds: [agent.userId] })).status,
      ).toBe(400);
      expect(
        (
          await owner.call('PUT', '/v1/assignment-rules/api', {
            memberIds: [agent.userId],
            nextIndex: 2,
          })
        ).status,
      ).toBe(400);
      expect(
        (await agent.call('PUT', '/v1/assignment-rules/api', { memberIds: [agent.userId] })).status,
      ).toBe(403);
      const rules = (await owner.call<{ items: Rule[] }>('GET', '/v1/assignment-rules')).body;
      expect(rules.items.find((r) => r.source === 'api')).toBeUndefined();
    });

    it('deletes a rule (404 when there is none); other tenants cannot see or touch it', async () => {
      expect(
        (await owner.call('PUT', '/v1/assignment-rules/manual', { memberIds: [agent.userId] }))
          .status,
      ).toBe(200);
      // Another tenant: its own (empty) rules; its members list cannot name ours.
      expect(
        (await other.call<{ items: Rule[] }>('GET', '/v1/assignment-rules')).body.items,
      ).toEqual([]);
      expect((await other.call('DELETE', '/v1/assignment-rules/manual')).status).toBe(404);
      expect(
        (await other.call('PUT', '/v1/assignment-rules/manual', { memberIds: [agent.userId] }))
          .status,
      ).toBe(400);
      expect(
        (await owner.call<{ items: Rule[] }>('GET', '/v1/assignment-rules')).body.items.map(
          (r) => r.memberIds,
        ),
      ).toEqual([[agent.userId]]);
      expect((await owner.call('DELETE', '/v1/assignment-rules/manual')).status).toBe(204);
      expect((await owner.call('DELETE', '/v1/assignment-rules/manual')).status).toBe(404);
      const events = await audit(owner, 'assignment_rule.deleted');
      expect(events.map((e) => e.target?.id)).toContain('manual');
    });
  });
});
