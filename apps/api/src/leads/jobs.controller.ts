import { Readable } from 'node:stream';
import { Controller, Get, Res } from '@nestjs/common';
import { ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import type { Page } from '@ibhq/core';
import { JobTracker, type JobErrorInput, type JobView } from '@ibhq/jobs';
import { Requires } from '../http/access.decorators.js';
import { asDownload } from '../http/download.js';
import { ZParam, ZQuery } from '../http/zod-params.js';

const jobId = z.uuid();
const errorsQuery = JobTracker.errorsQuery;

/**
 * Progress of background work (bulk updates, imports): GET /v1/jobs/:id, its errors
 * as keyset pages, and the whole error list as a CSV download (the import's error
 * report). Another tenant's job answers 404 like a missing one.
 */
@ApiTags('jobs')
@Requires('leads:read')
@Controller('v1/jobs')
export class JobsController {
  constructor(private readonly tracker: JobTracker) {}

  /** Status, done/total/failed, the first 100 errors and the result. */
  @Get(':id')
  get(@ZParam('id', jobId) id: string): Promise<JobView> {
    return this.tracker.get(id);
  }

  /** Every error of the job, in order (limit 1..1000, opaque cursor). */
  @Get(':id/errors')
  errors(
    @ZParam('id', jobId) id: string,
    @ZQuery(errorsQuery) query: z.infer<typeof errorsQuery>,
  ): Promise<Page<JobErrorInput>> {
    return this.tracker.errors(id, {
      limit: query.limit,
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
    });
  }

  /** The whole error list as CSV (rowNumber, field, reason, leadId), streamed. */
  @Get(':id/errors.csv')
  @ApiProduces('text/csv')
  async errorsCsv(
    @ZParam('id', jobId) id: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Readable> {
    // Awaited before any byte is sent: a missing job is a 404, not an empty download.
    const chunks = await this.tracker.errorReportCsv(id);
    asDownload(reply, 'text/csv; charset=utf-8', `job-${id}-errors.csv`);
    return Readable.from(chunks);
  }
}
