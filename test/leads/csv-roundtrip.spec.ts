import type { INestApplicationContext } from '@nestjs/common';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createApiKey } from '../support/accounts.js';
import { eventually, startApi, startWorker, type RunningApi } from '../support/apps.js';
import { crmTenant, CRM_ENV, type CrmCaller } from '../support/crm.js';

// CSV round trip: leads with awkward values, exported as CSV, imported into an empty
// tenant, exported again: the same file (but for ids and timestamps).

const CUSTOM_FIELDS = [
  { key: 'notes', label: 'Notes', type: 'text' },
  { key: 'score', label: 'Score', type: 'number' },
  {
    key: 'markets',
    label: 'Markets',
    type: 'multi_select',
    options: ['forex', 'crypto', 'indices'],
  },
  { key: 'tier', label: 'Tier', type: 'single_select', options: ['gold', 'silver'] },
  { key: 'vip', label: 'VIP', type: 'boolean' },
  { key: 'since', label: 'Since', type: 'date' },
] as const;

const STAGES = ['New', 'Contacted', 'Interested', 'Funded', 'Lost'];
const IGNORED = new Set(['id', 'createdAt', 'updatedAt']);

/** Pieces that CSV, spreadsheets and Unicode make awkward. */
const awkward = fc.constantFrom(
  '"',
  '""',
  ',',
  ';',
  '\n',
  '\r\n',
  '\r',
  '=',
  '+',
  '-',
  '@',
  "'",
  '\t',
  ' ',
  '\\',
  'é',
  'Ж',
  '名',
  '😀',
  '👩‍💻',
  '\u2028',
  '\u00a0',
  'a',
  'Z',
  '0',
);

/** Text of awkward pieces and arbitrary graphemes (no NUL, no control characters if asked). */
function textOf(options: { maxPieces: number; controls: boolean }) {
  return (
    fc
      .array(fc.oneof(awkward, fc.string({ unit: 'grapheme', maxLength: 3 })), {
        minLength: 1,
        maxLength: options.maxPieces,
      })
      .map((parts) => parts.join('').replaceAll('\u0000', ''))
      // eslint-disable-next-line no-control-regex -- control characters are what it removes
      .map((s) => (options.controls ? s : s.replace(/[\u0000-\u001f\u007f]/g, '')))
  );
}

const nameArb = textOf({ maxPieces: 12, controls: true })
  .map((s) => s.trim())
  .filter((s) => s.length >= 1 && s.length <= 200);
const tagArb = textOf({ maxPieces: 4, controls: false })
  .map((s) => s.replaceAll(';', '').trim())
  .filter((s) => s.length >= 1 && s.length <= 50);
const noteArb = textOf({ maxPieces: 10, controls: true })
  .map((s) => s.trim())
  .filter((s) => s.length >= 1);

const leadArb = fc.record({
  displayName: nameArb,
  username: fc.option(fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{2,20}[A-Za-z0-9]$/), {
    nil: undefined,
  }),
  telegramUserId: fc.option(fc.bigInt({ min: 1n, max: 9_223_372_036_854_775_000n }), {
    nil: undefined,
  }),
  hasPhone: fc.boolean(),
  email: fc.option(fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,10}$/), { nil: undefined }),
  language: fc.option(fc.constantFrom('en', 'pt-BR', 'ru', 'zh-Hant'), { nil: undefined }),
  country: fc.option(fc.constantFrom('GB', 'DE', 'BR', 'AE'), { nil: undefined }),
  stage: fc.constantFrom(...STAGES),
  tags: fc.array(tagArb, { maxLength: 4 }),
  notes: fc.option(noteArb, { nil: undefined }),
  score: fc.option(fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })), {
    nil: undefined,
  }),
  markets: fc.subarray(['forex', 'crypto', 'indices']),
  tier: fc.option(fc.constantFrom('gold', 'silver'), { nil: undefined }),
  vip: fc.option(fc.boolean(), { nil: undefined }),
  since: fc.option(
    fc
      .date({
        min: new Date('1900-01-01T00:00:00Z'),
        max: new Date('2100-12-31T00:00:00Z'),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString().slice(0, 10)),
    { nil: undefined },
  ),
});

/** The lead body of POST /v1/leads; identities made unique by the lead's position. */
type GeneratedLead = typeof leadArb extends fc.Arbitrary<infer T> ? T : never;

