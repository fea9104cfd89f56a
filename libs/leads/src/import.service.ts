import { Injectable, Logger } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import { AUDIT_ACTOR_TYPES, AuditService } from '@ibhq/audit';
import {
  type Actor,
  AppConfig,
  currentTenant,
  DomainError,
  ErrorCode,
  NotFoundError,
  runWithTenant,
  ValidationError,
} from '@ibhq/core';
import { Prisma, TenantDb } from '@ibhq/db';
import { JobQueue, JobTracker, type JobErrorInput } from '@ibhq/jobs';
import { AssignmentService } from './assignment.service.js';
import { CustomFieldsService } from './custom-fields.service.js';
import { searchTextOf } from './identity.js';
import {
  importIdParam,
  importUploadQuery,
  startImportBody,
  type ImportCounts,
  type ImportStatus,
  type ImportUploadView,
  type ImportView,
  type StartImportBody,
} from './import.dto.js';
import {
  planChunk,
  type ExistingLead,
  type PlannedCreate,
  type PlannedUpdate,
} from './import/chunk-plan.js';
import {
  columnsOf,
  hasUsableColumn,
  IMPORT_LEAD_FIELDS,
  resolveMapping,
  suggestMapping,
  type ColumnMapping,
  type ImportField,
} from './import/column-mapping.js';
import { DEFAULT_CSV_LIMITS, openCsv, tooLarge } from './import/csv-reader.js';
import { validateRow, type ImportContext, type ImportedLead } from './import/row-validation.js';
import { importJob, type ImportJobPayload } from './leads.jobs.js';
import type { LeadSource } from './lead-view.js';
import { PipelineService, type StageMove } from './pipeline.service.js';
import { TagsService } from './tags.service.js';
import { TimelineService, type NewActivity } from './timeline.service.js';

/** The BackgroundJob kind of an import. */
export const IMPORT_JOB_KIND = 'lead.import';

/** Longest a chunk's transaction may take (a chunk takes a second or two). */
const CHUNK_TIMEOUT_MS = 300_000;

/**
 * statement_timeout inside an import's own transactions: a chunk's INSERT into "Lead"
 * (fifteen indexes, two of them GIN) or a scan of a large tenant can outlast the
 * application's default on a busy server, and a timeout would only make it retry.
 */
const LONG_STATEMENTS = Prisma.sql`SELECT set_config('statement_timeout', '300000', true)`;

/** The latest other import of the same file (by checksum) that was started. */
const previousImportSql = (tenantId: string, checksum: string, exceptId: string) =>
  Prisma.sql`SELECT "id" FROM "LeadImport"
   WHERE "tenantId" = ${tenantId}::uuid AND "checksum" = ${checksum}
     AND "id" <> ${exceptId}::uuid AND "status" <> 'uploaded'
   ORDER BY "createdAt" DESC LIMIT 1`;

/** Rows of a COPY batch sent to the server at once (about 64 KiB). */
const COPY_BATCH_CHARS = 64 * 1024;

const ACTOR_TYPES: ReadonlySet<string> = new Set(AUDIT_ACTOR_TYPES);

/** Where a run stands: the last row done and the counts so far (BackgroundJob.checkpoint). */
interface Checkpoint extends ImportCounts {
  readonly lastRow: number;
}

function parseCheckpoint(text: string | null): Checkpoint {
  const parts = (text ?? '').split(';').map(Number);
  const [lastRow, created, updated, skipped, failed] = parts;
  if (parts.length !== 5 || parts.some((n) => !Number.isSafeInteger(n) || n < 0)) {
    return { lastRow: 0, created: 0, updated: 0, skipped: 0, failed: 0 };
  }
  return {
    lastRow: lastRow ?? 0,
    created: created ?? 0,
    updated: updated ?? 0,
    skipped: skipped ?? 0,
    failed: failed ?? 0,
  };
}

const checkpointText = (c: Checkpoint) =>
  [c.lastRow, c.created, c.updated, c.skipped, c.failed].map(String).join(';');

const countsOf = (c: ImportCounts): ImportCounts => ({
  created: c.created,
  updated: c.updated,
  skipped: c.skipped,
  failed: c.failed,
});

/** A chunk of staged rows, read and validated (before its transaction). */
interface Chunk {
  /** The checkpoint it starts after. */
  readonly after: number;
  readonly lastRow: number;
  /** Staged rows in it. */
  readonly size: number;
  readonly valid: { rowNumber: number; lead: ImportedLead }[];
  readonly errors: JobErrorInput[];
  readonly failedRows: Set<number>;
}

/** Records a failed row's problems as job errors. */
function failRow(
  into: { readonly errors: JobErrorInput[]; readonly failedRows: Set<number> },
  rowNumber: number,
  problems: readonly { field: string | null; reason: string }[],
): void {
  into.failedRows.add(rowNumber);
  for (const p of problems) {
    into.errors.push({
      rowNumber,
      ...(p.field === null ? {} : { field: p.field }),
      reason: p.reason,
    });
  }
}

/** COPY text format: the JSON of the cells, backslashes doubled (JSON escapes the rest). */
async function* copyLines(rows: AsyncIterable<string[]>): AsyncGenerator<string> {
  let rowNumber = 0;
  let batch = '';
  for await (const cells of rows) {
    rowNumber++;
    batch += `${String(rowNumber)}\t${JSON.stringify(cells).replaceAll('\\', '\\\\')}\n`;
    if (batch.length >= COPY_BATCH_CHARS) {
      yield batch;
      batch = '';
    }
  }
  if (batch.length > 0) yield batch;
}

