import { createHash } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { AuditService } from '@ibhq/audit';
import {
  currentTenant,
  DomainError,
  ErrorCode,
  isUuid,
  runWithTenant,
  ValidationError,
  type FieldProblem,
} from '@ibhq/core';
import { isDatabaseUnavailable, Prisma, TenantDb } from '@ibhq/db';
import { JobQueue, JobTracker, type JobErrorInput, type JobView } from '@ibhq/jobs';
import {
  BULK_MAX_LEADS,
  bulkBody,
  bulkJobParams,
  idempotencyKeyHeader,
  type BulkAccepted,
  type BulkBody,
  type BulkJobParams,
  type StoredUpdate,
} from './bulk.dto.js';
import { AssignmentService } from './assignment.service.js';
import { applyCustomFieldValues } from './custom-fields.js';
import { CustomFieldsService } from './custom-fields.service.js';
import { LEAD_SEARCH_SETTINGS_SQL, leadFilterSql, type LeadFilter } from './lead-filter.js';
import { databaseErrorOf, handOverLeads } from './lead-input.js';
import { bulkJob, type BulkJobPayload } from './leads.jobs.js';
import { PipelineService, type StageMove } from './pipeline.service.js';
import { normaliseTagNames, TagsService } from './tags.service.js';
import { TimelineService, type NewActivity } from './timeline.service.js';

/** BackgroundJob.kind of bulk work (one kind: an Idempotency-Key names one job). */
export const BULK_JOB_KIND = 'leads.bulk';
/** Leads per chunk: one transaction, set-based statements. */
const CHUNK = 2_000;
/** Chunks in flight at once (each on its own connection; they commit in order). */
const PARALLEL = 2;
/** Longest a chunk's transaction may stay open. */
const CHUNK_TIMEOUT_MS = 120_000;
/** The audit event keeps the filter when it is this small (the event holds at most 8 KiB). */
const AUDIT_FILTER_MAX_BYTES = 4_096;

type Target = BulkJobParams['target'];
type StoredAction = BulkJobParams['action'];

/** Where the work stands: the last lead id handled and how many leads were changed. */
interface Position {
  readonly after: string | null;
  readonly changed: number;
  /** The stored checkpoint that says so (null before the first chunk). */
  readonly checkpoint: string | null;
}

type Settled = { readonly ok: true; readonly position: Position } | { readonly ok: false };

/** A chunk rolled back because the one before it failed (not a failure of its own). */
class ChunkAborted extends Error {
  constructor() {
    super('the previous chunk failed');
  }
}

interface ChunkOutcome {
  /** Leads of the target that were processed (changed or already as asked). */
  readonly done: number;
  /** Leads that were changed (updated or deleted). */
  readonly changed: number;
  readonly errors: JobErrorInput[];
}

/** What the update changes on one lead. */
interface LeadChange {
  readonly row: CurrentRow;
  readonly stage: boolean;
  readonly owner: boolean;
  readonly fields: Record<string, { from: unknown; to: unknown }>;
  readonly tags: TagChange | undefined;
}

/** A lead as it is before the update (locked). */
interface CurrentRow {
  id: string;
  version: number;
  stageId: string;
  ownerId: string | null;
  /** Only read when the action changes custom fields. */
  customFields: Record<string, unknown> | null;
}

interface TagChange {
  leadId: string;
  added: string[];
  removed: string[];
}

/**
 * Bulk update and bulk delete of leads, by ids or by the list's filter, as a
 * background job: the API validates and counts (`submit`), the worker does the work
 * in chunks (`run`), resumable and idempotent.
 *
 * The schemas the API validates with are reachable here too (`BulkService.body`,
 * ...) for the controller, besides their export from bulk.dto.ts.
 */
@Injectable()
export class BulkService {
  static readonly body = bulkBody;
  static readonly idempotencyKey = idempotencyKeyHeader;

  private readonly logger = new Logger(BulkService.name);

  constructor(
    private readonly db: TenantDb,
    private readonly tracker: JobTracker,
    private readonly queue: JobQueue,
    private readonly pipeline: PipelineService,
    private readonly tags: TagsService,
    private readonly timeline: TimelineService,
    private readonly customFields: CustomFieldsService,
    private readonly audit: AuditService,
    private readonly assignment: AssignmentService,
  ) {}

  // -------------------------------------------------------------------------
  // API side
  // -------------------------------------------------------------------------

