import { z } from 'zod';
import { defineJob, tenantJobPayload } from '@ibhq/jobs';

/**
 * Records an activity on a lead's timeline, asynchronously: the path that incoming
 * Telegram messages will take. The activity id is chosen by the producer, so a
 * retried or duplicated delivery inserts nothing twice.
 */
export const recordActivityJob = defineJob({
  name: 'leads.activity.record',
  queue: 'leads',
  payload: tenantJobPayload.extend({
    activityId: z.uuid(),
    leadId: z.uuid(),
    kind: z.enum(['note', 'system']),
    body: z.string().min(1).max(10_000),
  }),
});
export type RecordActivityPayload = z.infer<typeof recordActivityJob.payload>;

/**
 * Bulk update or delete of leads (by ids or by filter). Everything the job needs is
 * in its BackgroundJob row (params, checkpoint), so the payload carries only ids and
 * a retry resumes where the last try stopped.
 */
export const bulkJob = defineJob({
  name: 'leads.bulk.run',
  queue: 'leads-bulk',
  payload: tenantJobPayload.extend({ jobId: z.uuid() }),
});
export type BulkJobPayload = z.infer<typeof bulkJob.payload>;

/** Imports an uploaded CSV file (its rows are staged in the database). */
export const importJob = defineJob({
  name: 'leads.import.run',
  queue: 'leads-bulk',
  payload: tenantJobPayload.extend({ jobId: z.uuid(), importId: z.uuid() }),
});
export type ImportJobPayload = z.infer<typeof importJob.payload>;

/** Every job of the leads domain (the worker must handle each). */
export const leadsJobs = [recordActivityJob, bulkJob, importJob] as const;