interface ImportRow {
  id: string;
  fileName: string | null;
  status: ImportStatus;
  rowCount: number;
  byteSize: number;
  checksum: string;
  delimiter: string;
  header: string[];
  mapping: ColumnMapping | null;
  onExisting: 'skip' | 'update' | null;
  jobId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

const IMPORT_COLUMNS = Prisma.sql`i."id", i."fileName", i."status"::text AS "status", i."rowCount",
  i."byteSize"::float8 AS "byteSize", i."checksum"::text AS "checksum", i."delimiter",
  i."header"::text[] AS "header", i."mapping", i."onExisting"::text AS "onExisting", i."jobId",
  i."createdAt", i."updatedAt"`;

/** What a run needs, loaded once. */
interface RunSetup {
  readonly jobId: string;
  readonly importId: string;
  readonly onExisting: 'skip' | 'update';
  readonly columns: (ImportField | null)[];
  readonly ctx: ImportContext;
  readonly defaultStageId: string;
  /** Sources with a round-robin rule: new leads of them without an owner take turns. */
  readonly assigned: ReadonlySet<LeadSource>;
  /** How rows find leads by Telegram username (see `usernamesOf`). */
  readonly usernames: UsernameIndex;
}

/**
 * Usernames (lower case) of the file that name leads, known without a probe per key.
 * Telegram usernames are citext, whose equality PostgreSQL does not mark leakproof:
 * under row-level security a lookup by username cannot use its unique index and
 * filters the whole tenant instead. So the run matches the file's usernames with the
 * tenant's once, at its start (one hash join), and keeps what the file itself adds.
 */
interface UsernameIndex {
  /** Usernames of the file held by a lead when the run started: the lead's id. */
  readonly existing: Map<string, string>;
  /** Usernames the file holds more than once (a later row may find an earlier row's lead). */
  readonly repeated: Set<string>;
  /** Of those, the ones this run gave a lead: the lead's id. */
  readonly written: Map<string, string>;
}

/** What String.prototype.trim removes, as a regular expression class for PostgreSQL. */
const JS_TRIM = String.raw`[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]`;

/**
 * A username cell as a lookup key in SQL, made exactly as the row validation makes it
 * in JavaScript: the export's formula escape removed (export-format.ts), trimmed like
 * String.prototype.trim, a t.me link or an `@` stripped (normaliseUsername), lower
 * case. (Should they ever differ, the row's INSERT is refused by the unique index and
 * the row reported, never imported twice.)
 */
function usernameKeySql(cell: Prisma.Sql): Prisma.Sql {
  const trim = `^${JS_TRIM}+|${JS_TRIM}+$`;
  return Prisma.sql`lower(regexp_replace(regexp_replace(regexp_replace(
    CASE WHEN ${cell} ~ '^''+[=+@\\t\\r-]' THEN substr(${cell}, 2) ELSE ${cell} END,
    ${trim}, '', 'g'), '^(https?://)?(www\\.)?(t\\.me|telegram\\.me)/', '', 'i'), '^@', ''))`;
}

/**
 * CSV import of leads: upload (streamed, staged with COPY), start (mapping, what
 * existing leads do, confirmation of a re-run), the job (chunks of staged rows,
 * validated like the API, written set-based, resumable from its checkpoint) and its
 * status. See README "CSV import".
 */
@Injectable()
export class ImportService {
  private readonly logger = new Logger(ImportService.name);

  /** The request schemas of the import routes (for the controller). */
  static readonly uploadQuery = importUploadQuery;
  static readonly idParam = importIdParam;
  static readonly startBody = startImportBody;

  /**
   * Staged rows per chunk (one transaction, one checkpoint). 2,000 imports as fast as
   * 5,000 (the INSERT into "Lead" dominates either way) with a lower peak RSS of the
   * worker (its statements' JSON parameters stay smaller). Tests lower it.
   */
  chunkRows = 2_000;

  constructor(
    private readonly db: TenantDb,
    private readonly config: AppConfig,
    private readonly queue: JobQueue,
    private readonly tracker: JobTracker,
    private readonly audit: AuditService,
    private readonly customFields: CustomFieldsService,
    private readonly pipeline: PipelineService,
    private readonly tags: TagsService,
    private readonly timeline: TimelineService,
    private readonly assignment: AssignmentService,
  ) {}

  /** IMPORT_MAX_BYTES. */
  get maxBytes(): number {
    return this.config.imports.maxBytes;
  }

  // ------------------------------------------------------------------ upload ----