  /**
   * Validates the action (400 naming the field), counts the target (more than
   * 100,000 leads: 400 saying how many matched), records the job and queues it.
   * With an idempotency key already used for the same request: that job, nothing
   * started twice (`created: false`); used for another request: 409.
   */
  async submit(
    body: BulkBody,
    options: { idempotencyKey?: string } = {},
  ): Promise<{ accepted: BulkAccepted; created: boolean }> {
    const ctx = currentTenant('BulkService.submit');
    const requestHash = hashOf(body);
    const key = options.idempotencyKey;
    if (key !== undefined) {
      const existing = await this.tracker.find(BULK_JOB_KIND, key);
      if (existing) return this.replay(existing.job, existing.params, requestHash);
    }

    const action = await this.validateAction(body.action);
    const target: Target = body.target.ids
      ? { ids: [...new Set(body.target.ids.map((id) => id.toLowerCase()))].sort() }
      : { filter: body.target.filter ?? {} };
    const total = await this.count(target);
    if (total > BULK_MAX_LEADS) {
      throw new ValidationError([
        {
          field: 'body.target.filter',
          message: `matches ${String(total)} leads; at most ${String(BULK_MAX_LEADS)} can be changed in one call: narrow the filter`,
        },
      ]);
    }
    const params: BulkJobParams = {
      target,
      action,
      actor: { type: ctx.actor.type, id: ctx.actor.id },
      client: {
        ...(ctx.client?.ip === undefined ? {} : { ip: ctx.client.ip }),
        ...(ctx.client?.userAgent === undefined ? {} : { userAgent: ctx.client.userAgent }),
      },
      ...(ctx.leadOwnerScope === undefined ? {} : { leadOwnerScope: ctx.leadOwnerScope }),
      requestHash,
    };
    const { job, created } = await this.tracker.create(BULK_JOB_KIND, params, {
      ...(key === undefined ? {} : { idempotencyKey: key }),
      total,
    });
    if (!created) {
      // A concurrent request with the same key won the race.
      const existing = key === undefined ? null : await this.tracker.find(BULK_JOB_KIND, key);
      return this.replay(job, existing?.params ?? {}, requestHash);
    }
    // Without a key nobody can retry this job: if Redis refuses it, it is marked failed.
    await this.enqueue(job.id, key === undefined);
    return { accepted: { jobId: job.id, total, status: job.status }, created: true };
  }

  /** The answer to a retried request: the same job, queued again if it never started. */
  private async replay(
    job: JobView,
    params: Record<string, unknown>,
    requestHash: string,
  ): Promise<{ accepted: BulkAccepted; created: boolean }> {
    if (params.requestHash !== requestHash) {
      throw new DomainError(
        ErrorCode.Conflict,
        'this Idempotency-Key was already used for a different bulk request',
        { jobId: job.id },
      );
    }
    // Queued but perhaps never handed to Redis (the first try failed there): queue it
    // again. The queue's job id is the job's id, so a job still waiting is not doubled.
    if (job.status === 'queued') await this.enqueue(job.id, false);
    return {
      accepted: { jobId: job.id, total: job.total, status: job.status },
      created: false,
    };
  }

  private async enqueue(jobId: string, failIfNotQueued: boolean): Promise<void> {
    const { tenantId } = currentTenant();
    try {
      await this.queue.enqueue(bulkJob, { tenantId, jobId }, { jobId });
    } catch (e) {
      if (failIfNotQueued) {
        await this.tracker.fail(jobId, 'the job could not be queued: try again').catch(() => {
          // Left queued: nothing runs it, and nothing was changed.
        });
      }
      throw e;
    }
  }

  /** The action with every value checked now, so that the job cannot fail on it later. */
  private async validateAction(action: BulkBody['action']): Promise<StoredAction> {
    if (action.type === 'delete') return { type: 'delete' };
    const { set } = action;
    const problems: FieldProblem[] = [];
    const out: {
      -readonly [K in keyof StoredUpdate]: StoredUpdate[K];
    } = { type: 'update' };

    if (set.stageId !== undefined) {
      try {
        const stage = await this.pipeline.usable(set.stageId, 'body.action.set.stageId');
        out.stageId = stage.id;
      } catch (e) {
        if (!(e instanceof ValidationError)) throw e;
        problems.push(...e.fields);
      }
    }
    if (set.ownerId !== undefined) {
      if (set.ownerId === null) {
        out.ownerId = null;
      } else {
        const refused = await this.assignment.nonMembers(
          [set.ownerId],
          () => 'body.action.set.ownerId',
        );
        if (refused.length === 0) out.ownerId = set.ownerId.toLowerCase();
        else problems.push(...refused);
      }
    }
    const collect = <T>(fn: () => T): T | undefined => {
      try {
        return fn();
      } catch (e) {
        if (!(e instanceof ValidationError)) throw e;
        problems.push(...e.fields);
        return undefined;
      }
    };
    if (set.addTags !== undefined) {
      const add = set.addTags;
      out.addTags = collect(() => normaliseTagNames(add, 'body.action.set.addTags'));
    }
    if (set.removeTags !== undefined) {
      const remove = set.removeTags;
      out.removeTags = collect(() => normaliseTagNames(remove, 'body.action.set.removeTags'));
    }
    if (out.addTags && out.removeTags) {
      const added = new Set(out.addTags.map((t) => t.toLowerCase()));
      const both = out.removeTags.filter((t) => added.has(t.toLowerCase()));
      if (both.length > 0) {
        problems.push({
          field: 'body.action.set.removeTags',
          message: `cannot also be in addTags: ${both.map((t) => `"${t}"`).join(', ')}`,
        });
      }
    }
    if (set.customFields !== undefined) {
      const changes = set.customFields;
      const definitions = await this.customFields.definitions();
      const values = collect(() =>
        applyCustomFieldValues(definitions, {}, changes, {
          field: 'body.action.set.customFields',
          complete: false,
        }),
      );
      if (values) {
        const removed = Object.keys(changes).filter((k) => !(k in values));
        if (Object.keys(values).length > 0) out.setFields = values;
        if (removed.length > 0) out.removeFields = removed;
      }
    }
    if (problems.length > 0) throw new ValidationError(problems);
    return out;
  }

