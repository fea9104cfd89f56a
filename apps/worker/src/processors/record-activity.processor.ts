import { Injectable } from '@nestjs/common';
import { JobHandler, type JobHandlerOf } from '@ibhq/jobs';
import { recordActivityJob, TimelineService, type RecordActivityPayload } from '@ibhq/leads';

/** Activities that arrive through the queue (Telegram): idempotent by the producer's id. */
@Injectable()
@JobHandler(recordActivityJob)
export class RecordActivityProcessor implements JobHandlerOf<RecordActivityPayload> {
  constructor(private readonly timeline: TimelineService) {}

  handle(payload: RecordActivityPayload): Promise<string> {
    return this.timeline.recordQueued(payload);
  }
}
