import { DiscoveryService } from '@nestjs/core';
import type { JobDefinition, TenantJobPayload } from './job-definition.js';

export interface JobRunInfo {
  readonly jobId: string;
  /** 1 for the first try. */
  readonly attempt: number;
}

/**
 * A job's handler: a provider class marked `@JobHandler(definition)` with a `handle`
 * method. It runs inside the tenant context of the payload and must be idempotent
 * (a job can be delivered more than once).
 */
export interface JobHandlerOf<P extends TenantJobPayload> {
  handle(payload: P, run: JobRunInfo): Promise<unknown>;
}

/** The discoverable metadata behind @JobHandler (read by JobWorkers at boot). */
export const jobHandlerMetadata = DiscoveryService.createDecorator<JobDefinition>();

/** Marks a provider as the handler of `definition`. */
export function JobHandler<P extends TenantJobPayload>(
  definition: JobDefinition<P>,
): ClassDecorator {
  return jobHandlerMetadata(definition);
}
