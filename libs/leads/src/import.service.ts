import { Injectable } from '@nestjs/common';
import type { ImportJobPayload } from './leads.jobs.js';

/** OWNER: import work. */
@Injectable()
export class ImportService {
  /** Worker side: runs (or resumes) the job. Idempotent. */
  run(_payload: ImportJobPayload): Promise<Record<string, unknown>> {
    throw new Error('not implemented');
  }
}