  /**
   * Reads an uploaded file as it arrives and stages its rows (COPY into a temporary
   * table, then into LeadImportRow) in one transaction with its LeadImport row.
   * Everything that makes the file unusable is refused before that commits: not
   * UTF-8 CSV text (400), over IMPORT_MAX_BYTES (413), over 1,000,000 data rows
   * (400), empty or header-only (400), no column a lead field (400 naming the
   * header). Rows with a wrong number of cells are staged and fail one by one later.
   */
  async upload(
    source: AsyncIterable<Buffer | string>,
    options: { fileName?: string; contentLength?: number } = {},
  ): Promise<ImportUploadView> {
    const { tenantId, actor } = currentTenant('ImportService.upload');
    const maxBytes = this.maxBytes;
    if (options.contentLength !== undefined && options.contentLength > maxBytes) {
      throw tooLarge(maxBytes);
    }
    const definitions = await this.customFields.definitions();
    const csv = await openCsv(source, { ...DEFAULT_CSV_LIMITS, maxBytes });
    if (!hasUsableColumn(csv.header, definitions)) {
      throw new ValidationError([
        {
          field: 'body',
          message:
            `the header (${csv.header.map((h) => `"${h.slice(0, 40)}"`).join(', ')}) has no column ` +
            `that is a lead field: name at least one ${IMPORT_LEAD_FIELDS.join(', ')} or cf.<custom field key>`,
        },
      ]);
    }
    const id = uuidv7();
    let view: ImportUploadView | undefined;
    await this.db.copyFrom(
      'COPY pg_temp.import_rows ("rowNumber", "cells") FROM STDIN',
      copyLines(csv.rows),
      {
        before: async (query) => {
          await query(Prisma.sql`CREATE TEMP TABLE import_rows
            ("rowNumber" int NOT NULL, "cells" jsonb NOT NULL) ON COMMIT DROP`);
        },
        after: async (query) => {
          const summary = csv.summary();
          if (summary.rowCount === 0) {
            throw new ValidationError([
              { field: 'body', message: 'the file has a header but no data rows' },
            ]);
          }
          const [previous] = await query<{ id: string }>(
            previousImportSql(tenantId, summary.checksum, id),
          );
          const [row] = await query<{ createdAt: Date }>(Prisma.sql`
            INSERT INTO "LeadImport" ("tenantId", "id", "fileName", "checksum", "byteSize",
              "rowCount", "delimiter", "header", "actorType", "actorId", "updatedAt")
            VALUES (${tenantId}::uuid, ${id}::uuid, ${options.fileName ?? null}, ${summary.checksum},
              ${summary.byteSize}::bigint, ${summary.rowCount}::int, ${csv.delimiter},
              ${[...csv.header]}::varchar[], ${actor.type}::"AuditActorType", ${actor.id.slice(0, 64)},
              now())
            RETURNING "createdAt"`);
          if (!row) throw new Error('LeadImport insert returned no row');
          await query(Prisma.sql`
            INSERT INTO "LeadImportRow" ("tenantId", "importId", "rowNumber", "cells")
            SELECT ${tenantId}::uuid, ${id}::uuid, "rowNumber", "cells" FROM import_rows`);
          view = {
            id,
            fileName: options.fileName ?? null,
            status: 'uploaded',
            rowCount: summary.rowCount,
            byteSize: summary.byteSize,
            checksum: summary.checksum,
            delimiter: csv.delimiter,
            header: csv.header,
            suggestedMapping: suggestMapping(csv.header, definitions),
            previousImportId: previous?.id ?? null,
          };
        },
      },
    );
    if (!view) throw new Error('import upload: the staging transaction did not finish');
    return view;
  }

  // ------------------------------------------------------------------- start ----

  /**
   * Starts the import's job (202): the mapping (the header's suggestion with the
   * caller's choices on top), what a row whose identity exists does, and for a file
   * imported before (same checksum), `confirm: true` (409 otherwise). Starting again
   * answers the same job.
   */
  async start(
    importId: string,
    body: StartImportBody,
  ): Promise<{ jobId: string; importId: string }> {
    const { tenantId, actor } = currentTenant('ImportService.start');
    const { jobId, enqueue } = await this.db.transaction(async () => {
      const [row] = await this.db.query<ImportRow>(Prisma.sql`
        SELECT ${IMPORT_COLUMNS} FROM "LeadImport" i
         WHERE i."tenantId" = ${tenantId}::uuid AND i."id" = ${importId}::uuid FOR UPDATE`);
      if (!row) throw new NotFoundError('import');
      if (row.status !== 'uploaded') {
        if (!row.jobId) throw new Error(`import ${importId} is ${row.status} without a job`);
        return { jobId: row.jobId, enqueue: row.status === 'queued' };
      }
      const definitions = await this.customFields.definitions();
      const { mapping } = resolveMapping(row.header, definitions, body.mapping ?? {});
      if (body.confirm !== true) {
        const [previous] = await this.db.query<{ id: string }>(
          previousImportSql(tenantId, row.checksum, importId),
        );
        if (previous) {
          throw new DomainError(
            ErrorCode.Conflict,
            'this file was imported before: start it with "confirm": true to import it again',
            { previousImportId: previous.id },
          );
        }
      }
      const { job } = await this.tracker.create(
        IMPORT_JOB_KIND,
        { importId, actor: { type: actor.type, id: actor.id.slice(0, 64) } },
        { idempotencyKey: importId, total: row.rowCount },
      );
      await this.db.query(Prisma.sql`
        UPDATE "LeadImport"
           SET "status" = 'queued', "mapping" = ${JSON.stringify(mapping)}::jsonb,
               "onExisting" = ${body.onExisting}::"ImportOnExisting", "jobId" = ${job.id}::uuid,
               "updatedAt" = now()
         WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${importId}::uuid`);
      return { jobId: job.id, enqueue: true };
    });
    if (enqueue) {
      // The job id dedupes in Redis: a start retried after a lost answer queues it once.
      await this.queue.enqueue(
        importJob,
        { tenantId, jobId, importId },
        { jobId: `lead-import-${jobId}` },
      );
    }
    return { jobId, importId };
  }

  // --------------------------------------------------------------- get, delete ----

