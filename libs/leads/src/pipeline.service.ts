import { Injectable } from '@nestjs/common';
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
import { type $Enums, Prisma, TenantDb } from '@ibhq/db';
import {
  createStageBody,
  type CreateStageBody,
  MAX_STAGES,
  reorderStagesBody,
  type ReorderStagesBody,
  stageHistoryQuery,
  type StageHistoryQuery,
  stageIdParam,
  stageListQuery,
  stageReportQuery,
  type StageReport,
  type StageReportQuery,
  type StageReportRow,
  type StageSpan,
  updateStageBody,
  type UpdateStageBody,
} from './pipeline.dto.js';
import { databaseErrorOf, resolveLead } from './lead-input.js';
import { TimelineService } from './timeline.service.js';

export interface StageView {
  readonly id: string;
  readonly name: string;
  readonly kind: $Enums.StageKind;
  readonly position: number;
  readonly archivedAt: Date | null;
}

export interface StageMove {
  readonly leadId: string;
  readonly fromStageId: string | null;
  readonly toStageId: string;
}

/** A lead's stay history, one page (oldest first), for the lead it was asked for. */
export interface StageHistoryPage extends Page<StageSpan> {
  /** The lead whose history this is: the survivor when a merged lead's id was asked. */
  readonly leadId: string;
}

const STAGE_COLUMNS = Prisma.sql`"id", "name"::text AS "name", "kind"::text AS "kind", "position", "archivedAt"`;

/** The report's default range: the 30 days before now. */
const DEFAULT_REPORT_DAYS = 30;

/**
 * The tenant's pipeline: ordered stages (seeded with the IB funnel on first use), the
 * rules that keep it usable, the record of every move and the time spent in stages.
 *
 * Invariants kept under a lock on the tenant's stage rows (every change takes it):
 * at least one open stage is not archived (a new lead needs one), names are unique
 * case-insensitively (citext + unique index), positions are 1..n with no gaps.
 */
@Injectable()
export class PipelineService {
  /** The request schemas of the pipeline routes (the controller validates with them). */
  static readonly dto = {
    createStageBody,
    reorderStagesBody,
    stageHistoryQuery,
    stageIdParam,
    stageListQuery,
    stageReportQuery,
    updateStageBody,
  } as const;

  constructor(
    private readonly db: TenantDb,
    private readonly timeline: TimelineService,
    private readonly audit: AuditService,
  ) {}

  /** Every stage by position (the default funnel is seeded on first use). */
  async stages(options: { includeArchived?: boolean } = {}): Promise<StageView[]> {
    const { tenantId } = currentTenant();
    const read = () =>
      this.db.query<StageView>(
        Prisma.sql`SELECT ${STAGE_COLUMNS} FROM "Stage"
                    WHERE "tenantId" = ${tenantId}::uuid
                    ${options.includeArchived ? Prisma.empty : Prisma.sql`AND "archivedAt" IS NULL`}
                    ORDER BY "position", "id"`,
      );
    const stages = await read();
    if (stages.length > 0) return stages;
    await this.ensureFunnel();
    return read();
  }

  /** One stage (archived or not); NotFoundError for a missing one or another tenant's. */
  async stage(stageId: string): Promise<StageView> {
    const { tenantId } = currentTenant();
    const [stage] = await this.db.query<StageView>(
      Prisma.sql`SELECT ${STAGE_COLUMNS} FROM "Stage"
                  WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${stageId}::uuid`,
    );
    if (!stage) throw new NotFoundError('stage');
    return stage;
  }

  /**
   * A stage a lead may be put in, else a ValidationError naming `field`: a stage of
   * another tenant or none, or an archived one.
   */
  async usable(stageId: string, field: string): Promise<StageView> {
    const stage = await this.stage(stageId).catch((e: unknown) => {
      if (!(e instanceof NotFoundError)) throw e;
      throw new ValidationError([{ field, message: 'is not a stage of this tenant' }]);
    });
    if (stage.archivedAt) {
      throw new ValidationError([
        { field, message: 'is an archived stage: no lead can be moved into it' },
      ]);
    }
    return stage;
  }

