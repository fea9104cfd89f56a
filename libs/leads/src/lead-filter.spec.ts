import { describe, expect, it } from 'vitest';
import { ValidationError } from '@ibhq/core';
import { escapeLike, leadFilterFromQuery, leadFilterSql } from './lead-filter.js';

const A = '0192f0a0-0000-7000-8000-000000000001';
const B = '0192f0a0-0000-7000-8000-000000000002';
const C = '0192f0a0-0000-7000-8000-000000000003';

/** The field names a ValidationError thrown by `fn` reports. */
function fieldsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return e.fields.map((f) => f.field);
    throw e;
  }
  throw new Error('expected a ValidationError');
}

describe('leadFilterFromQuery', () => {
  it('reads an empty query as no filter', () => {
    expect(leadFilterFromQuery({})).toEqual({});
    expect(leadFilterFromQuery(undefined)).toEqual({});
  });

  it('takes lists repeated, comma-separated, or both', () => {
    expect(leadFilterFromQuery({ stageId: [`${A},${B}`, C] })).toEqual({ stageIds: [A, B, C] });
    expect(leadFilterFromQuery({ tag: 'vip, hot' })).toEqual({ tags: ['vip', 'hot'] });
    expect(leadFilterFromQuery({ source: ['api', 'import'] })).toEqual({
      sources: ['api', 'import'],
    });
  });

  it('accepts none among owner ids', () => {
    expect(leadFilterFromQuery({ ownerId: `none,${A}` })).toEqual({ ownerIds: ['none', A] });
  });

  it('parses booleans, tag mode, free text and dates', () => {
    const filter = leadFilterFromQuery({
      hasTelegram: 'true',
      hasPhone: 'false',
      hasEmail: 'true',
      tagMode: 'all',
      tag: 'vip',
      q: '  Aleksandr ',
      createdFrom: '2026-01-02T03:04:05Z',
      updatedFrom: '2026-01-01',
    });
    expect(filter).toEqual({
      hasTelegram: true,
      hasPhone: false,
      hasEmail: true,
      tagMode: 'all',
      tags: ['vip'],
      q: 'Aleksandr',
      createdFrom: new Date('2026-01-02T03:04:05Z'),
      updatedFrom: new Date('2026-01-01T00:00:00Z'),
    });
  });

  it('reads a date-only upper bound as the end of that day', () => {
    expect(
      leadFilterFromQuery({ createdTo: '2026-03-31', updatedTo: '2026-03-31T10:00:00Z' }),
    ).toEqual({
      createdTo: new Date('2026-03-31T23:59:59.999Z'),
      updatedTo: new Date('2026-03-31T10:00:00Z'),
    });
  });

  it('reads custom field values, lists and ranges', () => {
    expect(
      leadFilterFromQuery({
        'cf.broker': 'xm',
        'cf.country_list': ['DE', 'FR'],
        'cf.deposit.gte': '100',
        'cf.deposit.lte': '250.5',
        'cf.signed_on.gte': '2026-01-01',
      }),
    ).toEqual({
      customFields: {
        broker: 'xm',
        country_list: ['DE', 'FR'],
        deposit: { gte: 100, lte: 250.5 },
        signed_on: { gte: '2026-01-01' },
      },
    });
  });

  it('keeps commas inside a custom field value', () => {
    expect(leadFilterFromQuery({ 'cf.city': 'Washington, DC' })).toEqual({
      customFields: { city: 'Washington, DC' },
    });
  });

  it('ignores empty parameters', () => {
    expect(leadFilterFromQuery({ q: '', stageId: '', tag: ['', ' '] })).toEqual({});
  });

  it('leaves the parameters the caller allows to the caller', () => {
    expect(
      leadFilterFromQuery({ sort: 'name', limit: '5', tag: 'vip' }, { allow: ['sort', 'limit'] }),
    ).toEqual({ tags: ['vip'] });
  });

  it('names the parameter of every problem', () => {
    expect(fieldsOf(() => leadFilterFromQuery({ stageId: 'not-a-uuid' }))).toEqual([
      'query.stageId',
    ]);
    expect(fieldsOf(() => leadFilterFromQuery({ ownerId: "1' OR '1'='1" }))).toEqual([
      'query.ownerId',
    ]);
    expect(fieldsOf(() => leadFilterFromQuery({ hasPhone: 'yes' }))).toEqual(['query.hasPhone']);
    expect(fieldsOf(() => leadFilterFromQuery({ tagMode: 'some' }))).toEqual(['query.tagMode']);
    expect(fieldsOf(() => leadFilterFromQuery({ source: 'fax' }))).toEqual(['query.source']);
    expect(fieldsOf(() => leadFilterFromQuery({ createdFrom: 'yesterday' }))).toEqual([
      'query.createdFrom',
    ]);
    expect(fieldsOf(() => leadFilterFromQuery({ q: 'x'.repeat(201) }))).toEqual(['query.q']);
    expect(fieldsOf(() => leadFilterFromQuery({ q: ['a', 'b'] }))).toEqual(['query.q']);
    expect(fieldsOf(() => leadFilterFromQuery({ 'cf.deposit.gte': 'lots' }))).toEqual([
      'query.cf.deposit.gte',
    ]);
    expect(fieldsOf(() => leadFilterFromQuery({ 'cf.Bad-Key': 'x' }))).toEqual([
      'query.cf.Bad-Key',
    ]);
    expect(fieldsOf(() => leadFilterFromQuery({ 'cf.note': 'x'.repeat(201) }))).toEqual([
      'query.cf.note',
    ]);
    expect(fieldsOf(() => leadFilterFromQuery({ stageIds: A }))).toEqual(['query.stageIds']);
    expect(fieldsOf(() => leadFilterFromQuery({ tag: { nested: 'x' } }))).toEqual(['query.tag']);
  });

  it('refuses a value and a range on one custom field', () => {
    expect(
      fieldsOf(() => leadFilterFromQuery({ 'cf.deposit': '5', 'cf.deposit.gte': '1' })),
    ).toEqual(['query.cf.deposit.gte']);
  });

  it('refuses too many values', () => {
    const many = Array.from({ length: 101 }, () => A).join(',');
    expect(fieldsOf(() => leadFilterFromQuery({ stageId: many }))).toContain('query.stageId');
  });
});