  async get(importId: string): Promise<ImportView> {
    const { tenantId } = currentTenant('ImportService.get');
    const [row] = await this.db.query<
      ImportRow & {
        jobDone: number | null;
        jobTotal: number | null;
        jobCheckpoint: string | null;
        jobResult: Record<string, unknown> | null;
        jobError: string | null;
      }
    >(Prisma.sql`
      SELECT ${IMPORT_COLUMNS}, j."done" AS "jobDone", j."total" AS "jobTotal",
             j."checkpoint" AS "jobCheckpoint", j."result" AS "jobResult", j."error" AS "jobError"
        FROM "LeadImport" i
        LEFT JOIN "BackgroundJob" j ON j."tenantId" = i."tenantId" AND j."id" = i."jobId"
       WHERE i."tenantId" = ${tenantId}::uuid AND i."id" = ${importId}::uuid`);
    if (!row) throw new NotFoundError('import');
    const definitions = row.mapping ? [] : await this.customFields.definitions();
    const hasJob = row.jobId !== null && row.jobTotal !== null;
    return {
      id: row.id,
      fileName: row.fileName,
      status: row.status,
      rowCount: row.rowCount,
      byteSize: row.byteSize,
      checksum: row.checksum,
      delimiter: row.delimiter,
      header: row.header,
      suggestedMapping: row.mapping ?? suggestMapping(row.header, definitions),
      mapping: row.mapping,
      onExisting: row.onExisting,
      jobId: row.jobId,
      progress: hasJob ? { done: row.jobDone ?? 0, total: row.jobTotal ?? row.rowCount } : null,
      counts: hasJob ? countsOf(parseCheckpoint(row.jobCheckpoint)) : null,
      errorReportUrl: row.jobId ? `/v1/leads/imports/${row.id}/errors.csv` : null,
      error: row.jobError,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    };
  }

  /**
   * The import's rejected rows (rowNumber, field, reason, leadId) as CSV chunks, for
   * whoever may import (the job's report, which itself needs leads:read). 404 before the
   * import has started.
   */
  async errorReport(importId: string): Promise<AsyncIterable<string>> {
    const { tenantId } = currentTenant('ImportService.errorReport');
    const [row] = await this.db.query<{ jobId: string | null }>(Prisma.sql`
      SELECT "jobId"::text AS "jobId" FROM "LeadImport"
       WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${importId}::uuid`);
    if (!row) throw new NotFoundError('import');
    if (row.jobId === null) throw new NotFoundError('error report');
    return this.tracker.errorReportCsv(row.jobId);
  }

  /**
   * Deletes an import that is not running (its staged rows with it; the leads it
   * created stay). 409 while queued or running. Audited.
   */
  async remove(importId: string): Promise<void> {
    const { tenantId } = currentTenant('ImportService.remove');
    await this.db.transaction(
      async () => {
        await this.db.query(LONG_STATEMENTS);
        const [row] = await this.db.query<{ status: ImportStatus; rowCount: number }>(Prisma.sql`
          SELECT "status"::text AS "status", "rowCount" FROM "LeadImport"
           WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${importId}::uuid FOR UPDATE`);
        if (!row) throw new NotFoundError('import');
        if (row.status === 'queued' || row.status === 'running') {
          throw new DomainError(
            ErrorCode.Conflict,
            `the import is ${row.status}: wait until it has finished`,
            { status: row.status },
          );
        }
        await this.db.query(Prisma.sql`
          DELETE FROM "LeadImport" WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${importId}::uuid`);
        await this.audit.record({
          action: 'lead_import.deleted',
          targetType: 'lead_import',
          targetId: importId,
          metadata: { status: row.status, rows: row.rowCount },
        });
      },
      { timeoutMs: CHUNK_TIMEOUT_MS },
    );
  }

  // --------------------------------------------------------------------- run ----

  /**
   * Worker side: runs (or resumes) the job. Idempotent: each chunk commits its leads
   * with its checkpoint (the staged rows after it are the ones left), so a retried run goes on
   * after the last committed chunk and a finished one answers its result again.
   * Runs as the actor who started the import.
   */
  async run(
    payload: ImportJobPayload,
    info: { attempt?: number } = {},
  ): Promise<Record<string, unknown>> {
    const ctx = currentTenant('ImportService.run');
    const job = await this.tracker.start(payload.jobId);
    if (job.status === 'completed') {
      return (await this.tracker.get(payload.jobId)).result ?? {};
    }
    const params = job.params as { importId?: unknown; actor?: { type?: unknown; id?: unknown } };
    const actor: Actor =
      typeof params.actor?.id === 'string' &&
      typeof params.actor.type === 'string' &&
      ACTOR_TYPES.has(params.actor.type)
        ? { type: params.actor.type as Actor['type'], id: params.actor.id }
        : ctx.actor;
    try {
      const from = parseCheckpoint(job.checkpoint).lastRow;
      return await runWithTenant({ ...ctx, actor }, () => this.runAs(payload, from));
    } catch (e) {
      if ((info.attempt ?? 1) >= importJob.attempts) {
        await this.markFailed(payload, 'the import stopped on an internal error; ask support');
      }
      throw e;
    }
  }

  /** The run from the row after `from` (the checkpoint the job started with). */
  private async runAs(payload: ImportJobPayload, from: number): Promise<Record<string, unknown>> {
    const setup = await this.setup(payload);
    if (!setup) {
      const { tenantId } = currentTenant('ImportService.run');
      const [row] = await this.db.query<{ status: ImportStatus }>(Prisma.sql`
        SELECT "status"::text AS "status" FROM "LeadImport"
         WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${payload.importId}::uuid`);
      if (row?.status === 'completed') return (await this.tracker.get(payload.jobId)).result ?? {};
      // Deleted (or never started): nothing to import; the job says so.
      await this.tracker.fail(payload.jobId, 'the import no longer exists');
      return {};
    }
    // While a chunk's writes run in PostgreSQL, the next chunk is read and validated
    // (pure work in this process): the two overlap instead of taking turns.
    const prefetch = (after: number) => {
      const next = this.prepare(setup, after);
      next.catch(() => undefined); // awaited below; never an unhandled rejection
      return next;
    };
    let next = prefetch(from);
    for (;;) {
      const chunk = await next;
      if (!chunk) break;
      next = prefetch(chunk.lastRow);
      const written = await this.db.transaction(() => this.writeChunk(setup, chunk), {
        timeoutMs: CHUNK_TIMEOUT_MS,
      });
      // Another delivery of this job wrote that chunk meanwhile: go on from where it is.
      if (!written) next = prefetch(await this.checkpointOf(setup.jobId));
    }
    return this.finish(setup);
  }

