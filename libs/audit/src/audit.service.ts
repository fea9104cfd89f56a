import { isIP } from 'node:net';
import { Injectable } from '@nestjs/common';
import { stringify } from 'csv-stringify/sync';
import {
  type Actor,
  Clock,
  currentTenant,
  currentTenantOrUndefined,
  decodeCursor,
  encodeCursor,
  type Page,
  PLATFORM_TENANT_ID,
  redactDeep,
  runWithTenant,
  type TenantContext,
  ValidationError,
} from '@ibhq/core';
import { Prisma, TenantDb } from '@ibhq/db';
import { chainHash, GENESIS_HASH } from './audit-hash.js';
import {
  AUDIT_ACTION,
  AUDIT_ACTION_MAX,
  AUDIT_METADATA_MAX_BYTES,
  type AuditActorType,
  type AuditEntry,
  type AuditEventView,
  type AuditExportFormat,
  type AuditFilter,
  type AuditVerifyResult,
} from './audit.dto.js';

/** Rows read per query by export and verify: bounded memory whatever the chain's length. */
export const AUDIT_BATCH_SIZE = 1000;

const SYSTEM_ACTOR: Actor = { type: 'system', id: 'ibhq' };

export interface AuditListOptions extends AuditFilter {
  /** 1-200, default 50. */
  readonly limit?: number;
  readonly cursor?: string;
}

/** An event as read back; seq is a bigint (Prisma) or a string (node-postgres). */
interface EventRow {
  seq: bigint | string | number;
  occurredAt: Date;
  actorType: AuditActorType;
  actorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  metadata: Record<string, unknown>;
  ip: string | null;
  userAgent: string | null;
  prevHash: string;
  hash: string;
}

/** A statement in the transaction `record` runs in. */
type Query = <T extends object>(statement: Prisma.Sql) => Promise<T[]>;

interface HeadRow {
  seq: bigint | string | number;
  hash: string;
  ip: string | null;
}

/** The columns of EventRow; `ip` as PostgreSQL prints an address (what was hashed). */
const EVENT_COLUMNS = Prisma.sql`"seq", "occurredAt", "actorType"::text AS "actorType", "actorId",
  "action", "targetType", "targetId", "metadata", host("ip") AS "ip", "userAgent", "prevHash", "hash"`;

const CSV_COLUMNS = [
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
] as const;

function toView(row: EventRow): AuditEventView {
  return {
    seq: Number(row.seq),
    occurredAt: row.occurredAt,
    actor: { type: row.actorType, id: row.actorId },
    action: row.action,
    target:
      row.targetType === null && row.targetId === null
        ? null
        : { type: row.targetType ?? '', id: row.targetId },
    metadata: row.metadata,
    ip: row.ip,
    userAgent: row.userAgent,
    hash: row.hash,
    prevHash: row.prevHash,
  };
}

function rowHash(tenantId: string, row: EventRow): string {
  return chainHash(row.prevHash, {
    tenantId,
    seq: Number(row.seq),
    occurredAt: row.occurredAt,
    actorType: row.actorType,
    actorId: row.actorId,
    action: row.action,
    targetType: row.targetType,
    targetId: row.targetId,
    metadata: row.metadata,
    ip: row.ip,
    userAgent: row.userAgent,
  });
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * PostgreSQL text and jsonb cannot hold U+0000 or unpaired surrogates; an audited
 * action must not fail because a client sent one, so they become U+FFFD before the
 * value is hashed (the hash covers exactly what is stored).
 */
function storable(s: string): string {
  return s.replace(LONE_SURROGATE, '\uFFFD').replaceAll('\0', '\uFFFD');
}

function storableJson(value: unknown): unknown {
  if (typeof value === 'string') return storable(value);
  if (Array.isArray(value)) return value.map(storableJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [storable(k), storableJson(v)]),
    );
  }
  return value;
}

/**
 * Metadata as it will be stored and read back: redacted (keys that name secrets or
 * personal fields), then through JSON (dates become strings, undefined disappears:
 * what jsonb gives back), so that the hash computed now is the hash `verify`
 * recomputes from the stored row.
 */
