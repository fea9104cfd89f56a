import { isUuid } from '../context/tenant-context.js';
import { ValidationError } from '../errors/domain-error.js';

/**
 * Opaque keyset cursors: the sort key of the last row a page returned, as URL-safe
 * base64 of JSON. A cursor only says where to resume; it grants nothing (the query
 * is still confined to the caller's tenant), so it needs no signature. A cursor that
 * does not decode to the expected shape is a 400 naming the field: each value has its
 * kind, a string is at most 200 characters without NUL (which PostgreSQL refuses in
 * text), a uuid is a UUID, a date parses.
 */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

export function decodeCursor(
  cursor: string,
  shape: readonly ('string' | 'uuid' | 'number' | 'date')[],
  field = 'query.cursor',
): (string | number | Date)[] {
  const fail = () => new ValidationError([{ field, message: 'is not a valid cursor' }]);
  if (cursor.length > 512 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw fail();
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw fail();
  }
  if (!Array.isArray(key) || key.length !== shape.length) throw fail();
  return shape.map((kind, i) => {
    const v: unknown = key[i];
    if (kind === 'number' && typeof v === 'number' && Number.isFinite(v)) return v;
    if (kind === 'string' && typeof v === 'string' && v.length <= 200 && !v.includes('\u0000')) {
      return v;
    }
    if (kind === 'uuid' && isUuid(v)) return v;
    if (kind === 'date' && typeof v === 'string') {
      const d = new Date(v);
      if (!Number.isNaN(d.getTime())) return d;
    }
    throw fail();
  });
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  readonly nextCursor: string | null;
}