  /**
   * Records moves (a LeadStageChange row and a stage_changed activity each, actor
   * from the context). The caller has already updated the leads: the change takes
   * the lead's stageChangedAt as its time. Set-based (one INSERT for any number of
   * moves); a move to the stage it came from is no move and is skipped. Joins an
   * open transaction.
   */
  async recordMoves(moves: readonly StageMove[]): Promise<void> {
    const real = moves.filter((m) => m.fromStageId !== m.toStageId);
    if (real.length === 0) return;
    const { tenantId, actor } = currentTenant();
    await this.db.transaction(async () => {
      const inserted = await this.db.query<{ leadId: string; changedAt: Date }>(
        Prisma.sql`INSERT INTO "LeadStageChange"
                     ("tenantId", "id", "leadId", "fromStageId", "toStageId", "actorType", "actorId", "changedAt")
                   SELECT ${tenantId}::uuid, ibhq_uuidv7(), m."leadId", m."fromStageId", m."toStageId",
                          ${actor.type}::"AuditActorType", ${actor.id}, COALESCE(l."stageChangedAt", now())
                     FROM unnest(${real.map((m) => m.leadId)}::uuid[],
                                 ${real.map((m) => m.fromStageId)}::uuid[],
                                 ${real.map((m) => m.toStageId)}::uuid[])
                          AS m("leadId", "fromStageId", "toStageId")
                     LEFT JOIN "Lead" l ON l."tenantId" = ${tenantId}::uuid AND l."id" = m."leadId"
                   RETURNING "leadId", "changedAt"`,
      );
      const at = new Map(inserted.map((row) => [row.leadId, row.changedAt]));
      const stageIds = [...new Set(real.flatMap((m) => [m.fromStageId, m.toStageId]))].filter(
        (id): id is string => id !== null,
      );
      const names = new Map(
        (
          await this.db.query<{ id: string; name: string }>(
            Prisma.sql`SELECT "id", "name"::text AS "name" FROM "Stage"
                        WHERE "tenantId" = ${tenantId}::uuid AND "id" = ANY(${stageIds}::uuid[])`,
          )
        ).map((s) => [s.id, s.name]),
      );
      await this.timeline.record(
        real.map((m) => {
          const createdAt = at.get(m.leadId);
          return {
            leadId: m.leadId,
            kind: 'stage_changed' as const,
            data: {
              fromStageId: m.fromStageId,
              toStageId: m.toStageId,
              fromName: m.fromStageId === null ? null : (names.get(m.fromStageId) ?? null),
              toName: names.get(m.toStageId) ?? null,
            },
            ...(createdAt ? { createdAt } : {}),
          };
        }),
      );
    });
  }

  // ---------------------------------------------------------------------------------
  // Managing stages (pipeline:manage)
  // ---------------------------------------------------------------------------------

  /** Adds a stage at `position` (1-based among the stages not archived; default last). */
  async create(input: CreateStageBody): Promise<StageView> {
    const { tenantId } = currentTenant();
    return nameConflicts(() =>
      this.db.transaction(async () => {
        const all = await this.lockStages();
        if (all.length >= MAX_STAGES) {
          throw new ValidationError([
            {
              field: 'body',
              message: `a pipeline holds at most ${String(MAX_STAGES)} stages (archived ones included): delete one first`,
            },
          ]);
        }
        await this.assertNameFree(input.name, null);
        const active = all.filter((s) => !s.archivedAt);
        // Before the stage now at that place among the active ones, else after the last.
        const before = input.position === undefined ? undefined : active[input.position - 1];
        const [created] = await this.db.query<StageView>(
          Prisma.sql`INSERT INTO "Stage" ("tenantId", "id", "name", "kind", "position", "updatedAt")
                   VALUES (${tenantId}::uuid, ibhq_uuidv7(), ${input.name}, ${input.kind}::"StageKind",
                           ${MAX_STAGES * 10}, now())
                   RETURNING ${STAGE_COLUMNS}`,
        );
        if (!created) throw new Error('stage insert returned no row');
        const order = all.map((s) => s.id);
        order.splice(before ? order.indexOf(before.id) : order.length, 0, created.id);
        await this.renumber(order);
        const view = await this.stage(created.id);
        await this.audit.record({
          action: 'stage.created',
          targetType: 'stage',
          targetId: view.id,
          metadata: { name: view.name, kind: view.kind, position: view.position },
        });
        return view;
      }),
    );
  }

