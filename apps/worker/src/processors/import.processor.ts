import { Injectable } from '@nestjs/common';
import { JobHandler, type JobHandlerOf, type JobRunInfo } from '@ibhq/jobs';
import { ImportService, importJob, type ImportJobPayload } from '@ibhq/leads';

@Injectable()
@JobHandler(importJob)
export class ImportProcessor implements JobHandlerOf<ImportJobPayload> {
  constructor(private readonly imports: ImportService) {}

  handle(payload: ImportJobPayload, run: JobRunInfo): Promise<Record<string, unknown>> {
    return this.imports.run(payload, { attempt: run.attempt });
  }
}
