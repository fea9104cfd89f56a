import { z } from 'zod';
import type { $Enums } from '@ibhq/db';
import { storableText } from './lead-input.js';

export {
  createLeadBody,
  createLeadQuery,
  patchLeadBody,
  type CreateLeadBody,
  type CreateLeadQuery,
  type PatchLeadBody,
} from './lead-input.js';

type ActivityKind = $Enums.ActivityKind;

export const ACTIVITY_KINDS = [
  'note',
  'system',
  'created',
  'stage_changed',
  'owner_changed',
  'fields_changed',
  'message_in',
  'message_out',
  'task',
  'merged',
] as const satisfies readonly ActivityKind[];

const activityText = storableText(z.string().trim().min(1).max(10_000));

/** A point in time with its offset (`2030-01-31T09:00:00Z`). */
const instant = z.iso
  .datetime({ offset: true, error: 'must be an ISO 8601 date-time with its offset' })
  .transform((s) => new Date(s))
  .refine((d) => d.getUTCFullYear() >= 1970 && d.getUTCFullYear() <= 9999, 'is out of range');

export const addNoteBody = z.strictObject({ body: activityText });
export type AddNoteBody = z.infer<typeof addNoteBody>;

export const addTaskBody = z.strictObject({ body: activityText, dueAt: instant });
export type AddTaskBody = z.infer<typeof addTaskBody>;

/**
 * An edit of one activity: a note's body (its author only); a task's body, due time
 * and done flag (any member who may write leads).
 */
export const patchActivityBody = z
  .strictObject({
    body: activityText.optional(),
    dueAt: instant.optional(),
    done: z.boolean().optional(),
  })
  .refine(
    (b) => b.body !== undefined || b.dueAt !== undefined || b.done !== undefined,
    'give at least one of body, dueAt, done',
  );
export type PatchActivityBody = z.infer<typeof patchActivityBody>;

export const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().min(1).max(512).optional(),
});
export type PageQuery = z.infer<typeof pageQuery>;

/** GET /v1/leads/:id/activities: a page, newest first, of the given kinds (repeatable). */
export const activitiesQuery = pageQuery.extend({
  kind: z
    .union([z.enum(ACTIVITY_KINDS), z.array(z.enum(ACTIVITY_KINDS)).min(1).max(10)])
    .transform((k) => (Array.isArray(k) ? k : [k]))
    .optional(),
});
export type ActivitiesQuery = z.infer<typeof activitiesQuery>;

export const leadIdParam = z.uuid();

export interface ActivityView {
  readonly id: string;
  readonly leadId: string;
  readonly kind: ActivityKind;
  /** Empty for a deleted note. */
  readonly body: string;
  readonly data: Record<string, unknown>;
  /** Who wrote it (null for activities older than actors). */
  readonly actor: { readonly type: $Enums.AuditActorType; readonly id: string | null } | null;
  readonly dueAt: Date | null;
  readonly doneAt: Date | null;
  readonly editedAt: Date | null;
  readonly deletedAt: Date | null;
  readonly createdAt: Date;
}