  /** Renames a stage and/or changes its kind. */
  async update(stageId: string, input: UpdateStageBody): Promise<StageView> {
    const { tenantId } = currentTenant();
    return nameConflicts(() =>
      this.db.transaction(async () => {
        const all = await this.lockStages();
        const stage = all.find((s) => s.id === stageId);
        if (!stage) throw new NotFoundError('stage');
        const rename = input.name !== undefined && input.name !== stage.name;
        const rekind = input.kind !== undefined && input.kind !== stage.kind;
        if (!rename && !rekind) return stage;
        if (rename) await this.assertNameFree(input.name, stage.id);
        if (rekind && stage.kind === 'open' && !stage.archivedAt) {
          this.assertAnotherOpen(all, stage.id, 'body.kind', 'cannot change its kind');
        }
        const [updated] = await this.db.query<StageView>(
          Prisma.sql`UPDATE "Stage"
                      SET "name" = ${input.name ?? stage.name},
                          "kind" = ${input.kind ?? stage.kind}::"StageKind",
                          "updatedAt" = now()
                    WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${stage.id}::uuid
                   RETURNING ${STAGE_COLUMNS}`,
        );
        if (!updated) throw new NotFoundError('stage');
        if (rename) {
          await this.audit.record({
            action: 'stage.renamed',
            targetType: 'stage',
            targetId: stage.id,
            metadata: { from: stage.name, to: updated.name },
          });
        }
        if (rekind) {
          await this.audit.record({
            action: 'stage.kind_changed',
            targetType: 'stage',
            targetId: stage.id,
            metadata: { from: stage.kind, to: updated.kind },
          });
        }
        return updated;
      }),
    );
  }

  /** Puts the stages that are not archived in the given order (every one, once). */
  async reorder(input: ReorderStagesBody): Promise<StageView[]> {
    return this.db.transaction(async () => {
      const all = await this.lockStages();
      const active = all.filter((s) => !s.archivedAt);
      const activeIds = new Set(active.map((s) => s.id));
      const given = input.ids.map((id) => id.toLowerCase());
      const unknown = given.filter((id) => !activeIds.has(id));
      const missing = active.filter((s) => !given.includes(s.id)).map((s) => s.id);
      const repeated = given.filter((id, i) => given.indexOf(id) !== i);
      if (unknown.length > 0 || missing.length > 0 || repeated.length > 0) {
        const problems = [
          missing.length > 0 ? `missing ${missing.join(', ')}` : '',
          unknown.length > 0 ? `not stages that are not archived: ${unknown.join(', ')}` : '',
          repeated.length > 0 ? `repeated ${[...new Set(repeated)].join(', ')}` : '',
        ].filter(Boolean);
        throw new ValidationError([
          {
            field: 'body.ids',
            message: `must list every stage that is not archived exactly once (${problems.join('; ')})`,
          },
        ]);
      }
      // The active stages take the places they held, in the new order; archived
      // stages keep theirs.
      const queue = [...given];
      const order = all.map((s) => (s.archivedAt ? s.id : (queue.shift() ?? s.id)));
      await this.renumber(order);
      await this.audit.record({
        action: 'stage.reordered',
        targetType: 'pipeline',
        metadata: { count: given.length, order: given },
      });
      return this.stages();
    });
  }

  /** Archives a stage: it keeps its leads, and no lead can be moved into it. */
  async archive(stageId: string): Promise<StageView> {
    return this.setArchived(stageId, true);
  }

  async unarchive(stageId: string): Promise<StageView> {
    return this.setArchived(stageId, false);
  }

  /** Deletes a stage no lead is in (409 with the count otherwise: archive it instead). */
  async delete(stageId: string): Promise<void> {
    const { tenantId } = currentTenant();
    try {
      await this.db.transaction(async () => {
        const all = await this.lockStages();
        const stage = all.find((s) => s.id === stageId);
        if (!stage) throw new NotFoundError('stage');
        if (stage.kind === 'open' && !stage.archivedAt) {
          this.assertAnotherOpen(all, stage.id, 'params.id', 'cannot be deleted');
        }
        const leads = await this.leadsIn(stageId);
        if (leads > 0) throw inUse(leads);
        await this.db.query(
          Prisma.sql`DELETE FROM "Stage" WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${stageId}::uuid
                     RETURNING "id"`,
        );
        await this.renumber(all.filter((s) => s.id !== stageId).map((s) => s.id));
        await this.audit.record({
          action: 'stage.deleted',
          targetType: 'stage',
          targetId: stageId,
          metadata: { name: stage.name, kind: stage.kind },
        });
      });
    } catch (e) {
      // A lead was put in the stage between the count and the delete (the foreign key
      // refused the delete): the same answer as if it had been counted.
      if (isForeignKeyViolation(e)) throw inUse(Math.max(1, await this.leadsIn(stageId)));
      throw e;
    }
  }

  // ---------------------------------------------------------------------------------
  // Time in stage
  // ---------------------------------------------------------------------------------

