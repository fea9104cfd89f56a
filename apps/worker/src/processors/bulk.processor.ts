import { Injectable } from '@nestjs/common';
import { JobHandler, type JobHandlerOf, type JobRunInfo } from '@ibhq/jobs';
import { BulkService, bulkJob, type BulkJobPayload } from '@ibhq/leads';

@Injectable()
@JobHandler(bulkJob)
export class BulkProcessor implements JobHandlerOf<BulkJobPayload> {
  constructor(private readonly bulk: BulkService) {}

  async handle(payload: BulkJobPayload, run: JobRunInfo): Promise<Record<string, unknown>> {
    try {
      return await this.bulk.run(payload);
    } catch (e) {
      // On the last try the caller polling the job must see that it stopped; earlier
      // tries are retried by BullMQ and resume after the last committed chunk.
      if (run.attempt >= bulkJob.attempts) await this.bulk.stopped(payload.jobId);
      throw e;
    }
  }
}
