import { z } from 'zod';
import { Prisma } from '@ibhq/db';
import { LEAD_SOURCES } from './lead-view.js';

/** A custom field condition: a value (equal; any of, for a list), or a range. */
const customCondition = z.union([
  z.string().max(200),
  z.number(),
  z.boolean(),
  z
    .array(z.union([z.string().max(200), z.number()]))
    .min(1)
    .max(50),
  z
    .strictObject({
      gte: z.union([z.number(), z.iso.date(), z.iso.datetime()]).optional(),
      lte: z.union([z.number(), z.iso.date(), z.iso.datetime()]).optional(),
    })
    .refine((r) => r.gte !== undefined || r.lte !== undefined, 'needs gte or lte'),
]);

/**
 * Which leads: the one filter shared by the list, saved views, bulk work and export
 * (so "export what I see" and "update what I see" select exactly the listed leads).
 * Conditions combine with AND; a list inside one condition means any of its values.
 */
export const leadFilter = z.strictObject({
  /** Free text over name, username, phone, e-mail and notes; partial and misspelled words match. */
  q: z.string().trim().min(1).max(200).optional(),
  stageIds: z.array(z.uuid()).min(1).max(100).optional(),
  /** Owner user ids; `none` selects unassigned leads. */
  ownerIds: z
    .array(z.union([z.uuid(), z.literal('none')]))
    .min(1)
    .max(100)
    .optional(),
  tags: z.array(z.string().trim().min(1).max(50)).min(1).max(50).optional(),
  /** `any` (default): at least one of `tags`; `all`: every one of them. */
  tagMode: z.enum(['any', 'all']).optional(),
  sources: z.array(z.enum(LEAD_SOURCES)).min(1).max(LEAD_SOURCES.length).optional(),
  createdFrom: z.coerce.date().optional(),
  createdTo: z.coerce.date().optional(),
  updatedFrom: z.coerce.date().optional(),
  updatedTo: z.coerce.date().optional(),
  hasTelegram: z.boolean().optional(),
  hasPhone: z.boolean().optional(),
  hasEmail: z.boolean().optional(),
  /** By custom field key. */
  customFields: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/), customCondition).optional(),
});
export type LeadFilter = z.infer<typeof leadFilter>;

/**
 * The filter as an SQL condition over `"Lead" l` (always excluding merged leads'
 * tombstones). Row-level security has already confined `l` to the tenant (and, for
 * agents who see only their own leads, to theirs).
 */
export function leadFilterSql(_filter: LeadFilter): Prisma.Sql {
  const where: Prisma.Sql[] = [Prisma.sql`l."mergedIntoId" IS NULL`];
  // OWNER: search and lists work (the conditions of every field above).
  return Prisma.join(where, ' AND ');
}
