import { Injectable } from '@nestjs/common';
import { stringify } from 'csv-stringify/sync';
import { v7 as uuidv7 } from 'uuid';
import { z } from 'zod';
import {
  currentTenant,
  decodeCursor,
  DomainError,
  encodeCursor,
  ErrorCode,
  isUuid,
  NotFoundError,
  runWithTenant,
  type Page,
  ValidationError,
} from '@ibhq/core';
import { Prisma, TenantDb } from '@ibhq/db';

/** One failure inside a job: which lead, or which CSV row and field, and why. */
export interface JobErrorInput {
  readonly leadId?: string;
  readonly rowNumber?: number;
  readonly field?: string;
  readonly reason: string;
}

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed';

/** What GET /v1/jobs/:id shows. */
export interface JobView {
  readonly id: string;
  readonly kind: string;
  readonly status: JobStatus;
  readonly total: number;
  readonly done: number;
  readonly failed: number;
  /** The first failures (at most 100); the whole list is paged at /v1/jobs/:id/errors. */
  readonly errors: readonly JobErrorInput[];
  readonly result: Record<string, unknown> | null;
  readonly error: string | null;
  readonly createdAt: Date;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
}

/** GET /v1/jobs/:id/errors: a keyset page of a job's errors. */
export const jobErrorsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
  cursor: z.string().min(1).max(512).optional(),
});
export type JobErrorsQuery = z.infer<typeof jobErrorsQuery>;

/** The columns of a job's downloadable error report. */
export const JOB_ERROR_CSV_COLUMNS = ['rowNumber', 'field', 'reason', 'leadId'] as const;
const CSV_BATCH = 2_000;

/** How many errors GET /v1/jobs/:id shows inline. */
export const JOB_VIEW_ERRORS = 100;
const REASON_MAX = 500;
const FIELD_MAX = 100;
const MESSAGE_MAX = 1_000;
const KIND_MAX = 40;
const IDEMPOTENCY_KEY_MAX = 200;
const CHECKPOINT_MAX = 200;

interface JobRow {
  id: string;
  kind: string;
  status: JobStatus;
  total: number;
  done: number;
  failed: number;
  result: Record<string, unknown> | null;
  error: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

interface ErrorRow {
  id: string;
  leadId: string | null;
  rowNumber: number | null;
  field: string | null;
  reason: string;
}

const JOB_COLUMNS = Prisma.sql`"id"::text AS "id", "kind", "status"::text AS "status", "total",
  "done", "failed", "result", "error", "createdAt", "startedAt", "finishedAt"`;

const ERROR_COLUMNS = Prisma.sql`"id"::text AS "id", "leadId"::text AS "leadId", "rowNumber",
  "field", "reason"`;

/**
 * Progress of long-running work (bulk updates, imports) in PostgreSQL, for the
 * current tenant: BullMQ forgets finished jobs within 24 hours and holds no customer
 * data; this row is what the caller polls. Every method runs in the current tenant
 * context and joins an open TenantDb transaction.
 */
@Injectable()
export class JobTracker {
  /** The query schema of GET /v1/jobs/:id/errors (for the controller). */
  static readonly errorsQuery = jobErrorsQuery;

  constructor(private readonly db: TenantDb) {}

  /**
   * A new job, or the existing one with the same (kind, idempotencyKey): a retried
   * request never starts the work twice. The actor comes from the tenant context.
   */
  async create(
    kind: string,
    params: Record<string, unknown>,
    options: { idempotencyKey?: string; total?: number } = {},
  ): Promise<{ job: JobView; created: boolean }> {
    const { tenantId, actor } = currentTenant('JobTracker.create');
    if (kind.length === 0 || kind.length > KIND_MAX) {
      throw new Error(`job kind must be 1..${String(KIND_MAX)} characters`);
    }
    const key = options.idempotencyKey;
    if (key !== undefined && (key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX)) {
      throw new Error(`idempotency key must be 1..${String(IDEMPOTENCY_KEY_MAX)} characters`);
    }
    const id = uuidv7();
    const inserted = await this.db.query<JobRow>(Prisma.sql`
      INSERT INTO "BackgroundJob" ("tenantId", "id", "kind", "idempotencyKey", "params", "total",
                                   "actorType", "actorId", "updatedAt")
      VALUES (${tenantId}::uuid, ${id}::uuid, ${kind}, ${key ?? null}, ${JSON.stringify(params)}::jsonb,
              ${options.total ?? 0}::int, ${actor.type}::"AuditActorType", ${actor.id.slice(0, 64)},
              now())
      ON CONFLICT ("tenantId", "kind", "idempotencyKey") DO NOTHING
      RETURNING ${JOB_COLUMNS}`);
    const [created] = inserted;
    if (created) return { job: toView(created, []), created: true };
    const [existing] = await this.db.query<{ id: string }>(Prisma.sql`
      SELECT "id"::text AS "id" FROM "BackgroundJob"
      WHERE "tenantId" = ${tenantId}::uuid AND "kind" = ${kind} AND "idempotencyKey" = ${key ?? null}`);
    if (!existing) throw new Error('BackgroundJob: conflicting row not found');
    return { job: await this.get(existing.id), created: false };
  }

