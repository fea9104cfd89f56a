import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeadListService } from '@ibhq/leads';
import { startApi, type RunningApi } from '../support/apps.js';
import { bearer, createApiKey } from '../support/accounts.js';
import { sql } from '../support/db.js';
import { createLead, crmMember, crmTenant, CRM_ENV, type CrmCaller } from '../support/crm.js';

// GET /v1/leads and POST /v1/leads/search through HTTP: every filter alone and
// combined, every order with keyset pages, totals, cursors, hostile input, tenants.

interface Lead {
  id: string;
  displayName: string;
  stageId: string;
  stageName: string;
  ownerId: string | null;
  source: string;
  tags: string[];
  customFields: Record<string, unknown>;
  phone: string | null;
  email: string | null;
  telegramUsername: string | null;
  createdAt: string;
  updatedAt: string;
}
interface ListPage {
  items: Lead[];
  nextCursor: string | null;
  total: { value: number; exact: boolean };
}
interface Stage {
  id: string;
  name: string;
  position: number;
}
interface ErrorBody {
  error: { code: string; message: string; fields?: { field: string }[] };
}

const fieldsOf = (body: unknown) => ((body as ErrorBody).error.fields ?? []).map((f) => f.field);

describe('lead list: filters, orders, keyset pages and totals', () => {
  let api: RunningApi;
  let owner: Awaited<ReturnType<typeof crmTenant>>;
  let agent: CrmCaller;
  let other: Awaited<ReturnType<typeof crmTenant>>;
  let stages: Stage[];
  /** By display name. */
  const lead: Record<string, Lead> = {};
  let otherLead: Lead;

  const list = async (caller: CrmCaller, query = '') => {
    const res = await caller.call<ListPage>('GET', `/v1/leads${query ? `?${query}` : ''}`);
    expect(res.status, res.text).toBe(200);
    return res.body;
  };
  const names = (page: ListPage) => page.items.map((l) => l.displayName).sort();
  const search = async (caller: CrmCaller, body: Record<string, unknown>) => {
    const res = await caller.call<ListPage>('POST', '/v1/leads/search', body);
    expect(res.status, res.text).toBe(200);
    return res.body;
  };

  beforeAll(async () => {
    api = await startApi(CRM_ENV);
    // Exact totals whatever the load of the machine running the tests.
    api.app.get(LeadListService).exactTotalBudgetMs = 60_000;
    owner = await crmTenant(api, 'List IB');
    other = await crmTenant(api, 'Other IB');
    agent = await crmMember(api, owner, 'agent');

    for (const field of [
      { key: 'deposit', label: 'Deposit', type: 'number' },
      { key: 'broker', label: 'Broker', type: 'single_select', options: ['xm', 'exness', 'ic'] },
      {
        key: 'markets',
        label: 'Markets',
        type: 'multi_select',
        options: ['forex', 'crypto', 'gold'],
      },
      { key: 'signed_on', label: 'Signed on', type: 'date' },
      { key: 'vip_note', label: 'VIP note', type: 'text' },
    ]) {
      const res = await owner.call('POST', '/v1/custom-fields', field);
      expect(res.status, res.text).toBe(201);
    }
    const stageList = await owner.call<{ items: Stage[] }>('GET', '/v1/stages');
    expect(stageList.status, stageList.text).toBe(200);
    stages = stageList.body.items;
    const [first, second, third] = stages;
    if (!first || !second || !third) throw new Error('the default funnel has 8 stages');

    const specs: Record<string, unknown>[] = [
      {
        displayName: 'Anna Alpha',
        telegramUsername: 'anna_alpha',
        source: 'telegram_dm',
        tags: ['vip', 'hot'],
        customFields: { deposit: 500, broker: 'xm', markets: ['forex', 'gold'] },
        ownerId: owner.userId,
        stageId: second.id,
      },
      {
        displayName: 'Boris Bravo',
        phone: '+447911123456',
        source: 'telegram_group',
        tags: ['vip'],
        customFields: { deposit: 50, broker: 'exness', signed_on: '2026-02-15' },
        ownerId: agent.userId,
      },
      {
        displayName: 'Clara Charlie',
        email: 'clara@example.com',
        source: 'api',
        tags: ['hot'],
        customFields: { deposit: 1500, markets: ['crypto'], signed_on: '2026-03-01' },
        stageId: third.id,
      },
      {
        displayName: 'Dmitri Delta',
        telegramUserId: '777000111',
        phone: '+4915112345678',
        email: 'dmitri@example.com',
        source: 'import',
        tags: ['cold'],
        customFields: { broker: 'ic', vip_note: '5' },
        ownerId: agent.userId,
        stageId: second.id,
      },
      { displayName: 'Elena Echo', source: 'manual', tags: [] },
      {
        displayName: 'Farid Foxtrot',
        source: 'telegram_channel',
        tags: ['VIP', 'cold', 'hot'],
        customFields: { markets: ['gold'], deposit: 0 },
        ownerId: owner.userId,
        stageId: third.id,
      },
    ];
    for (const spec of specs) {
      const created = await createLead<Lead>(owner, spec);
      lead[created.displayName] = created;
    }
    otherLead = await createLead<Lead>(other, { displayName: 'Anna Alpha (other IB)' });
    // Unassigned leads (whatever the tenant's assignment does by default).
    await sql(
      'admin',
      `UPDATE "Lead" SET "ownerId" = NULL WHERE "tenantId" = $1 AND id = ANY($2::uuid[])`,
      [owner.tenantId, [lead['Clara Charlie']?.id, lead['Elena Echo']?.id]],
    );
    // Fixed creation and update times for the range filters.
    const times: [string, string, string][] = [
      ['Anna Alpha', '2026-01-05T10:00:00Z', '2026-04-01T10:00:00Z'],
      ['Boris Bravo', '2026-01-20T10:00:00Z', '2026-04-02T10:00:00Z'],
      ['Clara Charlie', '2026-02-10T10:00:00Z', '2026-02-11T10:00:00Z'],
      ['Dmitri Delta', '2026-03-01T00:00:00Z', '2026-03-02T10:00:00Z'],
      ['Elena Echo', '2026-03-31T23:00:00Z', '2026-04-03T10:00:00Z'],
      ['Farid Foxtrot', '2026-04-01T00:00:00Z', '2026-04-04T10:00:00Z'],
    ];
    for (const [name, createdAt, updatedAt] of times) {
      await sql(
        'admin',
        `UPDATE "Lead" SET "createdAt" = $2, "updatedAt" = $3 WHERE "tenantId" = $1 AND id = $4`,
        [owner.tenantId, createdAt, updatedAt, lead[name]?.id],
      );
    }
  });
  afterAll(async () => {
    await api.close();
  });

  it('lists the tenant’s leads newest first, with an exact total, and never another tenant’s', async () => {
    const page = await list(owner);
    expect(page.items.map((l) => l.displayName)).toEqual([
      'Farid Foxtrot',
      'Elena Echo',
      'Dmitri Delta',
      'Clara Charlie',
      'Boris Bravo',
      'Anna Alpha',
    ]);
    expect(page.total).toEqual({ value: 6, exact: true });
    expect(page.nextCursor).toBeNull();
    expect(page.items.map((l) => l.id)).not.toContain(otherLead.id);
    const anna = page.items.find((l) => l.displayName === 'Anna Alpha');
    expect(anna).toMatchObject({
      telegramUsername: 'anna_alpha',
      source: 'telegram_dm',
      tags: ['hot', 'vip'],
      stageName: stages[1]?.name,
      customFields: { deposit: 500, broker: 'xm', markets: ['forex', 'gold'] },
    });
    const theirs = await list(other);
    expect(theirs.items.map((l) => l.id)).toEqual([otherLead.id]);
  });

  describe('each filter alone', () => {
    const cases: [string, string, string[]][] = [
      ['stage (first stage)', 'STAGE0', ['Boris Bravo', 'Elena Echo']],
      [
        'stage (two, comma-separated)',
        'STAGE12',
        ['Anna Alpha', 'Clara Charlie', 'Dmitri Delta', 'Farid Foxtrot'],
      ],
      ['owner', 'OWNER_AGENT', ['Boris Bravo', 'Dmitri Delta']],
      ['owner none', 'ownerId=none', ['Clara Charlie', 'Elena Echo']],
      [
        'owner none or agent',
        'ownerId=none&OWNER_AGENT',
        ['Boris Bravo', 'Clara Charlie', 'Dmitri Delta', 'Elena Echo'],
      ],
      ['tag (any)', 'tag=hot', ['Anna Alpha', 'Clara Charlie', 'Farid Foxtrot']],
      [
        'tags any, case-insensitive',
        'tag=VIP&tag=Cold',
        ['Anna Alpha', 'Boris Bravo', 'Dmitri Delta', 'Farid Foxtrot'],
      ],
      ['tags all', 'tag=vip,hot&tagMode=all', ['Anna Alpha', 'Farid Foxtrot']],
      ['tags all of three', 'tag=vip,hot,cold&tagMode=all', ['Farid Foxtrot']],
      ['an unknown tag', 'tag=nobody', []],
      ['source', 'source=api,import', ['Clara Charlie', 'Dmitri Delta']],
      [
        'created from',
        'createdFrom=2026-03-01T00:00:00Z',
        ['Dmitri Delta', 'Elena Echo', 'Farid Foxtrot'],
      ],
      [
        'created to (a whole day)',
        'createdTo=2026-03-31',
        ['Anna Alpha', 'Boris Bravo', 'Clara Charlie', 'Dmitri Delta', 'Elena Echo'],
      ],
      [
        'created range',
        'createdFrom=2026-01-10&createdTo=2026-02-28',
        ['Boris Bravo', 'Clara Charlie'],
      ],
      [
        'updated range',
        'updatedFrom=2026-04-02&updatedTo=2026-04-03T10:00:00Z',
        ['Boris Bravo', 'Elena Echo'],
      ],
      ['has Telegram', 'hasTelegram=true', ['Anna Alpha', 'Dmitri Delta']],
      [
        'has no Telegram',
        'hasTelegram=false',
        ['Boris Bravo', 'Clara Charlie', 'Elena Echo', 'Farid Foxtrot'],
      ],
      ['has phone', 'hasPhone=true', ['Boris Bravo', 'Dmitri Delta']],
      [
        'has no phone',
        'hasPhone=false',
        ['Anna Alpha', 'Clara Charlie', 'Elena Echo', 'Farid Foxtrot'],
      ],
      ['has e-mail', 'hasEmail=true', ['Clara Charlie', 'Dmitri Delta']],
      [
        'has no e-mail',
        'hasEmail=false',
        ['Anna Alpha', 'Boris Bravo', 'Elena Echo', 'Farid Foxtrot'],
      ],
      ['custom number equal', 'cf.deposit=500', ['Anna Alpha']],
      ['custom number zero', 'cf.deposit=0', ['Farid Foxtrot']],
      ['custom single select', 'cf.broker=xm', ['Anna Alpha']],
      ['custom single select any of', 'cf.broker=xm&cf.broker=ic', ['Anna Alpha', 'Dmitri Delta']],
      ['custom multi select contains', 'cf.markets=gold', ['Anna Alpha', 'Farid Foxtrot']],
      [
        'custom multi select any of',
        'cf.markets=crypto&cf.markets=forex',
        ['Anna Alpha', 'Clara Charlie'],
      ],
      ['custom text', 'cf.vip_note=5', ['Dmitri Delta']],
      [
        'custom number range',
        'cf.deposit.gte=50&cf.deposit.lte=500',
        ['Anna Alpha', 'Boris Bravo'],
      ],
      ['custom number lower bound', 'cf.deposit.gte=501', ['Clara Charlie']],
      [
        'custom date range',
        'cf.signed_on.gte=2026-02-01&cf.signed_on.lte=2026-02-28',
        ['Boris Bravo'],
      ],
      ['custom date upper bound', 'cf.signed_on.lte=2026-03-01', ['Boris Bravo', 'Clara Charlie']],
      ['a custom field nobody has', 'cf.nothing=1', []],
    ];
    it.each(cases)('%s', async (_name, template, expected) => {
      const query = template
        .replace('STAGE0', `stageId=${stages[0]?.id ?? ''}`)
        .replace('STAGE12', `stageId=${stages[1]?.id ?? ''},${stages[2]?.id ?? ''}`)
        .replace('OWNER_AGENT', `ownerId=${agent.userId}`);
      const page = await list(owner, query);
      expect(names(page)).toEqual(expected);
      expect(page.total).toEqual({ value: expected.length, exact: true });
    });
  });

  it('combines filters with AND', async () => {
    const page = await list(
      owner,
      `tag=hot&stageId=${stages[2]?.id ?? ''}&source=telegram_channel,api&cf.deposit.gte=1`,
    );
    expect(names(page)).toEqual(['Clara Charlie']);
    const none = await list(owner, `tag=vip&hasPhone=true&ownerId=${owner.userId}`);
    expect(names(none)).toEqual([]);
    const two = await list(owner, `hasTelegram=true&ownerId=${agent.userId}&tag=cold`);
    expect(names(two)).toEqual(['Dmitri Delta']);
  });

  it('POST /v1/leads/search selects exactly what the query string selects', async () => {
    const body = await search(owner, {
      filter: {
        tags: ['vip', 'hot'],
        tagMode: 'all',
        customFields: { markets: 'gold', deposit: { lte: 500 } },
      },
      sort: 'name',
    });
    expect(body.items.map((l) => l.displayName)).toEqual(['Anna Alpha', 'Farid Foxtrot']);
    const viaQuery = await list(
      owner,
      'tag=vip,hot&tagMode=all&cf.markets=gold&cf.deposit.lte=500&sort=name',
    );
    expect(viaQuery.items.map((l) => l.id)).toEqual(body.items.map((l) => l.id));
    const all = await search(owner, {});
    expect(all.total).toEqual({ value: 6, exact: true });
  });

  describe('orders and keyset pages', () => {
    const byKey =
      (key: (l: Lead) => string | number, descending: boolean) =>
      (a: Lead, b: Lead): number => {
        const [ka, kb] = [key(a), key(b)];
        const c = ka < kb ? -1 : ka > kb ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
        return descending ? -c : c;
      };
    const position = (l: Lead) => stages.find((s) => s.id === l.stageId)?.position ?? -1;
    const orders: [string, (a: Lead, b: Lead) => number][] = [
      ['-createdAt', byKey((l) => l.createdAt, true)],
      ['createdAt', byKey((l) => l.createdAt, false)],
      ['-updatedAt', byKey((l) => l.updatedAt, true)],
      ['updatedAt', byKey((l) => l.updatedAt, false)],
      ['name', byKey((l) => l.displayName, false)],
      ['-name', byKey((l) => l.displayName, true)],
      // Stage: the pipeline's position, then (within a stage) the lead id.
      [
        'stage',
        (a, b) =>
          position(a) - position(b) ||
          (a.stageId < b.stageId ? -1 : a.stageId > b.stageId ? 1 : a.id < b.id ? -1 : 1),
      ],
      [
        '-stage',
        (a, b) =>
          position(b) - position(a) ||
          (a.stageId < b.stageId ? 1 : a.stageId > b.stageId ? -1 : a.id < b.id ? 1 : -1),
      ],
    ];

    it.each(orders)('sort=%s pages cover every row exactly once, in order', async (sort, cmp) => {
      const all = (await list(owner, `sort=${sort}&limit=200`)).items;
      expect(all).toHaveLength(6);
      expect(all.map((l) => l.id)).toEqual([...all].sort(cmp).map((l) => l.id));
      for (const limit of [1, 2, 4]) {
        const walked: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const query: string = `sort=${sort}&limit=${String(limit)}${cursor ? `&cursor=${cursor}` : ''}`;
          const page = await list(owner, query);
          expect(page.items.length).toBeLessThanOrEqual(limit);
          expect(page.total).toEqual({ value: 6, exact: true });
          walked.push(...page.items.map((l) => l.id));
          cursor = page.nextCursor;
          pages += 1;
        } while (cursor && pages < 20);
        expect(walked).toEqual(all.map((l) => l.id));
      }
    });

    it('the same pages through POST /v1/leads/search', async () => {
      const first = await search(owner, { sort: 'stage', limit: 4 });
      expect(first.nextCursor).not.toBeNull();
      const second = await search(owner, { sort: 'stage', limit: 4, cursor: first.nextCursor });
      const all = await list(owner, 'sort=stage');
      // A null cursor (the last page's nextCursor) is the first page.
      const again = await search(owner, { sort: 'stage', limit: 4, cursor: null });
      expect(again.items.map((l) => l.id)).toEqual(first.items.map((l) => l.id));
      expect([...first.items, ...second.items].map((l) => l.id)).toEqual(
        all.items.map((l) => l.id),
      );
      expect(second.nextCursor).toBeNull();
    });

    it('pages with a filter keep to the filter', async () => {
      const first = await list(owner, 'tag=hot&sort=name&limit=2');
      expect(first.items.map((l) => l.displayName)).toEqual(['Anna Alpha', 'Clara Charlie']);
      const second = await list(
        owner,
        `tag=hot&sort=name&limit=2&cursor=${first.nextCursor ?? ''}`,
      );
      expect(second.items.map((l) => l.displayName)).toEqual(['Farid Foxtrot']);
      expect(second.nextCursor).toBeNull();
    });

    it('is stable while rows are inserted between pages', async () => {
      const tenant = await crmTenant(api, 'Paging IB');
      for (let i = 0; i < 9; i += 1) {
        await createLead(tenant, { displayName: `Lead ${String(i).padStart(2, '0')}` });
      }
      for (const [sort, q] of [
        ['-createdAt', ''],
        ['createdAt', ''],
        ['name', ''],
        ['-name', ''],
        ['stage', ''],
        ['-createdAt', '&q=lead'],
        ['name', '&q=lead'],
      ] as const) {
        const before = (await list(tenant, `sort=${sort}&limit=200${q}`)).items.map((l) => l.id);
        const seen: string[] = [];
        let cursor: string | null = null;
        let round = 0;
        do {
          const page: ListPage = await list(
            tenant,
            `sort=${sort}&limit=3${q}${cursor ? `&cursor=${cursor}` : ''}`,
          );
          seen.push(...page.items.map((l) => l.id));
          cursor = page.nextCursor;
          if (round < 3) {
            // New leads arrive while the caller pages: before, after and between the rows.
            await createLead(tenant, { displayName: `Lead ${String(round)}5 new ${sort}` });
            await createLead(tenant, { displayName: `A new ${sort} ${String(round)}` });
            await createLead(tenant, { displayName: `Z new ${sort} ${String(round)}` });
          }
          round += 1;
        } while (cursor && round < 100);
        const existing = seen.filter((id) => before.includes(id));
        // Every row that existed at the start, exactly once, in the original order.
        expect(existing).toEqual(before);
        expect(new Set(seen).size).toBe(seen.length);
      }
    });
  });

  describe('totals', () => {
    it('is exact up to the bound, then the planner’s estimate (flagged)', async () => {
      const service = api.app.get(LeadListService);
      const bound = service.exactTotalLimit;
      service.exactTotalLimit = 3;
      try {
        const estimated = await list(owner);
        expect(estimated.total.exact).toBe(false);
        expect(estimated.total.value).toBeGreaterThanOrEqual(4);
        expect(estimated.items).toHaveLength(6);
        const exact = await list(owner, 'tag=hot');
        expect(exact.total).toEqual({ value: 3, exact: true });
        const searched = await search(owner, { filter: { q: 'a' } });
        expect(searched.total.exact).toBe(false);
      } finally {
        service.exactTotalLimit = bound;
      }
      expect((await list(owner)).total).toEqual({ value: 6, exact: true });
    });
  });

  describe('cursors', () => {
    let cursor: string;
    beforeAll(async () => {
      const page = await list(owner, 'limit=2');
      cursor = page.nextCursor ?? '';
      expect(cursor).not.toBe('');
    });
    const refused = async (query: string) => {
      const res = await owner.call('GET', `/v1/leads?${query}`);
      expect(res.status, res.text).toBe(400);
      expect(fieldsOf(res.body)).toEqual(['query.cursor']);
    };

    it('a cursor of another sort: 400 naming query.cursor', async () => {
      await refused(`limit=2&sort=name&cursor=${cursor}`);
      await refused(`limit=2&sort=createdAt&cursor=${cursor}`);
    });

    it('forged, edited or garbage cursors: 400 naming query.cursor', async () => {
      const parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
      const edit = (i: number, value: unknown) => {
        const copy = [...parts];
        copy[i] = value;
        return Buffer.from(JSON.stringify(copy)).toString('base64url');
      };
      await refused(`cursor=${edit(2, lead['Anna Alpha']?.id)}`);
      await refused(`cursor=${edit(1, '2030-01-01T00:00:00.000Z')}`);
      await refused(`cursor=${edit(3, 'x'.repeat(16))}`);
      await refused(`cursor=${edit(2, "1' OR '1'='1")}`);
      await refused(`cursor=${Buffer.from('["-createdAt"]').toString('base64url')}`);
      await refused(`cursor=${Buffer.from('{"a":1}').toString('base64url')}`);
      await refused('cursor=%00%00');
      await refused(`cursor=${'A'.repeat(2_000)}`);
      await refused(`cursor=${'A'.repeat(3_000)}`);
      await refused('cursor=not*base64');
    });

    it('another tenant’s cursor: 400, not a page of anything', async () => {
      const res = await other.call('GET', `/v1/leads?limit=2&cursor=${cursor}`);
      expect(res.status, res.text).toBe(400);
      expect(fieldsOf(res.body)).toEqual(['query.cursor']);
    });

    it('in a body the error names body.cursor', async () => {
      const res = await owner.call('POST', '/v1/leads/search', { sort: 'name', cursor });
      expect(res.status, res.text).toBe(400);
      expect(fieldsOf(res.body)).toEqual(['body.cursor']);
    });
  });

  describe('hostile input: 4xx naming the problem, never a 500, nothing listed', () => {
    const badQueries: [string, string][] = [
      ['unknown=1', 'query.unknown'],
      ['stageId=not-a-uuid', 'query.stageId'],
      ["ownerId=1'%20OR%20'1'='1", 'query.ownerId'],
      ['limit=0', 'query.limit'],
      ['limit=201', 'query.limit'],
      ['limit=-1', 'query.limit'],
      ['limit=abc', 'query.limit'],
      ['limit=1&limit=2', 'query.limit'],
      ['sort=random()', 'query.sort'],
      ['sort=createdAt;DROP%20TABLE%20"Lead"', 'query.sort'],
      ['hasPhone=maybe', 'query.hasPhone'],
      ['tagMode=none', 'query.tagMode'],
      ['source=fax', 'query.source'],
      ['createdFrom=yesterday', 'query.createdFrom'],
      ['q=%00', 'query.q'],
      [`q=${'x'.repeat(201)}`, 'query.q'],
      ['q=a&q=b', 'query.q'],
      ['cf.deposit.gte=lots', 'query.cf.deposit.gte'],
      ['cf.Bad-Key=1', 'query.cf.Bad-Key'],
      ['cf.deposit.between=1', 'query.cf.deposit.between'],
      ['viewId=nope', 'query.viewId'],
      ['format=exe', 'query.format'],
    ];
    it.each(badQueries)('GET ?%s → 400 naming %s', async (query, field) => {
      const res = await owner.call<ErrorBody>('GET', `/v1/leads?${query}`);
      expect(res.status, res.text).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(fieldsOf(res.body)).toContain(field);
    });

    const badBodies: [string, unknown, string][] = [
      ['an unknown field', { filter: {}, drop: true }, 'body'],
      ['an unknown filter field', { filter: { stage: 'x' } }, 'body.filter'],
      ['a wrong type', { filter: { tags: 'vip' } }, 'body.filter.tags'],
      ['a wrong limit type', { limit: '10' }, 'body.limit'],
      [
        'an SQL fragment as a stage id',
        { filter: { stageIds: ["' OR 1=1 --"] } },
        'body.filter.stageIds.0',
      ],
      ['a NUL in a tag', { filter: { tags: ['a\u0000b'] } }, 'body.filter.tags.0'],
      [
        'a bad custom field key',
        { filter: { customFields: { 'x"; DROP': 1 } } },
        'body.filter.customFields',
      ],
      [
        'an empty range',
        { filter: { customFields: { deposit: {} } } },
        'body.filter.customFields.deposit',
      ],
      ['an unknown sort', { sort: 'createdAt DESC' }, 'body.sort'],
      ['an invalid view id', { viewId: 'x' }, 'body.viewId'],
    ];
    it.each(badBodies)('POST /search with %s → 400', async (_name, body, field) => {
      const res = await owner.call('POST', '/v1/leads/search', body);
      expect(res.status, res.text).toBe(400);
      expect(fieldsOf(res.body).some((f) => f.startsWith(field))).toBe(true);
    });

    it('a 10 MB body is refused (413) before anything runs', async () => {
      const res = await owner.call('POST', '/v1/leads/search', {
        filter: { q: 'x'.repeat(10 * 1024 * 1024) },
      });
      expect(res.status).toBe(413);
    });

    it('SQL and LIKE fragments in free text are only text', async () => {
      for (const q of ["' OR 1=1 --", '%', '%%%%', '\\', '"); DROP TABLE "Lead"; --']) {
        const page = await search(owner, { filter: { q } });
        expect(page.items, q).toEqual([]);
      }
      // `_` is a literal underscore (anna_alpha), not LIKE's any-character.
      expect(names(await search(owner, { filter: { q: '_' } }))).toEqual(['Anna Alpha']);
      expect((await list(owner)).total.value).toBe(6);
    });

    it('another tenant’s stage or owner ids select nothing', async () => {
      const theirStages = await other.call<{ items: Stage[] }>('GET', '/v1/stages');
      const ids = theirStages.body.items.map((s) => s.id).join(',');
      expect(names(await list(owner, `stageId=${ids}`))).toEqual([]);
      expect(names(await list(owner, `ownerId=${other.userId}`))).toEqual([]);
    });
  });

  describe('callers', () => {
    it('a viewer lists; an agent of a tenant where agents see only their own leads lists only theirs', async () => {
      const viewer = await crmMember(api, owner, 'viewer');
      expect((await list(viewer)).total.value).toBe(6);
      const res = await owner.call('PATCH', '/v1/tenant/settings', { agentsSeeOwnLeadsOnly: true });
      expect(res.status, res.text).toBe(200);
      try {
        const restricted = await crmMember(api, owner, 'agent');
        await sql('admin', `UPDATE "Lead" SET "ownerId" = $1 WHERE "tenantId" = $2 AND id = $3`, [
          restricted.userId,
          owner.tenantId,
          lead['Elena Echo']?.id,
        ]);
        const page = await list(restricted);
        expect(names(page)).toEqual(['Elena Echo']);
        expect(page.total).toEqual({ value: 1, exact: true });
        expect(names(await list(restricted, 'hasPhone=false'))).toEqual(['Elena Echo']);
        expect(names(await search(restricted, { filter: { q: 'anna' } }))).toEqual([]);
      } finally {
        await owner.call('PATCH', '/v1/tenant/settings', { agentsSeeOwnLeadsOnly: false });
        await sql('admin', `UPDATE "Lead" SET "ownerId" = NULL WHERE "tenantId" = $1 AND id = $2`, [
          owner.tenantId,
          lead['Elena Echo']?.id,
        ]);
      }
    });

    it('an API key with leads:read lists the tenant’s leads', async () => {
      const { key } = await createApiKey(api, owner.owner, ['leads:read']);
      const res = await api.request('GET', '/v1/leads?sort=name&limit=2', {
        headers: bearer(key),
      });
      expect(res.status, res.text).toBe(200);
      expect((res.body as ListPage).items.map((l) => l.displayName)).toEqual([
        'Anna Alpha',
        'Boris Bravo',
      ]);
    });
  });
});
