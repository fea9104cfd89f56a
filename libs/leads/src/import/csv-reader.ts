import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { DomainError, ErrorCode, ValidationError } from '@ibhq/core';

/**
 * Streaming reader of an uploaded CSV file: UTF-8 (with or without a BOM), comma or
 * semicolon (sniffed from the header line), RFC 4180 quoting (delimiters, quotes
 * and line breaks inside quoted fields). It never holds the file: bytes are checked
 * (size, NUL, UTF-8) and hashed as they pass, and rows come out one at a time with
 * the consumer's backpressure. Every problem is a 4xx DomainError naming `body`.
 */

export interface CsvLimits {
  /** Largest file, in bytes (413 beyond). */
  readonly maxBytes: number;
  /** Most data rows (400 beyond). */
  readonly maxRows: number;
  /** Most header columns. */
  readonly maxColumns: number;
  /** Longest header name, in characters. */
  readonly maxHeaderName: number;
  /** Longest header line, in bytes (it is read before the delimiter is known). */
  readonly maxHeaderBytes: number;
  /** Longest record, in characters: bounds memory when a quote is never closed. */
  readonly maxRecordChars: number;
}

export const DEFAULT_CSV_LIMITS: CsvLimits = {
  maxBytes: 200 * 1024 * 1024,
  maxRows: 1_000_000,
  maxColumns: 500,
  maxHeaderName: 200,
  maxHeaderBytes: 256 * 1024,
  maxRecordChars: 1024 * 1024,
};

export type CsvDelimiter = ',' | ';';

export interface CsvSummary {
  readonly byteSize: number;
  /** SHA-256 of the file's bytes, hex. */
  readonly checksum: string;
  /** Data rows (the header is not one). */
  readonly rowCount: number;
}

export interface CsvFile {
  /** The header's column names, trimmed. */
  readonly header: readonly string[];
  readonly delimiter: CsvDelimiter;
  /** The data rows in file order (row 1 first); can be read once. */
  readonly rows: AsyncIterable<string[]>;
  /** Size, checksum and row count: known once `rows` has been read to its end. */
  summary(): CsvSummary;
}

const bad = (message: string) => new ValidationError([{ field: 'body', message }]);

/** 413 for a file over the limit. */
export function tooLarge(maxBytes: number): DomainError {
  return new DomainError(
    ErrorCode.PayloadTooLarge,
    `body: the file is larger than the import limit of ${String(maxBytes)} bytes`,
    { maxBytes },
  );
}

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;

/**
 * Bytes at the end of `buf` that begin a UTF-8 sequence whose continuation bytes are
 * still to come (0 to 3): checked with the next chunk.
 */
export function incompleteUtf8Tail(buf: Uint8Array): number {
  const end = buf.length;
  for (let back = 1; back <= Math.min(3, end); back++) {
    const byte = buf[end - back] ?? 0;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return length > back ? back : 0;
  }
  return 0;
}

interface ByteState {
  bytes: number;
  readonly hash: ReturnType<typeof createHash>;
}

/** The source's bytes, checked: size limit, no NUL byte, valid UTF-8; hashed on the way. */
async function* checkedBytes(
  source: AsyncIterable<Buffer | string>,
  state: ByteState,
  maxBytes: number,
): AsyncGenerator<Buffer> {
  let carry: Buffer = Buffer.alloc(0);
  for await (const piece of source) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
    if (chunk.length === 0) continue;
    state.bytes += chunk.length;
    if (state.bytes > maxBytes) throw tooLarge(maxBytes);
    state.hash.update(chunk);
    if (chunk.includes(0)) {
      throw bad('the file holds NUL bytes: it is not a CSV text file');
    }
    const joined = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    const tail = incompleteUtf8Tail(joined);
    const whole = joined.subarray(0, joined.length - tail);
    if (!isUtf8(whole)) throw bad('the file is not UTF-8 text (save it as CSV UTF-8)');
    carry = Buffer.from(joined.subarray(joined.length - tail));
    if (whole.length > 0) yield whole;
  }
  if (carry.length > 0) throw bad('the file is not UTF-8 text (it ends inside a character)');
}

/**
 * Where the header line ends (the index of its line break), scanning `buf` from
 * `state.at` with the quoting state carried between calls; -1 when it has not ended.
 */
function scanHeader(buf: Buffer, state: { at: number; quoted: boolean }): number {
  for (let i = state.at; i < buf.length; i++) {
    const byte = buf[i];
    if (byte === QUOTE) state.quoted = !state.quoted;
    else if (!state.quoted && (byte === LF || byte === CR)) return i;
  }
  state.at = buf.length;
  return -1;
}

/** Semicolon when the header line has more semicolons than commas outside quotes. */
export function sniffDelimiter(headerLine: Uint8Array): CsvDelimiter {
  let quoted = false;
  let commas = 0;
  let semicolons = 0;
  for (const byte of headerLine) {
    if (byte === QUOTE) quoted = !quoted;
    else if (!quoted && byte === COMMA) commas++;
    else if (!quoted && byte === SEMICOLON) semicolons++;
  }
  return semicolons > commas ? ';' : ',';
}

