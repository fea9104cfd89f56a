import { describe, expect, it } from 'vitest';
import type { CustomFieldDefinition } from '../custom-fields.js';
import type { ImportField } from './column-mapping.js';
import {
  completeForCreate,
  identityKeys,
  validateRow,
  type ImportContext,
} from './row-validation.js';

const MEMBER = '0190a000-0000-7000-8000-000000000001';
const NEW_STAGE = '0190a000-0000-7000-8000-0000000000a1';
const OLD_STAGE = '0190a000-0000-7000-8000-0000000000a2';

const definitions: CustomFieldDefinition[] = [
  {
    id: '0190a000-0000-7000-8000-0000000000c1',
    key: 'budget',
    label: 'Budget',
    type: 'number',
    required: false,
    options: [],
    position: 0,
  },
  {
    id: '0190a000-0000-7000-8000-0000000000c2',
    key: 'markets',
    label: 'Markets',
    type: 'multi_select',
    required: false,
    options: ['forex', 'crypto', 'indices'],
    position: 1,
  },
];

const ctx: ImportContext = {
  definitions,
  stages: new Map([
    ['new', { id: NEW_STAGE, archived: false }],
    [NEW_STAGE, { id: NEW_STAGE, archived: false }],
    ['old funnel', { id: OLD_STAGE, archived: true }],
  ]),
  members: new Set([MEMBER]),
  memberEmails: new Map([['agent@example.com', MEMBER]]),
};

const COLUMNS: ImportField[] = [
  'displayName',
  'telegramUsername',
  'phone',
  'email',
  'country',
  'stage',
  'owner',
  'tags',
  'cf.budget',
  'cf.markets',
];

describe('validateRow', () => {
  it('normalises every field the way the API does', () => {
    const result = validateRow(
      [
        '  Ivan Petrov ',
        '@Ivan_P',
        '07911 123456',
        ' Ivan@Example.COM ',
        'gb',
        'NEW',
        'Agent@Example.com',
        'vip; Forex ;vip',
        '1500.5',
        'crypto;forex',
      ],
      COLUMNS,
      ctx,
    );
    expect(result).toEqual({
      ok: true,
      lead: {
        displayName: 'Ivan Petrov',
        telegramUsername: 'Ivan_P',
        phone: '+447911123456',
        phoneNational: '7911123456',
        email: 'ivan@example.com',
        emailLocal: 'ivan',
        country: 'GB',
        stageId: NEW_STAGE,
        ownerId: MEMBER,
        tags: ['vip', 'Forex'],
        customFields: { budget: 1500.5, markets: ['forex', 'crypto'] },
      },
    });
  });

  it('gives nothing for empty cells', () => {
    expect(validateRow(['Anna', '', ' ', '', '', '', '', '', '', ''], COLUMNS, ctx)).toEqual({
      ok: true,
      lead: { displayName: 'Anna', tags: [], customFields: {} },
    });
  });

  it('reports every bad field of a row, by field', () => {
    const result = validateRow(
      [
        'x'.repeat(201),
        'a',
        '12345',
        'not-an-email',
        'XX',
        'Old funnel',
        'who@example.com',
        '',
        'lots',
        'stocks',
      ],
      COLUMNS,
      ctx,
    );
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems.map((p) => p.field)).toEqual([
      'displayName',
      'telegramUsername',
      'email',
      'country',
      'phone',
      'stage',
      'owner',
      'cf.budget',
      'cf.markets',
    ]);
    expect(problems.find((p) => p.field === 'stage')?.reason).toMatch(/archived/);
    expect(problems.find((p) => p.field === 'phone')?.reason).toMatch(/not a valid phone number/);
  });

  it('names an unknown stage', () => {
    const result = validateRow(['A', '', '', '', '', 'Nowhere', '', '', '', ''], COLUMNS, ctx);
    expect(result).toEqual({
      ok: false,
      problems: [{ field: 'stage', reason: 'no stage is named "Nowhere"' }],
    });
  });

  it('refuses a row with the wrong number of cells, and nothing else of it', () => {
    expect(validateRow(['A', 'b'], COLUMNS, ctx)).toEqual({
      ok: false,
      problems: [{ field: null, reason: 'has 2 cells; the header has 10' }],
    });
    expect(validateRow({ not: 'an array' }, COLUMNS, ctx).ok).toBe(false);
  });

  it('removes the formula escape of our export', () => {
    const result = validateRow(
      ["'=SUM(A1)", "'@ivan_p", "'+447911123456", '', '', '', '', "''-x;'plain", '', ''],
      COLUMNS,
      ctx,
    );
    expect(result).toMatchObject({
      ok: true,
      lead: {
        displayName: '=SUM(A1)',
        telegramUsername: 'ivan_p',
        phone: '+447911123456',
        tags: ["'-x", "'plain"],
      },
    });
  });
});

describe('completeForCreate', () => {
  it('names a new lead by its first identity when no name is given', () => {
    const result = completeForCreate(
      { email: 'a@example.com', emailLocal: 'a', tags: [], customFields: {} },
      ctx,
    );
    expect(result).toMatchObject({ ok: true, lead: { displayName: 'a@example.com' } });
    expect(completeForCreate({ tags: [], customFields: {} }, ctx)).toMatchObject({
      ok: false,
      problems: [{ field: 'displayName' }],
    });
  });

  it('needs every required custom field', () => {
    const strict: ImportContext = {
      ...ctx,
      definitions: [{ ...definitions[0]!, required: true }],
    };
    expect(completeForCreate({ displayName: 'A', tags: [], customFields: {} }, strict)).toEqual({
      ok: false,
      problems: [{ field: 'cf.budget', reason: 'is required' }],
    });
  });
});

describe('identityKeys', () => {
  it('keys identities so that usernames compare without case', () => {
    expect(
      identityKeys({
        telegramUserId: '42',
        telegramUsername: 'Ivan_P',
        phone: '+447911123456',
        email: 'a@b.co',
        tags: [],
        customFields: {},
      }).map((k) => k.key),
    ).toEqual(['t:42', 'u:ivan_p', 'p:+447911123456', 'e:a@b.co']);
  });
});
