import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  auditExportQuery,
  auditListQuery,
  type AuditEntry,
  type AuditEventView,
  type AuditListOptions,
} from '@ibhq/audit';
import { encodeCursor, runWithTenant, type TenantId, ValidationError } from '@ibhq/core';
import { asTenant, createTenantRow } from '../support/db.js';
import { auditKit, insertChain, storedEvents, type AuditKit } from './audit-kit.js';

const T0 = new Date('2026-02-01T10:00:00.000Z');
const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);

/** The events of the listing tenant, one a minute from T0 (seq = minute + 1). */
const SCRIPT: (AuditEntry & { actor: NonNullable<AuditEntry['actor']> })[] = [
  { action: 'member.invited', actor: { type: 'user', id: 'u1' } },
  { action: 'member.invited', actor: { type: 'user', id: 'u2' } },
  { action: 'api_key.created', actor: { type: 'user', id: 'u1' } },
  { action: 'member.removed', actor: { type: 'user', id: 'u1' } },
  { action: 'memberships.exported', actor: { type: 'user', id: 'u2' } },
  { action: 'apixkey.created', actor: { type: 'api_key', id: 'k1' } },
  { action: 'member.invited', actor: { type: 'api_key', id: 'k1' } },
  { action: 'api_key.revoked', actor: { type: 'user', id: 'u2' } },
  { action: 'member.joined', actor: { type: 'system', id: 'ibhq' } },
];