  /**
   * The job created earlier with this (kind, idempotencyKey), with its parameters, or
   * null: lets a retried request be answered without redoing the checks that precede
   * `create`.
   */
  async find(
    kind: string,
    idempotencyKey: string,
  ): Promise<{ job: JobView; params: Record<string, unknown> } | null> {
    const { tenantId } = currentTenant('JobTracker.find');
    const [row] = await this.db.query<{ id: string; params: Record<string, unknown> }>(Prisma.sql`
      SELECT "id"::text AS "id", "params" FROM "BackgroundJob"
       WHERE "tenantId" = ${tenantId}::uuid AND "kind" = ${kind}
         AND "idempotencyKey" = ${idempotencyKey}`);
    if (!row) return null;
    return { job: await this.get(row.id), params: row.params };
  }

  /** The job's parameters and where a resumed run continues; marks it running. */
  async start(id: string): Promise<{
    kind: string;
    params: Record<string, unknown>;
    checkpoint: string | null;
    status: JobStatus;
  }> {
    const { tenantId } = currentTenant('JobTracker.start');
    if (!isUuid(id)) throw new NotFoundError('job');
    return this.db.transaction(async () => {
      const rows = await this.db.query<{
        kind: string;
        params: Record<string, unknown>;
        checkpoint: string | null;
        status: JobStatus;
      }>(Prisma.sql`
        UPDATE "BackgroundJob"
           SET "status" = CASE WHEN "status" = 'queued' THEN 'running'::"JobStatus" ELSE "status" END,
               "startedAt" = CASE WHEN "status" IN ('queued', 'running')
                                  THEN COALESCE("startedAt", now()) ELSE "startedAt" END,
               "updatedAt" = now()
         WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid
        RETURNING "kind", "params", "checkpoint", "status"::text AS "status"`);
      const [row] = rows;
      if (!row) throw new NotFoundError('job');
      return row;
    });
  }

  /**
   * Adds to done/failed, stores the checkpoint and the errors, in one transaction.
   * With `expectedCheckpoint` (null: none stored yet) nothing is recorded unless the
   * stored checkpoint is that one: a Conflict (details.checkpointMoved) tells a
   * duplicate run of the job that another run is ahead of it.
   */
  async progress(
    id: string,
    delta: {
      done?: number;
      failed?: number;
      checkpoint?: string;
      total?: number;
      expectedCheckpoint?: string | null;
    },
    errors: readonly JobErrorInput[] = [],
  ): Promise<void> {
    const { tenantId } = currentTenant('JobTracker.progress');
    if (!isUuid(id)) throw new NotFoundError('job');
    const checkpoint = delta.checkpoint?.slice(0, CHECKPOINT_MAX) ?? null;
    await this.db.transaction(async () => {
      const updated = await this.db.query<{ id: string }>(Prisma.sql`
        UPDATE "BackgroundJob"
           SET "done" = "done" + ${delta.done ?? 0}::int,
               "failed" = "failed" + ${delta.failed ?? 0}::int,
               "checkpoint" = COALESCE(${checkpoint}::varchar, "checkpoint"),
               "total" = COALESCE(${delta.total ?? null}::int, "total"),
               "updatedAt" = now()
         WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid
           ${
             delta.expectedCheckpoint === undefined
               ? Prisma.empty
               : Prisma.sql`AND "checkpoint" IS NOT DISTINCT FROM ${delta.expectedCheckpoint}::varchar`
           }
        RETURNING "id"::text AS "id"`);
      if (updated.length === 0) {
        if (delta.expectedCheckpoint !== undefined) {
          const [job] = await this.db.query<{ id: string }>(Prisma.sql`
            SELECT "id"::text AS "id" FROM "BackgroundJob"
             WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid`);
          if (job) {
            throw new DomainError(
              ErrorCode.Conflict,
              'the job has moved on: another run of it is ahead',
              { checkpointMoved: true },
            );
          }
        }
        throw new NotFoundError('job');
      }
      if (errors.length === 0) return;
      // One statement for any number of errors: the rows travel as one JSON parameter
      // (no limit on bind parameters, no string building).
      const json = JSON.stringify(
        errors.map((e) => ({
          leadId: e.leadId !== undefined && isUuid(e.leadId) ? e.leadId : null,
          rowNumber:
            e.rowNumber !== undefined && Number.isSafeInteger(e.rowNumber) ? e.rowNumber : null,
          field: e.field === undefined ? null : clip(e.field, FIELD_MAX),
          reason: clip(e.reason, REASON_MAX) || 'failed',
        })),
      );
      await this.db.query(Prisma.sql`
        INSERT INTO "JobError" ("tenantId", "jobId", "leadId", "rowNumber", "field", "reason")
        SELECT ${tenantId}::uuid, ${id}::uuid, (e.doc ->> 'leadId')::uuid,
               (e.doc ->> 'rowNumber')::int, e.doc ->> 'field', e.doc ->> 'reason'
          FROM jsonb_array_elements(${json}::jsonb) WITH ORDINALITY AS e(doc, n)
         ORDER BY e.n`);
    });
  }