  /** The import, its mapping and the tenant's stages, members and custom fields. */
  private async setup(payload: ImportJobPayload): Promise<RunSetup | null> {
    const { tenantId } = currentTenant('ImportService.setup');
    const [row] = await this.db.query<ImportRow>(Prisma.sql`
      UPDATE "LeadImport" i SET "status" = 'running', "updatedAt" = now()
       WHERE i."tenantId" = ${tenantId}::uuid AND i."id" = ${payload.importId}::uuid
         AND i."status" IN ('queued', 'running')
      RETURNING ${IMPORT_COLUMNS}`);
    if (!row?.mapping || !row.onExisting) return null;
    const mapping = row.mapping;
    const [definitions, stages, members, [defaultStage], rules] = await Promise.all([
      this.customFields.definitions(),
      this.pipeline.stages({ includeArchived: true }),
      this.db.query<{ userId: string; email: string }>(Prisma.sql`
        SELECT m."userId"::text AS "userId", lower(u."email") AS "email"
          FROM "Membership" m JOIN "User" u ON u."id" = m."userId"
         WHERE m."tenantId" = ${tenantId}::uuid`),
      this.db.query<{ id: string }>(
        Prisma.sql`SELECT ibhq_default_stage(${tenantId}::uuid)::text AS "id"`,
      ),
      this.assignment.rules(),
    ]);
    if (!defaultStage) throw new Error('the tenant has no stage for new leads');
    const stageMap = new Map<string, { id: string; archived: boolean }>();
    for (const s of stages) {
      const entry = { id: s.id, archived: s.archivedAt !== null };
      stageMap.set(s.id.toLowerCase(), entry);
      stageMap.set(s.name.toLowerCase(), entry);
    }
    const columns = columnsOf(row.header, mapping);
    return {
      jobId: payload.jobId,
      importId: payload.importId,
      onExisting: row.onExisting,
      columns,
      ctx: {
        definitions,
        stages: stageMap,
        members: new Set(members.map((m) => m.userId)),
        memberEmails: new Map(members.map((m) => [m.email, m.userId])),
      },
      defaultStageId: defaultStage.id,
      assigned: new Set(rules.filter((r) => r.memberIds.length > 0).map((r) => r.source)),
      usernames: await this.usernamesOf(payload.importId, columns.indexOf('telegramUsername')),
    };
  }

  /** The file's usernames that leads hold, and the ones it repeats. */
  private async usernamesOf(importId: string, column: number): Promise<UsernameIndex> {
    const index: UsernameIndex = { existing: new Map(), repeated: new Set(), written: new Map() };
    if (column < 0) return index;
    const { tenantId } = currentTenant('ImportService.usernamesOf');
    const key = usernameKeySql(Prisma.sql`(r."cells" ->> ${column}::int)`);
    const file = Prisma.sql`SELECT ${key} AS "k" FROM "LeadImportRow" r
       WHERE r."tenantId" = ${tenantId}::uuid AND r."importId" = ${importId}::uuid
         AND r."rowNumber" > 0 AND (r."cells" ->> ${column}::int) <> ''`;
    // One read of the file's usernames: the ones leads hold (a hash join whatever the,
    // during imports stale, statistics say: a nested loop would compare every username
    // of the file with every lead of the tenant), and the ones the file repeats.
    const [found] = await this.db.rawTransaction(async (query) => {
      await query(LONG_STATEMENTS);
      await query(Prisma.sql`SELECT set_config('enable_nestloop', 'off', true)`);
      return query<{ pairs: string; keys: string }>(Prisma.sql`
      WITH f AS (SELECT s."k", count(*) AS "n" FROM (${file}) s GROUP BY s."k")
      SELECT (SELECT COALESCE(json_agg(json_build_array(f."k", l."id")), '[]')
                FROM f JOIN "Lead" l ON lower(l."telegramUsername"::text) = f."k"
               WHERE l."tenantId" = ${tenantId}::uuid AND l."telegramUsername" IS NOT NULL
                 AND l."mergedIntoId" IS NULL)::text AS "pairs",
             (SELECT COALESCE(json_agg(f."k"), '[]') FROM f WHERE f."n" > 1)::text AS "keys"`);
    });
    for (const [k, id] of JSON.parse(found?.pairs ?? '[]') as [string, string][]) {
      index.existing.set(k, id);
    }
    for (const k of JSON.parse(found?.keys ?? '[]') as string[]) index.repeated.add(k);
    return index;
  }

  /** The last row a committed chunk did. */
  private async checkpointOf(jobId: string): Promise<number> {
    const { tenantId } = currentTenant('ImportService.checkpointOf');
    const [job] = await this.db.query<{ checkpoint: string | null }>(Prisma.sql`
      SELECT "checkpoint" FROM "BackgroundJob"
       WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${jobId}::uuid`);
    if (!job) throw new NotFoundError('job');
    return parseCheckpoint(job.checkpoint).lastRow;
  }

