import type { JobsOptions } from 'bullmq';
import type { AppConfig } from '@ibhq/core';
import type { JobDefinition } from './job-definition.js';

/**
 * Options of every job added: retries with exponential backoff, and removal of
 * finished jobs so that Redis keeps no customer data longer than 24 hours (the
 * configuration caps both ages at 24 h).
 */
export function jobOptions(
  def: JobDefinition,
  config: AppConfig,
  extra: { jobId?: string; delayMs?: number } = {},
): JobsOptions {
  return {
    attempts: def.attempts,
    backoff: { type: 'exponential', delay: def.backoffMs },
    removeOnComplete: { age: config.worker.keepCompletedSeconds },
    removeOnFail: { age: config.worker.keepFailedSeconds },
    ...(extra.jobId === undefined ? {} : { jobId: extra.jobId }),
    ...(extra.delayMs === undefined ? {} : { delay: extra.delayMs }),
  };
}
