import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeadListService } from '@ibhq/leads';
import { startApi, type RunningApi } from '../support/apps.js';
import { sql } from '../support/db.js';
import { createLead, crmTenant, CRM_ENV, type CrmCaller } from '../support/crm.js';

// Free-text search (`q`) through HTTP: partial and misspelled names, usernames, phone
// digits however written, e-mails, and the words of notes; combined with filters.

interface Lead {
  id: string;
  displayName: string;
}
interface ListPage {
  items: Lead[];
  nextCursor: string | null;
  total: { value: number; exact: boolean };
}

describe('lead search: free text over names, identities and notes', () => {
  let api: RunningApi;
  let owner: CrmCaller;
  let other: CrmCaller;
  const lead: Record<string, Lead> = {};
  let service: LeadListService;
  let window: LeadListService['scanWindow'];

  /** The display names `q` finds (GET), checked to equal what POST /search finds. */
  const find = async (q: string, extra = ''): Promise<string[]> => {
    const res = await owner.call<ListPage>(
      'GET',
      `/v1/leads?q=${encodeURIComponent(q)}&sort=name&limit=200${extra}`,
    );
    expect(res.status, res.text).toBe(200);
    const viaBody = await owner.call<ListPage>('POST', '/v1/leads/search', {
      filter: { q },
      sort: 'name',
      limit: 200,
    });
    expect(viaBody.status, viaBody.text).toBe(200);
    if (!extra)
      expect(viaBody.body.items.map((l) => l.id)).toEqual(res.body.items.map((l) => l.id));
    expect(res.body.total).toEqual({ value: res.body.items.length, exact: true });
    // Both ways of matching text give the same pages: walking the leads in order and
    // testing each (a window of 1 lead falls back at once), and gathering the matches.
    for (const limit of [2, 200]) {
      const path = `/v1/leads?q=${encodeURIComponent(q)}&sort=name&limit=${String(limit)}${extra}`;
      const walked = await owner.call<ListPage>('GET', path);
      service.scanWindow = { first: 1, max: 1 };
      try {
        const gathered = await owner.call<ListPage>('GET', path);
        expect(gathered.body.items.map((l) => l.id)).toEqual(walked.body.items.map((l) => l.id));
        expect(gathered.body.nextCursor).toEqual(walked.body.nextCursor);
      } finally {
        service.scanWindow = window;
      }
    }
    return res.body.items.map((l) => l.displayName);
  };

  const note = async (name: string, body: string): Promise<string> => {
    const res = await owner.call<{ id: string }>(
      'POST',
      `/v1/leads/${lead[name]?.id ?? ''}/notes`,
      {
        body,
      },
    );
    expect([200, 201], res.text).toContain(res.status);
    return res.body.id;
  };

  beforeAll(async () => {
    api = await startApi(CRM_ENV);
    // Exact totals whatever the load of the machine running the tests.
    service = api.app.get(LeadListService);
    service.exactTotalBudgetMs = 60_000;
    window = service.scanWindow;
    owner = await crmTenant(api, 'Search IB');
    other = await crmTenant(api, 'Other search IB');
    for (const spec of [
      { displayName: 'Alexander Petrov', telegramUsername: 'alex_petrov_fx' },
      { displayName: 'Maria Ivanova', phone: '+447911123456', country: 'GB' },
      { displayName: 'John Smith', email: 'j.smith@broker-mail.com' },
      { displayName: 'Olga Sokolova', telegramUsername: 'olga_trades' },
      { displayName: 'Boris Bravo' },
      { displayName: 'Fatima Khan', phone: '+971501234567' },
      { displayName: 'Merged Person', telegramUsername: 'merged_alexander' },
      { displayName: 'Ann 100% Percent' },
      { displayName: 'Maksim Volkov' },
    ]) {
      const created = await createLead<Lead>(owner, spec);
      lead[created.displayName] = created;
    }
    await createLead(other, {
      displayName: 'Alexander Petrov',
      telegramUsername: 'alex_petrov_fx',
    });
    await createLead(other, { displayName: 'Gold Notes Elsewhere' });
    await note('Boris Bravo', 'Asked about copy-trading fees and gold spreads');
    await note('Olga Sokolova', 'Prefers WhatsApp; deposit next week');
    // A merged lead is a tombstone: search never lists it.
    await sql('admin', `UPDATE "Lead" SET "mergedIntoId" = $2 WHERE "tenantId" = $1 AND id = $3`, [
      owner.tenantId,
      lead['Alexander Petrov']?.id,
      lead['Merged Person']?.id,
    ]);
  });
  afterAll(async () => {
    await api.close();
  });

  it('finds a misspelled name', async () => {
    expect(await find('Aleksandr')).toEqual(['Alexander Petrov']);
    expect(await find('Maxim')).toEqual(['Maksim Volkov']);
    expect(await find('Alexandr Petrov')).toEqual(['Alexander Petrov']);
    expect(await find('Petorv')).toEqual(['Alexander Petrov']);
    expect(await find('Sokolva')).toEqual(['Olga Sokolova']);
    expect(await find('Jonh Smith')).toEqual(['John Smith']);
  });

  it('finds partial names and usernames, case-insensitively', async () => {
    expect(await find('petrov_f')).toEqual(['Alexander Petrov']);
    expect(await find('OLGA_TR')).toEqual(['Olga Sokolova']);
    expect(await find('ivano')).toEqual(['Maria Ivanova']);
    expect(await find('smi')).toEqual(['John Smith']);
    expect(await find('@olga_trades')).toEqual(['Olga Sokolova']);
  });

  it('finds a phone number however its digits are written', async () => {
    for (const written of [
      '+447911123456',
      '+44 7911 123456',
      '07911 123 456',
      '0044-7911-123456',
      '+44 (0)7911 123456',
      '(07911) 123-456',
      '7911123456',
      '123456',
    ]) {
      expect(await find(written), written).toEqual(
        written === '123456' ? ['Fatima Khan', 'Maria Ivanova'] : ['Maria Ivanova'],
      );
    }
    expect(await find('+971 50 123 4567')).toEqual(['Fatima Khan']);
    expect(await find('0000 999')).toEqual([]);
  });

  it('finds part of an e-mail address', async () => {
    expect(await find('j.smith@broker')).toEqual(['John Smith']);
    expect(await find('broker-mail.com')).toEqual(['John Smith']);
  });

  it('finds a word, or part of a word, from a note', async () => {
    expect(await find('fees')).toEqual(['Boris Bravo']);
    expect(await find('gold spreads')).toEqual(['Boris Bravo']);
    // The full-text match; "olga_trades" is similar enough to be proposed too.
    expect(await find('copy-trading')).toContain('Boris Bravo');
    expect(await find('whatsap')).toEqual(['Olga Sokolova']);
  });

  it('a deleted note no longer matches', async () => {
    const id = await note('Fatima Khan', 'Interested in zircon accounts');
    expect(await find('zircon')).toEqual(['Fatima Khan']);
    const res = await owner.call(
      'DELETE',
      `/v1/leads/${lead['Fatima Khan']?.id ?? ''}/activities/${id}`,
    );
    expect([200, 204], res.text).toContain(res.status);
    expect(await find('zircon')).toEqual([]);
  });

  it('takes LIKE wildcards literally and finds nothing for unrelated text', async () => {
    expect(await find('100%')).toEqual(['Ann 100% Percent']);
    expect(await find('%')).toEqual(['Ann 100% Percent']);
    expect(await find('qwxzvk')).toEqual([]);
    expect(await find('Zanzibar')).toEqual([]);
  });

  it('never lists a merged lead’s tombstone', async () => {
    const merged = lead['Merged Person']?.id;
    for (const q of ['merged_alexander', 'Merged Person', 'merged']) {
      const res = await owner.call<ListPage>('GET', `/v1/leads?q=${q}&limit=200`);
      expect(res.body.items.map((l) => l.id)).not.toContain(merged);
    }
    expect(await find('Merged Person')).toEqual([]);
  });

  it('never finds another tenant’s leads or notes', async () => {
    expect(await find('Elsewhere')).toEqual([]);
    expect(await find('Alexander Petrov')).toEqual(['Alexander Petrov']);
    const theirs = await other.call<ListPage>('GET', '/v1/leads?q=fees');
    expect(theirs.body.items).toEqual([]);
    const theirName = await other.call<ListPage>('GET', '/v1/leads?q=Aleksandr');
    expect(theirName.body.items.map((l) => l.displayName)).toEqual(['Alexander Petrov']);
    expect(theirName.body.items[0]?.id).not.toBe(lead['Alexander Petrov']?.id);
  });

  it('combines with the other filters and pages', async () => {
    expect(await find('a', '&hasPhone=true')).toEqual(['Fatima Khan', 'Maria Ivanova']);
    expect(await find('o', '&hasTelegram=true')).toEqual(['Alexander Petrov', 'Olga Sokolova']);
    const first = await owner.call<ListPage>('GET', '/v1/leads?q=a&sort=name&limit=2');
    expect(first.body.items.map((l) => l.displayName)).toEqual([
      'Alexander Petrov',
      'Ann 100% Percent',
    ]);
    const second = await owner.call<ListPage>(
      'GET',
      `/v1/leads?q=a&sort=name&limit=2&cursor=${first.body.nextCursor ?? ''}`,
    );
    expect(second.body.items.map((l) => l.displayName)).toEqual(['Boris Bravo', 'Fatima Khan']);
    // The cursor belongs to its query's order, not to its filter: another q is fine.
    const all = await find('a');
    expect(all).toContain('Maria Ivanova');
  });
});