  /**
   * The staged rows after `after` (a chunk), validated: the good ones as lead fields,
   * the bad ones as errors. Staged rows change only when a chunk commits, so this
   * runs outside the chunk's transaction. Null when no row is left.
   */
  private async prepare(setup: RunSetup, after: number): Promise<Chunk | null> {
    const { tenantId } = currentTenant('ImportService.prepare');
    const [read] = await this.db.query<{ rows: string }>(Prisma.sql`
      SELECT COALESCE(json_agg(json_build_array(r."rowNumber", r."cells") ORDER BY r."rowNumber"),
                      '[]')::text AS "rows"
        FROM (SELECT "rowNumber", "cells" FROM "LeadImportRow"
               WHERE "tenantId" = ${tenantId}::uuid AND "importId" = ${setup.importId}::uuid
                 AND "rowNumber" > ${after}::int
               ORDER BY "rowNumber" LIMIT ${this.chunkRows}::int) r`);
    const staged = JSON.parse(read?.rows ?? '[]') as [number, unknown][];
    const last = staged.at(-1);
    if (!last) return null;
    const chunk: Chunk = {
      after,
      lastRow: last[0],
      size: staged.length,
      valid: [],
      errors: [],
      failedRows: new Set(),
    };
    for (const [rowNumber, cells] of staged) {
      const result = validateRow(cells, setup.columns, setup.ctx);
      if (result.ok) chunk.valid.push({ rowNumber, lead: result.lead });
      else failRow(chunk, rowNumber, result.problems);
    }
    return chunk;
  }

  /**
   * One chunk's writes, in the caller's transaction, under a lock on the job row (two
   * deliveries of one job never write a chunk twice: false when the checkpoint is no
   * longer where the chunk starts). The rows are matched to existing leads, the leads
   * created and updated set-based, the errors, counts and checkpoint recorded. The
   * staged rows stay until the end (finish): deleting each chunk's would leave the next
   * chunk's read to step over every dead row before it, longer with every chunk.
   */
  private async writeChunk(setup: RunSetup, chunk: Chunk): Promise<boolean> {
    const { tenantId } = currentTenant('ImportService.writeChunk');
    await this.db.query(LONG_STATEMENTS);
    const [job] = await this.db.query<{ checkpoint: string | null }>(Prisma.sql`
      SELECT "checkpoint" FROM "BackgroundJob"
       WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${setup.jobId}::uuid FOR UPDATE`);
    if (!job) throw new NotFoundError('job');
    const at = parseCheckpoint(job.checkpoint);
    if (at.lastRow !== chunk.after) return false;

    const existing = await this.existingLeads(
      chunk.valid,
      setup.onExisting === 'update',
      setup.usernames,
    );
    const plan = planChunk(chunk.valid, existing, {
      onExisting: setup.onExisting,
      ctx: setup.ctx,
      defaultStageId: setup.defaultStageId,
      newId: uuidv7,
    });
    const errors = [...chunk.errors];
    const failedRows = new Set(chunk.failedRows);
    for (const f of plan.failures) failRow({ errors, failedRows }, f.rowNumber, f.problems);

    const refused = await this.writeCreates(setup, plan.creates);
    for (const c of refused) {
      failRow({ errors, failedRows }, c.rowNumber, [
        { field: null, reason: 'an identity of this row is taken by another lead' },
      ]);
    }
    await this.writeUpdates(setup, plan.updates);

    const next: Checkpoint = {
      lastRow: chunk.lastRow,
      created: at.created + plan.created - refused.length,
      updated: at.updated + plan.updated,
      skipped: at.skipped + plan.skipped,
      failed: at.failed + failedRows.size,
    };
    errors.sort((a, b) => (a.rowNumber ?? 0) - (b.rowNumber ?? 0));
    await this.tracker.progress(
      setup.jobId,
      { done: chunk.size, failed: failedRows.size, checkpoint: checkpointText(next) },
      errors,
    );
    return true;
  }

  /**
   * The live leads holding any identity of the rows; locked, with their tags, when
   * the rows may update them. The identities travel as one JSON parameter (a few
   * thousand values cost next to nothing that way).
   */
  private async existingLeads(
    rows: readonly { lead: ImportedLead }[],
    forUpdate: boolean,
    usernameIndex: UsernameIndex,
  ): Promise<ExistingLead[]> {
    const { tenantId } = currentTenant('ImportService.existingLeads');
    const ids = new Set<string>();
    const usernames = new Set<string>();
    const phones = new Set<string>();
    const emails = new Set<string>();
    for (const { lead } of rows) {
      if (lead.telegramUserId) ids.add(lead.telegramUserId);
      if (lead.telegramUsername) {
        const k = lead.telegramUsername.toLowerCase();
        const id = usernameIndex.existing.get(k) ?? usernameIndex.written.get(k);
        if (id) usernames.add(id);
      }
      if (lead.phone) phones.add(lead.phone);
      if (lead.email) emails.add(lead.email);
    }
    if (ids.size + usernames.size + phones.size + emails.size === 0) return [];
    // One probe of the identity's unique index per key (LATERAL ... LIMIT 1 keeps it a
    // probe). The tenant is hidden from the planner behind a sub-select: during a big
    // import into a new tenant the statistics say the tenant has no leads, and a plan
    // built on that walks all of its leads (an index on tenantId alone) for every key,
    // so that each chunk took longer than the one before (12 s per 2,000 rows at 16,000
    // leads). Without the value the planner takes the average tenant, and the identity's
    // unique index.
    const tenant = Prisma.sql`(SELECT ${tenantId}::uuid)`;
    const arm = (column: string, type: string, values: ReadonlySet<string>) =>
      Prisma.sql`SELECT m."id" FROM jsonb_array_elements_text(${JSON.stringify([...values])}::jsonb) AS k("v")
                 CROSS JOIN LATERAL (
                   SELECT l2."id" FROM "Lead" l2
                    WHERE l2."tenantId" = ${tenant}
                      AND l2.${Prisma.raw(`"${column}"`)} = k."v"::${Prisma.raw(type)}
                    LIMIT 1) m`;
    const arms = [
      ids.size > 0 ? arm('telegramUserId', 'bigint', ids) : null,
      usernames.size > 0
        ? Prisma.sql`SELECT (jsonb_array_elements_text(${JSON.stringify([...usernames])}::jsonb))::uuid`
        : null,
      phones.size > 0 ? arm('phone', 'text', phones) : null,
      emails.size > 0 ? arm('email', 'text', emails) : null,
    ].filter((a): a is Prisma.Sql => a !== null);
    const tags = forUpdate
      ? Prisma.sql`COALESCE((SELECT array_agg(t."name"::text ORDER BY t."name")
          FROM "LeadTag" lt JOIN "Tag" t ON t."tenantId" = lt."tenantId" AND t."id" = lt."tagId"
         WHERE lt."tenantId" = l."tenantId" AND lt."leadId" = l."id"), '{}')`
      : Prisma.sql`'{}'::text[]`;
    const [found] = await this.db.query<{ leads: string }>(Prisma.sql`
      SELECT COALESCE(json_agg(x), '[]')::text AS "leads" FROM (
        SELECT l."id", l."displayName", l."telegramUserId"::text AS "telegramUserId",
               l."telegramUsername"::text AS "telegramUsername", l."phone", l."phoneNational",
               l."email", l."emailLocal"::text AS "emailLocal", l."language", l."country",
               l."source"::text AS "source", l."ownerId", l."stageId", l."customFields",
               ${tags} AS "tags"
          FROM "Lead" l
         WHERE l."tenantId" = ${tenant} AND l."mergedIntoId" IS NULL
           AND l."id" IN (${Prisma.join(arms, ' UNION ')})
        ${forUpdate ? Prisma.sql`FOR UPDATE OF l` : Prisma.empty}) x`);
    return JSON.parse(found?.leads ?? '[]') as ExistingLead[];
  }

