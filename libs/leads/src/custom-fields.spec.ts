import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '@ibhq/core';
import { applyCustomFieldValues, type CustomFieldDefinition } from './custom-fields.js';

let position = 0;
function def(
  key: string,
  type: CustomFieldDefinition['type'],
  extra: Partial<CustomFieldDefinition> = {},
): CustomFieldDefinition {
  position += 1;
  return {
    id: `id-${key}`,
    key,
    label: key,
    type,
    required: false,
    options: [],
    position,
    ...extra,
  };
}

const DEFS: CustomFieldDefinition[] = [
  def('note', 'text'),
  def('deposit', 'number'),
  def('birthday', 'date'),
  def('vip', 'boolean'),
  def('tier', 'single_select', { options: ['Bronze', 'Silver', 'Gold'] }),
  def('markets', 'multi_select', { options: ['forex', 'crypto', 'stocks'] }),
];
const API = { field: 'body.customFields', complete: false } as const;
const CSV = { field: 'cf', complete: false, fromText: true } as const;

/** The ValidationError's fields (field -> message), or fails the test. */
function problems(fn: () => unknown): Record<string, string> {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return Object.fromEntries((e as ValidationError).fields.map((f) => [f.field, f.message]));
  }
  throw new Error('expected a ValidationError');
}

describe('applyCustomFieldValues (JSON values)', () => {
  it('stores a valid value of every type, multi select in the definition order', () => {
    const out = applyCustomFieldValues(
      DEFS,
      {},
      {
        note: '  hello  ',
        deposit: 250.5,
        birthday: '1990-02-28',
        vip: false,
        tier: 'gold',
        markets: ['stocks', 'forex'],
      },
      API,
    );
    expect(out).toEqual({
      note: 'hello',
      deposit: 250.5,
      birthday: '1990-02-28',
      vip: false,
      tier: 'Gold',
      markets: ['forex', 'stocks'],
    });
  });

  it('applies changes over current values; null removes a value', () => {
    const out = applyCustomFieldValues(
      DEFS,
      { note: 'old', deposit: 1, tier: 'Bronze' },
      { note: 'new', deposit: null },
      API,
    );
    expect(out).toEqual({ note: 'new', tier: 'Bronze' });
  });

  it('does not change the current object', () => {
    const current = { note: 'old' };
    applyCustomFieldValues(DEFS, current, { note: null }, API);
    expect(current).toEqual({ note: 'old' });
  });

  it.each([
    ['note', 42, 'must be text'],
    ['note', 'x'.repeat(2001), 'at most 2000'],
    ['note', 'a\u0000b', 'NUL'],
    ['note', 'a\ud800b', 'Unicode'],
    ['deposit', '12', 'must be a number'],
    ['deposit', Number.NaN, 'must be a number'],
    ['deposit', Number.POSITIVE_INFINITY, 'must be a number'],
    ['birthday', '2023-02-29', 'not a real date'],
    ['birthday', '2023-13-01', 'not a real date'],
    ['birthday', '2023-1-01', 'YYYY-MM-DD'],
    ['birthday', '2023-01-01T00:00:00Z', 'YYYY-MM-DD'],
    ['birthday', 20230101, 'YYYY-MM-DD'],
    ['vip', 'true', 'true or false'],
    ['vip', 1, 'true or false'],
    ['tier', 'Platinum', 'options'],
    ['tier', ['Gold'], 'options'],
    ['markets', 'forex', 'list of options'],
    ['markets', ['forex', 'bonds'], '"bonds"'],
    ['markets', ['forex', 'forex'], 'repeated'],
    ['markets', ['forex', 3], 'list of options'],
    ['markets', ['forex', 'crypto', 'stocks', 'forex'], 'distinct'],
  ])('%s = %j is a 400 naming the field (%s)', (key, value, message) => {
    const found = problems(() => applyCustomFieldValues(DEFS, {}, { [key]: value }, API));
    expect(Object.keys(found)).toEqual([`body.customFields.${key}`]);
    expect(found[`body.customFields.${key}`]).toContain(message);
  });

  it('accepts the longest text and a leap day', () => {
    const out = applyCustomFieldValues(
      DEFS,
      {},
      { note: 'x'.repeat(2000), birthday: '2024-02-29' },
      API,
    );
    expect(out).toEqual({ note: 'x'.repeat(2000), birthday: '2024-02-29' });
  });

  it('names an unknown key, clipping a huge one', () => {
    const found = problems(() =>
      applyCustomFieldValues(DEFS, {}, { nope: 1, ['k'.repeat(10_000)]: 1 }, API),
    );
    expect(found['body.customFields.nope']).toContain('not a custom field');
    const long = Object.keys(found).find((k) => k.startsWith('body.customFields.kkk'));
    expect(long?.length).toBeLessThan(100);
  });

  it('reports every problem of a call at once', () => {
    const found = problems(() =>
      applyCustomFieldValues(DEFS, {}, { deposit: 'x', vip: 'x', tier: 'x' }, API),
    );
    expect(Object.keys(found).sort()).toEqual([
      'body.customFields.deposit',
      'body.customFields.tier',
      'body.customFields.vip',
    ]);
  });

  it('empty text and an empty multi select are no value', () => {
    const out = applyCustomFieldValues(
      DEFS,
      { note: 'x', markets: ['forex'] },
      { note: '   ', markets: [] },
      API,
    );
    expect(out).toEqual({});
  });

  describe('required fields', () => {
    const defs = [def('broker', 'text', { required: true }), def('score', 'number')];

    it('complete: a required field without a value fails, naming it', () => {
      const found = problems(() =>
        applyCustomFieldValues(
          defs,
          {},
          { score: 1 },
          { field: 'body.customFields', complete: true },
        ),
      );
      expect(found).toEqual({ 'body.customFields.broker': 'is required' });
    });

    it('complete: removing a required value fails', () => {
      const found = problems(() =>
        applyCustomFieldValues(
          defs,
          { broker: 'x' },
          { broker: null },
          { field: 'body.customFields', complete: true },
        ),
      );
      expect(found).toEqual({ 'body.customFields.broker': 'is required' });
    });

    it('a change that empties a required value fails in every form (null, empty text, empty list)', () => {
      const defs2 = [
        def('broker', 'text', { required: true }),
        def('markets', 'multi_select', { required: true, options: ['fx', 'crypto'] }),
      ];
      for (const changes of [{ broker: null }, { broker: '  ' }, { markets: [] }]) {
        const key = Object.keys(changes)[0] ?? '';
        const found = problems(() =>
          applyCustomFieldValues(defs2, { broker: 'x', markets: ['fx'] }, changes, {
            field: 'body.customFields',
            complete: false,
          }),
        );
        expect(found, JSON.stringify(changes)).toEqual({
          [`body.customFields.${key}`]: 'is required: it cannot be removed',
        });
      }
    });

    it('complete: a value from current satisfies it', () => {
      expect(
        applyCustomFieldValues(defs, { broker: 'x' }, {}, { field: 'f', complete: true }),
      ).toEqual({ broker: 'x' });
    });

    it('not complete (a partial update): a missing required field is fine', () => {
      expect(applyCustomFieldValues(defs, {}, { score: 2 }, API)).toEqual({ score: 2 });
    });
  });
});

