import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors/domain-error.js';
import { decodeCursor, encodeCursor } from './cursor.js';

const forged = (key: unknown) => Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');

function refusal(run: () => unknown): string[] {
  try {
    run();
  } catch (e) {
    if (e instanceof ValidationError) return e.fields.map((f) => `${f.field}: ${f.message}`);
    throw e;
  }
  throw new Error('accepted');
}

describe('decodeCursor', () => {
  const id = '01a20000-0000-7000-8000-000000000001';

  it('answers the key it was made from, each value of its kind', () => {
    const at = '2026-11-23T10:00:00.000Z';
    const decoded = decodeCursor(encodeCursor([at, 'Ivan', id, 3]), [
      'date',
      'string',
      'uuid',
      'number',
    ]);
    expect(decoded).toEqual([new Date(at), 'Ivan', id, 3]);
  });

  it('refuses a string holding NUL (PostgreSQL refuses it in text) and one over 200 characters', () => {
    for (const bad of ['a\u0000b', 'x'.repeat(201)]) {
      expect(refusal(() => decodeCursor(forged([bad]), ['string']))).toEqual([
        'query.cursor: is not a valid cursor',
      ]);
    }
  });

  it('refuses a uuid that is not one, naming the field it is given', () => {
    for (const bad of ["1' OR '1'='1", 'not-a-uuid', 7, null]) {
      expect(refusal(() => decodeCursor(forged([bad]), ['uuid'], 'body.cursor'))).toEqual([
        'body.cursor: is not a valid cursor',
      ]);
    }
  });

  it('refuses the wrong length, a wrong kind, a bad date and what is not base64url JSON', () => {
    for (const [cursor, shape] of [
      [forged([id]), ['uuid', 'uuid']],
      [forged(['x']), ['number']],
      [forged(['yesterday']), ['date']],
      ['***', ['string']],
      [Buffer.from('{').toString('base64url'), ['string']],
    ] as const) {
      expect(refusal(() => decodeCursor(cursor, shape))).toHaveLength(1);
    }
  });
});
