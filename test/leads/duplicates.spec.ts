import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type RunningApi } from '../support/apps.js';
import { CRM_ENV, createLead, crmMember, crmTenant, type CrmCaller } from '../support/crm.js';
import { sql } from '../support/db.js';

// Likely duplicates: pairs of live leads with a similar name AND a partial match (the
// same national phone digits, an e-mail local part equal to a username, the same name
// and country), best first, in keyset pages; a dismissed pair is never proposed again.

interface LeadView {
  readonly id: string;
  readonly displayName: string;
}
interface Pair {
  readonly leads: [LeadView, LeadView];
  readonly reasons: string[];
  readonly score: number;
}
interface Page {
  readonly items: Pair[];
  readonly nextCursor: string | null;
}
interface ErrorBody {
  readonly error: { code: string; message: string; fields?: { field: string }[] };
}

const MISSING = '01a20000-0000-7000-8000-000000000000';
const idsOf = (pair: Pair) => pair.leads.map((l) => l.id);
const sorted = (...ids: string[]) => [...ids].sort();
const fieldsOf = (body: unknown) => ((body as ErrorBody).error.fields ?? []).map((f) => f.field);

describe('duplicates', () => {
  let api: RunningApi;

  beforeAll(async () => {
    api = await startApi(CRM_ENV);
  });
  afterAll(() => api.close());

  const lead = (caller: CrmCaller, body: Record<string, unknown>) =>
    createLead<LeadView>(caller, body);

  async function pairs(caller: CrmCaller, path = '/v1/leads/duplicates?limit=100') {
    const res = await caller.call<Page>('GET', path);
    expect(res.status).toBe(200);
    return res.body;
  }

  it('finds the same national digits under another country code (same_national_phone)', async () => {
    const t = await crmTenant(api);
    const fr = await lead(t, { displayName: 'Ivan Petrov', phone: '+33 6 12 34 56 78' });
    const es = await lead(t, { displayName: 'Ivan Petrov', phone: '+34 612 345 678' });
    const { items, nextCursor } = await pairs(t);
    expect(items).toHaveLength(1);
    expect(nextCursor).toBeNull();
    const [pair] = items as [Pair];
    expect(idsOf(pair)).toEqual(sorted(fr.id, es.id));
    expect(pair.reasons).toEqual(['same_national_phone', 'similar_name']);
    expect(pair.score).toBeGreaterThan(0.5);
    expect(pair.score).toBeLessThanOrEqual(1);
    // Both leads in full, as every endpoint shows them.
    expect(pair.leads.map((l) => l.displayName)).toEqual(['Ivan Petrov', 'Ivan Petrov']);
    expect(pair.leads.map((l) => (l as unknown as { phone: string }).phone).sort()).toEqual([
      '+33612345678',
      '+34612345678',
    ]);
  });

  it('finds an e-mail local part equal to another lead’s username (email_matches_username)', async () => {
    const t = await crmTenant(api);
    const mail = await lead(t, { displayName: 'Maria Lopez', email: 'MLopez@example.com' });
    const tg = await lead(t, { displayName: 'Maria Lopes', telegramUsername: '@mlopez' });
    const [pair, ...rest] = (await pairs(t)).items;
    expect(rest).toEqual([]);
    expect(idsOf(pair as Pair)).toEqual(sorted(mail.id, tg.id));
    expect(pair?.reasons).toEqual(['email_matches_username', 'similar_name']);
  });

  it('finds the same name in the same country (same_name_and_country), not across countries', async () => {
    const t = await crmTenant(api);
    const gb1 = await lead(t, { displayName: 'John Smith', country: 'GB' });
    const gb2 = await lead(t, { displayName: 'JOHN SMITH', country: 'gb' });
    await lead(t, { displayName: 'John Smith', country: 'DE' });
    await lead(t, { displayName: 'John Smith' });
    const { items } = await pairs(t);
    expect(items.map(idsOf)).toEqual([sorted(gb1.id, gb2.id)]);
    expect(items[0]?.reasons).toEqual(['same_name_and_country', 'similar_name']);
  });

  it('does not propose similar names without a partial match, nor a partial match without a similar name', async () => {
    const t = await crmTenant(api);
    // Same name, nothing else shared.
    await lead(t, { displayName: 'Anna Ivanova', phone: '+44 7911 123456' });
    await lead(t, { displayName: 'Anna Ivanova', email: 'anna@example.com' });
    await lead(t, { displayName: 'Anna Ivanova', country: 'FR' });
    await lead(t, { displayName: 'Anna Ivanova', country: 'DE' });
    // Same national digits, unrelated names.
    await lead(t, { displayName: 'Peter Parker', phone: '+33 6 12 34 56 79' });
    await lead(t, { displayName: 'Xu Li', phone: '+34 612 345 679' });
    // An e-mail local part equal to a username, unrelated names.
    await lead(t, { displayName: 'Oleg Kuznetsov', email: 'trader77@example.com' });
    await lead(t, { displayName: 'Bright Signals', telegramUsername: 'trader77' });
    expect((await pairs(t)).items).toEqual([]);
  });

  it('scores stronger evidence higher and lists the best first', async () => {
    const t = await crmTenant(api);
    // Phone digits, name and country all agree.
    const a1 = await lead(t, {
      displayName: 'Sara Connor',
      phone: '+33 6 11 22 33 44',
      country: 'FR',
    });
    const a2 = await lead(t, {
      displayName: 'Sara Connor',
      phone: '+34 611 223 344',
      country: 'FR',
    });
    // Only the name and country.
    const b1 = await lead(t, { displayName: 'Kyle Reese', country: 'US' });
    const b2 = await lead(t, { displayName: 'Kyle Reese', country: 'US' });
    // Only the phone digits, with a less similar name.
    const c1 = await lead(t, { displayName: 'Miles Dyson', phone: '+33 6 99 88 77 66' });
    const c2 = await lead(t, { displayName: 'Miles B. Dyson Jr', phone: '+34 699 887 766' });
    const { items } = await pairs(t);
    expect(items.map(idsOf)).toEqual([
      sorted(a1.id, a2.id),
      sorted(c1.id, c2.id),
      sorted(b1.id, b2.id),
    ]);
    expect(items[0]?.reasons).toEqual([
      'same_national_phone',
      'same_name_and_country',
      'similar_name',
    ]);
    const scores = items.map((p) => p.score);
    expect(scores).toEqual([...scores].sort((x, y) => y - x));
    expect(new Set(scores).size).toBe(3);
  });

  it('never proposes a dismissed pair again; the dismissal is stored once, in id order', async () => {
    const t = await crmTenant(api);
    const a = await lead(t, { displayName: 'Olga Sidorova', country: 'CY' });
    const b = await lead(t, { displayName: 'Olga Sidorova', country: 'CY' });
    const c = await lead(t, {
      displayName: 'Olga Sidorova',
      phone: '+357 96 123456',
      country: 'CY',
    });
    expect((await pairs(t)).items).toHaveLength(3);
    const [low, high] = sorted(a.id, b.id) as [string, string];

    // Given in reverse order, twice: one row (low, high).
    for (let i = 0; i < 2; i++) {
      const res = await t.call('POST', '/v1/leads/duplicates/dismiss', { leadIds: [high, low] });
      expect(res.status).toBe(204);
      expect(res.text).toBe('');
    }
    const { rows } = await sql<{ leadId: string; otherLeadId: string; dismissedBy: string }>(
      'admin',
      `SELECT "leadId"::text, "otherLeadId"::text, "dismissedBy" FROM "DuplicateDismissal"
        WHERE "tenantId" = $1`,
      [t.tenantId],
    );
    expect(rows).toEqual([{ leadId: low, otherLeadId: high, dismissedBy: t.userId }]);

    const { items } = await pairs(t);
    expect(items.map(idsOf)).toEqual(
      expect.arrayContaining([sorted(a.id, c.id), sorted(b.id, c.id)]),
    );
    expect(items.map(idsOf)).not.toContainEqual([low, high]);
    expect(items).toHaveLength(2);
    // Nor among one lead's candidates.
    const own = await pairs(t, `/v1/leads/${a.id}/duplicates`);
    expect(own.items.map((p) => p.leads[1].id)).toEqual([c.id]);

    // Audited once (the second dismissal changed nothing).
    const events = await t.call<{ items: { action: string; target: { id: string } }[] }>(
      'GET',
      '/v1/audit-events?action=lead.duplicate_dismissed',
    );
    expect(events.body.items.map((e) => e.target.id)).toEqual([low]);
  });

  it('pages with a keyset cursor: every pair once, in the order of the full list', async () => {
    const t = await crmTenant(api);
    const names = ['Alex Morgan', 'Bella Stone', 'Chris Vale', 'Dana Price', 'Eli Brooks'];
    for (const [i, name] of names.entries()) {
      const digits = `6 1${String(i)} 00 00 0${String(i)}`;
      await lead(t, { displayName: name, phone: `+33 ${digits}` });
      await lead(t, { displayName: name, phone: `+34 ${digits.replace(/ /g, '')}` });
      await lead(t, { displayName: name, country: 'IT' });
      await lead(t, { displayName: name, country: 'IT' });
    }
    const full = (await pairs(t)).items;
    expect(full).toHaveLength(10);
    const seen: Pair[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const page = await pairs(t, `/v1/leads/duplicates?limit=3${query}`);
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items);
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(4);
    expect(seen.map(idsOf)).toEqual(full.map(idsOf));
    // A pair dismissed between pages does not shift the rest.
    const first = await pairs(t, '/v1/leads/duplicates?limit=3');
    await t.call('POST', '/v1/leads/duplicates/dismiss', {
      leadIds: idsOf(first.items[0] as Pair),
    });
    const second = await pairs(
      t,
      `/v1/leads/duplicates?limit=3&cursor=${encodeURIComponent(first.nextCursor ?? '')}`,
    );
    expect(second.items.map(idsOf)).toEqual(full.slice(3, 6).map(idsOf));
  });

  it('lists one lead’s candidates, that lead first', async () => {
    const t = await crmTenant(api);
    const me = await lead(t, {
      displayName: 'Dmitry Orlov',
      phone: '+49 30 12345678',
      email: 'dorlov@example.com',
      country: 'DE',
    });
    const byPhone = await lead(t, { displayName: 'Dmitry Orlov', phone: '+1 301 234 5678' });
    const byName = await lead(t, { displayName: 'dmitry orlov', country: 'DE' });
    const byUsername = await lead(t, { displayName: 'Dmitri Orlov', telegramUsername: 'dorlov' });
    await lead(t, { displayName: 'Dmitry Orlov', country: 'AT' });
    // A pair that does not involve `me`.
    await lead(t, { displayName: 'Nina Volkova', country: 'DE' });
    await lead(t, { displayName: 'Nina Volkova', country: 'DE' });

    const { items, nextCursor } = await pairs(t, `/v1/leads/${me.id}/duplicates`);
    expect(nextCursor).toBeNull();
    expect(items.every((p) => p.leads[0].id === me.id)).toBe(true);
    const byId = new Map(items.map((p) => [p.leads[1].id, p.reasons]));
    expect(byId).toEqual(
      new Map([
        [byPhone.id, ['same_national_phone', 'similar_name']],
        [byName.id, ['same_name_and_country', 'similar_name']],
        [byUsername.id, ['email_matches_username', 'similar_name']],
      ]),
    );
    // The same pairs, with the same scores, as the tenant's list.
    const all = (await pairs(t)).items.filter((p) => idsOf(p).includes(me.id));
    expect(new Set(all.map((p) => `${sorted(...idsOf(p)).join()}:${String(p.score)}`))).toEqual(
      new Set(items.map((p) => `${sorted(...idsOf(p)).join()}:${String(p.score)}`)),
    );
    // Paged too.
    const one = await pairs(t, `/v1/leads/${me.id}/duplicates?limit=1`);
    expect(one.items).toHaveLength(1);
    expect(one.nextCursor).not.toBeNull();

    expect((await t.call('GET', `/v1/leads/${MISSING}/duplicates`)).status).toBe(404);
  });

  it('keeps tenants apart: another tenant’s leads are never proposed, its ids answer 404', async () => {
    const mine = await crmTenant(api);
    const theirs = await crmTenant(api);
    const a = await lead(mine, {
      displayName: 'Lena Meyer',
      phone: '+49 30 12345678',
      country: 'DE',
    });
    const b = await lead(theirs, {
      displayName: 'Lena Meyer',
      phone: '+1 301 234 5678',
      country: 'DE',
    });
    expect((await pairs(mine)).items).toEqual([]);
    expect((await pairs(theirs)).items).toEqual([]);
    expect((await pairs(mine, `/v1/leads/${a.id}/duplicates`)).items).toEqual([]);

    const cross = await theirs.call<ErrorBody>('GET', `/v1/leads/${a.id}/duplicates`);
    expect(cross.status).toBe(404);
    expect(cross.body.error.code).toBe('NOT_FOUND');
    const dismiss = await theirs.call('POST', '/v1/leads/duplicates/dismiss', {
      leadIds: [a.id, b.id],
    });
    expect(dismiss.status).toBe(404);
    const { rows } = await sql(
      'admin',
      `SELECT 1 FROM "DuplicateDismissal" WHERE "leadId" = ANY($1::uuid[]) OR "otherLeadId" = ANY($1::uuid[])`,
      [[a.id, b.id]],
    );
    expect(rows).toEqual([]);
  });

  it('lets a viewer read candidates but not dismiss them', async () => {
    const t = await crmTenant(api);
    const viewer = await crmMember(api, t, 'viewer');
    const agent = await crmMember(api, t, 'agent');
    const a = await lead(t, { displayName: 'Yuki Tanaka', country: 'JP' });
    const b = await lead(t, { displayName: 'Yuki Tanaka', country: 'JP' });
    expect((await pairs(viewer)).items).toHaveLength(1);
    const refused = await viewer.call('POST', '/v1/leads/duplicates/dismiss', {
      leadIds: [a.id, b.id],
    });
    expect(refused.status).toBe(403);
    expect((await pairs(t)).items).toHaveLength(1);
    const done = await agent.call('POST', '/v1/leads/duplicates/dismiss', {
      leadIds: [a.id, b.id],
    });
    expect(done.status).toBe(204);
    expect((await pairs(t)).items).toHaveLength(0);
  });

  it('answers hostile input with a 4xx naming the problem, and changes nothing', async () => {
    const t = await crmTenant(api);
    const a = await lead(t, { displayName: 'Ali Hassan', country: 'AE' });
    const b = await lead(t, { displayName: 'Ali Hassan', country: 'AE' });
    const forged = (key: unknown) => Buffer.from(JSON.stringify(key)).toString('base64url');

    const queries: [string, string][] = [
      ['limit=0', 'query.limit'],
      ['limit=101', 'query.limit'],
      ['limit=abc', 'query.limit'],
      ['limit=1&limit=2', 'query.limit'],
      ['cursor=not-a-cursor!', 'query.cursor'],
      [`cursor=${'A'.repeat(2_000)}`, 'query.cursor'],
      [`cursor=${forged({ score: 1 })}`, 'query.cursor'],
      [`cursor=${forged([0.5, "x' OR '1'='1", MISSING])}`, 'query.cursor'],
      [`cursor=${forged([7, MISSING, MISSING])}`, 'query.cursor'],
      ['orderBy=score', 'query'],
    ];
    for (const path of ['/v1/leads/duplicates', `/v1/leads/${a.id}/duplicates`]) {
      for (const [query, field] of queries) {
        const res = await t.call<ErrorBody>('GET', `${path}?${query}`);
        expect(res.status, `${path}?${query}`).toBe(400);
        expect(
          fieldsOf(res.body).some((f) => f.startsWith(field)),
          query,
        ).toBe(true);
      }
    }
    // A well-formed cursor of another tenant only positions the page: never an error.
    const elsewhere = forged([0.9, MISSING, MISSING]);
    expect((await t.call('GET', `/v1/leads/duplicates?cursor=${elsewhere}`)).status).toBe(200);

    for (const id of ['not-a-uuid', "1' OR '1'='1", 'x'.repeat(90)]) {
      const res = await t.call<ErrorBody>('GET', `/v1/leads/${encodeURIComponent(id)}/duplicates`);
      expect(res.status).toBe(400);
      expect(fieldsOf(res.body)).toEqual(['params.id']);
    }
    // Longer than any route parameter may be: refused by the router (414).
    expect((await t.call('GET', `/v1/leads/${'x'.repeat(300)}/duplicates`)).status).toBe(414);

    const bodies: [unknown, string][] = [
      [{}, 'body.leadIds'],
      [{ leadIds: [a.id] }, 'body.leadIds'],
      [{ leadIds: [a.id, b.id, MISSING] }, 'body.leadIds'],
      [{ leadIds: [a.id, a.id] }, 'body.leadIds'],
      [{ leadIds: [a.id, a.id.toUpperCase()] }, 'body.leadIds'],
      [{ leadIds: [a.id, "' OR 1=1 --"] }, 'body.leadIds.1'],
      [{ leadIds: [a.id, 42] }, 'body.leadIds.1'],
      [{ leadIds: `${a.id},${b.id}` }, 'body.leadIds'],
      [{ leadIds: [a.id, b.id], reason: 'spam' }, 'body'],
      [{ leadIds: [a.id, 'x'.repeat(10 * 1024 * 1024)] }, ''],
    ];
    for (const [body, field] of bodies) {
      const res = await t.call<ErrorBody>('POST', '/v1/leads/duplicates/dismiss', body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      if (field) expect(fieldsOf(res.body).some((f) => f.startsWith(field))).toBe(true);
    }
    expect(
      (await t.call('POST', '/v1/leads/duplicates/dismiss', { leadIds: [a.id, MISSING] })).status,
    ).toBe(404);
    // Nothing was dismissed.
    expect((await pairs(t)).items.map(idsOf)).toEqual([sorted(a.id, b.id)]);
  });
});