  /**
   * A lead's stays in stages, oldest first: the first starts at the lead's creation
   * (creating a lead writes no LeadStageChange), each move starts the next. A merged
   * lead's id answers its survivor's history (the merge moved the rows there).
   */
  async history(leadId: string, query: StageHistoryQuery): Promise<StageHistoryPage> {
    const { tenantId } = currentTenant();
    const after = query.cursor
      ? (decodeCursor(query.cursor, ['date', 'string']) as [Date, string])
      : null;
    return this.db.transaction(async () => {
      const lead = await resolveLead(this.db, tenantId, leadId);
      if (!lead) throw new NotFoundError('lead');
      const resolved = lead.survivorId ?? lead.id;
      const rows = await this.db.query<SpanRow>(
        Prisma.sql`
          WITH the_lead AS (
            SELECT "id", "createdAt", "stageId" FROM "Lead"
             WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${resolved}::uuid
          ),
          moves AS (
            SELECT c."id"::text AS "key", c."fromStageId", c."toStageId", c."changedAt",
                   c."actorType"::text AS "actorType", c."actorId",
                   lead(c."changedAt") OVER w AS "leftAt",
                   row_number() OVER w AS "n"
              FROM "LeadStageChange" c
             WHERE c."tenantId" = ${tenantId}::uuid AND c."leadId" = ${resolved}::uuid
            WINDOW w AS (ORDER BY c."changedAt", c."id")
          ),
          spans AS (
            -- The stay the lead was created in: until the first move (or now).
            SELECT '' AS "key",
                   COALESCE(f."fromStageId", CASE WHEN f."n" IS NULL THEN the_lead."stageId" END)
                     AS "stageId",
                   the_lead."createdAt" AS "enteredAt", f."changedAt" AS "leftAt",
                   NULL::text AS "actorType", NULL::varchar AS "actorId"
              FROM the_lead LEFT JOIN moves f ON f."n" = 1
            UNION ALL
            SELECT m."key", m."toStageId", m."changedAt", m."leftAt", m."actorType", m."actorId"
              FROM moves m
          )
          SELECT s."key", s."stageId", st."name"::text AS "stageName", s."enteredAt", s."leftAt",
                 round(extract(epoch FROM GREATEST(COALESCE(s."leftAt", now()) - s."enteredAt",
                                                   interval '0')), 3)::float8 AS "seconds",
                 s."actorType", s."actorId"
            FROM spans s
            LEFT JOIN "Stage" st ON st."tenantId" = ${tenantId}::uuid AND st."id" = s."stageId"
           ${
             after
               ? Prisma.sql`WHERE (s."enteredAt", s."key") > (${after[0]}::timestamptz, ${after[1]}::text)`
               : Prisma.empty
           }
           ORDER BY s."enteredAt", s."key"
           LIMIT ${query.limit + 1}`,
      );
      const items = rows.slice(0, query.limit);
      const last = items.at(-1);
      return {
        leadId: resolved,
        items: items.map(spanView),
        nextCursor:
          rows.length > query.limit && last
            ? encodeCursor([last.enteredAt.toISOString(), last.key])
            : null,
      };
    });
  }

