import { Injectable, Logger } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import { AuditService } from '@ibhq/audit';
import {
  currentTenant,
  decodeCursor,
  DomainError,
  encodeCursor,
  ErrorCode,
  NotFoundError,
  type Page,
  ValidationError,
} from '@ibhq/core';
import { Prisma, TenantDb, type $Enums } from '@ibhq/db';
import { databaseErrorOf, leadMergedError, resolveLead } from './lead-input.js';
import type {
  ActivitiesQuery,
  ActivityView,
  AddNoteBody,
  AddTaskBody,
  PatchActivityBody,
} from './leads.dto.js';
import type { RecordActivityPayload } from './leads.jobs.js';

export interface NewActivity {
  readonly leadId: string;
  readonly kind: $Enums.ActivityKind;
  readonly body?: string;
  /** What changed: `{ changes: { field: { from, to } } }`, stage and owner moves, merges. */
  readonly data?: Record<string, unknown>;
  /** Idempotency for activities from outside (Telegram: account, chat, message id). */
  readonly externalKey?: string;
  readonly dueAt?: Date;
  readonly createdAt?: Date;
  /** The activity's id when the caller fixed it in advance (a queued note); else a new UUIDv7. */
  readonly id?: string;
}

/** An ActivityView row as SQL reads it (actor in two columns). */
interface ActivityRow {
  readonly id: string;
  readonly leadId: string;
  readonly kind: $Enums.ActivityKind;
  readonly body: string;
  readonly data: Record<string, unknown>;
  readonly actorType: $Enums.AuditActorType | null;
  readonly actorId: string | null;
  readonly dueAt: Date | null;
  readonly doneAt: Date | null;
  readonly editedAt: Date | null;
  readonly deletedAt: Date | null;
  readonly createdAt: Date;
}

const ACTIVITY_COLUMNS =
  Prisma.raw(`a."id", a."leadId", a."kind"::text AS "kind", a."body", a."data",
  a."actorType"::text AS "actorType", a."actorId", a."dueAt", a."doneAt", a."editedAt",
  a."deletedAt", a."createdAt"`);

function activityView(row: ActivityRow): ActivityView {
  return {
    id: row.id,
    leadId: row.leadId,
    kind: row.kind,
    body: row.body,
    data: row.data,
    actor: row.actorType ? { type: row.actorType, id: row.actorId } : null,
    dueAt: row.dueAt,
    doneAt: row.doneAt,
    editedAt: row.editedAt,
    deletedAt: row.deletedAt,
    createdAt: row.createdAt,
  };
}

export type TimelineRead = { readonly page: Page<ActivityView> } | { readonly mergedInto: string };

/**
 * A lead's timeline: notes, tasks, and what the system records (creation, field,
 * owner and stage changes, messages, merges). Append-only for the system: members
 * edit or delete only their own notes (recorded in the audit trail), and tasks
 * (body, due time, done) can be updated by any member who may write leads.
 */
@Injectable()
export class TimelineService {
  private readonly logger = new Logger(TimelineService.name);

  constructor(
    private readonly db: TenantDb,
    private readonly audit: AuditService,
  ) {}

  /**
   * Appends activities (actor from the context); one with an externalKey already
   * recorded is skipped. Answers the ids, in order (null for a skipped one). Joins an
   * open transaction.
   *
   * One INSERT ... SELECT FROM unnest(...) whatever the number of activities; an
   * activity whose externalKey (or fixed id) is already recorded, or repeats an
   * earlier one of the same call, is skipped (`ON CONFLICT DO NOTHING`). A lead that
   * does not exist fails the statement (foreign key), inserting none of them.
   */
  async record(activities: readonly NewActivity[]): Promise<(string | null)[]> {
    if (activities.length === 0) return [];
    const { tenantId, actor } = currentTenant('TimelineService.record');
    const ids = activities.map((a) => a.id?.toLowerCase() ?? uuidv7());
    const rows = await this.db.query<{ id: string }>(Prisma.sql`
      INSERT INTO "LeadActivity"
        ("tenantId", "id", "leadId", "kind", "body", "data", "actorType", "actorId",
         "externalKey", "dueAt", "createdAt")
      SELECT ${tenantId}::uuid, a.id, a."leadId", a.kind::"ActivityKind", a.body, a.data,
             ${actor.type}::"AuditActorType", ${actor.id.slice(0, 64)},
             a."externalKey", a."dueAt", COALESCE(a."createdAt", now())
      FROM unnest(
        ${ids}::uuid[],
        ${activities.map((a) => a.leadId)}::uuid[],
        ${activities.map((a) => a.kind)}::text[],
        ${activities.map((a) => a.body ?? '')}::text[],
        ${activities.map((a) => JSON.stringify(a.data ?? {}))}::jsonb[],
        ${activities.map((a) => a.externalKey ?? null)}::text[],
        ${activities.map((a) => a.dueAt?.toISOString() ?? null)}::timestamptz[],
        ${activities.map((a) => a.createdAt?.toISOString() ?? null)}::timestamptz[]
      ) AS a(id, "leadId", kind, body, data, "externalKey", "dueAt", "createdAt")
      ON CONFLICT DO NOTHING
      RETURNING "id"`);
    const recorded = new Set(rows.map((r) => r.id));
    return ids.map((id) => (recorded.has(id) ? id : null));
  }

