import { text as readAll } from 'node:stream/consumers';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWithTenant, asTenantId } from '@ibhq/core';
import { ExportService } from '@ibhq/leads';
import { startApi, type RunningApi } from '../support/apps.js';
import {
  CRM_ENV,
  crmMember,
  crmTenant,
  createLead,
  type CrmCaller,
  type LeadJson as LeadItem,
  type Reply,
} from '../support/crm.js';
import { sql } from '../support/db.js';

interface ErrorReply {
  error: { code: string; message: string; fields?: { field: string }[] };
}

const show = (res: Reply) => `${String(res.status)} ${res.text.slice(0, 400)}`;
const fieldsOf = (res: Reply) => ((res.body as ErrorReply).error.fields ?? []).map((f) => f.field);

/** The custom fields of the test tenant, in their position order. */
const FIELDS = [
  { key: 'note_text', label: 'Note', type: 'text' },
  { key: 'score', label: 'Score', type: 'number' },
  { key: 'birthday', label: 'Birthday', type: 'date' },
  { key: 'vip', label: 'VIP', type: 'boolean' },
  { key: 'plan', label: 'Plan', type: 'single_select', options: ['Gold', 'Silver'] },
  { key: 'langs', label: 'Languages', type: 'multi_select', options: ['en', 'ru', 'de'] },
] as const;