/** A minimal RFC 4180 reader for the assertions (csv-parse is not a dependency). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length > 0) rows.push([...row, cell]);
  return rows;
}

async function collect(chunks: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

describe('listing the audit trail', () => {
  let kit: AuditKit;
  let tenant: TenantId;

  beforeAll(async () => {
    kit = await auditKit();
    tenant = await createTenantRow('List');
    for (const [i, entry] of SCRIPT.entries()) {
      kit.clock.pinned = minutes(i);
      await asTenant(tenant, () => kit.audit.record(entry));
    }
    kit.clock.pinned = null;
    // Another tenant's events must never show.
    const other = await createTenantRow('Other');
    await asTenant(other, () => kit.audit.record({ action: 'member.invited' }));
  });

  afterAll(async () => {
    await kit.close();
  });

  const list = (options: AuditListOptions) => asTenant(tenant, () => kit.audit.list(options));
  const seqs = (items: readonly AuditEventView[]) => items.map((e) => e.seq);

  /** Every page, following nextCursor. */
  async function allPages(options: AuditListOptions): Promise<number[]> {
    const out: number[] = [];
    let cursor: string | undefined;
    for (let guard = 0; guard < 50; guard++) {
      const page = await list({ ...options, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(options.limit ?? 50);
      out.push(...seqs(page.items));
      if (!page.nextCursor) return out;
      cursor = page.nextCursor;
    }
    throw new Error('pagination did not end');
  }

  it('lists newest first with the stored fields', async () => {
    const page = await list({});
    expect(seqs(page.items)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(page.nextCursor).toBeNull();
    const stored = await storedEvents(tenant);
    expect(page.items[8]).toEqual({
      seq: 1,
      occurredAt: T0,
      actor: { type: 'user', id: 'u1' },
      action: 'member.invited',
      target: null,
      metadata: {},
      ip: null,
      userAgent: null,
      prevHash: stored[0]!.prevHash,
      hash: stored[0]!.hash,
    });
  });

  it('pages by keyset without duplicates or omissions, for every page size', async () => {
    for (const limit of [1, 2, 4, 8, 9, 10]) {
      expect(await allPages({ limit })).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1]);
    }
    // A page exactly as long as what is left says there is no more.
    const last = await list({ limit: 4, cursor: encodeCursor([5]) });
    expect(seqs(last.items)).toEqual([4, 3, 2, 1]);
    expect(last.nextCursor).toBeNull();
  });

  it('filters by actor type and actor id', async () => {
    expect(await allPages({ actorType: 'api_key', limit: 1 })).toEqual([7, 6]);
    expect(await allPages({ actorId: 'u1' })).toEqual([4, 3, 1]);
    expect(await allPages({ actorType: 'user', actorId: 'k1' })).toEqual([]);
  });

  it('filters by exact action or by prefix, with no wildcard surprises', async () => {
    expect(await allPages({ action: 'member.invited', limit: 2 })).toEqual([7, 2, 1]);
    // member.* is not memberships.*; api_key.* does not match apixkey.* (`_` is literal).
    expect(await allPages({ action: 'member.*' })).toEqual([9, 7, 4, 2, 1]);
    expect(await allPages({ action: 'api_key.*' })).toEqual([8, 3]);
    expect(await allPages({ action: 'member.nothing' })).toEqual([]);
  });

  it('filters by time: from inclusive, to exclusive', async () => {
    expect(await allPages({ from: minutes(2), to: minutes(5) })).toEqual([5, 4, 3]);
    expect(await allPages({ from: minutes(7) })).toEqual([9, 8]);
    expect(await allPages({ to: minutes(1) })).toEqual([1]);
    expect(await allPages({ from: minutes(1), action: 'member.*', limit: 1 })).toEqual([
      9, 7, 4, 2,
    ]);
  });

  it('reads the same inside an open transaction', async () => {
    const outside = await list({ limit: 3 });
    const inside = await asTenant(tenant, () =>
      kit.db.transaction(() => kit.audit.list({ limit: 3 })),
    );
    expect(inside).toEqual(outside);
  });

  it('answers a malformed cursor with a ValidationError naming query.cursor', async () => {
    for (const cursor of [
      'not a cursor',
      encodeCursor(['x']),
      encodeCursor([0]),
      encodeCursor([1.5]),
      encodeCursor([1, 2]),
    ]) {
      const failure = list({ cursor }).then(
        () => null,
        (e: unknown) => e,
      );
      const error = await failure;
      expect(error, cursor).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).fields).toEqual([
        { field: 'query.cursor', message: 'is not a valid cursor' },
      ]);
    }
  });

  it('validates list queries with auditListQuery, naming the field', () => {
    expect(auditListQuery.parse({})).toEqual({ limit: 50 });
    expect(
      auditListQuery.parse({ limit: '20', action: 'member.*', from: '2026-02-01T10:00:00Z' }),
    ).toEqual({ limit: 20, action: 'member.*', from: T0 });
    const problems = (input: Record<string, unknown>) => {
      const result = auditListQuery.safeParse(input);
      return result.success ? [] : result.error.issues.map((i) => i.path.join('.'));
    };
    expect(problems({ limit: '0' })).toEqual(['limit']);
    expect(problems({ limit: '201' })).toEqual(['limit']);
    expect(problems({ limit: 'ten' })).toEqual(['limit']);
    expect(problems({ actorType: 'robot' })).toEqual(['actorType']);
    expect(problems({ actorId: 'x'.repeat(65) })).toEqual(['actorId']);
    expect(problems({ action: 'Member.*' })).toEqual(['action']);
    expect(problems({ action: 'member' })).toEqual(['action']);
    expect(problems({ action: 'member.%' })).toEqual(['action']);
    expect(problems({ from: 'yesterday' })).toEqual(['from']);
    expect(problems({ from: '2026-02-02T00:00:00Z', to: '2026-02-01T00:00:00Z' })).toEqual(['to']);
    expect(problems({ tenantId: 'x' })).toEqual(['']);
    expect(auditExportQuery.safeParse({ format: 'xml' }).success).toBe(false);
    expect(auditExportQuery.safeParse({}).success).toBe(false);
    expect(auditExportQuery.parse({ format: 'csv', actorType: 'user' })).toEqual({
      format: 'csv',
      actorType: 'user',
    });
  });
});