  /**
   * New leads, their tags and a 'created' activity each: one statement over the
   * chunk's leads as one JSON parameter (after TagsService made the tags).
   */
  private async writeCreates(
    setup: RunSetup,
    creates: readonly PlannedCreate[],
  ): Promise<PlannedCreate[]> {
    if (creates.length === 0) return [];
    const { tenantId, actor } = currentTenant('ImportService.writeCreates');
    for (const create of creates) {
      // Round-robin turns, only for sources that have a rule (one statement each).
      if (create.state.ownerId === null && setup.assigned.has(create.state.source)) {
        create.state.ownerId = await this.assignment.nextOwner(create.state.source);
      }
    }
    await this.tags.ensure(
      creates.flatMap((c) => c.state.tags),
      'tags',
    );
    const input = JSON.stringify(
      creates.map((c) => ({
        ...c.state,
        id: c.id,
        rowNumber: c.rowNumber,
        searchText: searchTextOf(c.state),
      })),
    );
    // ON CONFLICT DO NOTHING: an identity taken by a lead the lookup did not find (one
    // written meanwhile) refuses that row only; the caller reports it.
    const [result] = await this.db.query<{ ids: string }>(Prisma.sql`
      WITH "input" AS (
        SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS r(
          "id" uuid, "rowNumber" int, "displayName" text, "telegramUserId" bigint,
          "telegramUsername" text, "phone" text, "phoneNational" text, "email" text,
          "emailLocal" text, "language" text, "country" text, "source" text, "ownerId" uuid,
          "stageId" uuid, "customFields" jsonb, "searchText" text, "tags" text[])
      ), "leads" AS (
        INSERT INTO "Lead" ("tenantId", "id", "displayName", "telegramUserId", "telegramUsername",
          "phone", "phoneNational", "email", "emailLocal", "language", "country", "source",
          "ownerId", "stageId", "customFields", "searchText", "updatedAt")
        SELECT ${tenantId}::uuid, i."id", i."displayName", i."telegramUserId", i."telegramUsername",
               i."phone", i."phoneNational", i."email", i."emailLocal", i."language", i."country",
               i."source"::"LeadSource", i."ownerId", i."stageId", i."customFields", i."searchText",
               now()
          FROM "input" i
        ON CONFLICT DO NOTHING
        RETURNING "id"
      ), "activities" AS (
        INSERT INTO "LeadActivity" ("tenantId", "id", "leadId", "kind", "data", "actorType",
                                    "actorId", "createdAt")
        SELECT ${tenantId}::uuid, ibhq_uuidv7(), i."id", 'created',
               jsonb_build_object('source', i."source", 'importId', ${setup.importId}::text,
                                  'rowNumber', i."rowNumber"),
               ${actor.type}::"AuditActorType", ${actor.id.slice(0, 64)}, now()
          FROM "input" i JOIN "leads" USING ("id")
      ), "tags" AS (
        INSERT INTO "LeadTag" ("tenantId", "leadId", "tagId")
        SELECT ${tenantId}::uuid, i."id", t."id"
          FROM "input" i JOIN "leads" USING ("id")
          CROSS JOIN LATERAL unnest(i."tags") AS n("name")
          JOIN "Tag" t ON t."tenantId" = ${tenantId}::uuid AND t."name" = n."name"::citext
        ON CONFLICT DO NOTHING
      )
      SELECT COALESCE(json_agg("id"), '[]')::text AS "ids" FROM "leads"`);
    const inserted = new Set(JSON.parse(result?.ids ?? '[]') as string[]);
    for (const c of creates) this.noteUsername(setup, c.state.telegramUsername, c.id);
    return creates.filter((c) => !inserted.has(c.id));
  }

  /** A username the file repeats, now held by `leadId`: later rows find it. */
  private noteUsername(setup: RunSetup, username: string | null, leadId: string): void {
    const key = username?.toLowerCase();
    if (key !== undefined && setup.usernames.repeated.has(key)) {
      setup.usernames.written.set(key, leadId);
    }
  }