describe('applyCustomFieldValues (fromText: CSV cells)', () => {
  it('parses every type', () => {
    const out = applyCustomFieldValues(
      DEFS,
      {},
      {
        note: ' hi ',
        deposit: ' -1.5e3 ',
        birthday: '2000-01-31',
        vip: 'Yes',
        tier: ' silver ',
        markets: 'stocks; crypto;;forex; crypto',
      },
      CSV,
    );
    expect(out).toEqual({
      note: 'hi',
      deposit: -1500,
      birthday: '2000-01-31',
      vip: true,
      tier: 'Silver',
      markets: ['forex', 'crypto', 'stocks'],
    });
  });

  it.each([
    ['true', true],
    ['FALSE', false],
    ['yes', true],
    ['no', false],
    ['1', true],
    ['0', false],
  ])('boolean %s -> %s', (cell, value) => {
    expect(applyCustomFieldValues(DEFS, {}, { vip: cell }, CSV)).toEqual({ vip: value });
  });

  it('an empty cell is no value (and removes a current one)', () => {
    expect(
      applyCustomFieldValues(DEFS, { deposit: 5 }, { deposit: '', vip: '  ', markets: ' ; ' }, CSV),
    ).toEqual({});
  });

  it.each([
    ['deposit', '12abc'],
    ['deposit', '1,5'],
    ['deposit', 'Infinity'],
    ['deposit', '1e999'],
    ['birthday', '31/01/2000'],
    ['birthday', '2000-02-30'],
    ['vip', 'maybe'],
    ['tier', 'Platinum'],
    ['markets', 'forex;bonds'],
  ])('%s = %j is rejected naming cf.%s', (key, cell) => {
    const found = problems(() => applyCustomFieldValues(DEFS, {}, { [key]: cell }, CSV));
    expect(Object.keys(found)).toEqual([`cf.${key}`]);
  });

  it('a non-string cell is rejected', () => {
    const found = problems(() => applyCustomFieldValues(DEFS, {}, { deposit: 5 }, CSV));
    expect(found['cf.deposit']).toBe('must be text');
  });

  it('required with an empty cell fails when complete', () => {
    const defs = [def('broker', 'text', { required: true })];
    const found = problems(() =>
      applyCustomFieldValues(defs, {}, { broker: '' }, { ...CSV, complete: true }),
    );
    expect(found).toEqual({ 'cf.broker': 'is required' });
  });
});

describe('applyCustomFieldValues (properties)', () => {
  it('a stored value, written back as text, parses to itself', () => {
    fc.assert(
      fc.property(
        fc.record({
          deposit: fc
            .double({ noNaN: true, noDefaultInfinity: true })
            .map((n) => (n === 0 ? 0 : n)),
          birthday: fc
            .date({ min: new Date('1900-01-01'), max: new Date('2100-12-31'), noInvalidDate: true })
            .map((d) => d.toISOString().slice(0, 10)),
          vip: fc.boolean(),
          markets: fc.subarray(['forex', 'crypto', 'stocks'], { minLength: 1 }),
        }),
        (value) => {
          const stored = applyCustomFieldValues(DEFS, {}, value, API);
          const text = {
            deposit: String(stored.deposit),
            birthday: String(stored.birthday),
            vip: String(stored.vip),
            markets: (stored.markets as string[]).join(';'),
          };
          expect(applyCustomFieldValues(DEFS, {}, text, CSV)).toEqual(stored);
        },
      ),
    );
  });

  it('never throws anything but a ValidationError, whatever the input', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom('note', 'deposit', 'birthday', 'vip', 'tier', 'markets', 'x'),
          fc.jsonValue(),
        ),
        fc.boolean(),
        (changes, fromText) => {
          try {
            applyCustomFieldValues(DEFS, {}, changes, { ...API, fromText });
          } catch (e) {
            expect(e).toBeInstanceOf(ValidationError);
          }
        },
      ),
    );
  });
});