  /**
   * Marks the job completed with its result; answers false (and changes nothing) when
   * it already was: of two runs of one job that both reach the end, one completes it.
   */
  async complete(id: string, result: Record<string, unknown>): Promise<boolean> {
    const { tenantId } = currentTenant('JobTracker.complete');
    if (!isUuid(id)) throw new NotFoundError('job');
    return this.db.transaction(async () => {
      const rows = await this.db.query<{ id: string }>(Prisma.sql`
        UPDATE "BackgroundJob"
           SET "status" = 'completed', "result" = ${JSON.stringify(result)}::jsonb, "error" = NULL,
               "startedAt" = COALESCE("startedAt", now()), "finishedAt" = now(), "updatedAt" = now()
         WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid AND "status" <> 'completed'
        RETURNING "id"::text AS "id"`);
      if (rows.length > 0) return true;
      const [job] = await this.db.query<{ id: string }>(Prisma.sql`
        SELECT "id"::text AS "id" FROM "BackgroundJob"
         WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid`);
      if (!job) throw new NotFoundError('job');
      return false;
    });
  }

  /**
   * Marks the job failed; `message` is shown to the caller: no internals. A job
   * already completed stays completed (a late duplicate run cannot undo it).
   */
  async fail(id: string, message: string): Promise<void> {
    const { tenantId } = currentTenant('JobTracker.fail');
    if (!isUuid(id)) throw new NotFoundError('job');
    const [row] = await this.db.query<{ id: string }>(Prisma.sql`
      WITH failed AS (
        UPDATE "BackgroundJob"
           SET "status" = 'failed', "error" = ${clip(message, MESSAGE_MAX) || 'failed'},
               "finishedAt" = now(), "updatedAt" = now()
         WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid AND "status" <> 'completed'
        RETURNING "id")
      SELECT "id"::text AS "id" FROM "BackgroundJob"
       WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid`);
    if (!row) throw new NotFoundError('job');
  }

  /** NotFoundError('job') for a missing or another tenant's job. */
  async get(id: string): Promise<JobView> {
    const { tenantId } = currentTenant('JobTracker.get');
    if (!isUuid(id)) throw new NotFoundError('job');
    return this.db.transaction(async () => {
      const [row] = await this.db.query<JobRow>(Prisma.sql`
        SELECT ${JOB_COLUMNS} FROM "BackgroundJob"
         WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid`);
      if (!row) throw new NotFoundError('job');
      const errors = await this.db.query<ErrorRow>(Prisma.sql`
        SELECT ${ERROR_COLUMNS} FROM "JobError"
         WHERE "tenantId" = ${tenantId}::uuid AND "jobId" = ${id}::uuid
         ORDER BY "JobError"."id" LIMIT ${JOB_VIEW_ERRORS}`);
      return toView(row, errors.map(toError));
    });
  }