/** The export's formula escape, restated independently of the code under test. */
const escapeFormula = (cell: string) => (/^'*[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell);

/** The CSV row the export must write for a lead as GET /v1/leads shows it. */
function csvRowOf(lead: LeadItem): string[] {
  const text = (v: string | null) => (v === null ? '' : escapeFormula(v));
  const cf = FIELDS.map(({ key }) => {
    const v = lead.customFields[key];
    if (v === undefined || v === null) return '';
    if (Array.isArray(v)) return escapeFormula(v.join(';'));
    if (typeof v === 'string') return escapeFormula(v);
    return typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  });
  return [
    lead.id,
    text(lead.displayName),
    lead.telegramUserId ?? '',
    text(lead.telegramUsername),
    text(lead.phone),
    text(lead.email),
    text(lead.language),
    text(lead.country),
    lead.source,
    text(lead.stageName),
    lead.ownerId ?? '',
    lead.tags.length > 0 ? escapeFormula(lead.tags.join(';')) : '',
    ...cf,
    lead.createdAt,
    lead.updatedAt,
  ];
}

const HEADER = [
  'id',
  'displayName',
  'telegramUserId',
  'telegramUsername',
  'phone',
  'email',
  'language',
  'country',
  'source',
  'stage',
  'ownerId',
  'tags',
  ...FIELDS.map((f) => `cf.${f.key}`),
  'createdAt',
  'updatedAt',
];

describe('lead export (CSV and JSON lines, streamed by COPY)', () => {
  let api: RunningApi;
  let owner: Awaited<ReturnType<typeof crmTenant>>;
  let other: CrmCaller;
  let agent: CrmCaller;
  let viewer: CrmCaller;
  const ids: Record<string, string> = {};

  /** Every lead GET /v1/leads lists for `query`, oldest first, walking every page. */
  async function listAll(caller: CrmCaller, query = ''): Promise<LeadItem[]> {
    const items: LeadItem[] = [];
    let cursor: string | null = null;
    do {
      const page: Reply<{ items: LeadItem[]; nextCursor: string | null }> = await caller.call(
        'GET',
        `/v1/leads?sort=createdAt&limit=3${query ? `&${query}` : ''}${
          cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''
        }`,
      );
      expect(page.status, show(page)).toBe(200);
      items.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor);
    return items;
  }

  async function exportCsv(caller: CrmCaller, query = ''): Promise<string[][]> {
    const res = await caller.call('GET', `/v1/leads/export${query ? `?${query}` : ''}`);
    expect(res.status, show(res)).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    return parse(res.text, { relax_quotes: false });
  }

  async function exportJsonl(
    caller: CrmCaller,
    query = '',
  ): Promise<(LeadItem & { activities?: unknown[] })[]> {
    const res = await caller.call(
      'GET',
      `/v1/leads/export?format=jsonl${query ? `&${query}` : ''}`,
    );
    expect(res.status, show(res)).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(res.text === '' || res.text.endsWith('\n')).toBe(true);
    return res.text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as LeadItem);
  }

  beforeAll(async () => {
    api = await startApi(CRM_ENV);
    owner = await crmTenant(api, 'Export IB');
    other = await crmTenant(api, 'Other IB');
    agent = await crmMember(api, owner, 'agent');
    viewer = await crmMember(api, owner, 'viewer');
    for (const field of FIELDS) {
      const res = await owner.call('POST', '/v1/custom-fields', field);
      expect(res.status, show(res)).toBe(201);
    }
    const leads: [string, Record<string, unknown>][] = [
      [
        'plain',
        {
          displayName: 'Ann Example',
          telegramUserId: '9007199254740993',
          telegramUsername: 'ann_ex',
          phone: '+44 7911 123456',
          email: 'Ann@Example.com',
          language: 'en',
          country: 'GB',
          source: 'telegram_dm',
          sourceDetails: { chatTitle: 'Signals "VIP"' },
          tags: ['vip', 'Warm'],
          customFields: {
            note_text: 'likes "gold", commas, and\nnewlines',
            score: 12.5,
            birthday: '1990-02-28',
            vip: true,
            plan: 'Gold',
            langs: ['en', 'ru'],
          },
        },
      ],
      [
        'formula',
        {
          displayName: '=HYPERLINK("http://evil","click")',
          email: 'formula@example.com',
          tags: ['=cmd|calc'],
          customFields: { note_text: '@SUM(A1:A9)', score: -3, vip: false, plan: 'Silver' },
        },
      ],
      ['plus', { displayName: '+1+2', customFields: { note_text: '-2+3' } }],
      ['at', { displayName: '@me', customFields: { note_text: "'=already quoted" } }],
      [
        'quotes',
        {
          displayName: 'O\'Brien, "The Boss"\nSecond line; semi',
          telegramUsername: 'obrien',
          customFields: { note_text: 'back\\slash \\n not a newline', langs: ['de'] },
          tags: ['Warm'],
        },
      ],
      ['unicode', { displayName: 'Ünïcödé 😀 中文 Ωmega', country: 'DE', language: 'de' }],
      ['agents', { displayName: 'Agent owned', ownerId: agent.userId, tags: ['vip'] }],
    ];
    for (const [name, body] of leads) {
      ids[name] = (await createLead(owner, body)).id;
    }
    await createLead(other, { displayName: 'Secret lead of another tenant', tags: ['vip'] });
  });

  afterAll(() => api.close());

  it('CSV: a header, then one line per lead equal to what GET /v1/leads lists', async () => {
    const listed = await listAll(owner);
    expect(listed.length).toBe(7);
    const rows = await exportCsv(owner);
    expect(rows[0]).toEqual(HEADER);
    expect(rows.slice(1)).toEqual(listed.map(csvRowOf));
  });

  it('CSV: formula-looking cells are escaped, everything else is verbatim', async () => {
    const rows = await exportCsv(owner);
    const byId = new Map(rows.slice(1).map((r) => [r[0], r]));
    const col = (name: string) => HEADER.indexOf(name);
    const formula = byId.get(ids.formula ?? '');
    expect(formula?.[col('displayName')]).toBe(`'=HYPERLINK("http://evil","click")`);
    expect(formula?.[col('tags')]).toBe("'=cmd|calc");
    expect(formula?.[col('cf.note_text')]).toBe("'@SUM(A1:A9)");
    expect(formula?.[col('cf.score')]).toBe('-3'); // a number, not a formula: plain
    expect(formula?.[col('cf.vip')]).toBe('false');
    expect(byId.get(ids.plus ?? '')?.[col('displayName')]).toBe("'+1+2");
    expect(byId.get(ids.plus ?? '')?.[col('cf.note_text')]).toBe("'-2+3");
    expect(byId.get(ids.at ?? '')?.[col('displayName')]).toBe("'@me");
    expect(byId.get(ids.at ?? '')?.[col('cf.note_text')]).toBe("''=already quoted");
    const plain = byId.get(ids.plain ?? '');
    expect(plain?.[col('phone')]).toBe("'+447911123456");
    expect(plain?.[col('telegramUserId')]).toBe('9007199254740993');
    expect(plain?.[col('tags')]).toBe('vip;Warm');
    expect(plain?.[col('cf.note_text')]).toBe('likes "gold", commas, and\nnewlines');
    expect(plain?.[col('cf.score')]).toBe('12.5');
    expect(plain?.[col('cf.birthday')]).toBe('1990-02-28');
    expect(plain?.[col('cf.vip')]).toBe('true');
    expect(plain?.[col('cf.plan')]).toBe('Gold');
    expect(plain?.[col('cf.langs')]).toBe('en;ru');
    expect(plain?.[col('stage')]).toBe('New');
    const quotes = byId.get(ids.quotes ?? '');
    expect(quotes?.[col('displayName')]).toBe('O\'Brien, "The Boss"\nSecond line; semi');
    expect(quotes?.[col('cf.note_text')]).toBe('back\\slash \\n not a newline');
    expect(byId.get(ids.unicode ?? '')?.[col('displayName')]).toBe('Ünïcödé 😀 中文 Ωmega');
  });

  it('CSV: a download with a dated name, never cached', async () => {
    const res = await owner.call('GET', '/v1/leads/export');
    const today = new Date().toISOString().slice(0, 10);
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="leads-${today}.csv"`,
    );
    expect(res.headers.get('cache-control')).toBe('no-store');
    const jsonl = await owner.call('GET', '/v1/leads/export?format=jsonl');
    expect(jsonl.headers.get('content-disposition')).toBe(
      `attachment; filename="leads-${today}.jsonl"`,
    );
  });

  it('HEAD answers the headers without exporting (and without an audit event)', async () => {
    const audited = async () =>
      (
        await owner.call<{ items: unknown[] }>(
          'GET',
          '/v1/audit-events?action=lead.exported&limit=200',
        )
      ).body.items.length;
    const before = await audited();
    const head = await owner.call('HEAD', '/v1/leads/export?format=jsonl&tag=vip');
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(head.text).toBe('');
    expect(await audited()).toBe(before);
    expect((await owner.call('HEAD', '/v1/leads/export?format=xlsx')).status).toBe(400);
    expect((await agent.call('HEAD', '/v1/leads/export')).status).toBe(403);
  });

  it('JSON lines: each line is the lead exactly as GET /v1/leads lists it', async () => {
    const listed = await listAll(owner);
    const lines = await exportJsonl(owner);
    expect(lines).toEqual(listed);
    // Backslashes and quotes survive COPY untouched.
    const quotes = lines.find((l) => l.id === ids.quotes);
    expect(quotes?.customFields.note_text).toBe('back\\slash \\n not a newline');
    expect(quotes?.displayName).toBe('O\'Brien, "The Boss"\nSecond line; semi');
  });

  it('activities on request, as the timeline shows them', async () => {
    const note = await owner.call('POST', `/v1/leads/${ids.plain ?? ''}/notes`, {
      body: 'Called: "wants gold" \\ back\\slash\nline two',
    });
    expect(note.status, show(note)).toBe(201);
    const timeline = await owner.call<{ items: unknown[] }>(
      'GET',
      `/v1/leads/${ids.plain ?? ''}/activities?limit=200`,
    );
    expect(timeline.status, show(timeline)).toBe(200);
    expect(timeline.body.items.length).toBeGreaterThanOrEqual(2);

    const lines = await exportJsonl(owner, 'includeActivities=true');
    const plain = lines.find((l) => l.id === ids.plain);
    expect(plain?.activities).toEqual(timeline.body.items);
    const { activities: _, ...rest } = plain ?? {};
    expect(rest).toEqual((await listAll(owner)).find((l) => l.id === ids.plain));
    expect(lines.every((l) => Array.isArray(l.activities))).toBe(true);

    const rows = await exportCsv(owner, 'includeActivities=true');
    expect(rows[0]?.at(-1)).toBe('activities');
    const row = rows.find((r) => r[0] === ids.plain);
    expect(JSON.parse(row?.at(-1) ?? 'null')).toEqual(timeline.body.items);

    const without = await exportJsonl(owner);
    expect(without.every((l) => !('activities' in l))).toBe(true);
  });

  it('honours the filter, as query parameters and as a POSTed JSON filter', async () => {
    for (const query of [
      'tag=vip',
      'tag=vip,Warm&tagMode=all',
      'q=brien',
      'q=Exampel', // misspelled: the fuzzy search settings apply inside COPY too
      'cf.plan=Gold',
      'hasPhone=true',
      `ownerId=${agent.userId}`,
      'cf.score.gte=0',
    ]) {
      const listed = await listAll(owner, query);
      expect(listed.length, query).toBeGreaterThan(0);
      expect(
        (await exportJsonl(owner, query)).map((l) => l.id),
        query,
      ).toEqual(listed.map((l) => l.id));
      expect(
        (await exportCsv(owner, query)).slice(1).map((r) => r[0]),
        query,
      ).toEqual(listed.map((l) => l.id));
    }
    const posted = await owner.call('POST', '/v1/leads/export', {
      format: 'jsonl',
      filter: { tags: ['Warm'] },
    });
    expect(posted.status, show(posted)).toBe(200);
    const postedIds = posted.text
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as LeadItem).id);
    expect(postedIds).toEqual((await listAll(owner, 'tag=Warm')).map((l) => l.id));
    const postedCsv = await owner.call('POST', '/v1/leads/export', {
      filter: { q: 'Ünïcödé' },
    });
    expect(postedCsv.status, show(postedCsv)).toBe(200);
    const csvRows: string[][] = parse(postedCsv.text);
    expect(csvRows.slice(1).map((r) => r[0])).toEqual([ids.unicode]);
  });

  it("never exports another tenant's leads", async () => {
    const mine = await exportJsonl(owner);
    expect(mine.some((l) => l.displayName.startsWith('Secret'))).toBe(false);
    const theirs = await exportJsonl(other);
    expect(theirs.map((l) => l.displayName)).toEqual(['Secret lead of another tenant']);
    // Another tenant's stage id in the filter selects nothing; it reveals nothing either.
    const stage = theirs[0]?.stageId ?? '';
    expect(await exportJsonl(owner, `stageId=${stage}`)).toEqual([]);
  });

  it('needs leads:export: agents and viewers are refused', async () => {
    for (const caller of [agent, viewer]) {
      const get = await caller.call('GET', '/v1/leads/export');
      expect(get.status, show(get)).toBe(403);
      const post = await caller.call('POST', '/v1/leads/export', {});
      expect(post.status, show(post)).toBe(403);
    }
  });

  it('an agent who sees only their own leads exports only theirs (row-level security)', async () => {
    const service = api.app.get(ExportService, { strict: false });
    const ctx = {
      tenantId: asTenantId(owner.tenantId),
      actor: { type: 'user' as const, id: agent.userId },
    };
    const scoped = await runWithTenant({ ...ctx, leadOwnerScope: agent.userId }, async () =>
      readAll(
        (await service.start({ format: 'jsonl', filter: {}, includeActivities: false })).stream,
      ),
    );
    expect(
      scoped
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as LeadItem).id),
    ).toEqual([ids.agents]);
    const unscoped = await runWithTenant(ctx, async () =>
      readAll(
        (await service.start({ format: 'csv', filter: {}, includeActivities: false })).stream,
      ),
    );
    expect(parse(unscoped).length).toBe(8);
  });

  it('is audited with the format, the filter and includeActivities', async () => {
    const res = await owner.call(
      'GET',
      '/v1/leads/export?format=jsonl&tag=vip&includeActivities=true',
    );
    expect(res.status).toBe(200);
    const events = await owner.call<{
      items: { action: string; metadata: Record<string, unknown>; actor: { id: string } }[];
    }>('GET', '/v1/audit-events?action=lead.exported&limit=1');
    expect(events.status, show(events)).toBe(200);
    expect(events.body.items[0]).toMatchObject({
      action: 'lead.exported',
      actor: { id: owner.userId },
      metadata: { format: 'jsonl', filter: { tags: ['vip'] }, includeActivities: true },
    });
  });

  it('answers hostile input with a 4xx naming the problem, and changes nothing', async () => {
    const before = (await listAll(owner)).length;
    const cases: [string, string, unknown, string | null][] = [
      ['GET', '/v1/leads/export?format=xlsx', undefined, 'query.format'],
      ['GET', '/v1/leads/export?format=csv&format=jsonl', undefined, 'query.format'],
      ['GET', '/v1/leads/export?includeActivities=yes', undefined, 'query.includeActivities'],
      ['GET', '/v1/leads/export?limit=10', undefined, 'query.limit'],
      ['GET', '/v1/leads/export?cursor=AAAA', undefined, 'query.cursor'],
      [
        'GET',
        `/v1/leads/export?stageId=${encodeURIComponent("1' OR '1'='1")}`,
        undefined,
        'query.stageId',
      ],
      ['GET', '/v1/leads/export?hasPhone=maybe', undefined, 'query.hasPhone'],
      ['GET', '/v1/leads/export?createdFrom=yesterday', undefined, 'query.createdFrom'],
      ['GET', `/v1/leads/export?q=${'x'.repeat(300)}`, undefined, 'query.q'],
      ['GET', '/v1/leads/export?q=%00', undefined, 'query.q'],
      ['POST', '/v1/leads/export', { format: 'pdf' }, 'body.format'],
      ['POST', '/v1/leads/export', { sneaky: true }, 'body'],
      ['POST', '/v1/leads/export', { filter: { stageIds: 'all' } }, 'body.filter.stageIds'],
      ['POST', '/v1/leads/export', { filter: { nope: 1 } }, 'body.filter'],
      ['POST', '/v1/leads/export', { includeActivities: 'true' }, 'body.includeActivities'],
      ['POST', '/v1/leads/export', { filter: { q: 'x'.repeat(10 * 1024 * 1024) } }, null],
      ['POST', '/v1/leads/export', [1, 2], null],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await owner.call(method, path, body);
      expect(res.status, `${method} ${path.slice(0, 80)}: ${show(res)}`).toBeGreaterThanOrEqual(
        400,
      );
      expect(res.status, `${method} ${path.slice(0, 80)}`).toBeLessThan(500);
      if (field !== null) {
        expect(
          fieldsOf(res).some((f) => f.startsWith(field)),
          `${path}: ${res.text}`,
        ).toBe(true);
      }
    }
    // SQL in the free text is a value: it matches nothing and runs nothing.
    for (const q of [
      `'; DROP TABLE "Lead"; --`,
      `$$; DELETE FROM "Lead"; $$`,
      `\\'; SELECT 1; --`,
    ]) {
      const res = await owner.call(
        'GET',
        `/v1/leads/export?format=jsonl&q=${encodeURIComponent(q)}`,
      );
      expect(res.status, show(res)).toBe(200);
      expect(res.text).toBe('');
    }
    expect((await listAll(owner)).length).toBe(before);
  });

  it('a client that disconnects mid-export leaves no open transaction or connection', async () => {
    // A tenant whose export (20 MB) is far larger than the socket buffers.
    const big = await crmTenant(api, 'Big export IB');
    await sql(
      'admin',
      `INSERT INTO "Lead" (id, "tenantId", "displayName", "sourceDetails", "updatedAt")
       SELECT gen_random_uuid(), $1::uuid, 'Bulk lead ' || g,
              jsonb_build_object('chatTitle', repeat('x', 2000)), now()
         FROM generate_series(1, 10000) g`,
      [big.tenantId],
    );
    const appBackends = async () =>
      (
        await sql<{ state: string | null; query: string; xact: string | null }>(
          'admin',
          `SELECT state, query, xact_start::text AS xact FROM pg_stat_activity
            WHERE datname = current_database() AND usename = 'ibhq_app'`,
        )
      ).rows;

    const controller = new AbortController();
    const res = await fetch(`${api.url}/v1/leads/export?format=jsonl&includeActivities=true`, {
      headers: { authorization: `Bearer ${big.token}` },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body?.getReader();
    let received = 0;
    while (reader && received < 200_000) {
      const chunk: { done: boolean; value?: Uint8Array } = await reader.read();
      if (chunk.done) break;
      received += chunk.value?.length ?? 0;
    }
    expect(received).toBeGreaterThanOrEqual(200_000);
    // While it is paused mid-stream, the COPY is there...
    expect((await appBackends()).some((b) => b.query.startsWith('COPY'))).toBe(true);
    controller.abort();

    // ...and after the disconnect it goes away (bounded wait), leaving nothing open.
    let left = await appBackends();
    for (let i = 0; i < 150 && left.some((b) => b.query.startsWith('COPY')); i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = await appBackends();
    }
    expect(left.filter((b) => b.query.startsWith('COPY'))).toEqual([]);
    expect(left.filter((b) => b.state !== 'idle' || b.xact !== null)).toEqual([]);
    // The API still answers (its pool was not drained by the aborted export).
    const after = await big.call('GET', '/v1/leads/export?format=jsonl&createdFrom=2100-01-01');
    expect(after.status, show(after)).toBe(200);
    expect(after.text).toBe('');
  }, 60_000);
});