/** A csv-parse error as the caller reads it. */
function csvProblem(e: CsvError): ValidationError {
  const line = (e as CsvError & { lines?: number }).lines;
  const at = typeof line === 'number' ? ` (line ${String(line)})` : '';
  switch (e.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return bad(`not CSV: a quoted field is never closed (unbalanced quotes)${at}`);
    case 'CSV_MAX_RECORD_SIZE':
      return bad(`not CSV: a row is too long${at}; is a quote left open?`);
    case 'CSV_INVALID_CLOSING_QUOTE':
      return bad(`not CSV: a quote inside a quoted field is not doubled${at}`);
    default:
      return bad(`not CSV: ${e.message.slice(0, 200)}`);
  }
}

/** Rethrows a parser error as the caller's problem (our own errors pass unchanged). */
function asUploadError(e: unknown): unknown {
  return e instanceof CsvError ? csvProblem(e) : e;
}

/**
 * Opens an uploaded CSV file: reads (only) up to the end of its header, answers the
 * header and delimiter, and hands on the data rows as a stream. Throws a 4xx
 * DomainError for an empty file, a header that is not one, or bytes that are not
 * UTF-8 CSV text; reading `rows` throws the same way for what comes later (413 past
 * `maxBytes`, 400 past `maxRows` or for broken quoting).
 */
export async function openCsv(
  source: AsyncIterable<Buffer | string>,
  limits: CsvLimits = DEFAULT_CSV_LIMITS,
): Promise<CsvFile> {
  const state: ByteState = { bytes: 0, hash: createHash('sha256') };
  const bytes = checkedBytes(source, state, limits.maxBytes)[Symbol.asyncIterator]();

  // The header line first (bounded), to choose the delimiter before parsing.
  let head: Buffer = Buffer.alloc(0);
  const scan = { at: 0, quoted: false };
  let end = -1;
  let exhausted = false;
  while (end < 0) {
    const next = await bytes.next();
    if (next.done) {
      exhausted = true;
      break;
    }
    head = Buffer.concat([head, next.value]);
    end = scanHeader(head, scan);
    if (end < 0 && head.length > limits.maxHeaderBytes) {
      throw bad(`not CSV: the header line is longer than ${String(limits.maxHeaderBytes)} bytes`);
    }
  }
  const BOM = [0xef, 0xbb, 0xbf];
  const start = BOM.every((b, i) => head[i] === b) ? 3 : 0;
  if (head.subarray(start).toString('utf8').trim() === '') throw bad('the file is empty');
  const delimiter = sniffDelimiter(head.subarray(start, end < 0 ? head.length : end));

  const parser = parse({
    delimiter,
    bom: true,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    skip_records_with_empty_values: true,
    max_record_size: limits.maxRecordChars,
  });
  async function* all(): AsyncGenerator<Buffer> {
    yield head;
    if (exhausted) return;
    for (;;) {
      const next = await bytes.next();
      if (next.done) return;
      yield next.value;
    }
  }
  const input = Readable.from(all(), { objectMode: false });
  input.on('error', (e) => parser.destroy(e));
  input.pipe(parser);
  const records = (parser as AsyncIterable<string[]>)[Symbol.asyncIterator]();

  let first: IteratorResult<string[]>;
  try {
    first = await records.next();
  } catch (e) {
    throw asUploadError(e);
  }
  if (first.done) throw bad('the file is empty');
  const header = first.value.map((name) => name.trim());
  checkHeader(header, limits);

  let rowCount = 0;
  let finished = false;
  let summary: CsvSummary | undefined;
  async function* rows(): AsyncGenerator<string[]> {
    try {
      for (;;) {
        const next = await records.next();
        if (next.done) break;
        rowCount++;
        if (rowCount > limits.maxRows) {
          throw bad(`the file has more than ${limits.maxRows.toLocaleString('en')} data rows`);
        }
        yield next.value;
      }
    } catch (e) {
      parser.destroy();
      input.destroy();
      throw asUploadError(e);
    }
    finished = true;
  }

  return {
    header,
    delimiter,
    rows: rows(),
    summary() {
      if (!finished) throw new Error('openCsv: summary() before the rows were read to the end');
      summary ??= { byteSize: state.bytes, checksum: state.hash.digest('hex'), rowCount };
      return summary;
    },
  };
}

function checkHeader(header: readonly string[], limits: CsvLimits): void {
  if (header.length > limits.maxColumns) {
    throw bad(
      `the header has ${String(header.length)} columns; at most ${String(limits.maxColumns)}`,
    );
  }
  const seen = new Set<string>();
  for (const name of header) {
    if (name.length > limits.maxHeaderName) {
      throw bad(
        `the header name "${name.slice(0, 40)}..." is longer than ${String(limits.maxHeaderName)} characters`,
      );
    }
    const key = name.toLowerCase();
    if (name !== '' && seen.has(key)) throw bad(`the header names the column "${name}" twice`);
    seen.add(key);
  }
}