  /** How many leads the target names (ids: each distinct id; filter: the matches now). */
  private async count(target: Target): Promise<number> {
    if ('ids' in target) return target.ids.length;
    const { filter } = target;
    return this.db.transaction(async () => {
      if (filter.q !== undefined) await this.db.query(LEAD_SEARCH_SETTINGS_SQL);
      const [row] = await this.db.query<{ count: number }>(Prisma.sql`
        SELECT count(*)::int AS "count" FROM "Lead" l WHERE ${leadFilterSql(filter)}`);
      return row?.count ?? 0;
    });
  }

  // -------------------------------------------------------------------------
  // Worker side
  // -------------------------------------------------------------------------

  /**
   * Runs (or resumes) the job. Idempotent: every chunk commits with its progress and
   * checkpoint, so a retry continues after the last committed chunk; a finished job
   * answers its result and changes nothing; and each change is written only where
   * it changes something, so even work done twice changes nothing twice.
   */
  async run(payload: BulkJobPayload): Promise<Record<string, unknown>> {
    const started = await this.tracker.start(payload.jobId);
    if (started.status === 'completed' || started.status === 'failed') {
      return (await this.tracker.get(payload.jobId)).result ?? {};
    }
    if (started.kind !== BULK_JOB_KIND) {
      throw new Error(`job ${payload.jobId} is a ${started.kind} job, not bulk work`);
    }
    const parsed = bulkJobParams.safeParse(started.params);
    if (!parsed.success) {
      await this.tracker.fail(payload.jobId, 'the job parameters are not readable');
      throw new Error(`bulk job ${payload.jobId}: unreadable params`);
    }
    const params = parsed.data;
    const ctx = currentTenant('BulkService.run');
    // The caller's identity and row-level security scope: an agent who sees only
    // their own leads stays confined in the worker too.
    return runWithTenant(
      {
        tenantId: ctx.tenantId,
        actor: params.actor,
        client: params.client,
        ...(ctx.requestId === undefined ? {} : { requestId: ctx.requestId }),
        ...(params.leadOwnerScope === undefined ? {} : { leadOwnerScope: params.leadOwnerScope }),
      },
      () => this.execute(payload.jobId, params, started.checkpoint),
    );
  }

  /**
   * The job will not be tried again (its last try failed): marked failed for the
   * caller; the chunks committed so far stay done. Never throws.
   */
  async stopped(jobId: string): Promise<void> {
    try {
      await this.tracker.fail(
        jobId,
        'the bulk job stopped after repeated failures; the leads done so far stay done',
      );
    } catch (e) {
      this.logger.error({ err: e, jobId }, 'could not mark the bulk job failed');
    }
  }

  private async execute(
    jobId: string,
    params: BulkJobParams,
    checkpoint: string | null,
  ): Promise<Record<string, unknown>> {
    let position = parseCheckpoint(checkpoint);
    const { target, action } = params;
    if (action.type === 'update' && action.addTags && action.addTags.length > 0) {
      // Created once, committed, before chunks run side by side: two chunks never
      // race to create the same tag (the second would wait on the first).
      await this.tags.ensure(action.addTags, 'body.action.set.addTags');
    }
    for (;;) {
      const run = await this.runChunks(jobId, target, action, position);
      position = run.position;
      if (run.failure === undefined) break;
      if (isTransient(run.failure)) throw run.failure;
      // Something in the chunk after the last committed one failed: that chunk alone,
      // lead by lead if need be, then side by side again.
      this.logger.warn({ err: run.failure, jobId }, 'bulk chunk failed: retrying it alone');
      const candidates = 'ids' in target ? nextIds(target.ids, position.after, CHUNK) : null;
      if (candidates !== null && candidates.length === 0) break;
      const step = await this.chunkAlone(jobId, target, action, position, candidates);
      if (!step) break;
      position = step.position;
      if (!step.more) break;
    }
    return this.finish(jobId, params, position.changed);
  }

