import { z } from 'zod';
import { leadFilter } from './lead-filter.js';

/** Most leads one bulk call may change. */
export const BULK_MAX_LEADS = 100_000;

/** Which leads: an explicit list of ids, or the list's filter (exactly one of them). */
export const bulkTarget = z
  .strictObject({
    ids: z.array(z.uuid()).min(1).max(BULK_MAX_LEADS).optional(),
    filter: leadFilter.optional(),
  })
  .superRefine((t, ctx) => {
    if ((t.ids === undefined) === (t.filter === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of ids or filter', path: [] });
    }
  });

/** A custom field value as JSON carries it; the field's definition checks it further. */
const customFieldValue = z.union([
  z.string().max(10_000),
  z.number(),
  z.boolean(),
  z.array(z.string().max(200)).max(200),
  z.null(),
]);

const tagNames = z.array(z.string().max(200)).min(1).max(50);

/** What to change on every lead; each part optional, at least one given. */
export const bulkSet = z
  .strictObject({
    stageId: z.uuid().optional(),
    /** null unassigns. */
    ownerId: z.uuid().nullable().optional(),
    addTags: tagNames.optional(),
    removeTags: tagNames.optional(),
    /** By key: a value sets it, null removes it. */
    customFields: z
      .record(z.string().min(1).max(64), customFieldValue)
      .refine((r) => Object.keys(r).length >= 1, 'give at least one field')
      .refine((r) => Object.keys(r).length <= 50, 'at most 50 fields per call')
      .optional(),
  })
  .refine(
    (s) =>
      s.stageId !== undefined ||
      s.ownerId !== undefined ||
      s.addTags !== undefined ||
      s.removeTags !== undefined ||
      s.customFields !== undefined,
    'give at least one of stageId, ownerId, addTags, removeTags, customFields',
  );

export const bulkAction = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('update'), set: bulkSet }),
  z.strictObject({ type: z.literal('delete') }),
]);

/** POST /v1/leads/bulk */
export const bulkBody = z.strictObject({ target: bulkTarget, action: bulkAction });
export type BulkBody = z.infer<typeof bulkBody>;
export type BulkAction = z.infer<typeof bulkAction>;
export type BulkTarget = z.infer<typeof bulkTarget>;

/** The Idempotency-Key header: 1..200 visible ASCII characters. */
export const idempotencyKeyHeader = z
  .string()
  .regex(/^[!-~]{1,200}$/, 'must be 1 to 200 visible ASCII characters')
  .optional();

/** What the bulk call answers: the job to poll and how many leads it targets. */
export interface BulkAccepted {
  readonly jobId: string;
  readonly total: number;
  readonly status: string;
}

// ---------------------------------------------------------------------------
// The job's parameters as stored in BackgroundJob.params (validated, normalised).
// ---------------------------------------------------------------------------

/** The update, validated: tags normalised, custom field values checked against their definitions. */
export const storedUpdate = z.strictObject({
  type: z.literal('update'),
  stageId: z.uuid().optional(),
  ownerId: z.uuid().nullable().optional(),
  addTags: z.array(z.string()).optional(),
  removeTags: z.array(z.string()).optional(),
  /** Values to set (stored forms). */
  setFields: z.record(z.string(), z.unknown()).optional(),
  /** Keys to remove. */
  removeFields: z.array(z.string()).optional(),
});
export type StoredUpdate = z.infer<typeof storedUpdate>;

export const bulkJobParams = z.strictObject({
  target: z.union([
    z.strictObject({ ids: z.array(z.uuid()) }),
    z.strictObject({ filter: leadFilter }),
  ]),
  action: z.union([storedUpdate, z.strictObject({ type: z.literal('delete') })]),
  /** Who asked: the work (stage history, timeline, audit) is theirs. */
  actor: z.strictObject({
    type: z.enum(['user', 'api_key', 'staff', 'system', 'anonymous']),
    id: z.string(),
  }),
  client: z.strictObject({ ip: z.string().optional(), userAgent: z.string().optional() }),
  /** The caller's row-level security scope (agents who see only their own leads). */
  leadOwnerScope: z.string().optional(),
  /** SHA-256 of the request: an Idempotency-Key reused for another request is refused. */
  requestHash: z.string(),
});
export type BulkJobParams = z.infer<typeof bulkJobParams>;
