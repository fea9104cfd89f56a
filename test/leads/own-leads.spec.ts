import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '../support/apps.js';
import { bearer, createApiKey } from '../support/accounts.js';
import {
  createLead,
  crmMember,
  crmTenant,
  CRM_ENV,
  type CrmCaller,
  type Reply,
} from '../support/crm.js';

// "Agents see only their own leads": a per-tenant setting, enforced by row-level
// security (policy own_leads_only) from the tenant context the AuthGuard sets.

type Lead = { id: string; version: number; ownerId: string | null; displayName: string };
type Page<T> = { items: T[]; nextCursor: string | null };
type Settings = { agentsSeeOwnLeadsOnly: boolean; require2faForOwners: boolean };
type Tag = { name: string; leadCount: number };

async function listIds(caller: CrmCaller): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const res: Reply<Page<Lead>> = await caller.call<Page<Lead>>('GET', `/v1/leads?limit=200${q}`);
    expect(res.status, res.text).toBe(200);
    ids.push(...res.body.items.map((l) => l.id));
    cursor = res.body.nextCursor;
  } while (cursor);
  return ids.sort();
}

describe('agents see only their own leads', () => {
  let api: RunningApi;
  let owner: Awaited<ReturnType<typeof crmTenant>>;
  let admin: CrmCaller;
  let agentA: CrmCaller;
  let agentB: CrmCaller;
  let viewer: CrmCaller;
  let mine: Lead;
  let theirs: Lead;
  let nobodys: Lead;

  const setting = async (on: boolean) => {
    const res = await owner.call<Settings>('PATCH', '/v1/tenant/settings', {
      agentsSeeOwnLeadsOnly: on,
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.agentsSeeOwnLeadsOnly).toBe(on);
  };

  beforeAll(async () => {
    api = await startApi(CRM_ENV);
    owner = await crmTenant(api, 'Own leads IB');
    [admin, agentA, agentB, viewer] = await Promise.all([
      crmMember(api, owner, 'admin'),
      crmMember(api, owner, 'agent'),
      crmMember(api, owner, 'agent'),
      crmMember(api, owner, 'viewer'),
    ]);
    mine = await createLead<Lead>(admin, {
      displayName: 'Mine',
      ownerId: agentA.userId,
      tags: ['shared-tag'],
    });
    theirs = await createLead<Lead>(admin, {
      displayName: 'Theirs',
      ownerId: agentB.userId,
      tags: ['shared-tag'],
    });
    const unowned = await createLead<Lead>(admin, { displayName: 'Nobody' });
    const cleared = await admin.call<Lead>('PATCH', `/v1/leads/${unowned.id}`, {
      version: unowned.version,
      ownerId: null,
    });
    expect(cleared.status, cleared.text).toBe(200);
    nobodys = cleared.body;
    expect([mine.ownerId, theirs.ownerId, nobodys.ownerId]).toEqual([
      agentA.userId,
      agentB.userId,
      null,
    ]);
  });
  afterAll(() => api.close());

  it('is off by default: agents see every lead', async () => {
    const settings = await viewer.call<Settings>('GET', '/v1/tenant/settings');
    expect(settings.status).toBe(200);
    expect(settings.body.agentsSeeOwnLeadsOnly).toBe(false);
    expect(await listIds(agentA)).toEqual([mine.id, theirs.id, nobodys.id].sort());
    expect((await agentA.call('GET', `/v1/leads/${theirs.id}`)).status).toBe(200);
  });

  it('only the owner may change it, and the change is audited', async () => {
    const byAdmin = await admin.call('PATCH', '/v1/tenant/settings', {
      agentsSeeOwnLeadsOnly: true,
    });
    expect(byAdmin.status).toBe(403);
    const wrongType = await owner.call('PATCH', '/v1/tenant/settings', {
      agentsSeeOwnLeadsOnly: 'yes',
    });
    expect(wrongType.status).toBe(400);
    expect((await owner.call<Settings>('GET', '/v1/tenant/settings')).body).toMatchObject({
      agentsSeeOwnLeadsOnly: false,
    });
    await setting(true);
    const events = await owner.call<Page<{ action: string; metadata: Record<string, unknown> }>>(
      'GET',
      '/v1/audit-events?action=tenant.settings_changed',
    );
    expect(events.body.items[0]?.metadata).toMatchObject({ agentsSeeOwnLeadsOnly: true });
  });

  describe('with the setting on', () => {
    beforeAll(() => setting(true));

    it('an agent lists only the leads they own', async () => {
      expect(await listIds(agentA)).toEqual([mine.id]);
      expect(await listIds(agentB)).toEqual([theirs.id]);
    });

    it("an agent's GET, PATCH, timeline and notes of another's lead answer 404", async () => {
      for (const id of [theirs.id, nobodys.id]) {
        expect((await agentA.call('GET', `/v1/leads/${id}`)).status).toBe(404);
        const patch = await agentA.call('PATCH', `/v1/leads/${id}`, {
          version: 1,
          displayName: 'Hijacked',
        });
        expect(patch.status).toBe(404);
        expect((await agentA.call('GET', `/v1/leads/${id}/activities`)).status).toBe(404);
        expect((await agentA.call('POST', `/v1/leads/${id}/notes`, { body: 'peek' })).status).toBe(
          404,
        );
      }
      // Agents hold no leads:delete at all; whatever the setting, the lead stays.
      expect((await agentA.call('DELETE', `/v1/leads/${theirs.id}`)).status).toBe(403);
      const intact = await admin.call<Lead>('GET', `/v1/leads/${theirs.id}`);
      expect(intact.body).toMatchObject({ displayName: 'Theirs', version: theirs.version });
    });

    it('an agent still reads and changes their own lead', async () => {
      expect((await agentA.call('GET', `/v1/leads/${mine.id}`)).status).toBe(200);
      const current = (await agentA.call<Lead>('GET', `/v1/leads/${mine.id}`)).body;
      const patch = await agentA.call<Lead>('PATCH', `/v1/leads/${mine.id}`, {
        version: current.version,
        displayName: 'Mine, renamed',
      });
      expect(patch.status, patch.text).toBe(200);
      expect(patch.body.displayName).toBe('Mine, renamed');
      expect(
        (await agentA.call('POST', `/v1/leads/${mine.id}/notes`, { body: 'called' })).status,
      ).toBeLessThan(300);
    });

    it('tag counts an agent sees cover only their own leads', async () => {
      const tags = await agentA.call<Page<Tag>>('GET', '/v1/tags');
      expect(tags.body.items.find((t) => t.name === 'shared-tag')?.leadCount).toBe(1);
      const all = await admin.call<Page<Tag>>('GET', '/v1/tags');
      expect(all.body.items.find((t) => t.name === 'shared-tag')?.leadCount).toBe(2);
    });

    it('owners, admins, viewers and API keys see every lead', async () => {
      const everyone = [mine.id, theirs.id, nobodys.id].sort();
      expect(await listIds(owner)).toEqual(everyone);
      expect(await listIds(admin)).toEqual(everyone);
      expect(await listIds(viewer)).toEqual(everyone);
      const { key } = await createApiKey(api, owner.owner, ['leads:read']);
      const res = await api.request('GET', `/v1/leads/${theirs.id}`, { headers: bearer(key) });
      expect(res.status).toBe(200);
    });

    it('a lead handed to the agent becomes visible to them at once', async () => {
      const lead = (await admin.call<Lead>('GET', `/v1/leads/${nobodys.id}`)).body;
      const moved = await admin.call('PATCH', `/v1/leads/${nobodys.id}`, {
        version: lead.version,
        ownerId: agentA.userId,
      });
      expect(moved.status, moved.text).toBe(200);
      expect(await listIds(agentA)).toEqual([mine.id, nobodys.id].sort());
      expect((await agentA.call('GET', `/v1/leads/${nobodys.id}`)).status).toBe(200);
      expect(await listIds(agentB)).toEqual([theirs.id]);
    });
  });

  describe('handing over (setting on)', () => {
    beforeAll(() => setting(true));

    it('an agent may create a lead for another member, then no longer sees it', async () => {
      const res = await agentA.call<Lead>('POST', '/v1/leads', {
        displayName: 'For B',
        ownerId: agentB.userId,
      });
      expect(res.status, res.text).toBe(201);
      try {
        expect(res.body.ownerId).toBe(agentB.userId);
        expect((await agentA.call('GET', `/v1/leads/${res.body.id}`)).status).toBe(404);
        expect((await agentB.call('GET', `/v1/leads/${res.body.id}`)).status).toBe(200);
      } finally {
        expect((await admin.call('DELETE', `/v1/leads/${res.body.id}`)).status).toBe(204);
      }
    });

    it('an agent may hand their own lead over, then no longer sees it', async () => {
      const lead = await createLead<Lead>(agentA, { displayName: 'Hand over' });
      try {
        expect(lead.ownerId).toBe(agentA.userId);
        const res = await agentA.call<Lead>('PATCH', `/v1/leads/${lead.id}`, {
          version: lead.version,
          ownerId: agentB.userId,
        });
        expect(res.status, res.text).toBe(200);
        expect((await agentA.call('GET', `/v1/leads/${lead.id}`)).status).toBe(404);
        expect((await agentB.call<Lead>('GET', `/v1/leads/${lead.id}`)).body.ownerId).toBe(
          agentB.userId,
        );
      } finally {
        expect((await admin.call('DELETE', `/v1/leads/${lead.id}`)).status).toBe(204);
      }
    });
  });

  describe('with the setting off again', () => {
    beforeAll(() => setting(false));

    it('agents see every lead again', async () => {
      expect(await listIds(agentB)).toEqual([mine.id, theirs.id, nobodys.id].sort());
      expect((await agentB.call('GET', `/v1/leads/${mine.id}`)).status).toBe(200);
    });
  });
});