function prepareMetadata(metadata: Record<string, unknown> | undefined): {
  value: Record<string, unknown>;
  json: string;
} {
  const redacted = redactDeep(metadata ?? {});
  const json = JSON.stringify(redacted);
  if (redacted === null || typeof redacted !== 'object' || Array.isArray(redacted)) {
    throw new Error('audit: metadata must be a plain object');
  }
  const value = storableJson(JSON.parse(json)) as Record<string, unknown>;
  const stored = JSON.stringify(value);
  if (Buffer.byteLength(stored, 'utf8') > AUDIT_METADATA_MAX_BYTES) {
    throw new Error(
      `audit: metadata of ${String(Buffer.byteLength(stored, 'utf8'))} bytes exceeds ${String(AUDIT_METADATA_MAX_BYTES)}: record ids, not documents`,
    );
  }
  return { value, json: stored };
}

/** An identifier-like field: absent or empty is null; too long is a programming error. */
function idField(name: string, value: string | undefined, max: number): string | null {
  if (value === undefined || value === '') return null;
  const s = storable(value);
  // Counted in code points, as PostgreSQL counts varchar characters.
  if (Array.from(s).length > max) throw new Error(`audit: ${name} is longer than ${String(max)}`);
  return s;
}

/**
 * A client address the inet column accepts (an IPv6 zone is dropped), or null: a
 * malformed value from a proxy header must not make the audited action fail.
 */
function clientIp(ip: string | undefined): string | null {
  if (!ip) return null;
  const bare = ip.split('%', 1)[0] ?? '';
  return isIP(bare) === 0 ? null : bare;
}

function clientUserAgent(userAgent: string | undefined): string | null {
  if (!userAgent) return null;
  // The column keeps 512 characters (code points); a longer header is cut, not refused.
  const chars = Array.from(storable(userAgent));
  return chars.length > 512 ? chars.slice(0, 512).join('') : chars.join('');
}

/**
 * Locks the tenant's head row (creating it at seq 0 on the tenant's first event) and
 * reads it; `ip` comes back as PostgreSQL prints the address, the form stored and
 * hashed (2001:DB8::1 and 2001:db8:0::1 are both stored as 2001:db8::1).
 */
async function lockHead(
  query: Query,
  tenantId: string,
  ip: string | null,
): Promise<{ seq: number; hash: string; ip: string | null }> {
  const select = Prisma.sql`
    SELECT "seq", "hash", host(${ip}::inet) AS "ip" FROM "AuditHead"
     WHERE "tenantId" = ${tenantId}::uuid FOR UPDATE`;
  let [head] = await query<HeadRow>(select);
  if (!head) {
    // First event of the tenant. Concurrent first writers all insert; one wins and
    // the others wait on its row, then lock it in turn.
    await query(Prisma.sql`
      INSERT INTO "AuditHead" ("tenantId", "seq", "hash") VALUES (${tenantId}::uuid, 0, ${GENESIS_HASH})
      ON CONFLICT ("tenantId") DO NOTHING RETURNING "seq"`);
    [head] = await query<HeadRow>(select);
    if (!head) throw new Error('audit: the chain head could not be created');
  }
  return { seq: Number(head.seq), hash: head.hash, ip: head.ip };
}

function filterSql(tenantId: string, filter: AuditFilter): Prisma.Sql[] {
  const where = [Prisma.sql`"tenantId" = ${tenantId}::uuid`];
  if (filter.actorType) where.push(Prisma.sql`"actorType" = ${filter.actorType}::"AuditActorType"`);
  if (filter.actorId) where.push(Prisma.sql`"actorId" = ${filter.actorId}`);
  if (filter.action?.endsWith('.*')) {
    // starts_with, not LIKE: `_` in an action would be a LIKE wildcard.
    where.push(Prisma.sql`starts_with("action", ${filter.action.slice(0, -1)})`);
  } else if (filter.action) {
    where.push(Prisma.sql`"action" = ${filter.action}`);
  }
  if (filter.from)
    where.push(Prisma.sql`"occurredAt" >= ${filter.from.toISOString()}::timestamptz`);
  if (filter.to) where.push(Prisma.sql`"occurredAt" < ${filter.to.toISOString()}::timestamptz`);
  return where;
}

