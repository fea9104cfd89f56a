import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeadListService } from '@ibhq/leads';
import { bearer, createApiKey } from '../support/accounts.js';
import { startApi, type RunningApi } from '../support/apps.js';
import { sql } from '../support/db.js';
import { createLead, crmMember, crmTenant, CRM_ENV, type CrmCaller } from '../support/crm.js';

// Saved views through HTTP: a member's named filter and order, private or shared;
// who sees, changes and deletes which; the list applying a view; tenants apart.

interface View {
  id: string;
  name: string;
  filter: Record<string, unknown>;
  sort: string | null;
  shared: boolean;
  userId: string;
  mine: boolean;
}
interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
interface ListPage {
  items: { id: string; displayName: string }[];
  nextCursor: string | null;
  total: { value: number; exact: boolean };
}
interface ErrorBody {
  error: { code: string; message: string; fields?: { field: string }[] };
}
const fieldsOf = (body: unknown) => ((body as ErrorBody).error.fields ?? []).map((f) => f.field);

describe('saved views', () => {
  let api: RunningApi;
  let owner: Awaited<ReturnType<typeof crmTenant>>;
  let admin: CrmCaller;
  let agent: CrmCaller;
  let agent2: CrmCaller;
  let viewer: CrmCaller;
  let other: Awaited<ReturnType<typeof crmTenant>>;

  const save = async (caller: CrmCaller, body: Record<string, unknown>): Promise<View> => {
    const res = await caller.call<View>('POST', '/v1/saved-views', body);
    expect(res.status, res.text).toBe(201);
    return res.body;
  };
  const visible = async (caller: CrmCaller): Promise<string[]> => {
    const res = await caller.call<Page<View>>('GET', '/v1/saved-views?limit=200');
    expect(res.status, res.text).toBe(200);
    return res.body.items.map((v) => v.name);
  };

  beforeAll(async () => {
    api = await startApi(CRM_ENV);
    // Exact totals whatever the load of the machine running the tests.
    api.app.get(LeadListService).exactTotalBudgetMs = 60_000;
    owner = await crmTenant(api, 'Views IB');
    other = await crmTenant(api, 'Other views IB');
    admin = await crmMember(api, owner, 'admin');
    agent = await crmMember(api, owner, 'agent');
    agent2 = await crmMember(api, owner, 'agent');
    viewer = await crmMember(api, owner, 'viewer');
    for (const [displayName, tags] of [
      ['Hot Anna', ['hot']],
      ['Hot Boris', ['hot', 'vip']],
      ['Cold Clara', ['cold']],
      ['Hot Dmitri', ['hot']],
    ] as const) {
      await createLead(owner, { displayName, tags: [...tags] });
    }
  });
  afterAll(async () => {
    await api.close();
  });

  it('saves a private view and gives it back as saved', async () => {
    const view = await save(agent, {
      name: '  Hot leads  ',
      filter: {
        tags: ['hot'],
        createdFrom: '2026-01-01T00:00:00Z',
        customFields: { deposit: { gte: 100 } },
      },
      sort: 'name',
    });
    expect(view).toMatchObject({
      name: 'Hot leads',
      filter: {
        tags: ['hot'],
        createdFrom: '2026-01-01T00:00:00.000Z',
        customFields: { deposit: { gte: 100 } },
      },
      sort: 'name',
      shared: false,
      userId: agent.userId,
      mine: true,
    });
    const read = await agent.call<View>('GET', `/v1/saved-views/${view.id}`);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(view);
  });

  it('private views are their author’s alone; shared ones everyone’s', async () => {
    const mine = await save(agent2, { name: 'Agent2 private', filter: {} });
    await save(agent2, { name: 'Agent2 shared', filter: { tags: ['vip'] }, shared: true });
    expect(await visible(agent2)).toEqual(
      expect.arrayContaining(['Agent2 private', 'Agent2 shared']),
    );
    for (const caller of [owner, admin, agent, viewer]) {
      const names = await visible(caller);
      expect(names).toContain('Agent2 shared');
      expect(names).not.toContain('Agent2 private');
      const res = await caller.call('GET', `/v1/saved-views/${mine.id}`);
      expect(res.status, res.text).toBe(404);
    }
    const shared = (
      await owner.call<Page<View>>('GET', '/v1/saved-views?limit=200')
    ).body.items.find((v) => v.name === 'Agent2 shared');
    expect(shared).toMatchObject({ shared: true, mine: false, userId: agent2.userId });
  });

  it('the author edits and deletes; others get 404 for private views and 403 for shared ones', async () => {
    const privateView = await save(agent2, { name: 'Edit me', filter: { tags: ['hot'] } });
    const sharedView = await save(agent2, { name: 'Shared edit me', filter: {}, shared: true });

    for (const caller of [owner, admin, agent, viewer]) {
      const patch = await caller.call('PATCH', `/v1/saved-views/${privateView.id}`, { name: 'x' });
      expect(patch.status, patch.text).toBe(404);
      const del = await caller.call('DELETE', `/v1/saved-views/${privateView.id}`);
      expect(del.status, del.text).toBe(404);
    }
    for (const caller of [agent, viewer]) {
      const patch = await caller.call<ErrorBody>('PATCH', `/v1/saved-views/${sharedView.id}`, {
        name: 'x',
      });
      expect(patch.status, patch.text).toBe(403);
      expect(patch.body.error.code).toBe('FORBIDDEN');
      const del = await caller.call('DELETE', `/v1/saved-views/${sharedView.id}`);
      expect(del.status, del.text).toBe(403);
    }

    const renamed = await agent2.call<View>('PATCH', `/v1/saved-views/${privateView.id}`, {
      name: 'Edited',
      filter: { tags: ['cold'] },
      sort: '-name',
    });
    expect(renamed.status, renamed.text).toBe(200);
    expect(renamed.body).toMatchObject({
      name: 'Edited',
      filter: { tags: ['cold'] },
      sort: '-name',
    });
    const sortOnly = await agent2.call<View>('PATCH', `/v1/saved-views/${privateView.id}`, {
      sort: null,
    });
    expect(sortOnly.body).toMatchObject({ name: 'Edited', filter: { tags: ['cold'] }, sort: null });

    const gone = await agent2.call('DELETE', `/v1/saved-views/${privateView.id}`);
    expect(gone.status).toBe(204);
    expect((await agent2.call('GET', `/v1/saved-views/${privateView.id}`)).status).toBe(404);
    expect((await agent2.call('DELETE', `/v1/saved-views/${privateView.id}`)).status).toBe(404);
    // Nothing the others tried changed the shared view.
    const still = await agent2.call<View>('GET', `/v1/saved-views/${sharedView.id}`);
    expect(still.body).toMatchObject({ name: 'Shared edit me', shared: true });
  });

  it('owners and admins manage shared views of others, and that is audited', async () => {
    const sharedView = await save(agent2, { name: 'Team view', filter: {}, shared: true });
    const byAdmin = await admin.call<View>('PATCH', `/v1/saved-views/${sharedView.id}`, {
      name: 'Team view (tidied)',
    });
    expect(byAdmin.status, byAdmin.text).toBe(200);
    expect(byAdmin.body).toMatchObject({
      name: 'Team view (tidied)',
      userId: agent2.userId,
      mine: false,
    });
    const unshared = await agent2.call<View>('PATCH', `/v1/saved-views/${sharedView.id}`, {
      shared: false,
    });
    expect(unshared.status).toBe(200);
    // Private now: the admin no longer sees it at all.
    expect(
      (await admin.call('PATCH', `/v1/saved-views/${sharedView.id}`, { name: 'y' })).status,
    ).toBe(404);
    await agent2.call('PATCH', `/v1/saved-views/${sharedView.id}`, { shared: true });
    const byOwner = await owner.call('DELETE', `/v1/saved-views/${sharedView.id}`);
    expect(byOwner.status, byOwner.text).toBe(204);

    const events = await sql<{ action: string; actorId: string }>(
      'admin',
      `SELECT action, "actorId" FROM "AuditEvent" WHERE "tenantId" = $1 AND "targetId" = $2 ORDER BY seq`,
      [owner.tenantId, sharedView.id],
    );
    expect(events.rows.map((e) => [e.action, e.actorId])).toEqual([
      ['saved_view.created', agent2.userId],
      ['saved_view.updated', admin.userId],
      ['saved_view.updated', agent2.userId],
      ['saved_view.updated', agent2.userId],
      ['saved_view.deleted', owner.userId],
    ]);
  });

  it('the list applies a view’s filter and order (viewId); the query adds to it', async () => {
    const view = await save(viewer, {
      name: 'Hot by name',
      filter: { tags: ['hot'] },
      sort: '-name',
    });
    const res = await viewer.call<ListPage>('GET', `/v1/leads?viewId=${view.id}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.items.map((l) => l.displayName)).toEqual([
      'Hot Dmitri',
      'Hot Boris',
      'Hot Anna',
    ]);
    expect(res.body.total).toEqual({ value: 3, exact: true });
    // A sort and conditions in the request win over / add to the view's.
    const narrowed = await viewer.call<ListPage>(
      'GET',
      `/v1/leads?viewId=${view.id}&sort=name&q=boris`,
    );
    expect(narrowed.body.items.map((l) => l.displayName)).toEqual(['Hot Boris']);
    const viaBody = await viewer.call<ListPage>('POST', '/v1/leads/search', {
      viewId: view.id,
      limit: 2,
    });
    expect(viaBody.body.items.map((l) => l.displayName)).toEqual(['Hot Dmitri', 'Hot Boris']);
    const next = await viewer.call<ListPage>('POST', '/v1/leads/search', {
      viewId: view.id,
      limit: 2,
      cursor: viaBody.body.nextCursor,
    });
    expect(next.body.items.map((l) => l.displayName)).toEqual(['Hot Anna']);
    // Someone else's private view is not there to apply.
    const foreign = await agent.call('GET', `/v1/leads?viewId=${view.id}`);
    expect(foreign.status, foreign.text).toBe(404);
    expect((await agent.call('GET', `/v1/leads?viewId=${randomUUID()}`)).status).toBe(404);
  });

  it('pages the views with a cursor', async () => {
    const member = await crmMember(api, owner, 'viewer');
    for (const name of ['v1', 'v2', 'v3', 'v4', 'v5']) await save(member, { name, filter: {} });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { status: number; body: Page<View> } = await member.call<Page<View>>(
        'GET',
        `/v1/saved-views?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(res.status).toBe(200);
      seen.push(...res.body.items.filter((v) => v.mine).map((v) => v.name));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['v1', 'v2', 'v3', 'v4', 'v5']);
  });

  it('a member keeps at most 100 views', async () => {
    const member = await crmMember(api, owner, 'agent');
    await sql(
      'admin',
      `INSERT INTO "SavedView" ("tenantId", id, "userId", name, filter, "updatedAt")
       SELECT $1, gen_random_uuid(), $2, 'bulk ' || g, '{"filter":{},"sort":null}', now()
         FROM generate_series(1, 99) g`,
      [owner.tenantId, member.userId],
    );
    const hundredth = await member.call('POST', '/v1/saved-views', {
      name: 'the 100th',
      filter: {},
    });
    expect(hundredth.status, hundredth.text).toBe(201);
    const tooMany = await member.call<ErrorBody>('POST', '/v1/saved-views', {
      name: 'the 101st',
      filter: {},
    });
    expect(tooMany.status, tooMany.text).toBe(409);
    expect(tooMany.body.error.message).toMatch(/100/);
    // Others still can.
    await save(agent, { name: 'still fine', filter: {} });
  });

  it('API keys read shared views but save none', async () => {
    const { key } = await createApiKey(api, owner.owner, ['leads:read']);
    const list = await api.request('GET', '/v1/saved-views?limit=200', { headers: bearer(key) });
    expect(list.status, list.text).toBe(200);
    const items = (list.body as Page<View>).items;
    expect(items.length).toBeGreaterThan(0);
    expect(items.every((v) => v.shared && !v.mine)).toBe(true);
    const refused = await api.request('POST', '/v1/saved-views', {
      headers: bearer(key),
      body: { name: 'key view', filter: {} },
    });
    expect(refused.status, refused.text).toBe(403);
  });

  describe('tenants apart', () => {
    it('another tenant’s view ids answer 404 on every route, and change nothing', async () => {
      const theirs = await save(other, { name: 'Their shared', filter: {}, shared: true });
      for (const [method, path, body] of [
        ['GET', `/v1/saved-views/${theirs.id}`],
        ['PATCH', `/v1/saved-views/${theirs.id}`, { name: 'hijacked' }],
        ['DELETE', `/v1/saved-views/${theirs.id}`],
        ['GET', `/v1/leads?viewId=${theirs.id}`],
        ['POST', '/v1/leads/search', { viewId: theirs.id }],
      ] as const) {
        const res = await owner.call<ErrorBody>(method, path, body);
        expect(res.status, `${method} ${path}: ${res.text}`).toBe(404);
        expect(res.body.error.code).toBe('NOT_FOUND');
      }
      expect(await visible(owner)).not.toContain('Their shared');
      const still = await other.call<View>('GET', `/v1/saved-views/${theirs.id}`);
      expect(still.body).toMatchObject({ name: 'Their shared' });
    });
  });

  describe('hostile input: 4xx naming the problem, nothing saved', () => {
    const cases: [string, unknown, string][] = [
      ['no name', { filter: {} }, 'body.name'],
      ['an empty name', { name: '   ', filter: {} }, 'body.name'],
      ['a long name', { name: 'n'.repeat(101), filter: {} }, 'body.name'],
      ['a control character', { name: 'a\u0000b', filter: {} }, 'body.name'],
      ['no filter', { name: 'x' }, 'body.filter'],
      ['an unknown field', { name: 'x', filter: {}, owner: 'me' }, 'body'],
      ['an unknown filter field', { name: 'x', filter: { where: '1=1' } }, 'body.filter'],
      ['a wrong type', { name: 'x', filter: { stageIds: 'abc' } }, 'body.filter.stageIds'],
      [
        'SQL as a stage id',
        { name: 'x', filter: { stageIds: ["' OR 1=1"] } },
        'body.filter.stageIds.0',
      ],
      ['a bad sort', { name: 'x', filter: {}, sort: 'id; DROP TABLE' }, 'body.sort'],
      ['shared as text', { name: 'x', filter: {}, shared: 'yes' }, 'body.shared'],
    ];
    it.each(cases)('POST with %s → 400', async (_what, body, field) => {
      const res = await agent.call('POST', '/v1/saved-views', body);
      expect(res.status, res.text).toBe(400);
      expect(fieldsOf(res.body).some((f) => f.startsWith(field))).toBe(true);
    });

    it('a PATCH with nothing to change, or of a malformed id, is a 400', async () => {
      const view = await save(agent, { name: 'Patch target', filter: {} });
      const empty = await agent.call('PATCH', `/v1/saved-views/${view.id}`, {});
      expect(empty.status, empty.text).toBe(400);
      const badId = await agent.call('PATCH', '/v1/saved-views/not-a-uuid', { name: 'x' });
      expect(badId.status).toBe(400);
      expect(fieldsOf(badId.body)).toEqual(['params.id']);
      const sqlId = await agent.call(
        'DELETE',
        `/v1/saved-views/${encodeURIComponent("1' OR '1'='1")}`,
      );
      expect(sqlId.status).toBe(400);
    });

    it('bad list parameters and forged cursors are 400s naming them', async () => {
      for (const [query, field] of [
        ['limit=0', 'query.limit'],
        ['limit=abc', 'query.limit'],
        ['cursor=%00%00', 'query.cursor'],
        [`cursor=${Buffer.from('["a","not-a-uuid"]').toString('base64url')}`, 'query.cursor'],
        [`cursor=${'A'.repeat(3000)}`, 'query.cursor'],
        ['other=1', 'query'],
      ] as const) {
        const res = await agent.call('GET', `/v1/saved-views?${query}`);
        expect(res.status, `${query}: ${res.text}`).toBe(400);
        expect(fieldsOf(res.body).some((f) => f.startsWith(field))).toBe(true);
      }
    });

    it('a 10 MB name is refused before anything is written', async () => {
      const before = await visible(agent);
      const res = await agent.call('POST', '/v1/saved-views', {
        name: 'x'.repeat(10 * 1024 * 1024),
        filter: {},
      });
      expect(res.status).toBe(413);
      expect(await visible(agent)).toEqual(before);
    });
  });
});
