import { z } from 'zod';
import { LEAD_PROFILE_FIELDS, type LeadView } from './lead-view.js';

/** Why two leads look like one person (codes, stable for clients). */
export const DUPLICATE_REASONS = [
  'same_national_phone',
  'email_matches_username',
  'same_name_and_country',
  'similar_name',
] as const;
export type DuplicateReason = (typeof DUPLICATE_REASONS)[number];

/** A candidate pair: both leads, why, and how likely (0..1, higher is likelier). */
export interface DuplicatePair {
  readonly leads: readonly [LeadView, LeadView];
  readonly reasons: readonly DuplicateReason[];
  readonly score: number;
}

export const duplicatesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(512).optional(),
});
export type DuplicatesQuery = z.infer<typeof duplicatesQuery>;

export const dismissDuplicateBody = z.strictObject({
  leadIds: z
    .tuple([z.uuid(), z.uuid()])
    .refine(([a, b]) => a.toLowerCase() !== b.toLowerCase(), 'must be two different leads'),
});
export type DismissDuplicateBody = z.infer<typeof dismissDuplicateBody>;

/** The lead fields a merge takes from one lead or another (custom fields go key by key). */
export const MERGE_FIELDS = [
  ...LEAD_PROFILE_FIELDS,
  'ownerId',
  'stageId',
  'sourceDetails',
] as const;
export type MergeField = (typeof MERGE_FIELDS)[number];

const MAX_MERGED = 9;

export const mergeBody = z
  .strictObject({
    survivorId: z.uuid(),
    mergedIds: z.array(z.uuid()).min(1).max(MAX_MERGED),
    /** Which lead's value wins, per field (default: the survivor's, gaps filled in order). */
    fields: z
      .strictObject({
        ...(Object.fromEntries(MERGE_FIELDS.map((f) => [f, z.uuid().optional()])) as Record<
          MergeField,
          z.ZodOptional<z.ZodUUID>
        >),
        customFields: z
          .record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'is not a custom field key'), z.uuid())
          .refine((r) => Object.keys(r).length <= 200, 'has too many keys')
          .optional(),
      })
      .optional(),
  })
  .superRefine((body, ctx) => {
    const merged = body.mergedIds.map((id) => id.toLowerCase());
    const survivor = body.survivorId.toLowerCase();
    if (merged.includes(survivor)) {
      ctx.addIssue({
        code: 'custom',
        path: ['mergedIds'],
        message: 'must not include the survivor',
      });
    }
    if (new Set(merged).size !== merged.length) {
      ctx.addIssue({ code: 'custom', path: ['mergedIds'], message: 'must not repeat a lead' });
    }
    const involved = new Set([survivor, ...merged]);
    const picks = body.fields ?? {};
    for (const field of MERGE_FIELDS) {
      const winner = picks[field];
      if (winner !== undefined && !involved.has(winner.toLowerCase())) {
        ctx.addIssue({
          code: 'custom',
          path: ['fields', field],
          message: 'must be the survivor or one of the merged leads',
        });
      }
    }
    for (const [key, winner] of Object.entries(picks.customFields ?? {})) {
      if (!involved.has(winner.toLowerCase())) {
        ctx.addIssue({
          code: 'custom',
          path: ['fields', 'customFields', key],
          message: 'must be the survivor or one of the merged leads',
        });
      }
    }
  });
export type MergeBody = z.infer<typeof mergeBody>;