/** The filters that were set, for the `audit.exported` event's metadata. */
function filterSummary(filter: AuditFilter): Record<string, string> {
  const out: Record<string, string> = {};
  if (filter.actorType) out.actorType = filter.actorType;
  if (filter.actorId) out.actorId = filter.actorId;
  if (filter.action) out.action = filter.action;
  if (filter.from) out.from = filter.from.toISOString();
  if (filter.to) out.to = filter.to.toISOString();
  return out;
}

function csvRecord(v: AuditEventView): Record<(typeof CSV_COLUMNS)[number], string | number> {
  return {
    seq: v.seq,
    occurredAt: v.occurredAt.toISOString(),
    actorType: v.actor.type,
    actorId: v.actor.id ?? '',
    action: v.action,
    targetType: v.target?.type ?? '',
    targetId: v.target?.id ?? '',
    metadata: JSON.stringify(v.metadata),
    ip: v.ip ?? '',
    userAgent: v.userAgent ?? '',
    prevHash: v.prevHash,
    hash: v.hash,
  };
}

/**
 * The audit trail: an append-only, hash-chained log of what happened in a tenant
 * (and, under PLATFORM_TENANT_ID, on the platform).
 *
 * Each tenant's events form a chain: event n stores the hash of event n-1 and its own
 * hash over that and its fields (audit-hash.ts). Writers of one tenant are serialised
 * by a row lock on the tenant's AuditHead row, which holds the last seq and hash;
 * writers of different tenants never wait for each other. The database refuses
 * UPDATE, DELETE and TRUNCATE of AuditEvent (grants and a trigger, see the migration
 * 20261123130000_accounts_audit), and `verify` finds any change made around that.
 */
@Injectable()
export class AuditService {
  constructor(
    private readonly db: TenantDb,
    private readonly clock: Clock,
  ) {}

  /**
   * Appends an event to the current tenant's chain and returns it.
   *
   * Inside an open `TenantDb.transaction` it joins it: the event commits or rolls back
   * with the change it describes. The tenant's chain stays locked until that
   * transaction ends, so record late in long transactions. Throws a plain Error (a
   * programming error, not the caller's input) for a malformed action, an over-long
   * id or metadata over 8 KiB.
   */
  async record(entry: AuditEntry): Promise<AuditEventView> {
    const ctx = currentTenant('AuditService.record');
    const tenantId = ctx.tenantId;
    if (entry.action.length > AUDIT_ACTION_MAX || !AUDIT_ACTION.test(entry.action)) {
      throw new Error(`audit: invalid action ${JSON.stringify(entry.action.slice(0, 80))}`);
    }
    const actor = entry.actor ?? ctx.actor;
    const client = entry.client ?? ctx.client ?? {};
    const targetType = idField('targetType', entry.targetType, 32);
    const targetId = idField('targetId', entry.targetId, 64);
    if (targetId !== null && targetType === null) {
      throw new Error('audit: targetId needs a targetType');
    }
    const actorId = idField('actorId', actor.id, 64);
    const metadata = prepareMetadata(entry.metadata);
    const userAgent = clientUserAgent(client.userAgent);
    const ipInput = clientIp(client.ip);

    // Raw statements on one connection (the hot path: no Prisma engine); inside an
    // open tenant transaction they join it, so the event commits with the change.
    return this.db.rawTransaction(async (query: Query) => {
      const head = await lockHead(query, tenantId, ipInput);
      const seq = head.seq + 1;
      // Taken under the lock, so that time order and chain order agree.
      const occurredAt = this.clock.now();
      const fields = {
        tenantId,
        seq,
        occurredAt,
        actorType: actor.type,
        actorId,
        action: entry.action,
        targetType,
        targetId,
        metadata: metadata.value,
        ip: head.ip,
        userAgent,
      };
      const hash = chainHash(head.hash, fields);
      // One statement for both writes: the fewer round trips under the lock, the more
      // events per second one tenant can write.
      await query(Prisma.sql`
        WITH "event" AS (
          INSERT INTO "AuditEvent" ("tenantId", "seq", "occurredAt", "actorType", "actorId",
            "action", "targetType", "targetId", "metadata", "ip", "userAgent", "prevHash", "hash")
          VALUES (${tenantId}::uuid, ${String(seq)}::bigint, ${occurredAt.toISOString()}::timestamptz,
            ${actor.type}::"AuditActorType", ${actorId}, ${entry.action}, ${targetType}, ${targetId},
            ${metadata.json}::jsonb, ${head.ip}::inet, ${userAgent}, ${head.hash}, ${hash})
        )
        UPDATE "AuditHead" SET "seq" = ${String(seq)}::bigint, "hash" = ${hash}
         WHERE "tenantId" = ${tenantId}::uuid
        RETURNING "seq"`);
      return toView({
        ...fields,
        prevHash: head.hash,
        hash,
      });
    });
  }

