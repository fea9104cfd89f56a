import { z } from 'zod';
import type { $Enums } from '@ibhq/db';
type ActivityKind = $Enums.ActivityKind;

export const createLeadBody = z.strictObject({
  displayName: z.string().trim().min(1).max(200),
});
export type CreateLeadBody = z.infer<typeof createLeadBody>;

export const addNoteBody = z.strictObject({
  body: z.string().trim().min(1).max(10_000),
});
export type AddNoteBody = z.infer<typeof addNoteBody>;

export const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().min(1).max(512).optional(),
});
export type PageQuery = z.infer<typeof pageQuery>;

export const leadIdParam = z.uuid();

export interface LeadSummary {
  readonly id: string;
  readonly displayName: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface ActivityView {
  readonly id: string;
  readonly leadId: string;
  readonly kind: ActivityKind;
  readonly body: string;
  readonly createdAt: Date;
}
