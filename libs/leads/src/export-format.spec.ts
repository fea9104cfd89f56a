import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '@ibhq/core';
import {
  escapeFormula,
  exportAuditMetadata,
  exportBody,
  exportCsvSql,
  exportFileName,
  exportJsonlSql,
  exportRequestFromQuery,
  unescapeFormula,
} from './export-format.js';

const TENANT = '0190a000-0000-7000-8000-0000000000aa';

function fieldsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return e.fields.map((f) => f.field);
    throw e;
  }
  throw new Error('no ValidationError');
}

describe('escapeFormula', () => {
  it('puts a quote before cells a spreadsheet would execute', () => {
    expect(escapeFormula('=HYPERLINK("http://x","y")')).toBe(`'=HYPERLINK("http://x","y")`);
    expect(escapeFormula('+447911123456')).toBe("'+447911123456");
    expect(escapeFormula('-2+3')).toBe("'-2+3");
    expect(escapeFormula('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(escapeFormula('\t=1')).toBe("'\t=1");
    expect(escapeFormula('\r=1')).toBe("'\r=1");
  });

  it('leaves other cells alone', () => {
    for (const cell of ['Ann', '', ' =1', 'a=b', "'quoted", "''", '1+1', 'ünï']) {
      expect(escapeFormula(cell)).toBe(cell);
    }
  });

  it('escapes cells already starting with quotes before a formula character', () => {
    expect(escapeFormula("'=1")).toBe("''=1");
    expect(escapeFormula("''+1")).toBe("'''+1");
  });

  it('round-trips through unescapeFormula for any text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc
            .tuple(
              fc.constantFrom('', "'", "''"),
              fc.constantFrom('=', '+', '-', '@', '\t', '\r', 'a'),
              fc.string(),
            )
            .map((parts) => parts.join('')),
        ),
        (cell) => {
          const escaped = escapeFormula(cell);
          expect(unescapeFormula(escaped)).toBe(cell);
          // What a spreadsheet sees first is never a formula character.
          expect(/^[=+\-@\t\r]/.test(escaped)).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('export requests', () => {
  it('defaults to CSV without activities and an empty filter', () => {
    expect(exportRequestFromQuery({})).toEqual({
      format: 'csv',
      includeActivities: false,
      filter: {},
    });
    expect(exportBody.parse({})).toEqual({ format: 'csv', includeActivities: false, filter: {} });
  });

  it("reads the list's filter parameters beside its own", () => {
    const request = exportRequestFromQuery({
      format: 'jsonl',
      includeActivities: 'true',
      tag: 'vip,new',
      hasPhone: 'true',
      'cf.plan': 'Gold',
    });
    expect(request).toEqual({
      format: 'jsonl',
      includeActivities: true,
      filter: { tags: ['vip', 'new'], hasPhone: true, customFields: { plan: 'Gold' } },
    });
  });

  it('names the bad parameter', () => {
    expect(fieldsOf(() => exportRequestFromQuery({ format: 'xlsx' }))).toEqual(['query.format']);
    expect(fieldsOf(() => exportRequestFromQuery({ format: ['csv', 'jsonl'] }))).toEqual([
      'query.format',
    ]);
    expect(fieldsOf(() => exportRequestFromQuery({ includeActivities: 'yes' }))).toEqual([
      'query.includeActivities',
    ]);
    expect(fieldsOf(() => exportRequestFromQuery({ limit: '10' }))).toEqual(['query.limit']);
    expect(fieldsOf(() => exportRequestFromQuery({ stageId: "1' OR '1'='1" }))).toEqual([
      'query.stageId',
    ]);
  });

  it('refuses unknown and mistyped body fields', () => {
    expect(exportBody.safeParse({ format: 'csv', limit: 10 }).success).toBe(false);
    expect(exportBody.safeParse({ filter: { stageIds: 'x' } }).success).toBe(false);
    expect(exportBody.safeParse({ includeActivities: 'true' }).success).toBe(false);
    expect(exportBody.safeParse({ filter: { nope: 1 } }).success).toBe(false);
  });
});

describe('export layout', () => {
  it('names the file by format and UTC date', () => {
    expect(exportFileName('csv', new Date('2026-01-31T23:59:59Z'))).toBe('leads-2026-01-31.csv');
    expect(exportFileName('jsonl', new Date('2026-02-01T00:00:00Z'))).toBe(
      'leads-2026-02-01.jsonl',
    );
  });

  it('builds statements that carry the filter as values, never as SQL text', () => {
    const hostile = `x'); DROP TABLE "Lead"; --`;
    for (const statement of [
      exportCsvSql({ q: hostile, tags: [hostile] }, TENANT, [{ key: 'plan' }], true),
      exportJsonlSql({ q: hostile, tags: [hostile] }, TENANT, true),
    ]) {
      expect(statement.strings.join('')).not.toContain('DROP TABLE');
      expect(statement.values).toContain(TENANT);
      expect(statement.strings.join('')).toContain('ORDER BY l."createdAt", l."id"');
    }
  });

  it('keeps the audited filter whole when small, and summarises a huge one', () => {
    const small = exportAuditMetadata({
      format: 'csv',
      includeActivities: false,
      filter: { q: 'a' },
    });
    expect(small).toEqual({ format: 'csv', includeActivities: false, filter: { q: 'a' } });
    const ids = Array.from(
      { length: 100 },
      (_, i) => `0190a000-0000-7000-8000-${String(i).padStart(12, '0')}`,
    );
    const big = exportAuditMetadata({
      format: 'jsonl',
      includeActivities: true,
      filter: { stageIds: ids, ownerIds: ids },
    });
    expect(big.filter).toMatchObject({ conditions: ['stageIds', 'ownerIds'], summarised: true });
    expect(JSON.stringify(big).length).toBeLessThan(1024);
  });
});