  /**
   * Records in the platform's own chain (events of no tenant: a sign-in attempt for an
   * unknown e-mail, a sign-up before its tenant exists), keeping the current actor and
   * client if there is a context. Must be called outside any open tenant transaction:
   * TenantDb refuses to mix two tenants in one, and the platform event would otherwise
   * commit or roll back with unrelated work.
   */
  async recordPlatform(entry: AuditEntry): Promise<AuditEventView> {
    const ctx: TenantContext = currentTenantOrUndefined() ?? {
      tenantId: PLATFORM_TENANT_ID,
      actor: SYSTEM_ACTOR,
    };
    return runWithTenant({ ...ctx, tenantId: PLATFORM_TENANT_ID }, () => this.record(entry));
  }

  /** The current tenant's events, newest first, keyset-paginated on seq. */
  async list(options: AuditListOptions): Promise<Page<AuditEventView>> {
    const { tenantId } = currentTenant('AuditService.list');
    const limit = options.limit ?? 50;
    const where = filterSql(tenantId, options);
    if (options.cursor)
      where.push(Prisma.sql`"seq" < ${String(this.cursorSeq(options.cursor))}::bigint`);
    const rows = await this.db.query<EventRow>(Prisma.sql`
      SELECT ${EVENT_COLUMNS} FROM "AuditEvent"
       WHERE ${Prisma.join(where, ' AND ')}
       ORDER BY "seq" DESC LIMIT ${limit + 1}`);
    const items = rows.slice(0, limit).map(toView);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? encodeCursor([last.seq]) : null };
  }

  /**
   * Records `audit.exported`, then returns the matching events oldest first as CSV
   * (header row, formula-escaped cells) or as one JSON array, in chunks of up to
   * 1000 events read by keyset on seq: memory stays bounded whatever the chain's size.
   *
   * The event is recorded before this resolves (not on the first read), so that a
   * failure to record is an error answer rather than a broken download. The export
   * covers the events that existed when it was asked for (those before its own
   * `audit.exported` event).
   */
  async export(
    format: AuditExportFormat,
    filter: AuditFilter = {},
  ): Promise<AsyncIterable<string>> {
    const ctx = currentTenant('AuditService.export');
    const exported = await this.record({
      action: 'audit.exported',
      metadata: { format, filters: filterSummary(filter) },
    });
    return this.exportChunks(ctx, format, filter, exported.seq);
  }

  private async *exportChunks(
    ctx: TenantContext,
    format: AuditExportFormat,
    filter: AuditFilter,
    beforeSeq: number,
  ): AsyncGenerator<string> {
    let first = true;
    let after = 0;
    if (format === 'json') yield '[';
    for (;;) {
      // The stream pulls from whatever async context writes to the socket: the tenant
      // is set again explicitly for every batch.
      const where = [
        ...filterSql(ctx.tenantId, filter),
        Prisma.sql`"seq" > ${String(after)}::bigint`,
        Prisma.sql`"seq" < ${String(beforeSeq)}::bigint`,
      ];
      const rows = await runWithTenant(ctx, () =>
        this.db.query<EventRow>(Prisma.sql`
          SELECT ${EVENT_COLUMNS} FROM "AuditEvent"
           WHERE ${Prisma.join(where, ' AND ')}
           ORDER BY "seq" ASC LIMIT ${AUDIT_BATCH_SIZE}`),
      );
      const views = rows.map(toView);
      if (format === 'csv') {
        if (views.length > 0 || first) {
          yield stringify(views.map(csvRecord), {
            header: first,
            columns: [...CSV_COLUMNS],
            escape_formulas: true,
          });
        }
      } else if (views.length > 0) {
        const elements = views.map((v) => JSON.stringify(v)).join(',');
        yield first ? elements : `,${elements}`;
      }
      first = false;
      const last = views.at(-1);
      if (!last || views.length < AUDIT_BATCH_SIZE) break;
      after = last.seq;
    }
    if (format === 'json') yield ']';
  }

  /**
   * Walks the current tenant's chain oldest first, recomputing every hash, and reports
   * the first broken link: a missing seq (`seq_gap`, at the first missing seq), a
   * prevHash that is not the previous event's hash, a hash that does not match the
   * event's fields, or a head that does not point at the last event (`head_mismatch`,
   * at the seq the head claims; 0 when events exist without a head).
   *
   * It checks the chain up to the head read at the start, so events appended
   * meanwhile are not mistaken for a broken head.
   */
  async verify(): Promise<AuditVerifyResult> {
    const { tenantId } = currentTenant('AuditService.verify');
    const [head] = await this.db.query<{ seq: bigint | string; hash: string }>(
      Prisma.sql`SELECT "seq", "hash" FROM "AuditHead" WHERE "tenantId" = ${tenantId}::uuid`,
    );
    const headSeq = head ? Number(head.seq) : null;
    let events = 0;
    let expectSeq = 1;
    let prevHash = GENESIS_HASH;
    const broken = (
      seq: number,
      reason: 'hash_mismatch' | 'prev_hash_mismatch' | 'seq_gap' | 'head_mismatch',
    ) => ({ ok: false, events, brokenAt: { seq, reason } }) as const;
    for (;;) {
      const upTo =
        headSeq === null ? Prisma.empty : Prisma.sql`AND "seq" <= ${String(headSeq)}::bigint`;
      const rows = await this.db.query<EventRow>(Prisma.sql`
        SELECT ${EVENT_COLUMNS} FROM "AuditEvent"
         WHERE "tenantId" = ${tenantId}::uuid AND "seq" >= ${String(expectSeq)}::bigint ${upTo}
         ORDER BY "seq" ASC LIMIT ${AUDIT_BATCH_SIZE}`);
      for (const row of rows) {
        const seq = Number(row.seq);
        if (seq !== expectSeq) return broken(expectSeq, 'seq_gap');
        if (row.prevHash !== prevHash) return broken(seq, 'prev_hash_mismatch');
        if (rowHash(tenantId, row) !== row.hash) return broken(seq, 'hash_mismatch');
        events++;
        expectSeq = seq + 1;
        prevHash = row.hash;
      }
      if (rows.length < AUDIT_BATCH_SIZE) break;
    }
    const lastSeq = expectSeq - 1;
    if (headSeq === null) {
      // No head: only an empty chain is consistent (seq 0: the head itself is missing).
      return lastSeq === 0 ? { ok: true, events, headSeq: 0 } : broken(0, 'head_mismatch');
    }
    // The head must point at the last event: events cut off at the end of the chain,
    // or a head moved by hand, show here (at the seq the head claims).
    if (headSeq !== lastSeq || head?.hash !== prevHash) return broken(headSeq, 'head_mismatch');
    return { ok: true, events, headSeq };
  }

  private cursorSeq(cursor: string): number {
    const [seq] = decodeCursor(cursor, ['number']) as [number];
    if (!Number.isSafeInteger(seq) || seq < 1) {
      throw new ValidationError([{ field: 'query.cursor', message: 'is not a valid cursor' }]);
    }
    return seq;
  }
}
