import { Injectable } from '@nestjs/common';
import type { BulkJobPayload } from './leads.jobs.js';

/** OWNER: bulk work. */
@Injectable()
export class BulkService {
  /** Worker side: runs (or resumes) the job. Idempotent. */
  run(_payload: BulkJobPayload): Promise<Record<string, unknown>> {
    throw new Error('not implemented');
  }
}