  /** All of a job's errors, in order (keyset pages). */
  async errors(id: string, page: { limit: number; cursor?: string }): Promise<Page<JobErrorInput>> {
    const { tenantId } = currentTenant('JobTracker.errors');
    if (!isUuid(id)) throw new NotFoundError('job');
    const after = page.cursor === undefined ? null : errorCursor(page.cursor);
    const limit = Math.max(1, Math.min(Math.trunc(page.limit), 10_000));
    return this.db.transaction(async () => {
      const [job] = await this.db.query<{ id: string }>(Prisma.sql`
        SELECT "id"::text AS "id" FROM "BackgroundJob"
         WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${id}::uuid`);
      if (!job) throw new NotFoundError('job');
      const rows = await this.db.query<ErrorRow>(Prisma.sql`
        SELECT ${ERROR_COLUMNS} FROM "JobError"
         WHERE "tenantId" = ${tenantId}::uuid AND "jobId" = ${id}::uuid
           AND "id" > ${after ?? '0'}::bigint
         ORDER BY "JobError"."id" LIMIT ${limit + 1}`);
      const items = rows.slice(0, limit);
      const last = items.at(-1);
      return {
        items: items.map(toError),
        nextCursor: rows.length > limit && last ? encodeCursor([last.id]) : null,
      };
    });
  }

  /**
   * The whole error report as CSV (rowNumber, field, reason, leadId; a header row;
   * cells that a spreadsheet would run as a formula are escaped with a leading `'`),
   * in chunks read by keyset: constant memory whatever the number of errors.
   * NotFoundError('job') before anything is produced for a job that is not the
   * tenant's. The chunks can be read from any async context (a response stream): the
   * tenant is set again for every batch.
   */
  async errorReportCsv(id: string): Promise<AsyncIterable<string>> {
    const ctx = currentTenant('JobTracker.errorReportCsv');
    const first = await this.errors(id, { limit: CSV_BATCH });
    const read = (cursor: string) =>
      runWithTenant(ctx, () => this.errors(id, { limit: CSV_BATCH, cursor }));
    return (async function* report(): AsyncGenerator<string> {
      yield stringify([[...JOB_ERROR_CSV_COLUMNS]]);
      let page = first;
      for (;;) {
        if (page.items.length > 0)
          yield stringify(page.items.map(csvRow), { escape_formulas: true });
        if (page.nextCursor === null) return;
        page = await read(page.nextCursor);
      }
    })();
  }

  /**
   * Every error of a job in order, in batches of `batchSize` (for streaming a whole
   * error report without holding it in memory). NotFoundError('job') first if the
   * job is not the tenant's.
   */
  async *allErrors(id: string, batchSize = 2_000): AsyncGenerator<JobErrorInput[]> {
    let cursor: string | undefined;
    for (;;) {
      const page = await this.errors(id, {
        limit: batchSize,
        ...(cursor === undefined ? {} : { cursor }),
      });
      if (page.items.length > 0) yield [...page.items];
      if (page.nextCursor === null) return;
      cursor = page.nextCursor;
    }
  }
}

function errorCursor(cursor: string): string {
  const [id] = decodeCursor(cursor, ['string']);
  if (typeof id !== 'string' || !/^[1-9][0-9]{0,17}$/.test(id)) {
    throw new ValidationError([{ field: 'query.cursor', message: 'is not a valid cursor' }]);
  }
  return id;
}

function toView(row: JobRow, errors: JobErrorInput[]): JobView {
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    total: row.total,
    done: row.done,
    failed: row.failed,
    errors,
    result: row.result,
    error: row.error,
    createdAt: row.createdAt,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
  };
}

function csvRow(e: JobErrorInput): (string | number | null)[] {
  return [e.rowNumber ?? null, e.field ?? null, e.reason, e.leadId ?? null];
}

function toError(row: ErrorRow): JobErrorInput {
  return {
    ...(row.leadId === null ? {} : { leadId: row.leadId }),
    ...(row.rowNumber === null ? {} : { rowNumber: row.rowNumber }),
    ...(row.field === null ? {} : { field: row.field }),
    reason: row.reason,
  };
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * At most `max` characters (code points, as PostgreSQL's varchar counts them),
 * without NUL (which text columns cannot hold) or a lone surrogate (which jsonb refuses).
 */
function clip(value: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = value.replace(/\u0000/g, '').replace(LONE_SURROGATE, '\uFFFD');
  if (clean.length <= max) return clean;
  return Array.from(clean).slice(0, max).join('');
}