  /**
   * Worker side of recordActivityJob (activities from outside, e.g. Telegram).
   * Idempotent: the producer chose the id, so a second delivery inserts nothing.
   */
  async recordQueued(p: RecordActivityPayload): Promise<'recorded' | 'duplicate' | 'lead-gone'> {
    try {
      const [id] = await this.record([
        { id: p.activityId, leadId: p.leadId, kind: p.kind, body: p.body },
      ]);
      return id ? 'recorded' : 'duplicate';
    } catch (e) {
      // The lead was deleted after the activity was accepted: nothing to attach to.
      if (databaseErrorOf(e)?.code === '23503') {
        this.logger.warn(
          { leadId: p.leadId, activityId: p.activityId },
          'lead gone; activity dropped',
        );
        return 'lead-gone';
      }
      throw e;
    }
  }

  /** A page of the lead's timeline, newest first (keyset on createdAt, id). */
  async list(leadId: string, query: ActivitiesQuery): Promise<TimelineRead> {
    const { tenantId } = currentTenant('TimelineService.list');
    const lead = await resolveLead(this.db, tenantId, leadId);
    if (!lead) throw new NotFoundError('lead');
    if (lead.survivorId) return { mergedInto: lead.survivorId };
    let after = Prisma.empty;
    if (query.cursor !== undefined) {
      const [createdAt, id] = decodeCursor(query.cursor, ['date', 'uuid']);
      after = Prisma.sql`AND (a."createdAt", a."id") < (${createdAt}::timestamptz, ${id}::uuid)`;
    }
    const kinds =
      query.kind && query.kind.length > 0
        ? Prisma.sql`AND a."kind" = ANY(${query.kind}::"ActivityKind"[])`
        : Prisma.empty;
    const rows = await this.db.query<ActivityRow>(Prisma.sql`
      SELECT ${ACTIVITY_COLUMNS} FROM "LeadActivity" a
       WHERE a."tenantId" = ${tenantId}::uuid AND a."leadId" = ${lead.id}::uuid ${kinds} ${after}
       ORDER BY a."createdAt" DESC, a."id" DESC
       LIMIT ${query.limit + 1}`);
    const items = rows.slice(0, query.limit).map(activityView);
    const last = items.at(-1);
    return {
      page: {
        items,
        nextCursor:
          rows.length > query.limit && last
            ? encodeCursor([last.createdAt.toISOString(), last.id])
            : null,
      },
    };
  }

  /** A note by the caller on the lead's timeline. */
  async addNote(leadId: string, input: AddNoteBody): Promise<ActivityView> {
    return this.add({ leadId, kind: 'note', body: input.body });
  }

  /** A task (something to do by `dueAt`). */
  async addTask(leadId: string, input: AddTaskBody): Promise<ActivityView> {
    return this.add({ leadId, kind: 'task', body: input.body, dueAt: input.dueAt });
  }

  /**
   * Edits a note (its author only: body) or a task (any member: body, dueAt, done).
   * Every other kind is the lead's history and never changes.
   */
  async update(
    leadId: string,
    activityId: string,
    input: PatchActivityBody,
  ): Promise<ActivityView> {
    const { tenantId } = currentTenant('TimelineService.update');
    return this.db.transaction(async () => {
      const row = await this.lockActivity(leadId, activityId);
      if (row.kind === 'note') {
        this.assertAuthor(row, 'edit');
        if (row.deletedAt) throw new NotFoundError('activity');
        const wrong = (['dueAt', 'done'] as const).filter((k) => input[k] !== undefined);
        if (wrong.length > 0) {
          throw new ValidationError(
            wrong.map((k) => ({ field: `body.${k}`, message: 'only tasks have it' })),
          );
        }
        if (input.body === undefined || input.body === row.body) return activityView(row);
        const [updated] = await this.db.query<ActivityRow>(Prisma.sql`
          UPDATE "LeadActivity" a SET "body" = ${input.body}, "editedAt" = now()
           WHERE a."tenantId" = ${tenantId}::uuid AND a."id" = ${row.id}::uuid
          RETURNING ${ACTIVITY_COLUMNS}`);
        await this.audit.record({
          action: 'lead.note_edited',
          targetType: 'lead',
          targetId: row.leadId,
          metadata: { activityId: row.id },
        });
        return activityView(updated ?? row);
      }
      if (row.kind !== 'task') throw this.immutable(row.kind);
      if (row.deletedAt) throw new NotFoundError('activity');
      const sets: Prisma.Sql[] = [];
      const edited =
        (input.body !== undefined && input.body !== row.body) ||
        (input.dueAt !== undefined && input.dueAt.getTime() !== row.dueAt?.getTime());
      if (input.body !== undefined) sets.push(Prisma.sql`"body" = ${input.body}`);
      if (input.dueAt !== undefined) sets.push(Prisma.sql`"dueAt" = ${input.dueAt}::timestamptz`);
      if (edited) sets.push(Prisma.sql`"editedAt" = now()`);
      const done = input.done !== undefined && input.done !== (row.doneAt !== null);
      if (done) sets.push(input.done ? Prisma.sql`"doneAt" = now()` : Prisma.sql`"doneAt" = NULL`);
      if (!edited && !done) return activityView(row);
      const [updated] = await this.db.query<ActivityRow>(Prisma.sql`
        UPDATE "LeadActivity" a SET ${Prisma.join(sets, ', ')}
         WHERE a."tenantId" = ${tenantId}::uuid AND a."id" = ${row.id}::uuid
        RETURNING ${ACTIVITY_COLUMNS}`);
      return activityView(updated ?? row);
    });
  }

