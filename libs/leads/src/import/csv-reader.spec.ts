import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DomainError } from '@ibhq/core';
import {
  DEFAULT_CSV_LIMITS,
  incompleteUtf8Tail,
  openCsv,
  sniffDelimiter,
  type CsvLimits,
} from './csv-reader.js';

/** The bytes as a stream of chunks of `size` bytes (splitting characters and quotes). */
async function* chunked(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) {
    await Promise.resolve();
    yield bytes.subarray(i, i + size);
  }
}

async function readAll(
  text: string | Buffer,
  options: { size?: number; limits?: Partial<CsvLimits> } = {},
) {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const file = await openCsv(chunked(bytes, options.size ?? 7), {
    ...DEFAULT_CSV_LIMITS,
    ...options.limits,
  });
  const rows: string[][] = [];
  for await (const row of file.rows) rows.push(row);
  return { header: file.header, delimiter: file.delimiter, rows, summary: file.summary() };
}

async function problem(
  text: string | Buffer,
  limits: Partial<CsvLimits> = {},
): Promise<{ code: string; message: string }> {
  try {
    await readAll(text, { limits });
  } catch (e) {
    if (e instanceof DomainError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected the file to be refused');
}

describe('openCsv', () => {
  it('reads a comma file with quoted delimiters, quotes and line breaks, in any chunking', async () => {
    const text =
      'name,phone,notes\r\n"Smith, John",+447911123456,"said ""hi""\nthen left"\r\nAnna,,x\r\n';
    for (const size of [1, 2, 3, 5, 64, 10_000]) {
      const read = await readAll(text, { size });
      expect(read.delimiter).toBe(',');
      expect(read.header).toEqual(['name', 'phone', 'notes']);
      expect(read.rows).toEqual([
        ['Smith, John', '+447911123456', 'said "hi"\nthen left'],
        ['Anna', '', 'x'],
      ]);
      expect(read.summary.rowCount).toBe(2);
    }
  });

  it('sniffs semicolons (commas stay inside cells) and drops a BOM', async () => {
    const text = '\uFEFFName;Phone;Budget\nMüller, Jörg;+4930123456;1,5\n"a;b";;"x\ny"\n';
    const read = await readAll(text, { size: 1 });
    expect(read.delimiter).toBe(';');
    expect(read.header).toEqual(['Name', 'Phone', 'Budget']);
    expect(read.rows).toEqual([
      ['Müller, Jörg', '+4930123456', '1,5'],
      ['a;b', '', 'x\ny'],
    ]);
  });

  it('counts only delimiters outside quotes when sniffing', () => {
    expect(sniffDelimiter(Buffer.from('"a;b;c",d'))).toBe(',');
    expect(sniffDelimiter(Buffer.from('"a,b,c";d'))).toBe(';');
    expect(sniffDelimiter(Buffer.from('name'))).toBe(',');
  });

  it('keeps rows with a wrong number of cells (they fail later, one by one)', async () => {
    const read = await readAll('a,b\n1\n1,2,3\n');
    expect(read.rows).toEqual([['1'], ['1', '2', '3']]);
  });

  it('is lenient with stray quotes inside cells', async () => {
    const read = await readAll('a,b\n"x"y,2\nab"c,3\n');
    expect(read.rows).toEqual([
      ['"x"y', '2'],
      ['ab"c', '3'],
    ]);
  });

  it('skips blank lines and rows of empty cells', async () => {
    const read = await readAll('a,b\n\n1,2\n,\n\n3,4\n');
    expect(read.rows).toEqual([
      ['1', '2'],
      ['3', '4'],
    ]);
  });

  it('hashes and measures the exact bytes', async () => {
    const bytes = Buffer.from('\uFEFFa;b\n1;2\n', 'utf8');
    const read = await readAll(bytes, { size: 2 });
    expect(read.summary).toEqual({
      byteSize: bytes.length,
      checksum: createHash('sha256').update(bytes).digest('hex'),
      rowCount: 1,
    });
  });

  it('keeps multi-byte characters split across chunks', async () => {
    const read = await readAll('név,emoji\nÁrvíztűrő tükörfúrógép,👩‍💻🇺🇦\n', { size: 1 });
    expect(read.rows).toEqual([['Árvíztűrő tükörfúrógép', '👩‍💻🇺🇦']]);
  });

  it('refuses what is not CSV text, naming the body', async () => {
    expect(await problem('')).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: 'body: the file is empty',
    });
    expect(await problem('\uFEFF \r\n')).toMatchObject({ message: 'body: the file is empty' });
    expect((await problem('a,b\n1\u00002\n')).message).toMatch(/NUL bytes/);
    expect(
      (await problem(Buffer.from([0x61, 0x2c, 0x62, 0x0a, 0xc3, 0x28, 0x0a]))).message,
    ).toMatch(/not UTF-8/);
    expect((await problem(Buffer.from([0x61, 0x0a, 0x62, 0xe2, 0x82]))).message).toMatch(
      /not UTF-8/,
    );
    expect((await problem('a,b\n"open,2\n3,4\n')).message).toMatch(/never closed/);
    expect((await problem('a,a\n1,2\n')).message).toMatch(/names the column "a" twice/);
    expect((await problem(`${'x'.repeat(300)},b\n1,2\n`)).message).toMatch(/longer than 200/);
  });

  it('refuses an unclosed quote that runs on, without holding the rest', async () => {
    const text = `a,b\n"${'x'.repeat(5000)}\n`.repeat(3);
    expect((await problem(text, { maxRecordChars: 1000 })).message).toMatch(/too long/);
  });

  it('413 past maxBytes, 400 past maxRows, whatever comes first', async () => {
    const rows = `a,b\n${'1,2\n'.repeat(50)}`;
    expect(await problem(rows, { maxBytes: 100 })).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(await problem(rows, { maxRows: 49 })).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: 'body: the file has more than 49 data rows',
    });
    expect((await readAll(rows, { limits: { maxRows: 50 } })).summary.rowCount).toBe(50);
  });

  it('finds the start of an incomplete UTF-8 sequence at a chunk end', () => {
    const euro = Buffer.from('€'); // e2 82 ac
    expect(incompleteUtf8Tail(euro)).toBe(0);
    expect(incompleteUtf8Tail(euro.subarray(0, 2))).toBe(2);
    expect(incompleteUtf8Tail(euro.subarray(0, 1))).toBe(1);
    expect(incompleteUtf8Tail(Buffer.from('ab'))).toBe(0);
    expect(incompleteUtf8Tail(Buffer.from('😀').subarray(0, 3))).toBe(3);
  });
});