  /**
   * Runs the chunks from `start` to the end of the target, PARALLEL at a time (each in
   * its own transaction and connection): a chunk selects and locks its leads as soon
   * as the previous one has selected its own, does its work, then waits for the
   * previous chunk to commit before it records its progress and commits. Chunks thus
   * commit in order, and the checkpoint always means "everything before it is done".
   * A failing chunk makes the ones after it roll back; the answer is then the position
   * after the last committed chunk and the failure.
   */
  private async runChunks(
    jobId: string,
    target: Target,
    action: StoredAction,
    start: Position,
  ): Promise<{ position: Position; failure?: Error }> {
    // Written by the chunks as they settle (in order: each waits for the one before).
    const state: { committed: Position; failure?: Error } = { committed: start };
    let previous: Promise<Settled> = Promise.resolve({ ok: true, position: start });
    const flights: Promise<Settled>[] = [];
    let after = start.after;
    for (;;) {
      const candidates = 'ids' in target ? nextIds(target.ids, after, CHUNK) : null;
      if (candidates !== null && candidates.length === 0) break;
      const selection: { ids: readonly string[] | null; done: () => void } = {
        ids: null,
        done: () => undefined,
      };
      const selected = new Promise<void>((resolve) => {
        selection.done = resolve;
      });
      const gate = previous;
      const from = after;
      const flight: Promise<Settled> = this.db
        .transaction(
          async (): Promise<Position> => {
            const ids = candidates ?? (await this.nextMatches(target, from, true));
            selection.ids = ids;
            selection.done();
            const outcome =
              ids.length === 0 ? null : await this.processIds(ids, action, candidates === null);
            const before = await gate;
            if (!before.ok) throw new ChunkAborted();
            if (outcome === null) return before.position;
            const last = ids.at(-1) ?? '';
            return this.record(jobId, before.position, last, outcome);
          },
          { timeoutMs: CHUNK_TIMEOUT_MS },
        )
        .then(
          (position): Settled => {
            state.committed = position;
            return { ok: true, position };
          },
          (error: unknown): Settled => {
            if (!(error instanceof ChunkAborted) && state.failure === undefined) {
              state.failure = error instanceof Error ? error : new Error(String(error));
            }
            return { ok: false };
          },
        );
      flights.push(flight);
      previous = flight;
      // The next chunk starts where this one's selection ends (or not at all if the
      // transaction failed before selecting).
      await Promise.race([selected, flight]);
      const ids = selection.ids;
      if (ids === null || ids.length < CHUNK) break;
      after = ids.at(-1) ?? after;
      if (flights.length >= PARALLEL) await flights.shift();
    }
    await Promise.all(flights);
    return state.failure === undefined
      ? { position: state.committed }
      : { position: state.committed, failure: state.failure };
  }

  /**
   * One chunk alone (after it failed side by side): in one transaction, and if that
   * fails for a reason other than the database being unavailable, split in halves
   * until the failing leads are alone, so that one lead's failure is reported as that
   * lead's and never stops the others.
   */
  private async chunkAlone(
    jobId: string,
    target: Target,
    action: StoredAction,
    from: Position,
    candidates: string[] | null,
  ): Promise<{ position: Position; more: boolean } | null> {
    const ids = candidates ?? (await this.nextMatches(target, from.after, false));
    if (ids.length === 0) return null;
    const position = await this.bisect(jobId, ids, action, from);
    return { position, more: ids.length === CHUNK };
  }

  /** `ids` in one transaction, or each half of them if that fails (down to one lead). */
  private async bisect(
    jobId: string,
    ids: readonly string[],
    action: StoredAction,
    from: Position,
  ): Promise<Position> {
    const last = ids.at(-1) ?? '';
    try {
      return await this.db.transaction(
        async () => this.record(jobId, from, last, await this.processIds(ids, action)),
        { timeoutMs: CHUNK_TIMEOUT_MS },
      );
    } catch (e) {
      if (isTransient(e)) throw e;
      if (ids.length > 1) {
        const half = ids.length >>> 1;
        const left = await this.bisect(jobId, ids.slice(0, half), action, from);
        return this.bisect(jobId, ids.slice(half), action, left);
      }
      this.logger.warn({ err: e, jobId, leadId: last }, 'bulk work failed on a lead');
      return this.record(jobId, from, last, {
        done: 0,
        changed: 0,
        errors: [{ leadId: last, reason: reasonOf(e) }],
      });
    }
  }