  /** Changed leads: one UPDATE, added tags, stage moves, owner and field changes. */
  private async writeUpdates(setup: RunSetup, updates: readonly PlannedUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    const { tenantId } = currentTenant('ImportService.writeUpdates');
    const diffs = updates.map((u) => ({ id: u.before.id, diff: u.diff }));
    await this.tags.ensure(
      diffs.flatMap((d) => d.diff.tagsAdded),
      'tags',
    );
    const input = JSON.stringify(
      updates.map((u, i) => ({
        ...u.state,
        id: u.before.id,
        searchText: searchTextOf(u.state),
        tags: diffs[i]?.diff.tagsAdded ?? [],
      })),
    );
    await this.db.query(Prisma.sql`
      WITH "input" AS (
        SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS r(
          "id" uuid, "displayName" text, "telegramUserId" bigint, "telegramUsername" text,
          "phone" text, "phoneNational" text, "email" text, "emailLocal" text, "language" text,
          "country" text, "source" text, "ownerId" uuid, "stageId" uuid, "customFields" jsonb,
          "searchText" text, "tags" text[])
      ), "updated" AS (
        UPDATE "Lead" l
           SET "displayName" = u."displayName", "telegramUserId" = u."telegramUserId",
               "telegramUsername" = u."telegramUsername", "phone" = u."phone",
               "phoneNational" = u."phoneNational", "email" = u."email", "emailLocal" = u."emailLocal",
               "language" = u."language", "country" = u."country",
               "source" = u."source"::"LeadSource", "ownerId" = u."ownerId",
               "stageChangedAt" = CASE WHEN l."stageId" IS DISTINCT FROM u."stageId" THEN now()
                                       ELSE l."stageChangedAt" END,
               "stageId" = u."stageId", "customFields" = u."customFields",
               "searchText" = u."searchText", "version" = l."version" + 1, "updatedAt" = now()
          FROM "input" u
         WHERE l."tenantId" = (SELECT ${tenantId}::uuid) AND l."id" = u."id"
        RETURNING l."id"
      )
      INSERT INTO "LeadTag" ("tenantId", "leadId", "tagId")
      SELECT ${tenantId}::uuid, i."id", t."id"
        FROM "input" i CROSS JOIN LATERAL unnest(i."tags") AS n("name")
        JOIN "Tag" t ON t."tenantId" = ${tenantId}::uuid AND t."name" = n."name"::citext
      ON CONFLICT DO NOTHING`);

    for (const u of updates) this.noteUsername(setup, u.state.telegramUsername, u.before.id);
    const moves: StageMove[] = diffs.flatMap(({ id, diff }) =>
      diff.stage ? [{ leadId: id, fromStageId: diff.stage.from, toStageId: diff.stage.to }] : [],
    );
    await this.pipeline.recordMoves(moves);
    const activities: NewActivity[] = [];
    for (const { id, diff } of diffs) {
      const changes: Record<string, unknown> = { ...diff.fields };
      if (diff.tagsAdded.length > 0) changes.tags = { added: diff.tagsAdded, removed: [] };
      if (Object.keys(changes).length > 0) {
        activities.push({
          leadId: id,
          kind: 'fields_changed',
          data: { changes, importId: setup.importId },
        });
      }
      if (diff.owner) {
        activities.push({
          leadId: id,
          kind: 'owner_changed',
          data: { from: diff.owner.from, to: diff.owner.to, importId: setup.importId },
        });
      }
    }
    await this.timeline.record(activities);
  }

  /** The end: the job's result, the import completed, one audit event (once). */
  private async finish(setup: RunSetup): Promise<Record<string, unknown>> {
    const { tenantId } = currentTenant('ImportService.finish');
    return this.db.transaction(
      async () => {
        const [row] = await this.db.query<{ status: ImportStatus; rowCount: number }>(Prisma.sql`
        SELECT "status"::text AS "status", "rowCount" FROM "LeadImport"
         WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${setup.importId}::uuid FOR UPDATE`);
        const [job] = await this.db.query<{ checkpoint: string | null }>(Prisma.sql`
        SELECT "checkpoint" FROM "BackgroundJob"
         WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${setup.jobId}::uuid FOR UPDATE`);
        const result: Record<string, unknown> = {
          importId: setup.importId,
          ...countsOf(parseCheckpoint(job?.checkpoint ?? null)),
        };
        if (!row || row.status === 'completed') return result;
        await this.db.query(LONG_STATEMENTS);
        await this.db.query(Prisma.sql`
        DELETE FROM "LeadImportRow"
         WHERE "tenantId" = ${tenantId}::uuid AND "importId" = ${setup.importId}::uuid`);
        await this.tracker.complete(setup.jobId, result);
        await this.db.query(Prisma.sql`
        UPDATE "LeadImport" SET "status" = 'completed', "updatedAt" = now()
         WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${setup.importId}::uuid`);
        await this.audit.record({
          action: 'lead.imported',
          targetType: 'lead_import',
          targetId: setup.importId,
          metadata: {
            ...result,
            jobId: setup.jobId,
            rows: row.rowCount,
            onExisting: setup.onExisting,
          },
        });
        return result;
      },
      { timeoutMs: CHUNK_TIMEOUT_MS },
    );
  }

  private async markFailed(payload: ImportJobPayload, message: string): Promise<void> {
    const { tenantId } = currentTenant('ImportService.markFailed');
    try {
      await this.db.transaction(async () => {
        await this.tracker.fail(payload.jobId, message);
        await this.db.query(Prisma.sql`
          UPDATE "LeadImport" SET "status" = 'failed', "updatedAt" = now()
           WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${payload.importId}::uuid
             AND "status" <> 'completed'`);
      });
    } catch (e) {
      this.logger.error({ err: e, importId: payload.importId }, 'could not mark the import failed');
    }
  }
}