describe('leadFilterSql', () => {
  it('always excludes merged leads, and values are parameters', () => {
    const sql = leadFilterSql({ q: "x' OR 1=1 --", tags: ['vip'] }, { tenantId: A });
    expect(sql.sql).toContain('"mergedIntoId" IS NULL');
    expect(sql.sql).not.toContain('OR 1=1');
    expect(sql.values).toContain("x' or 1=1 --");
  });

  it('writes the tenant into the conditions when it is known', () => {
    expect(leadFilterSql({}, { tenantId: A }).values).toContain(A);
    expect(leadFilterSql({}).sql).not.toContain('"tenantId"');
  });

  it('matches a tag list once per tag in all mode', () => {
    const all = leadFilterSql({ tags: ['vip', 'VIP', 'hot'], tagMode: 'all' }, { tenantId: A });
    expect(all.sql.match(/EXISTS/g)).toHaveLength(2);
  });

  it('looks for phone digits only in digit-like queries', () => {
    expect(leadFilterSql({ q: '+44 (0)7911-123' }, { tenantId: A }).values).toContain(
      '%447911123%',
    );
    expect(leadFilterSql({ q: '07911 123' }, { tenantId: A }).values).toContain('%7911123%');
    // Elsewhere digits are only a part of the text (ILIKE), never the phone's digits (LIKE).
    const words = leadFilterSql({ q: 'ivan 12' }, { tenantId: A });
    expect(words.sql).not.toMatch(/[^I]LIKE/);
    expect(words.values).toEqual(expect.arrayContaining(['%ivan%', '%12%']));
  });

  it('needs every word of the text, each as a part or (from four letters) misspelled', () => {
    const sql = leadFilterSql({ q: 'Oksanna  Khan' }, { tenantId: A });
    expect(sql.values).toEqual(
      expect.arrayContaining(['%oksanna%', 'oksanna', 'oxanna', '%khan%', 'khan']),
    );
    // A similarity per word (oksanna, oxanna, khan), not one of the whole query, which
    // "khan" alone would satisfy.
    expect(sql.sql.match(/<%/g)).toHaveLength(3);
    expect(sql.sql).toMatch(/\) AND \(/);
    // Three letters are too few to compare spellings: only a part of the text.
    const short = leadFilterSql({ q: 'li wei' }, { tenantId: A });
    expect(short.values).toEqual(expect.arrayContaining(['%li%', '%wei%']));
    expect(short.sql).not.toContain('<%');
  });
});

describe('leadFilterSql free text, gathered or tested per lead', () => {
  it('gathers matching ids from the search indexes by default', () => {
    const sql = leadFilterSql({ q: 'Aleksandr' }, { tenantId: A });
    expect(sql.sql).toContain('l."id" = ANY(ARRAY(');
    expect(sql.sql).toContain('UNION ALL');
    // The other common spelling is searched too.
    expect(sql.values).toEqual(expect.arrayContaining(['aleksandr', 'alexandr']));
  });

  it('tests each lead in `row` mode, with the same conditions', () => {
    const sql = leadFilterSql({ q: 'Aleksandr' }, { tenantId: A, textSearch: 'row' });
    expect(sql.sql).not.toContain('= ANY(ARRAY(');
    expect(sql.sql).toContain('l."searchText" ILIKE');
    expect(sql.sql).toMatch(/EXISTS \(SELECT 1 FROM "LeadActivity" a[\s\S]*OFFSET 0\)/);
    expect(sql.values).toEqual(expect.arrayContaining(['%aleksandr%', 'aleksandr', 'alexandr']));
  });

  it('does not look for misspellings in digits or in very short text', () => {
    expect(leadFilterSql({ q: '+44 7911' }, { tenantId: A }).sql).not.toContain('<%');
    expect(leadFilterSql({ q: 'ann' }, { tenantId: A }).sql).not.toContain('<%');
    expect(leadFilterSql({ q: 'anna' }, { tenantId: A }).sql).toContain('<%');
  });

  it('reads "@username" as the username', () => {
    expect(leadFilterSql({ q: '@Olga_Trades' }, { tenantId: A }).values).toContain(
      '%olga\\_trades%',
    );
  });
});

describe('escapeLike', () => {
  it('takes %, _ and \\ literally', () => {
    expect(escapeLike('50%_off\\')).toBe('50\\%\\_off\\\\');
  });
});