  /**
   * Records a piece of work done after `from` (in the open transaction, if any): its
   * counts, errors and the new checkpoint, provided the stored checkpoint is still
   * `from`'s. Otherwise another run of the same job is ahead (a duplicate delivery):
   * this one stops (its transaction rolls back) rather than count anything twice.
   */
  private async record(
    jobId: string,
    from: Position,
    last: string,
    outcome: ChunkOutcome,
  ): Promise<Position> {
    const changed = from.changed + outcome.changed;
    const checkpoint = formatCheckpoint(last, changed);
    await this.tracker.progress(
      jobId,
      {
        done: outcome.done,
        failed: outcome.errors.length,
        checkpoint,
        expectedCheckpoint: from.checkpoint,
      },
      outcome.errors,
    );
    return { after: last, changed, checkpoint };
  }

  /** The next leads of a filter target after `after`, in id order (locked when asked). */
  private async nextMatches(
    target: Target,
    after: string | null,
    lock: boolean,
  ): Promise<string[]> {
    if (!('filter' in target)) return [];
    const filter: LeadFilter = target.filter;
    return this.db.transaction(async () => {
      if (filter.q !== undefined) await this.db.query(LEAD_SEARCH_SETTINGS_SQL);
      // leadFilterSql writes the tenant (of the context) into its conditions.
      const rows = await this.db.query<{ id: string }>(Prisma.sql`
        SELECT l."id"::text AS "id" FROM "Lead" l
         WHERE ${leadFilterSql(filter)}
           ${after === null ? Prisma.empty : Prisma.sql`AND l."id" > ${after}::uuid`}
         ORDER BY l."id" LIMIT ${CHUNK}
         ${lock ? Prisma.sql`FOR UPDATE OF l` : Prisma.empty}`);
      return rows.map((r) => r.id);
    });
  }

  /**
   * Applies the action to `ids` (in the open transaction): locks the visible ones,
   * reports the others (missing, another tenant's, not the agent's, merged) as
   * failed, and changes the rest set-based.
   */
  private async processIds(
    ids: readonly string[],
    action: StoredAction,
    lockedMatches = false,
  ): Promise<ChunkOutcome> {
    if (lockedMatches) return this.apply(ids, action, []);
    const { tenantId } = currentTenant();
    const found = await this.db.query<{ id: string; mergedIntoId: string | null }>(Prisma.sql`
      SELECT "id"::text AS "id", "mergedIntoId"::text AS "mergedIntoId" FROM "Lead"
       WHERE "tenantId" = ${tenantId}::uuid AND "id" = ANY(${[...ids]}::uuid[])
       ORDER BY "id"
       FOR UPDATE`);
    const byId = new Map(found.map((r) => [r.id, r]));
    const errors: JobErrorInput[] = [];
    const live: string[] = [];
    for (const id of ids) {
      const row = byId.get(id);
      if (!row) errors.push({ leadId: id, reason: 'lead not found' });
      else if (row.mergedIntoId !== null) {
        errors.push({ leadId: id, reason: `lead was merged into lead ${row.mergedIntoId}` });
      } else live.push(id);
    }
    return this.apply(live, action, errors);
  }

  /** The action on visible, locked leads; `errors` are the target's failures so far. */
  private async apply(
    live: readonly string[],
    action: StoredAction,
    errors: JobErrorInput[],
  ): Promise<ChunkOutcome> {
    if (live.length === 0) return { done: 0, changed: 0, errors };
    const changed =
      action.type === 'delete'
        ? await this.deleteLeads(live)
        : await this.updateLeads(live, action);
    return { done: live.length, changed, errors };
  }

  private async deleteLeads(ids: readonly string[]): Promise<number> {
    const { tenantId } = currentTenant();
    const rows = await this.db.query<{ count: number }>(Prisma.sql`
      WITH deleted AS (
        DELETE FROM "Lead"
         WHERE "tenantId" = ${tenantId}::uuid AND "id" = ANY(${[...ids]}::uuid[])
        RETURNING 1)
      SELECT count(*)::int AS "count" FROM deleted`);
    // The tombstones of leads merged into them redirect nowhere now: they go too.
    await this.db.query(Prisma.sql`
      DELETE FROM "Lead"
       WHERE "tenantId" = ${tenantId}::uuid AND "mergedIntoId" = ANY(${[...ids]}::uuid[])`);
    return rows[0]?.count ?? 0;
  }

