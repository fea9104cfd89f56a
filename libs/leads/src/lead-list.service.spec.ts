import { describe, expect, it } from 'vitest';
import { ValidationError } from '@ibhq/core';
import { decodeListCursor, encodeListCursor } from './lead-list.service.js';

const TENANT = '01a20000-0000-7000-8000-0000000000aa';
const ID = '01a20000-0000-7000-8000-000000000001';

describe('list cursors', () => {
  it('answer the key they were made from, for the sort and tenant they were made for', () => {
    const key = ['2026-11-23T10:00:00.123Z', ID];
    const cursor = encodeListCursor('-createdAt', key, TENANT);
    expect(decodeListCursor(cursor, '-createdAt', TENANT, 'query.cursor')).toEqual(key);
    expect(() => decodeListCursor(cursor, '-createdAt', ID, 'query.cursor')).toThrow(
      ValidationError,
    );
  });

  it('refuse a date that Date.parse takes but is not the instant the list writes', () => {
    // Each of these, with a valid digest, used to reach PostgreSQL's timestamptz: a 500.
    for (const date of ['1', '2020-01-01 (hello)', 'Tue, 01 Jan 2030 00:00:00 GMT', '2026-11-23']) {
      const cursor = encodeListCursor('-updatedAt', [date, ID], TENANT);
      expect(() => decodeListCursor(cursor, '-updatedAt', TENANT, 'query.cursor'), date).toThrow(
        ValidationError,
      );
    }
  });
});
