import { z } from 'zod';

/** The stage kinds (StageKind): open stages, and the terminal won and lost. */
export const STAGE_KINDS = ['open', 'won', 'lost'] as const;
export type StageKindName = (typeof STAGE_KINDS)[number];

/** Most stages a tenant's pipeline holds, archived ones included. */
export const MAX_STAGES = 100;

export const stageIdParam = z.uuid();

const stageName = z
  .string()
  .trim()
  .min(1)
  .max(60)
  .refine((s) => !/\p{Cs}/u.test(s), 'must be valid Unicode text (a lone surrogate)')
  .refine((s) => !/\p{Cc}/u.test(s), 'must not contain control characters');

const stageKind = z.enum(STAGE_KINDS);

export const createStageBody = z.strictObject({
  name: stageName,
  kind: stageKind,
  /** 1-based place among the stages that are not archived; default: after the last. */
  position: z.int().min(1).max(MAX_STAGES).optional(),
});
export type CreateStageBody = z.infer<typeof createStageBody>;

export const updateStageBody = z
  .strictObject({ name: stageName.optional(), kind: stageKind.optional() })
  .refine((b) => b.name !== undefined || b.kind !== undefined, 'give a name, a kind or both');
export type UpdateStageBody = z.infer<typeof updateStageBody>;

export const reorderStagesBody = z.strictObject({
  /** Every stage that is not archived, in the new order. */
  ids: z.array(z.uuid()).min(1).max(MAX_STAGES),
});
export type ReorderStagesBody = z.infer<typeof reorderStagesBody>;

export const stageListQuery = z.strictObject({
  includeArchived: z.stringbool().default(false),
});

const isoTime = z.iso
  .datetime({ offset: true, message: 'must be an ISO 8601 time, e.g. 2026-01-31T00:00:00Z' })
  .transform((s) => new Date(s));

/**
 * The report's range, [from, to): by default the 30 days before now (PipelineService
 * refuses a `from` not before `to`, the default `to` included).
 */
export const stageReportQuery = z.strictObject({
  from: isoTime.optional(),
  to: isoTime.optional(),
});
export type StageReportQuery = z.infer<typeof stageReportQuery>;

export const stageHistoryQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().min(1).max(512).optional(),
});
export type StageHistoryQuery = z.infer<typeof stageHistoryQuery>;

/** One stay of a lead in one stage. */
export interface StageSpan {
  /** Null only for a stage that was deleted since (or a move recorded without its origin). */
  readonly stageId: string | null;
  readonly stageName: string | null;
  readonly enteredAt: Date;
  /** Null for the stage the lead is in now. */
  readonly leftAt: Date | null;
  /** Time spent (so far, for the current stage), to the millisecond. */
  readonly seconds: number;
  /** Who moved the lead into it; null for the stage it was created in. */
  readonly movedBy: { readonly type: string; readonly id: string | null } | null;
}

export interface StageReportRow {
  readonly stageId: string;
  readonly name: string;
  readonly kind: StageKindName;
  readonly position: number;
  readonly archivedAt: Date | null;
  /** Leads in the stage now (merged leads not counted). */
  readonly leadsNow: number;
  /** Times a lead entered the stage in the range (moves in, and creations in it). */
  readonly entries: number;
  /** Stays in the stage that ended in the range. */
  readonly completed: number;
  /** Average and median seconds of those stays; null when there were none. */
  readonly averageSeconds: number | null;
  readonly medianSeconds: number | null;
}

export interface StageReport {
  readonly from: Date;
  readonly to: Date;
  readonly stages: readonly StageReportRow[];
}