  /**
   * Set-based update of locked, visible leads. What changes is worked out from the
   * rows as they are (locked, so current) before anything is written: the tags first
   * (TagsService, while every lead is still visible: a lead handed to another owner
   * leaves the sight of an agent who sees only their own), then one UPDATE of stage,
   * owner, custom fields, version and updatedAt for exactly the leads that change
   * (tags included; row by row when an agent hands leads over), then the timeline: stage moves (PipelineService), owner changes
   * and field changes. A lead already as asked is not touched.
   */
  private async updateLeads(ids: readonly string[], action: StoredUpdate): Promise<number> {
    const { tenantId } = currentTenant();
    const tagChanges = await this.tagChanges(ids, action);
    const tagsOf = new Map(tagChanges.map((c) => [c.leadId, c]));
    const touchesFields = action.setFields !== undefined || action.removeFields !== undefined;
    const before = await this.db.query<CurrentRow>(Prisma.sql`
      SELECT "id"::text AS "id", "version", "stageId"::text AS "stageId", "ownerId"::text AS "ownerId",
             ${touchesFields ? Prisma.sql`"customFields"` : Prisma.sql`NULL::jsonb`} AS "customFields"
        FROM "Lead"
       WHERE "tenantId" = ${tenantId}::uuid AND "id" = ANY(${[...ids]}::uuid[])`);

    const changes = before.flatMap((row): LeadChange[] => {
      const stage = action.stageId !== undefined && row.stageId !== action.stageId;
      const owner = action.ownerId !== undefined && row.ownerId !== action.ownerId;
      const fields: Record<string, { from: unknown; to: unknown }> = {};
      if (touchesFields) {
        const current = row.customFields ?? {};
        for (const [key, to] of Object.entries(action.setFields ?? {})) {
          const from = current[key] ?? null;
          if (stable(from) !== stable(to)) fields[`customFields.${key}`] = { from, to };
        }
        for (const key of action.removeFields ?? []) {
          const from = current[key] ?? null;
          if (from !== null) fields[`customFields.${key}`] = { from, to: null };
        }
      }
      const tags = tagsOf.get(row.id);
      const changed = stage || owner || Object.keys(fields).length > 0 || tags !== undefined;
      return changed ? [{ row, stage, owner, fields, tags }] : [];
    });

    if (action.addTags && action.addTags.length > 0) {
      const toAdd = tagChanges.filter((c) => c.added.length > 0).map((c) => c.leadId);
      await this.tags.addToLeads(toAdd, action.addTags, 'body.action.set.addTags');
    }
    if (action.removeTags && action.removeTags.length > 0) {
      const toRemove = tagChanges.filter((c) => c.removed.length > 0).map((c) => c.leadId);
      await this.tags.removeFromLeads(toRemove, action.removeTags, 'body.action.set.removeTags');
    }
    if (changes.length === 0) return 0;

    const { leadOwnerScope } = currentTenant();
    if (
      leadOwnerScope !== undefined &&
      action.ownerId !== undefined &&
      action.ownerId !== leadOwnerScope
    ) {
      await this.handOver(changes, action);
    } else {
      await this.updateSetBased(
        changes.map((c) => c.row.id),
        action,
      );
    }
    await this.recordChanges(changes, action);
    return changes.length;
  }

  /** One UPDATE for every lead that changes (the same change for each). */
  private async updateSetBased(ids: readonly string[], action: StoredUpdate): Promise<void> {
    const { tenantId } = currentTenant();
    const touchesFields = action.setFields !== undefined || action.removeFields !== undefined;
    const sets: Prisma.Sql[] = [
      Prisma.sql`"version" = l."version" + 1`,
      Prisma.sql`"updatedAt" = now()`,
    ];
    if (action.stageId !== undefined) {
      sets.push(
        Prisma.sql`"stageId" = ${action.stageId}::uuid`,
        Prisma.sql`"stageChangedAt" = CASE WHEN l."stageId" <> ${action.stageId}::uuid
                                      THEN now() ELSE l."stageChangedAt" END`,
      );
    }
    if (action.ownerId !== undefined) sets.push(Prisma.sql`"ownerId" = ${action.ownerId}::uuid`);
    if (touchesFields) {
      sets.push(Prisma.sql`"customFields" =
        (l."customFields" || ${JSON.stringify(action.setFields ?? {})}::jsonb)
        - ${action.removeFields ?? []}::text[]`);
    }
    await this.db.query(Prisma.sql`
      UPDATE "Lead" l SET ${Prisma.join(sets, ', ')}
       WHERE l."tenantId" = ${tenantId}::uuid AND l."id" = ANY(${[...ids]}::uuid[])`);
  }

