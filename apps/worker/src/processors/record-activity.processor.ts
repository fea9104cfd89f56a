import { Injectable } from '@nestjs/common';
import { JobHandler, type JobHandlerOf } from '@ibhq/jobs';
import { LeadsService, recordActivityJob, type RecordActivityPayload } from '@ibhq/leads';

@Injectable()
@JobHandler(recordActivityJob)
export class RecordActivityProcessor implements JobHandlerOf<RecordActivityPayload> {
  constructor(private readonly leads: LeadsService) {}

  handle(payload: RecordActivityPayload): Promise<string> {
    return this.leads.recordActivity(payload);
  }
}
