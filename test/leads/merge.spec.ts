import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '../support/apps.js';
import {
  CRM_ENV,
  createLead,
  crmMember,
  crmTenant,
  type CrmCaller,
  type LeadJson as LeadView,
} from '../support/crm.js';
import { sql } from '../support/db.js';

// Merging leads into a survivor: one transaction moves every related row, unites tags,
// fills gaps, honours the caller's picks, frees the merged leads' identities and leaves
// tombstones that redirect their old ids.

interface ErrorBody {
  readonly error: {
    code: string;
    message: string;
    details?: Record<string, unknown>;
    fields?: { field: string }[];
  };
}
interface Activity {
  readonly kind: string;
  readonly data: Record<string, unknown>;
}

const MISSING = '01a20000-0000-7000-8000-000000000000';
const fieldsOf = (body: unknown) => ((body as ErrorBody).error.fields ?? []).map((f) => f.field);

/** Rows that point at each lead, read as the superuser (no row-level security). */
async function related(ids: readonly string[]) {
  const count = async (table: string) => {
    const { rows } = await sql<{ id: string; n: string }>(
      'admin',
      `SELECT "leadId"::text AS id, count(*)::text AS n FROM "${table}"
        WHERE "leadId" = ANY($1::uuid[]) GROUP BY "leadId"`,
      [ids],
    );
    return Object.fromEntries(ids.map((id) => [id, Number(rows.find((r) => r.id === id)?.n ?? 0)]));
  };
  return {
    activities: await count('LeadActivity'),
    stageChanges: await count('LeadStageChange'),
    tags: await count('LeadTag'),
  };
}

async function leadRow(id: string) {
  const { rows } = await sql<{
    mergedIntoId: string | null;
    telegramUserId: string | null;
    telegramUsername: string | null;
    phone: string | null;
    email: string | null;
    phoneNational: string | null;
    emailLocal: string | null;
    searchText: string;
    version: number;
  }>(
    'admin',
    `SELECT "mergedIntoId"::text, "telegramUserId"::text, "telegramUsername"::text, phone, email,
            "phoneNational", "emailLocal"::text, "searchText", version
       FROM "Lead" WHERE id = $1`,
    [id],
  );
  return rows[0];
}

