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

/** Every job of the leads domain (the worker must handle each). */
export const leadsJobs = [recordActivityJob] as const;
