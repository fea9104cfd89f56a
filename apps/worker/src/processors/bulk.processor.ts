import { Injectable } from '@nestjs/common';
import { JobHandler, type JobHandlerOf } from '@ibhq/jobs';
import { BulkService, bulkJob, type BulkJobPayload } from '@ibhq/leads';

@Injectable()
@JobHandler(bulkJob)
export class BulkProcessor implements JobHandlerOf<BulkJobPayload> {
  constructor(private readonly bulk: BulkService) {}

  handle(payload: BulkJobPayload): Promise<Record<string, unknown>> {
    return this.bulk.run(payload);
  }
}