  /**
   * Per stage: the leads in it now, the entries into it in [from, to) (moves in, and
   * leads created in it), and the stays in it that ended in [from, to): how many,
   * their average and median seconds. One statement; the moves' previous move (when
   * the stay began) comes from a window over each moved lead's history.
   */
  async report(query: StageReportQuery): Promise<StageReport> {
    const { tenantId } = currentTenant();
    const to = query.to ?? new Date();
    const from = query.from ?? new Date(to.getTime() - DEFAULT_REPORT_DAYS * 86_400_000);
    if (from >= to) {
      throw new ValidationError([{ field: 'query.from', message: 'must be before query.to' }]);
    }
    await this.stages(); // seeds the funnel of a tenant that never used it
    const rows = await this.db.query<ReportRow>(
      Prisma.sql`
        WITH moved AS (
          SELECT DISTINCT c."leadId" FROM "LeadStageChange" c
           WHERE c."tenantId" = ${tenantId}::uuid
             AND c."changedAt" >= ${from}::timestamptz AND c."changedAt" < ${to}::timestamptz
        ),
        moves AS (
          SELECT c."leadId", c."fromStageId", c."toStageId", c."changedAt",
                 lag(c."changedAt") OVER (PARTITION BY c."leadId" ORDER BY c."changedAt", c."id")
                   AS "enteredAt"
            FROM "LeadStageChange" c JOIN moved USING ("leadId")
           WHERE c."tenantId" = ${tenantId}::uuid AND c."changedAt" < ${to}::timestamptz
        ),
        in_range AS (
          SELECT m."fromStageId", m."toStageId",
                 extract(epoch FROM GREATEST(m."changedAt" - COALESCE(m."enteredAt", l."createdAt"),
                                             interval '0'))::float8 AS "seconds"
            FROM moves m
            JOIN "Lead" l ON l."tenantId" = ${tenantId}::uuid AND l."id" = m."leadId"
           WHERE m."changedAt" >= ${from}::timestamptz
        ),
        stays AS (
          SELECT "fromStageId" AS "stageId", count(*)::int AS "completed",
                 round(avg("seconds")::numeric, 3)::float8 AS "averageSeconds",
                 round((percentile_cont(0.5) WITHIN GROUP (ORDER BY "seconds"))::numeric, 3)::float8
                   AS "medianSeconds"
            FROM in_range WHERE "fromStageId" IS NOT NULL GROUP BY 1
        ),
        entries AS (
          SELECT "stageId", sum("n")::int AS "entries" FROM (
            SELECT "toStageId" AS "stageId", count(*) AS "n" FROM in_range GROUP BY 1
            UNION ALL
            SELECT COALESCE(
                     (SELECT c."fromStageId" FROM "LeadStageChange" c
                       WHERE c."tenantId" = ${tenantId}::uuid AND c."leadId" = l."id"
                       ORDER BY c."changedAt", c."id" LIMIT 1),
                     l."stageId"), count(*)
              FROM "Lead" l
             WHERE l."tenantId" = ${tenantId}::uuid
               AND l."createdAt" >= ${from}::timestamptz AND l."createdAt" < ${to}::timestamptz
             GROUP BY 1
          ) e GROUP BY 1
        ),
        now_in AS (
          SELECT "stageId", count(*)::int AS "leadsNow" FROM "Lead"
           WHERE "tenantId" = ${tenantId}::uuid AND "mergedIntoId" IS NULL
           GROUP BY 1
        )
        SELECT s."id" AS "stageId", s."name"::text AS "name", s."kind"::text AS "kind", s."position",
               s."archivedAt", COALESCE(n."leadsNow", 0) AS "leadsNow",
               COALESCE(e."entries", 0) AS "entries", COALESCE(t."completed", 0) AS "completed",
               t."averageSeconds", t."medianSeconds"
          FROM "Stage" s
          LEFT JOIN now_in n ON n."stageId" = s."id"
          LEFT JOIN entries e ON e."stageId" = s."id"
          LEFT JOIN stays t ON t."stageId" = s."id"
         WHERE s."tenantId" = ${tenantId}::uuid
         ORDER BY s."position", s."id"`,
    );
    return { from, to, stages: rows };
  }

  // ---------------------------------------------------------------------------------

  /** Seeds the IB funnel when the tenant has no stage at all (SQL: ibhq_default_stage). */
  private async ensureFunnel(): Promise<void> {
    const { tenantId } = currentTenant();
    await this.db.query(Prisma.sql`SELECT ibhq_default_stage(${tenantId}::uuid) AS "id"`);
  }

  /**
   * Every stage of the tenant, locked until the transaction ends (concurrent changes
   * to the pipeline run one after the other). Seeds the funnel first if needed.
   */
  private async lockStages(): Promise<StageView[]> {
    const { tenantId } = currentTenant();
    await this.ensureFunnel();
    return this.db.query<StageView>(
      Prisma.sql`SELECT ${STAGE_COLUMNS} FROM "Stage" WHERE "tenantId" = ${tenantId}::uuid
                  ORDER BY "position", "id" FOR UPDATE`,
    );
  }

  /** Gives the stages positions 1..n in this order. */
  private async renumber(order: readonly string[]): Promise<void> {
    const { tenantId } = currentTenant();
    await this.db.query(
      Prisma.sql`UPDATE "Stage" s SET "position" = o."position", "updatedAt" = now()
                   FROM unnest(${[...order]}::uuid[]) WITH ORDINALITY AS o("id", "position")
                  WHERE s."tenantId" = ${tenantId}::uuid AND s."id" = o."id"
                    AND s."position" IS DISTINCT FROM o."position"::int
                 RETURNING s."id"`,
    );
  }