function bodyOf(lead: GeneratedLead, i: number, stageIds: Map<string, string>) {
  const n = String(i).padStart(2, '0');
  const customFields: Record<string, unknown> = {};
  if (lead.notes !== undefined) customFields.notes = lead.notes;
  if (lead.score !== undefined) customFields.score = lead.score;
  if (lead.markets.length > 0) customFields.markets = lead.markets;
  if (lead.tier !== undefined) customFields.tier = lead.tier;
  if (lead.vip !== undefined) customFields.vip = lead.vip;
  if (lead.since !== undefined) customFields.since = lead.since;
  return {
    displayName: lead.displayName,
    ...(lead.username === undefined ? {} : { telegramUsername: `${lead.username}${n}` }),
    ...(lead.telegramUserId === undefined
      ? {}
      : { telegramUserId: String((lead.telegramUserId / 100n) * 100n + BigInt(i + 1)) }),
    ...(lead.hasPhone ? { phone: `+447911123${String(100 + i).padStart(3, '0')}` } : {}),
    ...(lead.email === undefined ? {} : { email: `${lead.email}.${n}@example.com` }),
    ...(lead.language === undefined ? {} : { language: lead.language }),
    ...(lead.country === undefined ? {} : { country: lead.country }),
    stageId: stageIds.get(lead.stage),
    tags: lead.tags,
    customFields,
  };
}

describe('CSV round trip: export, import into an empty tenant, export again', () => {
  let api: RunningApi;
  let worker: INestApplicationContext;

  beforeAll(async () => {
    [api, { app: worker }] = await Promise.all([startApi(CRM_ENV), startWorker()]);
  });
  afterAll(async () => {
    await Promise.all([api.close(), worker.close()]);
  });

  async function tenantWithFields(name: string) {
    const tenant = await crmTenant(api, name);
    for (const field of CUSTOM_FIELDS) {
      const res = await tenant.call('POST', '/v1/custom-fields', field);
      if (res.status !== 201) throw new Error(`custom field: ${res.text}`);
    }
    return tenant;
  }

  async function exportCsv(caller: CrmCaller): Promise<string> {
    const res = await caller.call('GET', '/v1/leads/export?format=csv');
    expect(res.status, res.text).toBe(200);
    return res.text;
  }

  /** The export's rows without ids and timestamps, header first. */
  function comparable(csv: string): string[][] {
    const rows = parse(csv);
    const header = rows[0] ?? [];
    const keep = header.map((h, i) => (IGNORED.has(h) ? -1 : i)).filter((i) => i >= 0);
    return rows.map((row) => keep.map((i) => row[i] ?? ''));
  }

  async function importInto(caller: CrmCaller, csv: string): Promise<Record<string, number>> {
    const res = await fetch(`${api.url}/v1/leads/imports?fileName=export.csv`, {
      method: 'POST',
      headers: { authorization: `Bearer ${caller.token}`, 'content-type': 'text/csv' },
      body: csv,
    });
    const text = await res.text();
    expect(res.status, text).toBe(201);
    const { id } = JSON.parse(text) as { id: string };
    const started = await caller.call('POST', `/v1/leads/imports/${id}/start`, {
      onExisting: 'skip',
    });
    expect(started.status, started.text).toBe(202);
    const done = await eventually(async () => {
      const view = await caller.call<{
        status: string;
        jobId: string;
        counts: Record<string, number>;
      }>('GET', `/v1/leads/imports/${id}`);
      return ['completed', 'failed'].includes(view.body.status) ? view.body : undefined;
    }, 30_000);
    expect(done.status).toBe('completed');
    if (done.counts.failed !== 0) {
      const report = await caller.call('GET', `/v1/jobs/${done.jobId}/errors.csv`);
      throw new Error(`rows failed: ${report.text}\nfile:\n${csv}`);
    }
    return done.counts;
  }

  it('gives the same CSV back for arbitrary leads', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(leadArb, { minLength: 1, maxLength: 6 }), async (leads) => {
        run++;
        const source = await tenantWithFields(`Round trip A${String(run)}`);
        // Created through an API key: no owner (an owner would be a member of A only).
        const writer = await createApiKey(api, source.owner, ['leads:write']);
        const stages = await source.call<
          { id: string; name: string }[] | { items: { id: string; name: string }[] }
        >('GET', '/v1/stages');
        const list = Array.isArray(stages.body) ? stages.body : stages.body.items;
        const stageIds = new Map(list.map((s) => [s.name, s.id]));
        for (const [i, lead] of leads.entries()) {
          const created = await api.request('POST', '/v1/leads', {
            headers: bearer(writer.key),
            body: bodyOf(lead, i, stageIds),
          });
          expect(created.status, created.text).toBe(201);
        }
        const first = await exportCsv(source);

        const target = await tenantWithFields(`Round trip B${String(run)}`);
        const counts = await importInto(target, first);
        expect(counts).toEqual({ created: leads.length, updated: 0, skipped: 0, failed: 0 });
        const second = await exportCsv(target);
        expect(comparable(second)).toEqual(comparable(first));
      }),
      { numRuns: 15, endOnFailure: true },
    );
  }, 600_000);
});
