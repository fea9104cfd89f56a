import { describe, expect, it } from 'vitest';
import { ValidationError } from '@ibhq/core';
import type { CustomFieldDefinition } from '../custom-fields.js';
import { hasUsableColumn, resolveMapping, suggestMapping } from './column-mapping.js';

const def = (key: string, label: string): CustomFieldDefinition => ({
  id: `00000000-0000-4000-8000-00000000000${String(key.length)}`,
  key,
  label,
  type: 'text',
  required: false,
  options: [],
  position: 0,
});
const DEFS = [def('budget', 'Budget (USD)'), def('broker', 'Broker')];

function problems(fn: () => unknown): { field: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return [...e.fields];
    throw e;
  }
  throw new Error('expected a ValidationError');
}

describe('suggestMapping', () => {
  it('matches header names to fields without regard to case, spaces or punctuation', () => {
    expect(
      suggestMapping(
        ['Display Name', 'telegram_user_id', 'USERNAME', 'E-mail', 'Phone Number', 'Owner'],
        DEFS,
      ),
    ).toEqual({
      'Display Name': 'displayName',
      telegram_user_id: 'telegramUserId',
      USERNAME: 'telegramUsername',
      'E-mail': 'email',
      'Phone Number': 'phone',
      Owner: 'owner',
    });
  });

  it('maps our export’s columns back, leaving ids and timestamps out', () => {
    const header = [
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
      'cf.budget',
      'cf.BROKER',
      'createdAt',
      'updatedAt',
    ];
    expect(suggestMapping(header, DEFS)).toEqual({
      id: null,
      displayName: 'displayName',
      telegramUserId: 'telegramUserId',
      telegramUsername: 'telegramUsername',
      phone: 'phone',
      email: 'email',
      language: 'language',
      country: 'country',
      source: 'source',
      stage: 'stage',
      ownerId: 'ownerId',
      tags: 'tags',
      'cf.budget': 'cf.budget',
      'cf.BROKER': 'cf.broker',
      createdAt: null,
      updatedAt: null,
    });
  });

  it('matches custom fields by key or label, and suggests each field once', () => {
    expect(
      suggestMapping(['Budget (USD)', 'broker', 'name', 'Full name', 'cf.nope'], DEFS),
    ).toEqual({
      'Budget (USD)': 'cf.budget',
      broker: 'cf.broker',
      name: 'displayName',
      'Full name': null,
      'cf.nope': null,
    });
  });

  it('knows when nothing in a header is a lead field', () => {
    expect(hasUsableColumn(['foo', 'bar', 'id'], DEFS)).toBe(false);
    expect(hasUsableColumn(['foo', 'Email'], DEFS)).toBe(true);
  });

  it('is safe with column names like __proto__', () => {
    const mapping = suggestMapping(['__proto__', 'constructor', 'email'], DEFS);
    expect(Object.keys(mapping)).toEqual(['__proto__', 'constructor', 'email']);
    expect(mapping.email).toBe('email');
  });
});

describe('resolveMapping', () => {
  const header = ['Name', 'Mobile', 'Notes', 'Budget (USD)'];

  it('applies the caller’s choices over the suggestion', () => {
    const resolved = resolveMapping(header, DEFS, { Mobile: null, Notes: 'cf.broker' });
    expect(resolved.mapping).toEqual({
      Name: 'displayName',
      Mobile: null,
      Notes: 'cf.broker',
      'Budget (USD)': 'cf.budget',
    });
    expect(resolved.columns).toEqual(['displayName', null, 'cf.broker', 'cf.budget']);
  });

  it('refuses unknown columns and fields, naming the column', () => {
    const found = problems(() =>
      resolveMapping(header, DEFS, { Missing: 'phone', Notes: 'notes' }),
    );
    expect(found.map((p) => p.field)).toEqual(['body.mapping.Missing', 'body.mapping.Notes']);
    expect(found[0]?.message).toBe('is not a column of the file');
    expect(found[1]?.message).toMatch(/"notes" is not a lead field/);
    expect(problems(() => resolveMapping(header, DEFS, { Notes: 'cf.unknown' }))[0]?.field).toBe(
      'body.mapping.Notes',
    );
  });

  it('refuses two columns filling one field', () => {
    expect(problems(() => resolveMapping(header, DEFS, { Notes: 'displayName' }))).toEqual([
      {
        field: 'body.mapping.Notes',
        message: 'maps to displayName, which the column "Name" fills already',
      },
    ]);
  });

  it('refuses a mapping that imports nothing', () => {
    const found = problems(() =>
      resolveMapping(header, DEFS, { Name: null, Mobile: null, 'Budget (USD)': null }),
    );
    expect(found.map((p) => p.field)).toEqual(['body.mapping']);
    expect(found[0]?.message).toMatch(/maps no column/);
  });
});