  private async assertNameFree(name: string | undefined, except: string | null): Promise<void> {
    if (name === undefined) return;
    const { tenantId } = currentTenant();
    const [taken] = await this.db.query<{ id: string }>(
      Prisma.sql`SELECT "id" FROM "Stage"
                  WHERE "tenantId" = ${tenantId}::uuid AND "name" = ${name}::citext
                    ${except ? Prisma.sql`AND "id" <> ${except}::uuid` : Prisma.empty}`,
    );
    if (taken) {
      throw new DomainError(ErrorCode.Conflict, 'a stage with this name exists', {
        existingStageId: taken.id,
        fields: [{ field: 'body.name', message: 'is the name of another stage' }],
      });
    }
  }

  /** A new lead always needs an open stage: refuses to lose the last one. */
  private assertAnotherOpen(
    all: readonly StageView[],
    stageId: string,
    field: string,
    what: string,
  ): void {
    const others = all.filter((s) => s.id !== stageId && s.kind === 'open' && !s.archivedAt);
    if (others.length === 0) {
      throw new ValidationError([
        { field, message: `is the last open stage (new leads start in one): it ${what}` },
      ]);
    }
  }

  private async setArchived(stageId: string, archived: boolean): Promise<StageView> {
    const { tenantId } = currentTenant();
    return this.db.transaction(async () => {
      const all = await this.lockStages();
      const stage = all.find((s) => s.id === stageId);
      if (!stage) throw new NotFoundError('stage');
      if (Boolean(stage.archivedAt) === archived) return stage;
      if (archived && stage.kind === 'open') {
        this.assertAnotherOpen(all, stage.id, 'params.id', 'cannot be archived');
      }
      const [updated] = await this.db.query<StageView>(
        Prisma.sql`UPDATE "Stage"
                      SET "archivedAt" = ${archived ? Prisma.sql`now()` : Prisma.sql`NULL`},
                          "updatedAt" = now()
                    WHERE "tenantId" = ${tenantId}::uuid AND "id" = ${stageId}::uuid
                   RETURNING ${STAGE_COLUMNS}`,
      );
      if (!updated) throw new NotFoundError('stage');
      await this.audit.record({
        action: archived ? 'stage.archived' : 'stage.unarchived',
        targetType: 'stage',
        targetId: stageId,
        metadata: { name: stage.name, leads: await this.leadsIn(stageId) },
      });
      return updated;
    });
  }

  /** Leads in the stage (merged tombstones too: they still reference it). */
  private async leadsIn(stageId: string): Promise<number> {
    const { tenantId } = currentTenant();
    const [row] = await this.db.query<{ n: number }>(
      Prisma.sql`SELECT count(*)::int AS "n" FROM "Lead"
                  WHERE "tenantId" = ${tenantId}::uuid AND "stageId" = ${stageId}::uuid`,
    );
    return row?.n ?? 0;
  }
}

interface SpanRow {
  key: string;
  stageId: string | null;
  stageName: string | null;
  enteredAt: Date;
  leftAt: Date | null;
  seconds: number;
  actorType: string | null;
  actorId: string | null;
}

type ReportRow = StageReportRow;

function spanView(row: SpanRow): StageSpan {
  return {
    stageId: row.stageId,
    stageName: row.stageName,
    enteredAt: row.enteredAt,
    leftAt: row.leftAt,
    seconds: row.seconds,
    movedBy: row.actorType === null ? null : { type: row.actorType, id: row.actorId },
  };
}

function inUse(leads: number): DomainError {
  return new DomainError(
    ErrorCode.Conflict,
    `the stage has ${String(leads)} lead(s) in it: archive it instead (an archived stage keeps its leads)`,
    { leads },
  );
}

/** The unique index on names answered first (a race the pre-check lost): the same 409. */
async function nameConflicts<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (!isPgError(e, '23505', 'P2002')) throw e;
    throw new DomainError(ErrorCode.Conflict, 'a stage with this name exists', {
      fields: [{ field: 'body.name', message: 'is the name of another stage' }],
    });
  }
}

/** PostgreSQL's foreign_key_violation (23503), through node-postgres or Prisma. */
function isForeignKeyViolation(e: unknown): boolean {
  return isPgError(e, '23503', 'P2003');
}

/** A PostgreSQL error by SQLSTATE, from node-postgres or from Prisma (raw or model). */
function isPgError(e: unknown, sqlState: string, prismaCode: string): boolean {
  return (
    databaseErrorOf(e)?.code === sqlState ||
    (e instanceof Prisma.PrismaClientKnownRequestError && e.code === prismaCode)
  );
}