describe('merge', () => {
  let api: RunningApi;

  beforeAll(async () => {
    api = await startApi(CRM_ENV);
  });
  afterAll(() => api.close());

  const lead = (caller: CrmCaller, body: Record<string, unknown>) =>
    createLead<LeadView>(caller, body);
  const merge = (caller: CrmCaller, body: unknown) =>
    caller.call<LeadView & ErrorBody>('POST', '/v1/leads/merge', body);
  const get = (caller: CrmCaller, id: string) => caller.call<LeadView>('GET', `/v1/leads/${id}`);
  /** GET without following redirects (fetch follows a 308 by default). */
  const getRaw = (caller: CrmCaller, id: string) =>
    fetch(`${api.url}/v1/leads/${id}`, {
      headers: { authorization: `Bearer ${caller.token}` },
      redirect: 'manual',
    });
  async function stages(caller: CrmCaller) {
    const res = await caller.call<{ items: { id: string; name: string }[] }>('GET', '/v1/stages');
    return new Map(res.body.items.map((s) => [s.name, s.id]));
  }
  async function timeline(caller: CrmCaller, id: string) {
    const res = await caller.call<{ items: Activity[] }>(
      'GET',
      `/v1/leads/${id}/activities?limit=200`,
    );
    expect(res.status).toBe(200);
    return res.body.items;
  }

  it('moves every related row to the survivor in one transaction', async () => {
    const t = await crmTenant(api);
    const stage = await stages(t);
    const survivor = await lead(t, { displayName: 'Ivan Petrov', tags: ['vip'] });
    const m1 = await lead(t, { displayName: 'Ivan P.', tags: ['vip', 'forex'] });
    const m2 = await lead(t, { displayName: 'I. Petrov', tags: ['crypto'] });
    const bystander = await lead(t, { displayName: 'Someone Else', tags: ['forex'] });
    for (const [id, body] of [
      [survivor.id, 'Called, no answer'],
      [m1.id, 'Asked about spreads'],
      [m1.id, 'Sent the broker link'],
      [m2.id, 'Wants a demo account'],
    ] as const) {
      expect((await t.call('POST', `/v1/leads/${id}/notes`, { body })).status).toBe(201);
    }
    const dueAt = new Date(Date.now() + 86_400_000).toISOString();
    expect(
      (await t.call('POST', `/v1/leads/${m2.id}/tasks`, { body: 'Call back', dueAt })).status,
    ).toBe(201);
    const moved = await t.call('PATCH', `/v1/leads/${m1.id}`, {
      stageId: stage.get('Contacted'),
    });
    expect(moved.status).toBe(200);
    // Dismissed pairs of a merged lead go with it; the survivor's own stay.
    expect(
      (await t.call('POST', '/v1/leads/duplicates/dismiss', { leadIds: [m1.id, bystander.id] }))
        .status,
    ).toBe(204);
    expect(
      (
        await t.call('POST', '/v1/leads/duplicates/dismiss', {
          leadIds: [survivor.id, bystander.id],
        })
      ).status,
    ).toBe(204);

    const ids = [survivor.id, m1.id, m2.id];
    const before = await related(ids);
    expect(before.activities[m1.id]).toBeGreaterThanOrEqual(3);
    expect(before.stageChanges[m1.id]).toBe(1);

    const res = await merge(t, { survivorId: survivor.id, mergedIds: [m1.id, m2.id] });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: survivor.id, displayName: 'Ivan Petrov' });
    expect(res.body.tags).toEqual(['crypto', 'forex', 'vip']);
    expect(res.body.version).toBe(survivor.version + 1);

    const after = await related(ids);
    const sum = (counts: Record<string, number>) => ids.reduce((n, id) => n + (counts[id] ?? 0), 0);
    // Everything moved; the survivor gained one 'merged' activity.
    expect(after.activities).toEqual({
      [survivor.id]: sum(before.activities) + 1,
      [m1.id]: 0,
      [m2.id]: 0,
    });
    expect(after.stageChanges).toEqual({
      [survivor.id]: sum(before.stageChanges),
      [m1.id]: 0,
      [m2.id]: 0,
    });
    // Tags united (vip once), and the merged leads hold none.
    expect(after.tags).toEqual({ [survivor.id]: 3, [m1.id]: 0, [m2.id]: 0 });
    const bystanderTags = await related([bystander.id]);
    expect(bystanderTags.tags[bystander.id]).toBe(1);

    const { rows: dismissals } = await sql<{ leadId: string; otherLeadId: string }>(
      'admin',
      `SELECT "leadId"::text, "otherLeadId"::text FROM "DuplicateDismissal" WHERE "tenantId" = $1`,
      [t.tenantId],
    );
    expect(dismissals).toEqual([
      {
        leadId: [survivor.id, bystander.id].sort()[0],
        otherLeadId: [survivor.id, bystander.id].sort()[1],
      },
    ]);

    // The survivor's timeline: the merged leads' notes and task, and the merge itself.
    const items = await timeline(t, survivor.id);
    expect(items[0]).toMatchObject({
      kind: 'merged',
      data: { mergedIds: [m1.id, m2.id], fields: {} },
    });
    expect(items.filter((a) => a.kind === 'note')).toHaveLength(4);
    expect(items.filter((a) => a.kind === 'task')).toHaveLength(1);

    // Tombstones: the rows stay, pointing at the survivor.
    for (const id of [m1.id, m2.id]) {
      expect((await leadRow(id))?.mergedIntoId).toBe(survivor.id);
    }
  });

  it('fills gaps from the merged leads in the order given and honours the caller’s picks', async () => {
    const t = await crmTenant(api);
    const stage = await stages(t);
    for (const key of ['tier', 'region', 'broker']) {
      const res = await t.call('POST', '/v1/custom-fields', { key, label: key, type: 'text' });
      expect(res.status).toBe(201);
    }
    const survivor = await lead(t, {
      displayName: 'Ivan',
      telegramUsername: 'ivan_p',
      customFields: { tier: 'gold' },
    });
    const first = await lead(t, {
      displayName: 'Ivan Petrov',
      phone: '+33 6 12 34 56 78',
      email: 'ivan@example.com',
      language: 'fr',
      customFields: { tier: 'silver', region: 'EU' },
      stageId: stage.get('Interested'),
      sourceDetails: { chatTitle: 'Signals FR' },
    });
    const second = await lead(t, {
      displayName: 'I. Petrov',
      telegramUserId: '123456789',
      country: 'FR',
      language: 'ru',
      customFields: { region: 'APAC', broker: 'Exness' },
    });

    const res = await merge(t, {
      survivorId: survivor.id,
      mergedIds: [first.id, second.id],
      fields: {
        displayName: first.id,
        stageId: first.id,
        customFields: { tier: first.id },
      },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: survivor.id,
      displayName: 'Ivan Petrov', // picked
      telegramUsername: 'ivan_p', // the survivor's
      telegramUserId: '123456789', // gap, filled from the second
      phone: '+33612345678', // gap, filled from the first
      email: 'ivan@example.com',
      language: 'fr', // the first in the order given wins over the second
      country: 'FR',
      stageId: stage.get('Interested'), // picked
      stageName: 'Interested',
      sourceDetails: { chatTitle: 'Signals FR' },
      customFields: { tier: 'silver', region: 'EU', broker: 'Exness' },
    });
    // Where each value came from, on the timeline.
    const [merged] = await timeline(t, survivor.id);
    expect(merged).toMatchObject({
      kind: 'merged',
      data: {
        mergedIds: [first.id, second.id],
        fields: {
          displayName: first.id,
          telegramUserId: second.id,
          phone: first.id,
          email: first.id,
          language: first.id,
          country: second.id,
          stageId: first.id,
          sourceDetails: first.id,
          'customFields.tier': first.id,
          'customFields.region': first.id,
          'customFields.broker': second.id,
        },
      },
    });
    // A stage taken from a merged lead is a move of the survivor, with its history.
    const history = await sql<{ toStageId: string }>(
      'admin',
      `SELECT "toStageId"::text FROM "LeadStageChange" WHERE "leadId" = $1 ORDER BY "changedAt" DESC, id DESC LIMIT 1`,
      [survivor.id],
    );
    expect(history.rows[0]?.toStageId).toBe(stage.get('Interested'));
    // The duplicate keys and search text follow the values.
    const row = await leadRow(survivor.id);
    expect(row).toMatchObject({ phoneNational: '612345678', emailLocal: 'ivan' });
    expect(row?.searchText).toContain('ivan petrov');
    expect(row?.searchText).toContain('ivan@example.com');

    // A pick of a lead without a value clears the field.
    const a = await lead(t, { displayName: 'Lena', email: 'lena@example.com' });
    const b = await lead(t, { displayName: 'Lena M' });
    const cleared = await merge(t, {
      survivorId: a.id,
      mergedIds: [b.id],
      fields: { email: b.id },
    });
    expect(cleared.status).toBe(200);
    expect(cleared.body.email).toBeNull();
  });

  it('frees the merged leads’ identities and lets the survivor take them', async () => {
    const t = await crmTenant(api);
    const survivor = await lead(t, { displayName: 'Anna Ivanova', email: 'anna@old.example.com' });
    const merged = await lead(t, {
      displayName: 'Anna I.',
      email: 'anna@new.example.com',
      phone: '+44 7911 123456',
      telegramUsername: 'anna_iv',
      telegramUserId: 987654321,
    });
    const res = await merge(t, {
      survivorId: survivor.id,
      mergedIds: [merged.id],
      fields: { email: merged.id },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      email: 'anna@new.example.com',
      phone: '+447911123456',
      telegramUsername: 'anna_iv',
      telegramUserId: '987654321',
    });
    // The tombstone holds no identity any more.
    expect(await leadRow(merged.id)).toMatchObject({
      mergedIntoId: survivor.id,
      telegramUserId: null,
      telegramUsername: null,
      phone: null,
      email: null,
      phoneNational: null,
      emailLocal: null,
    });
    // The identities now belong to the survivor: creating them again is a conflict
    // naming the survivor, not the tombstone.
    for (const body of [
      { phone: '+447911123456' },
      { telegramUsername: 'ANNA_IV' },
      { email: 'anna@new.example.com' },
    ]) {
      const dup = await t.call<ErrorBody>('POST', '/v1/leads', { displayName: 'Copy', ...body });
      expect(dup.status).toBe(409);
      expect(dup.body.error.details).toMatchObject({ existingLeadId: survivor.id });
    }
    // The survivor's old e-mail, replaced by the pick, is free for a new lead.
    expect(
      (await t.call('POST', '/v1/leads', { displayName: 'New', email: 'anna@old.example.com' }))
        .status,
    ).toBe(201);
  });

  it('redirects a merged lead’s id to its survivor, also after a later merge', async () => {
    const t = await crmTenant(api);
    const a = await lead(t, { displayName: 'Omar Khalid' });
    const b = await lead(t, { displayName: 'Omar K.' });
    const c = await lead(t, { displayName: 'O. Khalid' });
    expect((await merge(t, { survivorId: b.id, mergedIds: [a.id] })).status).toBe(200);
    const first = await getRaw(t, a.id);
    expect(first.status).toBe(308);
    expect(first.headers.get('location')).toBe(`/v1/leads/${b.id}`);
    // Followed, the redirect lands on the survivor.
    expect((await get(t, a.id)).body.id).toBe(b.id);
    // b merges into c: a's tombstone now points at c directly.
    expect((await merge(t, { survivorId: c.id, mergedIds: [b.id] })).status).toBe(200);
    expect((await leadRow(a.id))?.mergedIntoId).toBe(c.id);
    for (const id of [a.id, b.id]) {
      const res = await getRaw(t, id);
      expect(res.status).toBe(308);
      expect(res.headers.get('location')).toBe(`/v1/leads/${c.id}`);
    }
    // A tombstone is neither proposed as a duplicate nor has candidates of its own.
    const gone = await t.call<ErrorBody>('GET', `/v1/leads/${b.id}/duplicates`);
    expect(gone.status).toBe(410);
    expect(gone.body.error.details).toMatchObject({ survivorId: c.id });
  });

  it('never proposes a merged lead as a duplicate', async () => {
    const t = await crmTenant(api);
    const a = await lead(t, { displayName: 'Nadia Koval', country: 'UA' });
    const b = await lead(t, { displayName: 'Nadia Koval', country: 'UA' });
    const c = await lead(t, { displayName: 'Nadia Koval', country: 'UA' });
    const before = await t.call<{ items: unknown[] }>('GET', '/v1/leads/duplicates');
    expect(before.body.items).toHaveLength(3);
    expect((await merge(t, { survivorId: a.id, mergedIds: [b.id] })).status).toBe(200);
    const after = await t.call<{ items: { leads: { id: string }[] }[] }>(
      'GET',
      '/v1/leads/duplicates',
    );
    expect(after.body.items.map((p) => p.leads.map((l) => l.id))).toEqual([[a.id, c.id].sort()]);
  });

  it('answers 409 to a merge of an already merged lead, and changes nothing', async () => {
    const t = await crmTenant(api);
    const a = await lead(t, { displayName: 'Pavel Sokolov' });
    const b = await lead(t, { displayName: 'Pavel S.' });
    const c = await lead(t, { displayName: 'P. Sokolov' });
    expect((await merge(t, { survivorId: a.id, mergedIds: [b.id] })).status).toBe(200);
    const versionOf = async (id: string) => (await leadRow(id))?.version;
    const versions = [await versionOf(a.id), await versionOf(b.id), await versionOf(c.id)];
    for (const body of [
      { survivorId: a.id, mergedIds: [b.id] },
      { survivorId: c.id, mergedIds: [b.id] },
      { survivorId: b.id, mergedIds: [c.id] },
      { survivorId: c.id, mergedIds: [a.id, b.id] },
    ]) {
      const res = await merge(t, body);
      expect(res.status).toBe(409);
      expect(res.body.error).toMatchObject({
        code: 'CONFLICT',
        details: { leadId: b.id, mergedIntoId: a.id },
      });
    }
    expect([await versionOf(a.id), await versionOf(b.id), await versionOf(c.id)]).toEqual(versions);
    expect((await leadRow(c.id))?.mergedIntoId).toBeNull();
  });

  it('lets concurrent merges of overlapping leads never corrupt anything: one wins', async () => {
    const t = await crmTenant(api);
    for (let round = 0; round < 3; round++) {
      const [a, b, c, d] = await Promise.all(
        ['Alpha', 'Bravo', 'Charlie', 'Delta'].map((n) =>
          lead(t, { displayName: `${n} ${String(round)}`, tags: [n.toLowerCase()] }),
        ),
      );
      if (!a || !b || !c || !d) throw new Error('leads not created');
      for (const x of [a, b, c, d]) {
        expect((await t.call('POST', `/v1/leads/${x.id}/notes`, { body: 'hello' })).status).toBe(
          201,
        );
      }
      const ids = [a.id, b.id, c.id, d.id];
      const before = await related(ids);
      // Every merge merges b away (so only one can); the order given differs from the
      // lock order (ids), which is what keeps them from deadlocking.
      const bodies = [
        { survivorId: a.id, mergedIds: [b.id] },
        { survivorId: c.id, mergedIds: [d.id, b.id] },
        { survivorId: d.id, mergedIds: [b.id, a.id] },
        { survivorId: a.id, mergedIds: [c.id, b.id] },
      ];
      const results = await Promise.all(bodies.map((body) => merge(t, body)));
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409)).toHaveLength(3);
      const winner = bodies[statuses.indexOf(200)];
      if (!winner) throw new Error('no winner');

      const after = await related(ids);
      const total = (counts: Record<string, number>) =>
        ids.reduce((n, id) => n + (counts[id] ?? 0), 0);
      expect(total(after.activities)).toBe(total(before.activities) + 1);
      for (const id of winner.mergedIds) {
        expect(after.activities[id]).toBe(0);
        expect((await leadRow(id))?.mergedIntoId).toBe(winner.survivorId);
      }
      const survivorView = await get(t, winner.survivorId);
      expect(survivorView.status).toBe(200);
      expect(survivorView.body.tags).toHaveLength(winner.mergedIds.length + 1);
      // Leads outside the winning merge are untouched and live.
      for (const id of ids.filter(
        (i) => i !== winner.survivorId && !winner.mergedIds.includes(i),
      )) {
        expect((await get(t, id)).status).toBe(200);
        expect(after.activities[id]).toBe(before.activities[id]);
      }
    }
  });

  it('writes one audit event', async () => {
    const t = await crmTenant(api);
    const a = await lead(t, { displayName: 'Audit Survivor', email: 'audit@example.com' });
    const b = await lead(t, { displayName: 'Audit Merged', phone: '+44 7400 123456' });
    expect((await merge(t, { survivorId: a.id, mergedIds: [b.id] })).status).toBe(200);
    const events = await t.call<{
      items: {
        action: string;
        actor: { type: string; id: string };
        target: { type: string; id: string };
        metadata: Record<string, unknown>;
      }[];
    }>('GET', '/v1/audit-events?action=lead.merged');
    expect(events.status).toBe(200);
    expect(events.body.items).toHaveLength(1);
    expect(events.body.items[0]).toMatchObject({
      action: 'lead.merged',
      actor: { type: 'user', id: t.userId },
      target: { type: 'lead', id: a.id },
      metadata: { mergedIds: [b.id], count: 1, fields: ['phone'] },
    });
    // Ids and field names only: no personal data in the trail.
    expect(JSON.stringify(events.body.items[0])).not.toContain('7400');
  });

  it('keeps tenants apart: another tenant’s ids answer 404 and nothing changes', async () => {
    const mine = await crmTenant(api);
    const theirs = await crmTenant(api);
    const a = await lead(mine, { displayName: 'Kim Lee' });
    const b = await lead(mine, { displayName: 'Kim L.' });
    const x = await lead(theirs, { displayName: 'Kim Lee' });
    for (const [caller, body] of [
      [theirs, { survivorId: a.id, mergedIds: [b.id] }],
      [theirs, { survivorId: x.id, mergedIds: [a.id] }],
      [mine, { survivorId: a.id, mergedIds: [x.id] }],
      [mine, { survivorId: x.id, mergedIds: [b.id] }],
      [mine, { survivorId: a.id, mergedIds: [b.id, MISSING] }],
    ] as const) {
      const res = await merge(caller, body);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('NOT_FOUND');
    }
    for (const id of [a.id, b.id, x.id]) {
      expect(await leadRow(id)).toMatchObject({ mergedIntoId: null, version: 1 });
    }
  });

  it('is refused to a viewer, and an agent who sees only their own leads cannot merge others’', async () => {
    const t = await crmTenant(api);
    const viewer = await crmMember(api, t, 'viewer');
    const agent = await crmMember(api, t, 'agent');
    const a = await lead(t, { displayName: 'Rita Gomez', ownerId: agent.userId });
    const b = await lead(t, { displayName: 'Rita G.', ownerId: t.userId });
    const c = await lead(t, { displayName: 'R. Gomez', ownerId: agent.userId });
    const refused = await merge(viewer, { survivorId: a.id, mergedIds: [b.id] });
    expect(refused.status).toBe(403);

    const setting = await t.call('PATCH', '/v1/tenant/settings', { agentsSeeOwnLeadsOnly: true });
    expect(setting.status).toBe(200);
    const hidden = await merge(agent, { survivorId: a.id, mergedIds: [b.id] });
    expect(hidden.status).toBe(404);
    expect((await leadRow(b.id))?.mergedIntoId).toBeNull();
    expect((await leadRow(a.id))?.version).toBe(1);
    // Their own leads they may merge.
    expect((await merge(agent, { survivorId: a.id, mergedIds: [c.id] })).status).toBe(200);
  });

  it('answers hostile input with a 4xx naming the problem, and changes nothing', async () => {
    const t = await crmTenant(api);
    const a = await lead(t, { displayName: 'Hostile Survivor' });
    const b = await lead(t, { displayName: 'Hostile Merged' });
    const other = await lead(t, { displayName: 'Uninvolved' });
    const ten = Array.from(
      { length: 10 },
      (_, i) => `01a20000-0000-7000-8000-00000000000${String(i)}`,
    );
    const cases: [unknown, string][] = [
      [{}, 'body.survivorId'],
      [{ survivorId: a.id }, 'body.mergedIds'],
      [{ survivorId: a.id, mergedIds: [] }, 'body.mergedIds'],
      [{ survivorId: a.id, mergedIds: ten }, 'body.mergedIds'],
      [{ survivorId: a.id, mergedIds: [a.id] }, 'body.mergedIds'],
      [{ survivorId: a.id, mergedIds: [b.id, b.id] }, 'body.mergedIds'],
      [{ survivorId: a.id, mergedIds: [b.id, b.id.toUpperCase()] }, 'body.mergedIds'],
      [{ survivorId: "' OR 1=1 --", mergedIds: [b.id] }, 'body.survivorId'],
      [{ survivorId: a.id, mergedIds: [b.id], extra: true }, 'body'],
      [{ survivorId: a.id, mergedIds: [b.id], fields: { phone: other.id } }, 'body.fields.phone'],
      [{ survivorId: a.id, mergedIds: [b.id], fields: { source: b.id } }, 'body.fields'],
      [{ survivorId: a.id, mergedIds: [b.id], fields: { phone: '+44' } }, 'body.fields.phone'],
      [
        { survivorId: a.id, mergedIds: [b.id], fields: { customFields: { 'DROP TABLE': b.id } } },
        'body.fields.customFields',
      ],
      [
        { survivorId: a.id, mergedIds: [b.id], fields: { customFields: { tier: other.id } } },
        'body.fields.customFields.tier',
      ],
      [{ survivorId: a.id, mergedIds: b.id }, 'body.mergedIds'],
      [{ survivorId: 7, mergedIds: [b.id] }, 'body.survivorId'],
      [{ survivorId: a.id, mergedIds: [b.id], fields: 'all' }, 'body.fields'],
      [{ survivorId: 'x'.repeat(10 * 1024 * 1024), mergedIds: [b.id] }, ''],
    ];
    for (const [body, field] of cases) {
      const res = await merge(t, body);
      const label = JSON.stringify(body).slice(0, 100);
      expect(res.status, label).toBeGreaterThanOrEqual(400);
      expect(res.status, label).toBeLessThan(500);
      if (field) {
        expect(res.status, label).toBe(400);
        expect(
          fieldsOf(res.body).some((f) => f.startsWith(field)),
          `${label}: ${JSON.stringify(fieldsOf(res.body))}`,
        ).toBe(true);
      }
    }
    for (const raw of ['[1,2]', 'null', '{"survivorId": ', '"merge"']) {
      const res = await fetch(`${api.url}/v1/leads/merge`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
        body: raw,
      });
      expect(res.status, raw).toBe(400);
    }
    for (const id of [a.id, b.id, other.id]) {
      expect(await leadRow(id)).toMatchObject({ mergedIntoId: null, version: 1 });
    }
  });
});