describe('exporting the audit trail', () => {
  let kit: AuditKit;

  beforeAll(async () => {
    kit = await auditKit();
  });

  afterAll(async () => {
    await kit.close();
  });

  it('streams CSV with a header, one row per event, and formula cells escaped', async () => {
    const tenant = await createTenantRow('Csv');
    const ctx = {
      tenantId: tenant,
      actor: { type: 'user', id: 'u1' } as const,
      client: { ip: '192.0.2.1', userAgent: '@SUM(A1:A9)' },
    };
    await runWithTenant(ctx, async () => {
      await kit.audit.record({ action: 'lead.created', targetType: 'lead', targetId: '=1+2' });
      await kit.audit.record({ action: 'lead.updated', metadata: { note: 'plain, "quoted"' } });
      await kit.audit.record({ action: 'lead.deleted', targetType: 'lead', targetId: '-3' });
    });
    const chunks = await runWithTenant(ctx, () => kit.audit.export('csv', {}));
    const rows = parseCsv((await collect(chunks)).join(''));
    expect(rows[0]).toEqual([
      'seq',
      'occurredAt',
      'actorType',
      'actorId',
      'action',
      'targetType',
      'targetId',
      'metadata',
      'ip',
      'userAgent',
      'prevHash',
      'hash',
    ]);
    expect(rows.slice(1).map((r) => [r[0], r[4], r[6], r[9]])).toEqual([
      ['1', 'lead.created', "'=1+2", "'@SUM(A1:A9)"],
      ['2', 'lead.updated', '', "'@SUM(A1:A9)"],
      ['3', 'lead.deleted', "'-3", "'@SUM(A1:A9)"],
    ]);
    const stored = await storedEvents(tenant);
    expect(JSON.parse(rows[2]![7]!)).toEqual({ note: 'plain, "quoted"' });
    expect(rows[1]!.slice(10)).toEqual([stored[0]!.prevHash, stored[0]!.hash]);
    expect(rows[1]![1]).toBe(stored[0]!.occurredAt.toISOString());
    // The export itself was recorded (after the exported events, not in the file).
    expect(stored.at(-1)).toMatchObject({
      seq: 4,
      action: 'audit.exported',
      actorType: 'user',
      actorId: 'u1',
      metadata: { format: 'csv', filters: {} },
    });
  });

  it('streams a JSON array of the matching events, oldest first, and records the filters', async () => {
    const tenant = await createTenantRow('Json');
    await asTenant(tenant, async () => {
      for (const action of ['member.invited', 'member.joined', 'lead.created', 'member.removed']) {
        await kit.audit.record({ action, metadata: { action } });
      }
    });
    const chunks = await asTenant(tenant, () =>
      kit.audit.export('json', { action: 'member.*', from: new Date('2000-01-01T00:00:00Z') }),
    );
    const parsed = JSON.parse((await collect(chunks)).join('')) as Record<string, unknown>[];
    expect(parsed.map((e) => [e.seq, e.action])).toEqual([
      [1, 'member.invited'],
      [2, 'member.joined'],
      [4, 'member.removed'],
    ]);
    expect(parsed[0]).toMatchObject({
      actor: { type: 'system', id: 'test' },
      metadata: { action: 'member.invited' },
    });
    const exported = (await storedEvents(tenant)).at(-1);
    expect(exported).toMatchObject({
      seq: 5,
      action: 'audit.exported',
      metadata: {
        format: 'json',
        filters: { action: 'member.*', from: '2000-01-01T00:00:00.000Z' },
      },
    });
    // An export that matches nothing is still a valid file.
    const none = await asTenant(tenant, () => kit.audit.export('json', { actorId: 'nobody' }));
    expect(JSON.parse((await collect(none)).join(''))).toEqual([]);
    const noneCsv = await asTenant(tenant, () => kit.audit.export('csv', { actorId: 'nobody' }));
    expect(parseCsv((await collect(noneCsv)).join(''))).toHaveLength(1);
  });

  it('streams more than a batch (2500 events) completely, in order, in several chunks', async () => {
    const tenant = await createTenantRow('Big');
    await insertChain(tenant, 2500);
    const jsonChunks = await collect(await asTenant(tenant, () => kit.audit.export('json', {})));
    const events = JSON.parse(jsonChunks.join('')) as { seq: number }[];
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 2500 }, (_, i) => i + 1));
    // '[', three batches (1000, 1000, 500), ']': never everything at once.
    expect(jsonChunks).toHaveLength(5);

    const csvChunks = await collect(await asTenant(tenant, () => kit.audit.export('csv', {})));
    const rows = parseCsv(csvChunks.join(''));
    // 2500 events and the record of the JSON export (seq 2501), after the header.
    expect(rows).toHaveLength(2502);
    expect(rows.slice(1).map((r) => Number(r[0]))).toEqual(
      Array.from({ length: 2501 }, (_, i) => i + 1),
    );
    expect(rows.at(-1)![4]).toBe('audit.exported');
    expect(csvChunks).toHaveLength(3);
    // The two exports are in the chain, which verify walks across batches.
    expect(await asTenant(tenant, () => kit.audit.verify())).toEqual({
      ok: true,
      events: 2502,
      headSeq: 2502,
    });
  });

  it('keeps the tenant for every batch, whatever context pulls the stream', async () => {
    const tenant = await createTenantRow('Detached');
    await insertChain(tenant, 1200);
    const chunks = await asTenant(tenant, () => kit.audit.export('json', {}));
    // Pulled outside any tenant context (as a socket's drain event would).
    const parsed = JSON.parse((await collect(chunks)).join('')) as unknown[];
    expect(parsed).toHaveLength(1200);
  });
});