  /**
   * Deletes a note or task of the caller's: it stays on the timeline with deletedAt
   * and an empty body. Deleting it again changes nothing.
   */
  async remove(leadId: string, activityId: string): Promise<void> {
    const { tenantId } = currentTenant('TimelineService.remove');
    await this.db.transaction(async () => {
      const row = await this.lockActivity(leadId, activityId);
      if (row.kind !== 'note' && row.kind !== 'task') throw this.immutable(row.kind);
      this.assertAuthor(row, 'delete');
      if (row.deletedAt) return;
      await this.db.query(Prisma.sql`
        UPDATE "LeadActivity" SET "body" = '', "deletedAt" = now()
         WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${row.id}::uuid`);
      await this.audit.record({
        action: row.kind === 'note' ? 'lead.note_deleted' : 'lead.task_deleted',
        targetType: 'lead',
        targetId: row.leadId,
        metadata: { activityId: row.id },
      });
    });
  }

  // --- internals ---------------------------------------------------------------------

  /** Adds one activity by the caller to a live lead and answers it. */
  private async add(activity: NewActivity): Promise<ActivityView> {
    const { tenantId } = currentTenant('TimelineService.add');
    const lead = await resolveLead(this.db, tenantId, activity.leadId);
    if (!lead) throw new NotFoundError('lead');
    if (lead.survivorId) throw leadMergedError(lead.survivorId);
    try {
      return await this.db.transaction(async () => {
        const [id] = await this.record([activity]);
        const [row] = await this.db.query<ActivityRow>(Prisma.sql`
          SELECT ${ACTIVITY_COLUMNS} FROM "LeadActivity" a
           WHERE a."tenantId" = ${tenantId}::uuid AND a."id" = ${id ?? null}::uuid`);
        if (!row) throw new Error('the activity just recorded is missing');
        return activityView(row);
      });
    } catch (e) {
      // Deleted meanwhile.
      if (databaseErrorOf(e)?.code === '23503') throw new NotFoundError('lead');
      throw e;
    }
  }

  /** The activity of a live lead the caller can see, locked: 404 otherwise. */
  private async lockActivity(leadId: string, activityId: string): Promise<ActivityRow> {
    const { tenantId } = currentTenant('TimelineService.lockActivity');
    const lead = await resolveLead(this.db, tenantId, leadId);
    if (!lead) throw new NotFoundError('lead');
    if (lead.survivorId) throw leadMergedError(lead.survivorId);
    const [row] = await this.db.query<ActivityRow>(Prisma.sql`
      SELECT ${ACTIVITY_COLUMNS} FROM "LeadActivity" a
       WHERE a."tenantId" = ${tenantId}::uuid AND a."id" = ${activityId}::uuid
         AND a."leadId" = ${lead.id}::uuid
       FOR UPDATE`);
    if (!row) throw new NotFoundError('activity');
    return row;
  }

  private assertAuthor(row: ActivityRow, what: 'edit' | 'delete'): void {
    const { actor } = currentTenant('TimelineService.assertAuthor');
    if (row.actorType !== actor.type || row.actorId !== actor.id) {
      throw new DomainError(
        ErrorCode.Forbidden,
        `only its author can ${what} this ${row.kind === 'task' ? 'task' : 'note'}`,
      );
    }
  }

  private immutable(kind: $Enums.ActivityKind): DomainError {
    return new DomainError(
      ErrorCode.Conflict,
      `a ${kind} activity is part of the lead's history and cannot be changed`,
      { kind },
    );
  }
}