  /**
   * The update of an agent who sees only their own leads and gives them to another
   * member (see handOverLeads): SET clauses of values only, worked out from each row
   * as it was read.
   */
  private async handOver(changes: readonly LeadChange[], action: StoredUpdate): Promise<void> {
    const { tenantId } = currentTenant();
    const setsById = new Map<string, Prisma.Sql[]>();
    for (const change of changes) {
      const sets: Prisma.Sql[] = [
        Prisma.sql`"version" = ${change.row.version + 1}::int`,
        Prisma.sql`"updatedAt" = now()`,
        Prisma.sql`"ownerId" = ${action.ownerId ?? null}::uuid`,
      ];
      if (change.stage && action.stageId !== undefined) {
        sets.push(
          Prisma.sql`"stageId" = ${action.stageId}::uuid`,
          Prisma.sql`"stageChangedAt" = now()`,
        );
      }
      if (action.setFields !== undefined || action.removeFields !== undefined) {
        const fields: Record<string, unknown> = {
          ...(change.row.customFields ?? {}),
          ...(action.setFields ?? {}),
        };
        for (const key of action.removeFields ?? []) Reflect.deleteProperty(fields, key);
        sets.push(Prisma.sql`"customFields" = ${JSON.stringify(fields)}::jsonb`);
      }
      setsById.set(change.row.id, sets);
    }
    await handOverLeads(this.db, tenantId, setsById);
  }

  /** The timeline of the changes: stage moves (with their history), owners, fields. */
  private async recordChanges(changes: readonly LeadChange[], action: StoredUpdate): Promise<void> {
    const moves: StageMove[] = [];
    const activities: NewActivity[] = [];
    for (const { row, stage, owner, fields, tags } of changes) {
      if (stage && action.stageId !== undefined) {
        moves.push({ leadId: row.id, fromStageId: row.stageId, toStageId: action.stageId });
      }
      if (owner) {
        activities.push({
          leadId: row.id,
          kind: 'owner_changed',
          data: { from: row.ownerId, to: action.ownerId ?? null },
        });
      }
      const changed: Record<string, unknown> = { ...fields };
      if (tags) changed.tags = { added: tags.added, removed: tags.removed };
      if (Object.keys(changed).length > 0) {
        activities.push({ leadId: row.id, kind: 'fields_changed', data: { changes: changed } });
      }
    }
    await this.pipeline.recordMoves(moves);
    await this.timeline.record(activities);
  }

  /** Per lead, the tags the action would really add and remove (case-insensitive names). */
  private async tagChanges(ids: readonly string[], action: StoredUpdate): Promise<TagChange[]> {
    const add = action.addTags ?? [];
    const remove = action.removeTags ?? [];
    if (add.length === 0 && remove.length === 0) return [];
    const { tenantId } = currentTenant();
    // The names as stored when the tag exists ("VIP" for "vip").
    const known = await this.db.query<{ name: string }>(Prisma.sql`
      SELECT "name"::text AS "name" FROM "Tag"
       WHERE "tenantId" = ${tenantId}::uuid AND "name" = ANY(${add}::citext[])`);
    const spelled = new Map(known.map((k) => [k.name.toLowerCase(), k.name]));
    const addNames = add.map((n) => spelled.get(n.toLowerCase()) ?? n);
    const rows = await this.db.query<TagChange>(Prisma.sql`
      SELECT x."id"::text AS "leadId",
             ARRAY(SELECT n::text FROM unnest(${addNames}::citext[]) WITH ORDINALITY AS a(n, i)
                    WHERE NOT EXISTS (
                      SELECT 1 FROM "LeadTag" lt
                        JOIN "Tag" t ON t."tenantId" = lt."tenantId" AND t."id" = lt."tagId"
                       WHERE lt."tenantId" = ${tenantId}::uuid AND lt."leadId" = x."id"
                         AND t."name" = a.n)
                    ORDER BY a.i) AS "added",
             ARRAY(SELECT t."name"::text FROM "LeadTag" lt
                     JOIN "Tag" t ON t."tenantId" = lt."tenantId" AND t."id" = lt."tagId"
                    WHERE lt."tenantId" = ${tenantId}::uuid AND lt."leadId" = x."id"
                      AND t."name" = ANY(${remove}::citext[])
                    ORDER BY t."name") AS "removed"
        FROM unnest(${[...ids]}::uuid[]) AS x("id")`);
    return rows.filter((r) => r.added.length > 0 || r.removed.length > 0);
  }

  /** Completes the job with its result and the one audit event, together. */
  private async finish(
    jobId: string,
    params: BulkJobParams,
    changed: number,
  ): Promise<Record<string, unknown>> {
    return this.db.transaction(async () => {
      const job = await this.tracker.get(jobId);
      const failed = job.failed;
      const isDelete = params.action.type === 'delete';
      const result: Record<string, unknown> = isDelete
        ? { deleted: changed, failed }
        : { updated: changed, unchanged: Math.max(0, job.done - changed), failed };
      // A filter's matches may have grown or shrunk since they were counted.
      if (job.done + failed !== job.total) {
        await this.tracker.progress(jobId, { total: job.done + failed });
      }
      // The row lock of complete() orders two runs that both got here: one completes
      // the job and audits it; the other answers the stored result.
      if (!(await this.tracker.complete(jobId, result))) {
        return (await this.tracker.get(jobId)).result ?? result;
      }
      await this.audit.record({
        action: isDelete ? 'lead.bulk_deleted' : 'lead.bulk_updated',
        targetType: 'job',
        targetId: jobId,
        metadata: {
          jobId,
          count: changed,
          failed,
          ...('ids' in params.target
            ? { ids: params.target.ids.length }
            : { filter: auditFilter(params.target.filter) }),
          action: auditAction(params.action),
        },
      });
      return result;
    });
  }
}

// ---------------------------------------------------------------------------

/** The distinct, sorted ids after `after`, at most `n`. */
function nextIds(sorted: readonly string[], after: string | null, n: number): string[] {
  let lo = 0;
  if (after !== null) {
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((sorted[mid] ?? '') <= after) lo = mid + 1;
      else hi = mid;
    }
  }
  return sorted.slice(lo, lo + n);
}

/** The checkpoint: the last lead id handled and the number of leads changed so far. */
function formatCheckpoint(last: string, changed: number): string {
  return `${last}|${String(changed)}`;
}

function parseCheckpoint(checkpoint: string | null): Position {
  if (checkpoint === null) return { after: null, changed: 0, checkpoint: null };
  const [after = '', changed = '0'] = checkpoint.split('|');
  return {
    after: isUuid(after) ? after.toLowerCase() : null,
    changed: /^[0-9]{1,9}$/.test(changed) ? Number(changed) : 0,
    checkpoint,
  };
}

/**
 * Errors that stop this run (BullMQ retries the job after a backoff, from its
 * checkpoint), rather than a lead's failure: the database unavailable or contended,
 * or another run of the job ahead of this one.
 */
function isTransient(e: unknown): boolean {
  if (e instanceof DomainError) {
    return (
      e.code === ErrorCode.DependencyUnavailable ||
      (e.code === ErrorCode.Conflict && e.details?.checkpointMoved === true)
    );
  }
  if (isDatabaseUnavailable(e)) return true;
  // PostgreSQL's own code (a raw query's error arrives as Prisma's P2010 with it inside),
  // else Prisma's (P2028: the transaction API; P2034: a write conflict).
  const code = databaseErrorOf(e)?.code ?? (e as { code?: unknown } | null)?.code;
  const transient = new Set(['40001', '40P01', '55P03', '57014', 'P2028', 'P2034']);
  return (
    (typeof code === 'string' && transient.has(code)) ||
    (e instanceof Error && /Transaction (already closed|API error)/i.test(e.message))
  );
}

/** What a lead's failure says: a product error's message; nothing internal. */
function reasonOf(e: unknown): string {
  if (e instanceof DomainError) return e.message;
  return 'the change could not be applied to this lead';
}

/** The audit's view of the filter: the filter itself, or only its keys when large. */
function auditFilter(filter: LeadFilter): Record<string, unknown> {
  const json = JSON.stringify(filter);
  if (Buffer.byteLength(json, 'utf8') <= AUDIT_FILTER_MAX_BYTES) {
    return JSON.parse(json) as Record<string, unknown>;
  }
  return { conditions: Object.keys(filter), truncated: true };
}

function auditAction(action: StoredAction): Record<string, unknown> {
  if (action.type === 'delete') return { type: 'delete' };
  return {
    type: 'update',
    ...(action.stageId === undefined ? {} : { stageId: action.stageId }),
    ...(action.ownerId === undefined ? {} : { ownerId: action.ownerId }),
    ...(action.addTags === undefined ? {} : { addTags: action.addTags }),
    ...(action.removeTags === undefined ? {} : { removeTags: action.removeTags }),
    ...(action.setFields === undefined && action.removeFields === undefined
      ? {}
      : {
          fields: [...Object.keys(action.setFields ?? {}), ...(action.removeFields ?? [])].sort(),
        }),
  };
}

/** SHA-256 of the request in a canonical form (keys sorted). */
function hashOf(body: BulkBody): string {
  return createHash('sha256')
    .update(stable(JSON.parse(JSON.stringify(body))))
    .digest('hex');
}

function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stable(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
